"""SRGAN nodes: build the typed config of a generator variant, call the SR engine (:mod:`faceless.sr`),
return artifacts.

Each generator variant of ``params:variants`` (:mod:`faceless.variants`) is ``srgan``'s recipe with
its block's changes (:func:`faceless.sr.config.variant_config`): trained on the training side's pairs
(truth where the source has it, else self pairs), on self pairs, on other people's frames
(``pairs: other``: ``lr_other``/``hr_other``), with identity terms read from a recogniser trained on
the training side's people, or imported from a file as it is. Validation PSNR/SSIM against bicubic
use the validation side, never the test side. A variant that cannot run here (no truth, frames too
small for self pairs, no other people) returns a skip marker with the reason in both outputs, which
the upscaling and classifier stages pass on to its row.

``srgan.distributed``: a training runs in that many processes (and machines), launched here by
:func:`faceless.distributed.launch` (rank 0's weights and metrics come back to this node); an
identity variant trains in this process (its recogniser is not data-parallel).
"""
from __future__ import annotations

import logging
from functools import partial
from typing import Any

from matplotlib.figure import Figure
import numpy as np
import pandas as pd

from faceless.distributed import DistributedConfig, distributed_config, launch
from faceless.pipelines.tracking import MlflowTracker
from faceless.sr.config import STAGE, SRConfig, load_config, self_pairs_reason, variant_config
from faceless.sr.pretrained import import_pretrained
from faceless.sr.samples import sample_grid
from faceless.sr.trainer import train_generator
from faceless.variants import no_truth_reason, variant_specs


logger = logging.getLogger(__name__)

Artifacts = tuple[dict[str, Any], dict[str, Any]]


def train_generator_variant(lr_train: np.ndarray, hr_train: np.ndarray, lr_val: np.ndarray, hr_val: np.ndarray,
                            srgan: dict[str, Any], variants: dict[str, Any], variant: str,
                            train_index: pd.DataFrame | None = None,
                            val_index: pd.DataFrame | None = None) -> Artifacts:
    """Train the generator of ``variant`` (stage 1: its pixel losses; stage 2: discriminator + its GAN
    losses); return the EMA weights with the config that rebuilds the module, and the report.
    ``lr_train``/``hr_train`` are other people's frames for ``pairs: other``; ``train_index`` /
    ``val_index`` give an identity variant's recogniser its labels."""
    spec = variant_specs(variants)[variant]
    config = variant_config(srgan, spec)
    reason = _skip_reason(spec, config, lr_train, hr_train)
    if reason:
        logger.info("%s: skipped (%s)", variant, reason)
        return {"skipped": reason}, {"variant": variant, "skipped": reason}
    args = (config, lr_train, hr_train, lr_val, hr_val)
    if spec.identity:
        world = distributed(config).world_size(config.device)
        if world > 1:
            logger.info("%s: trained in one process, not %d (%s.distributed): its recogniser is not data-parallel",
                        variant, world, STAGE)
        return train_generator(*args, MlflowTracker(), name=variant, train_labels=train_index["label"].to_numpy(),
                               val_labels=val_index["label"].to_numpy())
    job = partial(train_generator, name=variant, other_people=spec.pairs == "other")
    return launch(distributed(config), job, *args, tracker=MlflowTracker(), device=config.device, name=variant)


def _skip_reason(spec, config: SRConfig, lr_train: np.ndarray, hr_train: np.ndarray) -> str | None:
    if spec.pairs == "other":
        if not len(lr_train):
            return ("no other people's frames: the demo renders them (ingestion.demo.other_people), on your data "
                    "name them with ingestion.other_root")
        return None
    if spec.needs_truth and hr_train.size == 0:
        return no_truth_reason(spec)
    if config.pairs == "self" or hr_train.size == 0:
        return self_pairs_reason(config, min(lr_train.shape[1:3]))
    return None


def distributed(config: SRConfig) -> DistributedConfig:
    """``srgan.distributed``, checked."""
    return distributed_config(config.distributed, f"{STAGE}.distributed")


def import_generator(lr_val: np.ndarray, hr_val: np.ndarray, srgan: dict[str, Any], variants: dict[str, Any],
                     variant: str) -> Artifacts:
    """An import variant: the generic generator in its ``import`` file (krasserm .h5, BasicSR .pth or
    an sr_generator file), as it is, no training; its report says what was read and its validation
    PSNR/SSIM."""
    spec = variant_specs(variants)[variant]
    return import_pretrained(load_config(srgan), str(spec.import_file), lr_val, hr_val, MlflowTracker(), name=variant)


def plot_sr_samples(sr_generator: dict[str, Any], lr_val: np.ndarray, hr_val: np.ndarray,
                    params: dict[str, Any]) -> Figure:
    """A grid of validation frames: LR (nearest) | bicubic | SR | HR truth (when there is one)."""
    if "skipped" in sr_generator:
        fig = Figure(figsize=(6, 1))
        fig.text(0.5, 0.5, f"skipped: {sr_generator['skipped']}", ha="center", wrap=True)
        fig.set_label("skipped")  # a placeholder: kept locally, not logged to the run (RunArtifactDataset)
        return fig
    config = load_config(params)
    return sample_grid(sr_generator, lr_val, hr_val, config.scale, config.sample_count)
