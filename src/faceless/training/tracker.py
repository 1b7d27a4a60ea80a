"""How engines report numbers: a small tracker interface the Kedro node passes in.

Engines (``sr/``, ``recognition/``, ``inference``) never import MLflow; they call
``tracker.log_metrics({...}, step)``. The node hands them an MLflow-backed tracker
(:mod:`faceless.pipelines.tracking`); tests and benches use :class:`NullTracker` or
:class:`MemoryTracker`.
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


class PrefixedTracker:
    """Prefixes every name (``srgan.``, ``classifier.lr.``) before passing it on."""

    def __init__(self, inner: Tracker, prefix: str) -> None:
        self.inner, self.prefix = inner, prefix

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.inner.log_metrics({f"{self.prefix}{k}": v for k, v in metrics.items()}, step)


def finite(metrics: Mapping[str, float | None]) -> dict[str, float]:
    """The finite numbers of ``metrics`` as floats (None, NaN and inf are left out)."""
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
