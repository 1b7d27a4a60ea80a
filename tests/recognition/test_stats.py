"""Cluster bootstrap over videos and the paired sign-flip test: hand-computed cases, a direct
re-implementation, known-null cases and determinism from the seed."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import t as student_t

from faceless.recognition import stats
from faceless.recognition.stats import (
    EXACT_MAX_CLUSTERS,
    Interval,
    PairedDifference,
    bootstrap_draws,
    bootstrap_interval,
    cluster_codes,
    holm_adjusted,
    paired_comparison,
    paired_difference,
    resampled_means,
    sign_flip_p_value,
)

#: Three videos of unequal size: x has three sequences, y two, z one.
VIDEOS = ["x", "x", "y", "x", "y", "z"]


# ----------------------------------------------------------------------------------------------
# Clusters and redraws
# ----------------------------------------------------------------------------------------------
def test_cluster_codes_number_clusters_in_order_of_first_appearance():
    codes, n = cluster_codes(["b/1", "a/2", "b/1", "c/0", "a/2"])
    assert codes.tolist() == [0, 1, 0, 2, 1] and n == 3
    codes, n = cluster_codes([])
    assert codes.tolist() == [] and n == 0


def test_resampled_means_on_hand_drawn_videos():
    # video 0: two hits; video 1: one miss
    values, codes = np.array([1.0, 1.0, 0.0]), np.array([0, 0, 1])
    draws = np.array([[0, 0], [1, 1], [0, 1], [1, 0]])
    # [0, 0]: 4 hits of 4; [1, 1]: 0 of 2; [0, 1] and [1, 0]: 2 of 3 (units, not videos, are averaged)
    assert resampled_means(values, codes, draws).tolist() == pytest.approx([1.0, 0.0, 2 / 3, 2 / 3])


def test_bootstrap_draws_are_videos_with_replacement_and_fixed_by_the_seed():
    draws = bootstrap_draws(3, 500, seed=7)
    assert draws.shape == (500, 3) and draws.min() == 0 and draws.max() == 2
    assert np.array_equal(draws, bootstrap_draws(3, 500, seed=7))
    assert not np.array_equal(draws, bootstrap_draws(3, 500, seed=8))
    # with replacement: some redraws hold a video twice
    assert any(len(set(row)) < 3 for row in draws.tolist())


# ----------------------------------------------------------------------------------------------
# bootstrap_interval
# ----------------------------------------------------------------------------------------------
def direct_bootstrap(values, clusters, samples, confidence, seed):
    """The cluster bootstrap written out: per redraw, the units of each drawn video, concatenated."""
    keys = list(dict.fromkeys(clusters))  # videos in order of first appearance
    units = {key: [v for v, c in zip(values, clusters) if c == key] for key in keys}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(keys), size=(samples, len(keys)))
    means = [np.mean(np.concatenate([units[keys[d]] for d in row])) for row in draws]
    return np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])


def test_bootstrap_interval_matches_a_direct_reimplementation():
    values = [1, 0, 1, 1, 0, 0]
    interval = bootstrap_interval(values, VIDEOS, samples=300, confidence=0.9, seed=3, method="percentile")
    low, high = direct_bootstrap(values, VIDEOS, 300, 0.9, 3)
    assert interval.estimate == pytest.approx(0.5)  # the plain mean over units
    assert (interval.low, interval.high) == pytest.approx((low, high))
    assert interval.low < interval.estimate < interval.high


def direct_means(values, clusters, samples, seed):
    keys = list(dict.fromkeys(clusters))
    units = {key: [v for v, c in zip(values, clusters) if c == key] for key in keys}
    draws = np.random.default_rng(seed).integers(0, len(keys), size=(samples, len(keys)))
    return np.array([np.mean(np.concatenate([units[keys[d]] for d in row])) for row in draws]), len(keys)


def test_t_se_interval_is_t_times_the_bootstrap_se_corrected_for_few_videos():
    values = [1, 0, 1, 1, 0, 0]
    interval = bootstrap_interval(values, VIDEOS, samples=300, confidence=0.9, seed=3)  # the default: t_se
    means, n = direct_means(values, VIDEOS, 300, 3)
    half = student_t.ppf(0.95, n - 1) * np.sqrt(n / (n - 1)) * means.std(ddof=1)
    assert (interval.low, interval.high) == pytest.approx((0.5 - half, 0.5 + half))


def test_t_se_interval_is_close_to_the_t_interval_over_video_means():
    """Equal videos: the bootstrap SE x sqrt(n / (n - 1)) estimates the SE of the video means, so
    the interval is the textbook t-interval over videos (what the issue compared the percentile one with)."""
    rng = np.random.default_rng(4)
    n = 32
    per_video = rng.normal(17.0, 48.0, size=(n, 1)) + rng.normal(0.0, 5.0, size=(n, 2))
    values, videos = per_video.ravel(), np.repeat(np.arange(n), 2)
    interval = bootstrap_interval(values, videos, samples=20_000, confidence=0.95, seed=0)
    means = per_video.mean(1)
    half = student_t.ppf(0.975, n - 1) * means.std(ddof=1) / np.sqrt(n)
    assert interval.high - interval.low == pytest.approx(2 * half, rel=0.03)
    percentile = bootstrap_interval(values, videos, samples=20_000, confidence=0.95, seed=0, method="percentile")
    assert percentile.high - percentile.low < 0.97 * (interval.high - interval.low)  # narrower, as the issue found


def test_one_video_gives_no_interval_and_an_unknown_method_is_refused():
    one = bootstrap_interval([1.0, 0.0], ["a", "a"], 50, 0.95, 0)
    assert math.isnan(one.low) and math.isnan(one.high) and one.includes_zero
    with pytest.raises(ValueError, match="t_se | percentile"):
        bootstrap_interval([1.0, 0.0], ["a", "b"], 50, 0.95, 0, method="bca")


# ----------------------------------------------------------------------------------------------
# Two levels: videos and training seeds
# ----------------------------------------------------------------------------------------------
def test_seeds_that_agree_give_the_one_level_interval():
    rng = np.random.default_rng(5)
    values, videos = rng.integers(0, 2, 40).astype(float), np.repeat(np.arange(20), 2)
    one = bootstrap_interval(values, videos, 400, 0.95, 1)
    three = bootstrap_interval(np.tile(values, (3, 1)), videos, 400, 0.95, 1)
    assert (three.estimate, three.low, three.high) == pytest.approx((one.estimate, one.low, one.high))
    # one row of seeds is exactly the one-level bootstrap (today's draws)
    assert bootstrap_interval(values[None, :], videos, 400, 0.95, 1) == one


def test_seeds_that_disagree_widen_the_interval_by_their_spread():
    rng = np.random.default_rng(6)
    values, videos = rng.integers(0, 2, 40).astype(float), np.repeat(np.arange(20), 2)
    shifts = np.array([-0.2, 0.0, 0.2, 0.1, -0.1])[:, None]      # a seed moves every unit alike
    seeds = np.clip(values + shifts, -1, 2)
    two_level = bootstrap_interval(seeds, videos, 2000, 0.95, 0)
    averaged = bootstrap_interval(seeds.mean(0), videos, 2000, 0.95, 0)  # seeds ignored
    assert two_level.estimate == pytest.approx(averaged.estimate)
    assert two_level.high - two_level.low > 1.2 * (averaged.high - averaged.low)
    # the seed part alone: five seeds' means with sd 0.158 -> about +-t(4) 2.78 x 0.158 / sqrt(5)
    only_seeds = bootstrap_interval(np.tile(np.full(40, values.mean()), (5, 1)) + shifts, videos, 2000, 0.95, 0)
    assert only_seeds.high - only_seeds.low == pytest.approx(2 * 2.776 * np.std(shifts, ddof=1) / np.sqrt(5),
                                                             rel=0.1)
    # deterministic from the seed
    assert bootstrap_interval(seeds, videos, 2000, 0.95, 0) == two_level
    assert bootstrap_interval(seeds, videos, 2000, 0.95, 1) != two_level


def test_paired_seeds_cancel_and_unpaired_seeds_do_not():
    rng = np.random.default_rng(7)
    videos = np.repeat(np.arange(12), 2)
    a = rng.integers(0, 2, (3, 24)).astype(float)
    paired = paired_difference(a, a.copy(), videos, 300, 0.95, 0)
    assert (paired.estimate, paired.low, paired.high) == (0.0, 0.0, 0.0)
    apart = paired_difference(a, a.copy(), videos, 300, 0.95, 0, paired_seeds=False)
    assert apart.estimate == 0.0 and apart.low < 0 < apart.high
    # different numbers of seeds: drawn apart whatever paired_seeds says
    assert paired_difference(a, a[:2], videos, 300, 0.95, 0) == paired_difference(a, a[:2], videos, 300, 0.95, 0,
                                                                                   paired_seeds=False)


def test_paired_test_runs_on_the_per_video_means_over_seeds():
    rng = np.random.default_rng(8)
    videos = np.repeat(np.arange(10), 2)
    a, b = rng.integers(0, 2, (3, 20)).astype(float), rng.integers(0, 2, (2, 20)).astype(float)
    result = paired_comparison(a, b, videos, 200, 0.95, 0, permutations=100)
    assert result.p_value == sign_flip_p_value(a.mean(0) - b.mean(0), videos, 100, 0)


# ----------------------------------------------------------------------------------------------
# Holm
# ----------------------------------------------------------------------------------------------
def test_holm_adjusted_by_hand():
    # sorted 0.01, 0.03, 0.04 of m = 3: x3, x2, x1 -> 0.03, 0.06, 0.04 -> monotone 0.03, 0.06, 0.06
    adjusted = holm_adjusted([0.04, 0.01, float("nan"), 0.03])
    assert adjusted[[0, 1, 3]] == pytest.approx([0.06, 0.03, 0.06]) and math.isnan(adjusted[2])
    assert holm_adjusted([0.5, 0.9]).tolist() == [1.0, 1.0]  # capped at 1
    assert holm_adjusted([0.02]).tolist() == [0.02]          # a family of one: the raw p
    assert holm_adjusted([]).tolist() == []


def test_shown_uses_the_adjusted_p_when_there_is_one():
    clear = Interval(0.1, 0.02, 0.2)
    assert PairedDifference(clear, p_value=0.01, clusters=30, confidence=0.95).shown
    assert not PairedDifference(clear, p_value=0.01, clusters=30, confidence=0.95, adjusted_p_value=0.08).shown


def test_bootstrap_moves_whole_videos():
    """Every video half right: whatever videos are redrawn, the mean is 0.5, so the interval has
    no width; units drawn one by one would give a wide one."""
    values = [1, 0, 1, 0, 1, 0]
    videos = ["a", "a", "b", "b", "c", "c"]
    interval = bootstrap_interval(values, videos, samples=500, confidence=0.95, seed=0)
    assert (interval.estimate, interval.low, interval.high) == (0.5, 0.5, 0.5)
    unit_by_unit = bootstrap_interval(values, ["u0", "u1", "u2", "u3", "u4", "u5"], 500, 0.95, 0)
    assert unit_by_unit.high - unit_by_unit.low > 0.5


def test_bootstrap_is_deterministic_from_the_seed():
    rng = np.random.default_rng(0)
    values, videos = rng.random(40), rng.integers(0, 9, 40).astype(str)
    first = bootstrap_interval(values, videos, 400, 0.95, seed=11)
    assert bootstrap_interval(values, videos, 400, 0.95, seed=11) == first
    assert bootstrap_interval(values, videos, 400, 0.95, seed=12) != first


def test_bootstrap_of_nothing_is_nan_and_lengths_must_agree():
    empty = bootstrap_interval([], [], 10, 0.95, 0)
    assert all(math.isnan(v) for v in (empty.estimate, empty.low, empty.high))
    with pytest.raises(ValueError, match="cluster keys"):
        bootstrap_interval([1.0, 0.0], ["a"], 10, 0.95, 0)


# ----------------------------------------------------------------------------------------------
# paired_difference
# ----------------------------------------------------------------------------------------------
def test_identical_predictions_differ_by_exactly_zero():
    hits = [1, 0, 1, 1, 0, 1]
    result = paired_comparison(hits, hits, VIDEOS, samples=200, confidence=0.95, seed=0, permutations=100)
    assert result.difference == Interval(0.0, 0.0, 0.0)
    assert result.p_value == 1.0 and result.clusters == 3
    assert not result.shown


def test_paired_difference_redraws_the_same_videos_for_both_variants():
    a = np.array([1, 1, 0, 1, 1, 0], dtype=float)
    b = np.array([0, 1, 0, 0, 1, 1], dtype=float)
    difference = paired_difference(a, b, VIDEOS, samples=250, confidence=0.8, seed=5, method="percentile")
    assert difference.estimate == pytest.approx(a.mean() - b.mean())
    codes, n = cluster_codes(VIDEOS)
    draws = bootstrap_draws(n, 250, seed=5)
    per_draw = resampled_means(a, codes, draws) - resampled_means(b, codes, draws)
    assert (difference.low, difference.high) == pytest.approx(tuple(np.quantile(per_draw, [0.1, 0.9])))
    with pytest.raises(ValueError, match="same units"):
        paired_difference(a, b[:-1], VIDEOS, 10, 0.95, 0)


def test_a_difference_is_shown_only_when_its_interval_excludes_zero_and_the_test_agrees():
    assert PairedDifference(Interval(0.1, 0.02, 0.2), p_value=0.04, clusters=9, confidence=0.95).shown
    assert not PairedDifference(Interval(0.1, -0.02, 0.2), p_value=0.2, clusters=9, confidence=0.95).shown
    assert not PairedDifference(Interval(0.1, 0.0, 0.2), p_value=0.06, clusters=9, confidence=0.95).shown
    assert PairedDifference(Interval(-0.1, -0.2, -0.01), p_value=0.04, clusters=9, confidence=0.95).shown
    # few videos: an interval clear of 0 next to a p the exact test cannot push below 2/2**3
    assert not PairedDifference(Interval(0.5, 0.5, 1.0), p_value=0.25, clusters=3, confidence=0.95).shown
    assert PairedDifference(Interval(0.5, 0.5, 1.0), p_value=0.25, clusters=3, confidence=0.7).shown


def test_a_consistent_gain_in_every_video_is_shown():
    a = np.ones(30)
    b = np.tile([1.0, 0.0, 0.0], 10)
    videos = np.repeat(np.arange(10), 3)
    result = paired_comparison(a, b, videos, samples=500, confidence=0.95, seed=0, permutations=1000)
    # every video: +2/3 -> the difference is 2/3 in every redraw
    assert result.difference.estimate == pytest.approx(2 / 3)
    assert (result.difference.low, result.difference.high) == pytest.approx((2 / 3, 2 / 3))
    assert result.shown
    assert result.p_value == pytest.approx(2 / 2 ** 10)  # exact: all + and all - only


# ----------------------------------------------------------------------------------------------
# sign_flip_p_value
# ----------------------------------------------------------------------------------------------
def test_sign_flip_p_on_three_videos_by_hand():
    """Per-video sums 3, 1, -1 (observed total 3). The 8 sign patterns give totals
    +-3 +-1 +-1 = 5, 3, 3, 1, -1, -3, -3, -5; six have |total| >= 3: p = 6/8."""
    differences = [1, 1, 1, 1, 0, 0, -1]
    videos = ["A", "A", "A", "B", "B", "C", "C"]
    assert sign_flip_p_value(differences, videos, permutations=10, seed=0) == 0.75
    # sums 2, 2, 2: only all + and all - reach |6|: p = 2/8
    assert sign_flip_p_value([1, 1, 2, 1, 1], ["A", "A", "B", "C", "C"], permutations=10, seed=0) == 0.25
    # the sign of the difference does not matter (two-sided)
    assert sign_flip_p_value([-1, -1, -2, -1, -1], ["A", "A", "B", "C", "C"], permutations=10, seed=0) == 0.25


def test_sign_flip_is_exact_up_to_sixteen_videos_whatever_the_seed():
    rng = np.random.default_rng(1)
    differences = rng.normal(0.3, 1.0, 48)
    videos = np.repeat(np.arange(EXACT_MAX_CLUSTERS), 3)
    p = sign_flip_p_value(differences, videos, permutations=5, seed=0)
    assert p == sign_flip_p_value(differences, videos, permutations=5, seed=99)
    assert (p * 2 ** EXACT_MAX_CLUSTERS) == pytest.approx(round(p * 2 ** EXACT_MAX_CLUSTERS))  # k / 2**16


def test_monte_carlo_sign_flip_agrees_with_the_exact_test(monkeypatch):
    rng = np.random.default_rng(2)
    differences = rng.normal(0.2, 1.0, 30)
    videos = np.repeat(np.arange(10), 3)
    exact = sign_flip_p_value(differences, videos, permutations=1, seed=0)
    monkeypatch.setattr(stats, "EXACT_MAX_CLUSTERS", 0)  # force the Monte Carlo path
    sampled = sign_flip_p_value(differences, videos, permutations=20_000, seed=0)
    assert sampled == pytest.approx(exact, abs=0.015)
    assert sign_flip_p_value(differences, videos, permutations=20_000, seed=0) == sampled  # the seed fixes it
    assert sign_flip_p_value(differences, videos, permutations=20_000, seed=1) != sampled


def test_monte_carlo_sign_flip_beyond_sixteen_videos():
    videos = np.arange(40)
    # identical predictions: every pattern is as extreme as the observed one
    assert sign_flip_p_value(np.zeros(40), videos, permutations=500, seed=0) == 1.0
    # +1 in every video: only the observed pattern and its negation reach 40; p is (1 + hits) / (1 + N)
    p = sign_flip_p_value(np.ones(40), videos, permutations=999, seed=0)
    assert p == pytest.approx(1 / 1000)


def test_sign_flip_of_nothing_is_nan():
    assert math.isnan(sign_flip_p_value([], [], 10, 0))
