"""Classifier stage: the same recipe trained on each input variant (see :mod:`faceless.recognition.trainer`),
once per seed of ``classifier.seeds``.

Variants not listed in ``classifier.variants``, or without data (``hr`` where the source has no
truth), are skipped and say so, so the pipeline's shape never depends on the data.
``classifier.distributed``: each variant's training runs in that many processes (and machines),
launched here by :func:`faceless.distributed.launch`; rank 0's weights and metrics come back here.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from faceless.distributed import distributed_config, launch
from faceless.pipelines.tracking import MlflowTracker
from faceless.recognition.config import ClassifierConfig
from faceless.recognition.trainer import train_seeds
from faceless.recognition.variants import variant_skip_reason
from faceless.utils.config import from_params

logger = logging.getLogger(__name__)


def train_classifier(train_x: np.ndarray, train_index: pd.DataFrame, val_x: np.ndarray, val_index: pd.DataFrame,
                     params: dict[str, Any], variant: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train the recipe on one variant, once per seed of ``classifier.seeds``; returns the saved
    classifier (the weights ``classifier.selection`` kept; the first seed's, the others under
    ``repeats``) and a training report, or a skip with its reason in both."""
    cfg = from_params(ClassifierConfig, params, "classifier")
    reason = variant_skip_reason(variant, cfg.variants, train_x)
    if reason:
        logger.info("classifier %s: skipped (%s)", variant, reason)
        return {"variant": variant, "skipped": reason}, {"variant": variant, "skipped": reason}
    distributed = distributed_config(cfg.distributed, "classifier.distributed")
    return launch(distributed, train_seeds, cfg, variant, train_x, train_index, val_x, val_index,
                  tracker=MlflowTracker(), device=cfg.device, name=f"classifier {variant}")
