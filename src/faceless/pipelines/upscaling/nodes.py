"""Upscaling nodes: 4x every split with the SR generator and with bicubic, through the cache.

The work happens here, inside the node (Kedro's hooks, timings and kedro-viz see it); the result
is the cache's memory-mapped file, which the catalog's ``NpyArrayDataset`` publishes by a hard link.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from faceless.inference import UpscaleConfig, upscale_cached
from faceless.pipelines.tracking import MlflowTracker
from faceless.utils.config import from_params


def upscale_with_generator(lr: np.ndarray, sr_generator: dict[str, Any], params: dict[str, Any],
                           name: str) -> np.ndarray:
    """4x with the trained SR generator."""
    upscaled, _ = upscale_cached(lr, sr_generator, from_params(UpscaleConfig, params, "upscaling"), name,
                                 MlflowTracker())
    return upscaled


def upscale_bicubic(lr: np.ndarray, params: dict[str, Any], name: str) -> np.ndarray:
    """4x bicubic: the baseline the classifier stage compares SR against."""
    upscaled, _ = upscale_cached(lr, None, from_params(UpscaleConfig, params, "upscaling"), name, MlflowTracker())
    return upscaled
