"""Sampling nodes: split the frame index disjointly, sample each side, load the chosen frames.

The logic lives in :mod:`faceless.data.sampling`; these nodes build its config from
``params:sampling`` and hand back what it returns."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from faceless.data import sampling
from faceless.data.sampling import SamplingConfig
from faceless.recognition.variants import clean_lowres
from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError


def sampling_config(params: dict[str, Any]) -> SamplingConfig:
    """``params:sampling`` as a typed config; a wrong, unknown or missing key is one ConfigError line."""
    return from_params(SamplingConfig, params, "sampling")


def split_frames(frame_index: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every frame with its ``side`` (train / val / test), disjoint at the ``sampling.split_by``
    level, and the split's info (fractions, people left out, leakage audit)."""
    return sampling.assign_sides(frame_index, sampling_config(params))


def sample_splits(split_index: pd.DataFrame, split_info: dict[str, Any], params: dict[str, Any]
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Sequence-balanced samples of each side and the sampling report (quotas, shortages, leakage)."""
    samples, report = sampling.sample_sides(split_index, split_info, sampling_config(params))
    return samples["train"], samples["val"], samples["test"], report


def sampling_metrics(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Flat numbers from the report for the MLflow run: counts, quotas and the leakage audit, named
    ``<side>/<count>`` and ``leakage/<pair>_shared_<level>`` (the catalog puts them under ``sampling/``)."""
    return {name: {"value": value, "step": 0} for name, value in sampling.report_numbers(report).items()}


def load_split_frames(index: pd.DataFrame, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The chosen frames as uint8 (N, H, W, 3), and the HR truth alongside (empty when none)."""
    return sampling.load_side_frames(index, sampling_config(params).workers)


def sample_other_frames(other_frame_index: pd.DataFrame, split_index: pd.DataFrame, params: dict[str, Any]
                        ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The other people's frames for SR training (``sampling.other``), without anyone of the
    recognition set's sides, and their report (per-person counts, people dropped, leakage audit)."""
    return sampling.sample_other(other_frame_index, split_index, sampling_config(params))


def load_other_frames(index: pd.DataFrame, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The other people's SR pairs as uint8 (N, h, w, 3) frames and (N, H, W, 3) truth. Where the
    other tree holds high-resolution frames alone, the frames are the truth area-downscaled
    ``sampling.other.scale`` x (the ``truth_downscaled`` input's downscale); pairs read from files must be that scale apart."""
    config = sampling_config(params)
    lr, hr = sampling.load_other_frames(index, config.workers)
    scale = config.other.scale
    if lr is None:
        if hr.shape[1] % scale or hr.shape[2] % scale:
            raise ConfigError(f"sampling.other.scale={scale} does not divide the other people's "
                              f"{hr.shape[2]}x{hr.shape[1]} frames")
        return clean_lowres(hr, scale), hr
    if len(hr) and (hr.shape[1], hr.shape[2]) != (lr.shape[1] * scale, lr.shape[2] * scale):
        raise ConfigError(f"sampling.other.scale={scale}, but the other people's frames are {lr.shape[2]}x"
                          f"{lr.shape[1]} with {hr.shape[2]}x{hr.shape[1]} truth")
    return lr, hr
