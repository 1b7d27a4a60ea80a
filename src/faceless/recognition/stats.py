"""How sure a test-side number is: a cluster bootstrap over test videos, and a paired sign-flip test.

Test units (sequences, frames) are not independent: the sequences of one video share its light,
camera and compression, so a video is the unit that was drawn. Both procedures therefore resample
or flip whole videos (clusters):

* :func:`bootstrap_interval`: percentile interval of the mean of a per-unit value (a hit, points)
  when the test videos are redrawn with replacement; every unit of a drawn video comes along.
* :func:`paired_difference`: the same for the difference of two variants on the same units; one
  draw of videos serves both (the interval of ``a - b`` per unit).
* :func:`sign_flip_p_value`: two-sided p of "the two variants are exchangeable within each
  video": per-video sums of per-unit differences get random signs; exact over every sign pattern
  up to :data:`EXACT_MAX_CLUSTERS` videos, Monte Carlo beyond.

NumPy only; every draw comes from ``numpy.random.default_rng(seed)``, so equal inputs and seed give
equal answers, and two variants evaluated with the same seed on the same units see the same draws.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Up to this many videos the sign-flip test enumerates all 2**videos sign patterns (65536 at 16).
EXACT_MAX_CLUSTERS = 16
#: Sign patterns per Monte Carlo batch (bounds the memory of a batch to this x videos).
_FLIP_BATCH = 4096


@dataclass(frozen=True)
class Interval:
    """A mean over the test units and its bootstrap percentile interval."""

    estimate: float
    low: float
    high: float

    @property
    def includes_zero(self) -> bool:
        return self.low <= 0.0 <= self.high


@dataclass(frozen=True)
class PairedDifference:
    """``a - b`` averaged over the shared units, its interval, and the sign-flip test's p."""

    difference: Interval
    p_value: float
    clusters: int
    confidence: float

    @property
    def shown(self) -> bool:
        """Whether the data show a difference: the interval excludes 0 AND the paired test agrees
        (p < 1 - confidence). With few videos the percentile interval is too narrow while the
        exact test cannot go below 2 / 2**videos; requiring both keeps "shown" honest there."""
        return not self.difference.includes_zero and self.p_value < 1 - self.confidence


def cluster_codes(clusters: Sequence | np.ndarray) -> tuple[np.ndarray, int]:
    """An integer code per unit (0..n-1, in order of first appearance) and the number of clusters."""
    keys = np.asarray(clusters)
    if keys.size == 0:
        return np.zeros(0, dtype=np.int64), 0
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    # Codes by first appearance, not by sort order: the draws then follow the units' order.
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.reshape(-1)], len(first)


def bootstrap_draws(n_clusters: int, samples: int, seed: int) -> np.ndarray:
    """``samples`` redraws of ``n_clusters`` cluster indices with replacement, (samples, n_clusters)."""
    return np.random.default_rng(seed).integers(0, n_clusters, size=(samples, n_clusters))


def resampled_means(values: np.ndarray, codes: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """The mean per unit of each redraw: the units of every drawn cluster, a cluster drawn twice
    counting twice (sum of the drawn clusters' sums over the sum of their unit counts)."""
    n_clusters = draws.shape[1]
    sums = np.bincount(codes, weights=values, minlength=n_clusters)
    counts = np.bincount(codes, minlength=n_clusters).astype(np.float64)
    return sums[draws].sum(axis=1) / counts[draws].sum(axis=1)


def bootstrap_interval(values: Sequence[float] | np.ndarray, clusters: Sequence | np.ndarray, samples: int,
                       confidence: float, seed: int) -> Interval:
    """The mean of ``values`` and its ``confidence`` percentile interval under a cluster bootstrap."""
    values = np.asarray(values, dtype=np.float64)
    codes, n_clusters = cluster_codes(clusters)
    if len(values) != len(codes):
        raise ValueError(f"bootstrap: {len(values)} values but {len(codes)} cluster keys")
    if n_clusters == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    means = resampled_means(values, codes, bootstrap_draws(n_clusters, samples, seed))
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return Interval(float(values.mean()), float(low), float(high))


def paired_difference(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                      clusters: Sequence | np.ndarray, samples: int, confidence: float, seed: int) -> Interval:
    """Mean of ``a - b`` over units measured on both, and its interval: each redraw of the videos
    is the same for ``a`` and ``b`` (the units' clusters and the seed fix it)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired difference: {a.shape} vs {b.shape} units; pairs need the same units")
    return bootstrap_interval(a - b, clusters, samples, confidence, seed)


def sign_flip_p_value(differences: Sequence[float] | np.ndarray, clusters: Sequence | np.ndarray,
                      permutations: int, seed: int) -> float:
    """Two-sided p of the total difference under random signs per cluster.

    The statistic is |sum over clusters of s_c * d_c| with d_c the cluster's summed per-unit
    difference; the observed one has every s_c = +1. Exact (the share of all 2**clusters patterns at
    least as extreme) up to :data:`EXACT_MAX_CLUSTERS` clusters; beyond, ``permutations`` random
    patterns and p = (1 + at least as extreme) / (1 + permutations), never 0.
    """
    differences = np.asarray(differences, dtype=np.float64)
    codes, n_clusters = cluster_codes(clusters)
    if len(differences) != len(codes):
        raise ValueError(f"sign-flip test: {len(differences)} differences but {len(codes)} cluster keys")
    if n_clusters == 0:
        return float("nan")
    per_cluster = np.bincount(codes, weights=differences, minlength=n_clusters)
    observed = abs(per_cluster.sum())
    # Sums of the same numbers in another order differ in the last bits: equal within rounding counts.
    tolerance = 1e-9 * max(1.0, float(np.abs(per_cluster).sum()))
    if n_clusters <= EXACT_MAX_CLUSTERS:
        patterns = np.arange(2 ** n_clusters)[:, None] >> np.arange(n_clusters) & 1
        totals = np.abs((2.0 * patterns - 1.0) @ per_cluster)
        return float(np.mean(totals >= observed - tolerance))
    rng = np.random.default_rng(seed)
    extreme, done = 0, 0
    while done < permutations:
        batch = min(_FLIP_BATCH, permutations - done)
        signs = rng.integers(0, 2, size=(batch, n_clusters)) * 2.0 - 1.0
        extreme += int(np.sum(np.abs(signs @ per_cluster) >= observed - tolerance))
        done += batch
    return (1 + extreme) / (1 + permutations)


def paired_comparison(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                      clusters: Sequence | np.ndarray, samples: int, confidence: float, seed: int,
                      permutations: int) -> PairedDifference:
    """Paired difference ``a - b`` with its cluster-bootstrap interval and sign-flip p."""
    difference = paired_difference(a, b, clusters, samples, confidence, seed)
    p_value = sign_flip_p_value(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), clusters,
                                permutations, seed)
    return PairedDifference(difference=difference, p_value=p_value, clusters=cluster_codes(clusters)[1],
                            confidence=confidence)
