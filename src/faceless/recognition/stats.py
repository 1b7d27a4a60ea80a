"""How sure a test-side number is: a cluster bootstrap over test videos (and training seeds), a paired
sign-flip test, and Holm's correction over a family of comparisons.

Test units (sequences, frames) are not independent: the sequences of one video share its light,
camera and compression, so a video is the unit that was drawn. Both procedures therefore resample
or flip whole videos (clusters). Where a variant was trained with several seeds, the seeds are a
second random dimension, crossed with the videos (every seed is evaluated on every video).

* :func:`bootstrap_interval`: the interval of the mean of a per-unit value (a hit, points) when
  the test videos are redrawn with replacement (every unit of a drawn video comes along) and, with
  several seeds, the seeds are redrawn with replacement too (a two-level, "pigeonhole" bootstrap).
* :func:`paired_difference`: the same for the difference of two variants on the same units; one
  draw of videos serves both; the seeds are drawn as pairs where both variants ran the same seeds.
* :func:`sign_flip_p_value`: two-sided p of "the two variants are exchangeable within each
  video": per-video sums of per-unit differences (averaged over seeds) get random signs; exact over
  every sign pattern up to :data:`EXACT_MAX_CLUSTERS` videos, Monte Carlo beyond.
* :func:`holm_adjusted`: Holm-Bonferroni adjusted p over the comparisons of a family that ran.

Which interval (``evaluation.bootstrap.interval``), and why
-----------------------------------------------------------
``t_se`` (the default): estimate ± t(df) · SE from the bootstrap redraws. With one seed, SE = SD of
the redraws · √(n / (n − 1)) and df = n − 1 (n videos): the cluster-robust t-interval over videos
(the bootstrap SD is the plug-in SE, √((n − 1)/n) too small, and z is too small a multiplier for 32
videos), computed from the same redraws. With several seeds, the redraws' variance is split into
the videos' part (x n / (n − 1)), the seeds' part (x k / (k − 1), k seeds) and the rest, and df comes
from Welch-Satterthwaite (k − 1 for the seeds): five seeds are few, and the percentile interval
ignores that. ``percentile`` (the quantiles of the redraws): kept to compare.

tests/recognition/test_stats_simulation.py simulates paired per-sequence outcomes (top-1 hits,
challenge points 0/60..100; two sequences a video that mostly agree; an effect that varies by
video; with five seeds a seed effect and a seed x video interaction per variant) and checks both.
Measured over 4000 simulated test sides each (1000 redraws; Monte Carlo SE about 0.35 points), the
coverage of the 95 % interval of the mean difference, in %, top-1 / challenge score:

==========================  ===================  ===================
test side                   percentile           t_se
==========================  ===================  ===================
32 videos, 1 seed, no gain  94.4 / 94.3          94.8 / 95.8
32 videos, 1 seed, +18 pts  94.0 / 94.2          95.4 / 95.8
96 videos, 1 seed, no gain  94.9 / 94.7          94.9 / 95.4
96 videos, 1 seed, +18 pts  94.6 / 94.5          95.4 / 95.2
32 videos, 5 seeds, no gain 95.2 / 94.4          97.0 / 96.3
32 videos, 5 seeds, +18 pts 95.7 / 94.5          97.3 / 96.4
96 videos, 5 seeds, no gain 93.5 / 92.7          96.1 / 95.4
96 videos, 5 seeds, +18 pts 93.2 / 92.6          95.6 / 95.3
==========================  ===================  ===================

"Shown" (interval excludes 0 and p < 0.05, a family of one) at no gain: with one seed 3.3-4.4 %
with either interval (the sign-flip test, exact under no effect, bounds it); with five seeds
percentile 4.8-7.3 %, t_se 3.0-4.6 % (the test over videos does not see seed-to-seed spread: there
the interval must). The studentized bootstrap-t was not chosen: with 0/1 outcomes a redraw of 32
videos can have an SE of 0 and an unbounded t; BCa keeps the percentile interval's small-sample
shrink and has no seed level.

NumPy (and SciPy's t quantile) only; every draw comes from ``numpy.random.default_rng`` seeded by
``evaluation.bootstrap.seed``, so equal inputs and seed give equal answers, and two variants
evaluated with the same seed on the same units see the same draws of videos.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Up to this many videos the sign-flip test enumerates all 2**videos sign patterns (65536 at 16).
EXACT_MAX_CLUSTERS = 16
#: Sign patterns per Monte Carlo batch (bounds the memory of a batch to this x videos x datasets).
_FLIP_BATCH = 4096
#: The interval methods (``evaluation.bootstrap.interval``); the first is the default.
INTERVAL_METHODS = ("t_se", "percentile")
#: Streams of the seed draws (``default_rng([seed, stream])``): apart from the videos' ``default_rng(seed)``.
_SEED_STREAM, _BASELINE_SEED_STREAM = 1, 2


@dataclass(frozen=True)
class Interval:
    """A mean over the test units and its bootstrap interval."""

    estimate: float
    low: float
    high: float

    @property
    def includes_zero(self) -> bool:
        # An interval that could not be computed (NaN, one video) cannot exclude 0.
        return not (self.low > 0.0 or self.high < 0.0)


@dataclass(frozen=True)
class PairedDifference:
    """``a - b`` averaged over the shared units, its interval, the sign-flip test's p and, once the
    family is known, its Holm-adjusted p."""

    difference: Interval
    p_value: float
    clusters: int
    confidence: float
    adjusted_p_value: float | None = None   # None: a family of one (the raw p)

    @property
    def shown(self) -> bool:
        """Whether the data show a difference: the interval excludes 0 AND the paired test, adjusted
        for the family, agrees (p < 1 - confidence). With few videos the exact test cannot go below
        2 / 2**videos; requiring both keeps "shown" honest there."""
        p = self.p_value if self.adjusted_p_value is None else self.adjusted_p_value
        return not self.difference.includes_zero and p < 1 - self.confidence


def shown(low: float, high: float, adjusted_p: float, confidence: float) -> bool:
    """The verdict of :attr:`PairedDifference.shown` from its numbers."""
    return PairedDifference(Interval(np.nan, low, high), adjusted_p, 0, confidence).shown


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


def tally(draws: np.ndarray, n: int) -> np.ndarray:
    """How many times each of ``n`` indices appears in each row of ``draws``, (rows, n) floats."""
    rows = len(draws)
    flat = (draws + n * np.arange(rows)[:, None]).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.float64)


def video_counts(n_clusters: int, samples: int, seed: int) -> np.ndarray:
    """The redraws of :func:`bootstrap_draws` as counts per video, (samples, n_clusters)."""
    return tally(bootstrap_draws(n_clusters, samples, seed), n_clusters)


def seed_weights(n_seeds: int, samples: int, seed: int, stream: int = _SEED_STREAM) -> np.ndarray:
    """Per redraw, the share of each training seed when ``n_seeds`` seeds are drawn with replacement,
    (samples, n_seeds), rows summing to 1; one seed: all ones, and no draw at all (one level)."""
    if n_seeds == 1:
        return np.ones((samples, 1))
    draws = np.random.default_rng([seed, stream]).integers(0, n_seeds, size=(samples, n_seeds))
    return tally(draws, n_seeds) / n_seeds


def resampled_means(values: np.ndarray, codes: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """The mean per unit of each redraw: the units of every drawn cluster, a cluster drawn twice
    counting twice (sum of the drawn clusters' sums over the sum of their unit counts)."""
    n_clusters = draws.shape[1]
    sums = np.bincount(codes, weights=values, minlength=n_clusters)
    counts = np.bincount(codes, minlength=n_clusters).astype(np.float64)
    return sums[draws].sum(axis=1) / counts[draws].sum(axis=1)


def two_level_means(sums: np.ndarray, counts: np.ndarray, videos: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The mean per unit of each redraw of videos and seeds, (..., samples).

    ``sums`` (..., seeds, clusters): each seed's per-video sum of the per-unit value (leading axes:
    independent data sets, e.g. simulated ones); ``counts`` (clusters,): units per video; ``videos``
    (samples, clusters): :func:`video_counts`; ``seeds`` (samples, seeds): :func:`seed_weights`.
    A redraw's value is the seed-weighted mean of each seed's mean over the redrawn videos' units.
    """
    per_seed = sums @ videos.T                                    # (..., seeds, samples)
    return np.einsum("...sb,bs->...b", per_seed, seeds) / (videos @ counts)


@dataclass(frozen=True)
class Resamples:
    """Bootstrap means of one statistic, (..., samples) each: ``full`` redraws videos and seeds;
    ``videos`` the same video redraws with every seed kept; ``seeds`` per independently drawn set of
    seeds (one, or two for a difference of variants whose seeds are not paired), the same seed
    redraws with every video kept, and how many seeds the set has."""

    full: np.ndarray
    videos: np.ndarray
    seeds: tuple[tuple[np.ndarray, int], ...]
    n_clusters: int


def resample(sums: np.ndarray, counts: np.ndarray, samples: int, seed: int, stream: int = _SEED_STREAM,
             videos: np.ndarray | None = None) -> Resamples:
    """:class:`Resamples` of the per-unit mean of ``sums`` (..., seeds, clusters): videos redrawn as
    :func:`video_counts` (or the given ``videos``), seeds as :func:`seed_weights` of ``stream``."""
    n_seeds, n_clusters = sums.shape[-2:]
    videos = video_counts(n_clusters, samples, seed) if videos is None else videos
    weights = seed_weights(n_seeds, samples, seed, stream)
    every_seed = np.full((samples, n_seeds), 1.0 / n_seeds)
    full = two_level_means(sums, counts, videos, weights)
    if n_seeds == 1:  # one level: the seed-free redraws are the full ones
        return Resamples(full, full, (), n_clusters)
    every_video = np.ones((samples, n_clusters))
    return Resamples(full, two_level_means(sums, counts, videos, every_seed),
                     ((two_level_means(sums, counts, every_video, weights), n_seeds),), n_clusters)


def difference_of(a: Resamples, b: Resamples) -> Resamples:
    """``a - b`` for resamples of two variants drawn with the same videos and independent seeds."""
    return Resamples(a.full - b.full, a.videos - b.videos, a.seeds + b.seeds, a.n_clusters)


def interval_bounds(estimate: np.ndarray | float, resamples: Resamples, confidence: float,
                    method: str) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of the ``confidence`` interval from bootstrap values along the last axis.

    ``percentile``: the quantiles of the full redraws. ``t_se``: estimate ± t(df) · SE, with the
    variance of the redraws split into the part of the videos (times n / (n - 1), n videos), of each
    set of k seeds (times k / (k - 1)) and the rest (the seed x video interaction the two-level
    bootstrap over-counts: kept, conservative), and df by Welch-Satterthwaite (n - 1 for the videos,
    k - 1 for seeds). One seed: estimate ± t(n - 1) · √(n / (n - 1)) · SD of the redraws. NaN below
    2 videos: nothing to say. The module's docstring says why.
    """
    if method == "percentile":
        low, high = np.quantile(resamples.full, [(1 - confidence) / 2, (1 + confidence) / 2], axis=-1)
        return low, high
    if method != "t_se":
        raise ValueError(f"interval method must be one of {' | '.join(INTERVAL_METHODS)}, got {method!r}")
    estimate = np.asarray(estimate, dtype=np.float64)
    n = resamples.n_clusters
    if n < 2:
        return np.full_like(estimate, np.nan), np.full_like(estimate, np.nan)
    video_var = resamples.videos.var(axis=-1, ddof=1)
    seed_vars = [(draws.var(axis=-1, ddof=1), k) for draws, k in resamples.seeds]
    rest = np.maximum(resamples.full.var(axis=-1, ddof=1) - video_var - sum(v for v, _ in seed_vars), 0.0)
    parts = [(video_var * n / (n - 1) + rest, n - 1)] + [(v * k / (k - 1), k - 1) for v, k in seed_vars]
    variance = sum(v for v, _ in parts)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = variance ** 2 / sum(v ** 2 / d for v, d in parts)
    df = np.where(np.isfinite(df), df, n - 1)  # no spread at all: the interval has no width anyway
    from scipy.stats import t as student_t  # here: scipy.stats costs every process's start a second or two

    half = student_t.ppf((1 + confidence) / 2, df) * np.sqrt(variance)
    return estimate - half, estimate + half


def by_seed(values: Sequence | np.ndarray) -> np.ndarray:
    """Per-unit values as (seeds, units): a 1-D sequence is one seed (or outcomes already averaged)."""
    values = np.asarray(values, dtype=np.float64)
    return values[None, :] if values.ndim == 1 else values


def seed_cluster_sums(values: np.ndarray, codes: np.ndarray, n_clusters: int) -> np.ndarray:
    """Each seed's per-cluster sum of (seeds, units) values, (seeds, clusters)."""
    return np.stack([np.bincount(codes, weights=row, minlength=n_clusters) for row in values])


def _clusters_of(values: np.ndarray, clusters: Sequence | np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    codes, n_clusters = cluster_codes(clusters)
    if values.shape[1] != len(codes):
        raise ValueError(f"bootstrap: {values.shape[1]} values but {len(codes)} cluster keys")
    return codes, n_clusters, np.bincount(codes, minlength=n_clusters).astype(np.float64)


def bootstrap_interval(values: Sequence | np.ndarray, clusters: Sequence | np.ndarray, samples: int,
                       confidence: float, seed: int, method: str = INTERVAL_METHODS[0]) -> Interval:
    """The mean of ``values`` (per unit, or (seeds, units): one row per training seed) and its
    ``confidence`` interval under a bootstrap over videos and, with several seeds, over seeds."""
    values = by_seed(values)
    codes, n_clusters, counts = _clusters_of(values, clusters)
    if n_clusters == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    estimate = float(values.mean())
    draws = resample(seed_cluster_sums(values, codes, n_clusters), counts, samples, seed)
    low, high = interval_bounds(estimate, draws, confidence, method)
    return Interval(estimate, float(low), float(high))


def paired_difference(a: Sequence | np.ndarray, b: Sequence | np.ndarray, clusters: Sequence | np.ndarray,
                      samples: int, confidence: float, seed: int, method: str = INTERVAL_METHODS[0],
                      paired_seeds: bool = True) -> Interval:
    """Mean of ``a - b`` over units measured on both, and its interval: each redraw of the videos
    is the same for ``a`` and ``b`` (the units' clusters and the seed fix it).

    ``a`` and ``b``: per unit, or (seeds, units). Where both have the same number of seeds and
    ``paired_seeds`` (they ran the same seeds, so seed s of each shares its training randomness),
    a redraw of seeds takes the same seeds of both; otherwise each variant's seeds are drawn apart.
    """
    a, b = by_seed(a), by_seed(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"paired difference: {a.shape[1]} vs {b.shape[1]} units; pairs need the same units")
    if paired_seeds and len(a) == len(b):
        return bootstrap_interval(a - b, clusters, samples, confidence, seed, method)
    codes, n_clusters, counts = _clusters_of(a, clusters)
    if n_clusters == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    videos = video_counts(n_clusters, samples, seed)
    draws = difference_of(
        resample(seed_cluster_sums(a, codes, n_clusters), counts, samples, seed, _SEED_STREAM, videos),
        resample(seed_cluster_sums(b, codes, n_clusters), counts, samples, seed, _BASELINE_SEED_STREAM, videos))
    estimate = float(a.mean() - b.mean())
    low, high = interval_bounds(estimate, draws, confidence, method)
    return Interval(estimate, float(low), float(high))


def sign_flip_p_values(per_cluster: np.ndarray, permutations: int, seed: int) -> np.ndarray:
    """Two-sided sign-flip p of each row of per-cluster summed differences, (..., clusters) -> (...).

    Exact (the share of all 2**clusters patterns at least as extreme) up to
    :data:`EXACT_MAX_CLUSTERS` clusters; beyond, ``permutations`` random patterns (the same for
    every row) and p = (1 + at least as extreme) / (1 + permutations), never 0.
    """
    per_cluster = np.asarray(per_cluster, dtype=np.float64)
    n_clusters = per_cluster.shape[-1]
    observed = np.abs(per_cluster.sum(-1))
    # Sums of the same numbers in another order differ in the last bits: equal within rounding counts.
    threshold = (observed - 1e-9 * np.maximum(1.0, np.abs(per_cluster).sum(-1)))[..., None]
    if n_clusters <= EXACT_MAX_CLUSTERS:
        patterns = np.arange(2 ** n_clusters)[:, None] >> np.arange(n_clusters) & 1
        return np.mean(np.abs(per_cluster @ (2.0 * patterns - 1.0).T) >= threshold, axis=-1)
    rng = np.random.default_rng(seed)
    extreme, done = np.zeros(observed.shape), 0
    while done < permutations:
        batch = min(_FLIP_BATCH, permutations - done)
        signs = rng.integers(0, 2, size=(batch, n_clusters)) * 2.0 - 1.0
        extreme += np.sum(np.abs(per_cluster @ signs.T) >= threshold, axis=-1)
        done += batch
    return (1 + extreme) / (1 + permutations)


def sign_flip_p_value(differences: Sequence[float] | np.ndarray, clusters: Sequence | np.ndarray,
                      permutations: int, seed: int) -> float:
    """Two-sided p of the total difference under random signs per cluster.

    The statistic is |sum over clusters of s_c * d_c| with d_c the cluster's summed per-unit
    difference; the observed one has every s_c = +1 (see :func:`sign_flip_p_values`).
    """
    differences = np.asarray(differences, dtype=np.float64)
    codes, n_clusters = cluster_codes(clusters)
    if len(differences) != len(codes):
        raise ValueError(f"sign-flip test: {len(differences)} differences but {len(codes)} cluster keys")
    if n_clusters == 0:
        return float("nan")
    return float(sign_flip_p_values(np.bincount(codes, weights=differences, minlength=n_clusters),
                                    permutations, seed))


def paired_comparison(a: Sequence | np.ndarray, b: Sequence | np.ndarray, clusters: Sequence | np.ndarray,
                      samples: int, confidence: float, seed: int, permutations: int,
                      method: str = INTERVAL_METHODS[0], paired_seeds: bool = True) -> PairedDifference:
    """Paired difference ``a - b`` (per unit, or (seeds, units)) with its bootstrap interval (over
    videos and seeds, :func:`paired_difference`) and the sign-flip p over videos of the per-unit
    means over seeds."""
    a, b = by_seed(a), by_seed(b)
    difference = paired_difference(a, b, clusters, samples, confidence, seed, method, paired_seeds)
    p_value = sign_flip_p_value(a.mean(0) - b.mean(0), clusters, permutations, seed)
    return PairedDifference(difference=difference, p_value=p_value, clusters=cluster_codes(clusters)[1],
                            confidence=confidence)


def holm_adjusted(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p of a family: the k-th smallest of m raw p times (m - k + 1),
    never below the adjusted p before it, at most 1. NaN (a comparison that did not run) stays NaN
    and is not counted in m. Rejecting where adjusted p < alpha keeps the family-wise error <= alpha."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    ran = np.flatnonzero(~np.isnan(p))
    order = ran[np.argsort(p[ran], kind="stable")]
    m = len(order)
    steps = (m - np.arange(m)) * p[order]
    adjusted[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
    return adjusted
