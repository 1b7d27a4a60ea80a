"""Do the intervals and the "shown" verdict hold their promise at the demo's sizes? A simulation.

Simulated test sides of 32 and 96 videos, two sequences a video, two variants on the same
sequences. Each sequence's outcome comes from a latent score: a part shared by the variants (the
video's difficulty), a part of the variant in that video (SR helps some videos and not others), a
small part of the sequence (so a video's two sequences mostly agree, as on the demo), and, with
several training seeds, a seed effect and a seed x video interaction per variant. The truth's rank
(0..9) is the number of thresholds above the score; from it the top-1 hit (rank 0) and the
challenge points (100 - 10 * rank within the top 5, else 0). The true mean difference is exact
(normal probabilities of the latent), so coverage is measured against the truth, not an estimate.

Checked: at no effect, the share of simulated sides where a difference is "shown" (the
interval excludes 0 and the sign-flip p < 0.05; a family of one) is <= 5 % plus 3 Monte Carlo SE;
the 95 % interval of the mean difference covers the truth in >= 93 % of them, at no effect and at
a known effect (+0.5 latent SD: about +18 top-1 points, +16 challenge points). And the percentile
interval, on the very same simulated sides, covers less than the chosen ``t_se`` at 32 videos (why
it was replaced). Fewer redraws and sign patterns than the pipeline's (same method) keep it fast.
"""
from __future__ import annotations

from functools import lru_cache
from statistics import NormalDist

import numpy as np
import pytest

from faceless.recognition.stats import interval_bounds, resample, sign_flip_p_values

#: The latent score's thresholds: rank r when r of them lie above the score (no effect: top-1 ~ 25 %).
THRESHOLDS = 0.67 - 0.3 * np.arange(9)
#: Variance shares of the latent: the video (shared by the variants), the variant in the video, the sequence.
VIDEO, VARIANT_IN_VIDEO, SEQUENCE = 0.3, 0.62, 0.08
#: Several seeds: SD of a training seed's effect and of its interaction with a video (latent units).
SEED_SD, SEED_VIDEO_SD = 0.25, 0.4
#: The known effect, in latent SD.
EFFECT = 0.5
SEQUENCES_PER_VIDEO = 2
SIGN_PATTERNS, CONFIDENCE = 2000, 0.95
#: Simulated test sides and bootstrap redraws per scenario, by number of seeds (five seeds cost five times).
SIDES, REDRAWS = {1: 2000, 5: 1000}, 400


def outcomes(latent: np.ndarray) -> dict[str, np.ndarray]:
    rank = len(THRESHOLDS) - np.searchsorted(THRESHOLDS[::-1], latent, side="right")  # thresholds above
    return {"top1": (rank == 0).astype(float), "points": np.where(rank < 5, 100.0 - 10.0 * rank, 0.0)}


def expected(mean: float, variance: float) -> dict[str, float]:
    """The population mean of each outcome when the latent score is N(mean, variance)."""
    latent = NormalDist(mean, variance ** 0.5)
    edges = np.concatenate([[np.inf], THRESHOLDS, [-np.inf]])
    share = np.array([latent.cdf(edges[r]) - latent.cdf(edges[r + 1]) for r in range(len(edges) - 1)])
    points = np.where(np.arange(len(share)) < 5, 100.0 - 10.0 * np.arange(len(share)), 0.0)
    return {"top1": float(share[0]), "points": float(share @ points)}


@lru_cache(maxsize=None)
def simulate(videos: int, effect: float, seeds: int = 1, sides: int | None = None, redraws: int = REDRAWS,
             seed: int = 0) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Per metric: each simulated side's coverage (bool) and "shown" (bool) per interval method."""
    sides = sides or SIDES[seeds]
    rng = np.random.default_rng(seed)
    shape = (2, sides, seeds, videos, 1)          # variant (a, b), side, seed, video, sequence
    seed_sd, seed_video_sd = (SEED_SD, SEED_VIDEO_SD) if seeds > 1 else (0.0, 0.0)
    latent = (np.array([effect, 0.0])[:, None, None, None, None]
              + np.sqrt(VIDEO) * rng.standard_normal((1, *shape[1:]))[:, :, :1]
              + np.sqrt(VARIANT_IN_VIDEO) * rng.standard_normal(shape)[:, :, :1]
              + np.sqrt(SEQUENCE) * rng.standard_normal((*shape[:-1], SEQUENCES_PER_VIDEO))
              + seed_sd * rng.standard_normal((2, sides, seeds, 1, 1))
              + seed_video_sd * rng.standard_normal(shape))
    variance = 1.0 + seed_sd ** 2 + seed_video_sd ** 2
    truth_a, truth_b = expected(effect, variance), expected(0.0, variance)
    counts = np.full(videos, float(SEQUENCES_PER_VIDEO))
    out, a, b = {}, outcomes(latent[0]), outcomes(latent[1])
    for metric in ("top1", "points"):
        # each seed's per-video sum of the per-sequence difference, (sides, seeds, videos)
        sums = (a[metric] - b[metric]).sum(-1)
        estimate = sums.mean(axis=(-2, -1)) / SEQUENCES_PER_VIDEO
        # the paired test runs on per-video means over seeds, as the report's
        p = sign_flip_p_values(sums.mean(-2), SIGN_PATTERNS, seed)
        draws = resample(sums, counts, redraws, seed)
        true_difference = truth_a[metric] - truth_b[metric]
        out[metric] = {}
        for method in ("percentile", "t_se"):
            low, high = interval_bounds(estimate, draws, CONFIDENCE, method)
            out[metric][method] = {"covered": (low <= true_difference) & (true_difference <= high),
                                   "shown": ((low > 0) | (high < 0)) & (p < 1 - CONFIDENCE)}
    return out


def monte_carlo_se(rate: float, n: int) -> float:
    return float(np.sqrt(rate * (1 - rate) / n))


#: (videos, seeds) of the checked scenarios: the demo's old and new test sides, one and five seeds.
SCENARIOS = [(32, 1), (96, 1), (32, 5), (96, 5)]


@pytest.mark.parametrize("videos, seeds", SCENARIOS)
@pytest.mark.parametrize("metric", ["top1", "points"])
def test_no_effect_is_rarely_shown(videos, seeds, metric):
    alpha = 1 - CONFIDENCE
    rate = simulate(videos, 0.0, seeds)[metric]["t_se"]["shown"].mean()
    assert rate <= alpha + 3 * monte_carlo_se(alpha, SIDES[seeds]), f"false positives {rate:.3f}"


@pytest.mark.parametrize("videos, seeds", SCENARIOS)
@pytest.mark.parametrize("effect", [0.0, EFFECT])
@pytest.mark.parametrize("metric", ["top1", "points"])
def test_the_interval_covers_the_true_difference(videos, seeds, metric, effect):
    coverage = simulate(videos, effect, seeds)[metric]["t_se"]["covered"].mean()
    assert coverage >= 0.93, f"coverage {coverage:.3f}"


@pytest.mark.parametrize("metric", ["top1", "points"])
def test_a_known_effect_is_shown_more_often_with_more_videos(metric):
    """Power grows with the test side: the verdict is not stuck at 'not shown'."""
    small, large = (simulate(videos, EFFECT)[metric]["t_se"]["shown"].mean() for videos in (32, 96))
    assert 0.2 < small < large and large > 0.8


@pytest.mark.parametrize("effect", [0.0, EFFECT])
def test_the_percentile_interval_is_narrower_than_promised_at_32_videos(effect):
    """On the same simulated sides, the percentile interval covers less than t_se and less than it
    promises (measured 94.0-94.4 % at 32 videos, one seed, 4000 sides; see faceless.recognition.stats)."""
    for metric in ("top1", "points"):
        methods = simulate(32, effect, 1)[metric]
        percentile, t_se = methods["percentile"]["covered"].mean(), methods["t_se"]["covered"].mean()
        assert percentile < t_se and percentile < CONFIDENCE
