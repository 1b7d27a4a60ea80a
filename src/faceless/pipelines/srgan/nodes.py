"""SRGAN nodes: build the typed config, call the SR engine (:mod:`faceless.sr`), return artifacts.

Training uses the training side only (truth pairs where the source has them, else self-supervised);
validation PSNR/SSIM against bicubic uses the validation side, never the test side. ``srgan_self``
is the self-supervised path trained next to the truth-trained one where the source has truth;
``srgan_id`` the recognition-aware one (srgan's recipe plus an identity loss from a recogniser
trained on the training side), where ``srgan.id_variant`` is on.
``srgan_pretrained`` a generator pretrained elsewhere, imported as it is.

``srgan.distributed``: the trainings of srgan and srgan_self run in that many processes (and
machines), launched here by :func:`faceless.distributed.launch` (rank 0's weights and metrics come
back to this node); srgan_id trains in this process (its recogniser is not data-parallel).
"""
from __future__ import annotations

import logging
import math
from typing import Any

from matplotlib.figure import Figure
import numpy as np
import pandas as pd

from faceless.distributed import DistributedConfig, distributed_config, launch
from faceless.pipelines.tracking import MlflowTracker
from faceless.sr.config import STAGE, SRConfig, id_variant_skip_reason, load_config, self_variant_skip_reason
from faceless.sr.pretrained import PRETRAINED_NAME, import_pretrained, pretrained_skip_reason
from faceless.sr.samples import sample_grid
from faceless.sr.trainer import ID_NAME, SELF_NAME, train_generator, train_identity_variant, train_self_supervised

logger = logging.getLogger(__name__)


def train_srgan(lr_train: np.ndarray, hr_train: np.ndarray, lr_val: np.ndarray, hr_val: np.ndarray,
                params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train the generator (stage 1: pretrain_losses; stage 2: discriminator + gan_losses); return the
    EMA weights with the config that rebuilds the module, and the report of what happened."""
    config = load_config(params)
    return launch(distributed(config), train_generator, config, lr_train, hr_train, lr_val, hr_val,
                  tracker=MlflowTracker(), device=config.device, name=STAGE)


def train_srgan_self(lr_train: np.ndarray, hr_train: np.ndarray, lr_val: np.ndarray, hr_val: np.ndarray,
                     params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The real-world path measured on a source with truth: the same recipe trained on self pairs
    (the training frames downscaled 4x -> the frames), as on data without truth. Where it would
    be ``srgan`` again (no truth, ``pairs: self``) or is switched off, both outputs are a skip
    marker with the reason, which the upscaling and classifier stages pass on."""
    config = load_config(params)
    reason = self_variant_skip_reason(config, has_truth=hr_train.size > 0, frame_px=min(lr_train.shape[1:3]))
    if reason:
        logger.info("%s: skipped (%s)", SELF_NAME, reason)
        return {"skipped": reason}, {"variant": SELF_NAME, "skipped": reason}
    return launch(distributed(config), train_self_supervised, config, lr_train, lr_val, hr_val,
                  tracker=MlflowTracker(), device=config.device, name=SELF_NAME)


def train_srgan_id(lr_train: np.ndarray, hr_train: np.ndarray, train_index: pd.DataFrame, lr_val: np.ndarray,
                   hr_val: np.ndarray, val_index: pd.DataFrame, params: dict[str, Any]
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Recognition-aware SR: srgan's recipe plus ``srgan.identity``'s terms, read from a recogniser
    trained on the training side's targets and people (``train_index``; ``val_index`` only measures
    it). Off (``srgan.id_variant: false``): both outputs are a skip marker with the reason."""
    config = load_config(params)
    reason = id_variant_skip_reason(config)
    if reason:
        logger.info("%s: skipped (%s)", ID_NAME, reason)
        return {"skipped": reason}, {"variant": ID_NAME, "skipped": reason}
    world = distributed(config).world_size(config.device)
    if world > 1:
        logger.info("%s: trained in one process, not %d (%s.distributed): its recogniser is not data-parallel",
                    ID_NAME, world, STAGE)
    return train_identity_variant(config, lr_train, hr_train, train_index["label"].to_numpy(), lr_val, hr_val,
                                  val_index["label"].to_numpy(), MlflowTracker())


def distributed(config: SRConfig) -> DistributedConfig:
    """``srgan.distributed``, checked."""
    return distributed_config(config.distributed, f"{STAGE}.distributed")


def import_srgan_pretrained(lr_val: np.ndarray, hr_val: np.ndarray,
                            params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The seed's method (``srgan_pretrained``): the generic generator in ``srgan.pretrained_weights``
    (krasserm .h5, BasicSR .pth or an sr_generator file), as it is, no training; its report says what
    was read and its validation PSNR/SSIM. A skip marker with the reason where no file is named."""
    config = load_config(params)
    reason = pretrained_skip_reason(config)
    if reason:
        logger.info("%s: skipped (%s)", PRETRAINED_NAME, reason)
        return {"skipped": reason}, {"variant": PRETRAINED_NAME, "skipped": reason}
    return import_pretrained(config, lr_val, hr_val, MlflowTracker())


def plot_sr_samples(sr_generator: dict[str, Any], lr_val: np.ndarray, hr_val: np.ndarray,
                    params: dict[str, Any]) -> Figure:
    """A grid of validation frames: LR (nearest) | bicubic | SR | HR truth (when there is one)."""
    config = load_config(params)
    return sample_grid(sr_generator, lr_val, hr_val, config.scale, config.sample_count)


def sr_metrics(sr_report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The final validation numbers for the MLflow run (the catalog prefixes ``srgan.final.``, or
    ``srgan_id.final.``); none for a skipped training."""
    return {k: {"value": float(v), "step": 0} for k, v in sr_report.get("val", {}).items()
            if isinstance(v, (int, float)) and math.isfinite(v)}
