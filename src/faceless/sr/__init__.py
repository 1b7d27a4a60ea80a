"""The SR engine: SRResNet/SRGAN training from a typed config, free of Kedro and MLflow.

- :mod:`faceless.sr.config`: ``params:srgan`` as :class:`SRConfig` (:func:`load_config`).
- :mod:`faceless.sr.losses`: loss terms registered by name, combined as weighted lists per stage.
- :mod:`faceless.sr.pairs`: LR -> HR pairs (truth or self-supervised) and random training crops.
- :mod:`faceless.sr.metrics`: PSNR/SSIM on Y, and their means for an upscaler (:func:`evaluate_sr`).
- :mod:`faceless.sr.trainer`: :class:`SRTrainer` (steps, evaluation, state, export, the whole run).
- :mod:`faceless.sr.samples`: the LR | bicubic | SR | HR grid of validation frames.
"""
from faceless.sr.config import SRConfig, load_config
from faceless.sr.trainer import SRTrainer

__all__ = ["SRConfig", "SRTrainer", "load_config"]
