"""Sampling nodes: split the frame index disjointly, sample each side, load the chosen frames.

The logic lives in :mod:`faceless.data.sampling`; these nodes build its config from
``params:sampling`` and hand back what it returns."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from faceless.data import sampling
from faceless.data.sampling import SamplingConfig
from faceless.utils.config import from_params


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
    """Flat numbers from the report for the MLflow run: counts, quotas and the leakage audit.

    The catalog's metrics dataset prefixes them with ``sampling.``."""
    return {name: {"value": value, "step": 0} for name, value in sampling.report_numbers(report).items()}


def load_split_frames(index: pd.DataFrame, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The chosen frames as uint8 (N, H, W, 3), and the HR truth alongside (empty when none)."""
    return sampling.load_side_frames(index, sampling_config(params).workers)
