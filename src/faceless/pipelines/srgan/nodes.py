"""SRGAN nodes: build the typed config, call the SR engine (:mod:`faceless.sr`), return artifacts.

Training uses the training side only (truth pairs where the source has them, else self-supervised);
validation PSNR/SSIM against bicubic uses the validation side, never the test side.
"""
from __future__ import annotations

import math
from typing import Any

from matplotlib.figure import Figure
import numpy as np

from faceless.pipelines.tracking import MlflowTracker
from faceless.sr.config import load_config
from faceless.sr.samples import sample_grid
from faceless.sr.trainer import SRTrainer


def train_srgan(lr_train: np.ndarray, hr_train: np.ndarray, lr_val: np.ndarray, hr_val: np.ndarray,
                params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train the generator (stage 1: pretrain_losses; stage 2: discriminator + gan_losses); return the
    EMA weights with the config that rebuilds the module, and the report of what happened."""
    config = load_config(params)
    trainer = SRTrainer.from_arrays(config, lr_train, hr_train, lr_val, hr_val)
    return trainer.train(MlflowTracker())


def plot_sr_samples(sr_generator: dict[str, Any], lr_val: np.ndarray, hr_val: np.ndarray,
                    params: dict[str, Any]) -> Figure:
    """A grid of validation frames: LR (nearest) | bicubic | SR | HR truth (when there is one)."""
    config = load_config(params)
    return sample_grid(sr_generator, lr_val, hr_val, config.scale, config.sample_count)


def sr_metrics(sr_report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The final validation numbers for the MLflow run (the catalog prefixes ``srgan.final.``)."""
    return {k: {"value": float(v), "step": 0} for k, v in sr_report["val"].items()
            if isinstance(v, (int, float)) and math.isfinite(v)}
