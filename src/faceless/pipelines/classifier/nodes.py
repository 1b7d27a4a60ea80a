"""Classifier stage: the same recipe trained on each input variant (see :mod:`faceless.recognition.trainer`),
once per seed of ``classifier.seeds``.

After each classifier, ``train_pooling`` trains how its sequences pool their frames
(``params:pooling``; :mod:`faceless.recognition.pooling`): nothing for ``mean``, an attention head
per classifier seed for ``attention``, on the training side's sequences, validation monitoring.

The pipeline has a node for each variant that is on (``params:variants``); one without data here
(``hr`` where the source has no truth, a generator that was skipped) is skipped and says why, so
the pipeline's shape never depends on the data.
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
from faceless.recognition.pooling import PoolingConfig, train_pooling_heads
from faceless.recognition.trainer import train_seeds
from faceless.utils.config import from_params

logger = logging.getLogger(__name__)


def train_classifier(train_x: np.ndarray, train_index: pd.DataFrame, val_x: np.ndarray, val_index: pd.DataFrame,
                     params: dict[str, Any], variant: str, no_data: str | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train the recipe on one variant, once per seed of ``classifier.seeds``; returns the saved
    classifier (the weights ``classifier.selection`` kept; the first seed's, the others under
    ``repeats``) and a training report, or, where ``train_x`` is empty, a skip with its reason in both
    (``no_data`` says why a variant has none)."""
    cfg = from_params(ClassifierConfig, params, "classifier")
    if train_x is None or train_x.size == 0:
        reason = f"no data for this variant ({no_data or 'its arrays are empty'})"
        logger.info("classifier %s: skipped (%s)", variant, reason)
        return {"variant": variant, "skipped": reason}, {"variant": variant, "skipped": reason}
    distributed = distributed_config(cfg.distributed, "classifier.distributed")
    return launch(distributed, train_seeds, cfg, variant, train_x, train_index, val_x, val_index,
                  tracker=MlflowTracker(), device=cfg.device, name=f"classifier {variant}")


def train_pooling(classifier: dict[str, Any], train_x: np.ndarray, train_index: pd.DataFrame, val_x: np.ndarray,
                  val_index: pd.DataFrame, params: dict[str, Any], variant: str
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sequence pooling of one variant's saved classifier (``pooling.method``): the pooling file
    evaluation, predict and serving read, and a report; a skipped classifier passes its skip on."""
    cfg = PoolingConfig.from_params(params)
    if "skipped" in classifier:
        skip = {"variant": variant, "skipped": classifier["skipped"]}
        return skip, skip
    pooling, report = train_pooling_heads(cfg, classifier, train_x, train_index, val_x, val_index,
                                          tracker=MlflowTracker())
    return {**pooling, "variant": variant}, {**report, "variant": variant}
