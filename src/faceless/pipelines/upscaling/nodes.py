"""Upscaling nodes: each variant's input for every split, through the cache: 4x by its generator
or by bicubic interpolation, or the truth area-downscaled (never JPEG-compressed).

The work happens here, inside the node (Kedro's hooks, timings and kedro-viz see it); the result
is the cache's memory-mapped file, which the catalog's ``NpyArrayDataset`` publishes by a hard link.
With ``upscaling.distributed`` set to more than one process, the node launches the workers that
share the shards (``faceless.distributed.launch``) and alone finishes and records the cache entry.
"""
from __future__ import annotations

import logging
from functools import partial
from typing import Any

import numpy as np

from faceless.distributed import distributed_config, launch
from faceless.inference import ShardRunner, UpscaleConfig, upscale_cached
from faceless.pipelines.tracking import MlflowTracker
from faceless.recognition.variants import clean_lowres, no_frames
from faceless.training.tracker import PrefixedTracker, metric_prefix
from faceless.utils.config import from_params

logger = logging.getLogger(__name__)


def upscale_with_generator(lr: np.ndarray, sr_generator: dict[str, Any], params: dict[str, Any],
                           name: str) -> np.ndarray:
    """4x with a variant's SR generator (trained or imported); no frames where it was skipped (its
    report says why), which the classifier stage reports as a skip."""
    config = from_params(UpscaleConfig, params, "upscaling")
    if "skipped" in sr_generator:
        logger.info("%s: no frames, the generator was not trained (%s)", name, sr_generator["skipped"])
        return no_frames(lr, config.factor)
    upscaled, _ = upscale_cached(lr, sr_generator, config, name, tracker(name), runner=shard_runner(config, name))
    return upscaled


def upscale_bicubic(lr: np.ndarray, params: dict[str, Any], name: str) -> np.ndarray:
    """4x bicubic: the baseline the classifier stage compares SR against."""
    config = from_params(UpscaleConfig, params, "upscaling")
    upscaled, _ = upscale_cached(lr, None, config, name, tracker(name), runner=shard_runner(config, name))
    return upscaled


def tracker(name: str) -> PrefixedTracker:
    """The run's tracker for the upscale ``<variant>_<side>``: its cost is ``upscaling/<variant>/<side>_*``
    (one MLflow chart section per variant)."""
    variant, side = name.rsplit("_", 1)
    return PrefixedTracker(MlflowTracker(), metric_prefix("upscaling", variant) + f"{side}_")


def shard_runner(config: UpscaleConfig, name: str) -> ShardRunner:
    """How the upscale ``name``'s shards run: ``upscaling.distributed``'s processes (this one where it is 1)."""
    return partial(launch, distributed_config(config.distributed, "upscaling.distributed"), device=config.device,
                   name=name)


def downscale_truth(hr: np.ndarray, params: dict[str, Any], name: str) -> np.ndarray:
    """The truth area-downscaled ``upscaling.factor`` x, never JPEG-compressed: a ``truth_downscaled``
    variant's input (clean low-resolution frames next to JPEG ones); no frames where there is no truth."""
    config = from_params(UpscaleConfig, params, "upscaling")
    if hr.size == 0:
        logger.info("%s: no frames, the source has no high-resolution truth", name)
    return clean_lowres(hr, config.factor)
