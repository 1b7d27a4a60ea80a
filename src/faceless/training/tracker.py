"""How engines report numbers: a small tracker interface the Kedro node passes in.

Engines (``sr/``, ``recognition/``, ``inference``) never import MLflow; they call
``tracker.log_metrics({...}, step)``. The node hands them an MLflow-backed tracker
(:mod:`faceless.pipelines.tracking`); tests and benches use :class:`NullTracker` or
:class:`MemoryTracker`.

Names are ``<stage>/<variant>/<metric>`` (``<stage>/<metric>`` for a stage-wide number), made by
:func:`metric_name` and :func:`metric_prefix`: MLflow's charts put a metric in the section named by
what comes before its last ``/``, so a run's charts fall into a section per stage and variant.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol


class Tracker(Protocol):
    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None: ...


class NullTracker:
    """Reports nothing."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        return None


class MemoryTracker:
    """Keeps every reported number: ``history[name] == [(step, value), ...]``."""

    def __init__(self) -> None:
        self.history: dict[str, list[tuple[int, float]]] = {}

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        for name, value in finite(metrics).items():
            self.history.setdefault(name, []).append((int(step), value))


def metric_name(*parts: str) -> str:
    """``metric_name("classifier", variant, "loss")`` -> ``classifier/<variant>/loss`` (empty parts left out)."""
    return "/".join(part for part in parts if part)


def metric_prefix(*parts: str) -> str:
    """``metric_prefix("srgan", variant)`` -> ``srgan/<variant>/``, for :class:`PrefixedTracker`."""
    return metric_name(*parts) + "/"


class PrefixedTracker:
    """Prefixes every name (``srgan/<variant>/``, ``classifier/<variant>/``) before passing it on."""

    def __init__(self, inner: Tracker, prefix: str) -> None:
        self.inner, self.prefix = inner, prefix

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.inner.log_metrics({f"{self.prefix}{k}": v for k, v in metrics.items()}, step)


def finite(metrics: Mapping[str, float | None]) -> dict[str, float]:
    """The finite numbers of ``metrics`` as floats (None, NaN and inf are left out)."""
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
