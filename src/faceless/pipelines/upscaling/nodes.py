"""Upscaling nodes: describe each upscale; the catalog's cached dataset computes what is missing."""
from __future__ import annotations

from typing import Any

import numpy as np

from faceless.config import ConfigError
from faceless.data.upscale_cache import UpscaleJob


def _job(lr: np.ndarray, sr_generator: dict[str, Any] | None, params: dict[str, Any], name: str) -> UpscaleJob:
    factor = int(params.get("factor", 4))
    if sr_generator is not None and int(sr_generator["config"].get("scale", factor)) != factor:
        raise ConfigError(
            f"upscaling.factor={factor} but the generator upscales {sr_generator['config']['scale']}x"
        )
    if lr.ndim != 4 or lr.shape[-1] != 3 or lr.dtype != np.uint8:
        raise ConfigError(f"upscaling: {name} input must be uint8 (N, H, W, 3), got {lr.dtype} {lr.shape}")
    return UpscaleJob(
        lr=lr, factor=factor, sr_generator=sr_generator, name=name,
        batch_size=int(params.get("batch_size", 32)), shard_size=int(params.get("shard_size", 512)),
        device=params.get("device", "auto"), precision=params.get("precision", "auto"),
    )


def upscale_with_generator(lr: np.ndarray, sr_generator: dict[str, Any], params: dict[str, Any],
                           name: str = "sr") -> UpscaleJob:
    """4x with the trained SR generator (saved by the cached dataset, streaming)."""
    return _job(lr, sr_generator, params, name)


def upscale_bicubic(lr: np.ndarray, params: dict[str, Any], name: str = "bicubic") -> UpscaleJob:
    """4x bicubic: the baseline the classifier stage compares SR against."""
    return _job(lr, None, params, name)
