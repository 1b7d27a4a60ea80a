"""The comparison across variants on hand-made evaluations: intervals, the spread over seeds, the
paired differences (table, markdown, tracked numbers, forest plot) and the chance level."""
from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from faceless.recognition.config import EvaluationConfig
from faceless.recognition.report import (
    COMPARISON_COLUMNS,
    DIFFERENCE_COLUMNS,
    adjust_for_family,
    chance_levels,
    compare,
)
from faceless.recognition.stats import bootstrap_interval
from faceless.recognition.variants import NOT_ASKED
from faceless.utils.config import from_params

from ..conftest import base_params

#: Four videos of two sequences each (one frame per sequence).
VIDEOS = ["7/0", "7/0", "3/1", "3/1", "5/0", "5/0", "9/2", "9/2"]
LABELS = [0, 0, 1, 1, 2, 2, 3, 3]
#: The truth's rank per sequence, per seed. lr: 2 of 8 right; srgan (two seeds): 7 and 6 of 8.
LR_RANKS = [[1, 3, 0, 6, 2, 0, 1, 1]]
SRGAN_RANKS = [[0, 0, 0, 0, 0, 0, 7, 0], [0, 0, 0, 0, 0, 0, 1, 2]]
CFG = from_params(EvaluationConfig, base_params(
    "evaluation", comparisons=[["srgan", "lr"], ["bicubic", "srgan"], ["hr", "lr"]],
    bootstrap={"samples": 500, "confidence": 0.95, "seed": 0, "interval": "t_se"}), "evaluation")
SKIP_HR = {"variant": "hr", "skipped": "no data for this variant (hr needs a source with high-resolution truth)"}


def points(rank: int) -> float:
    return 100.0 - 10 * rank if rank < 5 else 0.0


def evaluation(variant: str, ranks_per_seed: list[list[int]]) -> dict:
    """What evaluate_variant returns, for sequences of one frame whose truth has these ranks."""
    ranks = np.array(ranks_per_seed, dtype=float)
    top1, top5 = (ranks == 0).astype(float), (ranks < 5).astype(float)
    score = np.vectorize(points)(ranks)
    per_seed = [{"seed": 10 * i, "frame_top1": t1.mean(), "frame_top5": t5.mean(), "sequence_top1": t1.mean(),
                 "sequence_top5": t5.mean(), "challenge_score": s.mean(), "frame_macro_f1": 0.5,
                 "sequence_macro_f1": 0.5} for i, (t1, t5, s) in enumerate(zip(top1, top5, score))]
    first = per_seed[0]
    metrics = {"top1": first["sequence_top1"], "top5": first["sequence_top5"], "macro_f1": 0.5,
               "per_class_recall": [0.5] * 4, "confusion": np.eye(4, dtype=int).tolist(), "count": 8,
               "challenge_score": first["challenge_score"]}
    return {
        "variant": variant, "input_px": 64 if variant == "lr" else 256, "frame": dict(metrics),
        "sequence": dict(metrics), "test_frames": 8, "test_sequences": 8, "test_videos": 4,
        "labels_present": [0, 1, 2, 3], "label_to_person": {"0": "7", "1": "3", "2": "5", "3": "9"},
        "seeds": [p["seed"] for p in per_seed], "per_seed": per_seed, "flip_tta": False,
        "sequence_outcomes": {"sequence": [f"{v}/{i % 2}" for i, v in enumerate(VIDEOS)], "video": VIDEOS,
                              "label": LABELS, "rank": ranks.mean(0).tolist(), "top1": top1.mean(0).tolist(),
                              "top5": top5.mean(0).tolist(), "points": score.mean(0).tolist(),
                              "by_seed": {"top1": top1.astype(int).tolist(), "top5": top5.astype(int).tolist(),
                                          "points": score.astype(int).tolist()}},
        "frame_outcomes": {"video": VIDEOS, "top1": top1.mean(0).tolist(), "top5": top5.mean(0).tolist(),
                           "by_seed": {"top1": top1.astype(int).tolist(), "top5": top5.astype(int).tolist()}},
    }


def train_report(variant: str, seeds: int) -> dict:
    history = [{"val_sequence_top1": 0.5}, {"val_sequence_top1": 0.75}]
    run = {"variant": variant, "seconds": 2.5, "best_epoch": 2, "history": history,
           "train_loss": [{"loss": 1.0}, {"loss": 0.5}]}
    return {**run, "seed": 0, "seeds": list(range(0, 10 * seeds, 10)),
            "repeats": [{**run, "seed": 10 * i, "seconds": 1.5} for i in range(1, seeds)]}


@pytest.fixture(scope="module")
def result():
    evaluations = {"lr": evaluation("lr", LR_RANKS), "bicubic": evaluation("bicubic", SRGAN_RANKS),
                   "srgan": evaluation("srgan", SRGAN_RANKS), "hr": SKIP_HR}
    reports = {"lr": train_report("lr", 1), "bicubic": train_report("bicubic", 2),
               "srgan": train_report("srgan", 2), "hr": SKIP_HR}
    comparison = compare({"split_by": "video", "leakage_split": {}}, {}, evaluations, reports, CFG)
    yield {"comparison": comparison, "evaluations": evaluations}
    plt.close("all")


# ----------------------------------------------------------------------------------------------
# The table: means over seeds, intervals, spread
# ----------------------------------------------------------------------------------------------
def test_table_columns_and_skipped_rows(result):
    table = result["comparison"].table
    assert list(table.columns) == COMPARISON_COLUMNS
    assert table["variant"].tolist() == ["lr", "bicubic", "srgan", "hr"]
    hr = table.set_index("variant").loc["hr"]
    assert hr["note"].startswith("skipped: ") and hr[COMPARISON_COLUMNS[1:-1]].isna().all()


def test_each_value_is_the_mean_over_seeds_with_its_bootstrap_interval(result):
    rows = result["comparison"].table.set_index("variant")
    srgan, lr = rows.loc["srgan"], rows.loc["lr"]
    assert srgan["seeds"] == 2 and lr["seeds"] == 1
    assert srgan["sequence_top1"] == pytest.approx((7 / 8 + 6 / 8) / 2)
    assert srgan["challenge_score"] == pytest.approx(((700 + 0) / 8 + (600 + 90 + 80) / 8) / 2)
    assert lr["sequence_top1"] == 2 / 8
    assert lr["challenge_score"] == pytest.approx((90 + 70 + 100 + 80 + 100 + 90 + 90) / 8)
    # the interval: the bootstrap over the 4 videos and the 2 seeds of each seed's outcomes
    outcomes = result["evaluations"]["srgan"]["sequence_outcomes"]
    expected = bootstrap_interval(outcomes["by_seed"]["top1"], VIDEOS, 500, 0.95, 0, "t_se")
    # cut to the metric's range [0, 1]: a mean of top-1 outcomes cannot leave it
    assert expected.high > 1.0 and srgan["sequence_top1_high"] == 1.0
    assert srgan["sequence_top1_low"] == max(expected.low, 0.0)
    assert expected.estimate == pytest.approx(srgan["sequence_top1"])
    one_level = bootstrap_interval(outcomes["top1"], VIDEOS, 500, 0.95, 0, "t_se")
    assert srgan["sequence_top1_high"] - srgan["sequence_top1_low"] != pytest.approx(one_level.high - one_level.low)
    # one seed: the one-level bootstrap of its outcomes, as before seeds were resampled
    lr_outcomes = result["evaluations"]["lr"]["sequence_outcomes"]
    lr_expected = bootstrap_interval(lr_outcomes["top1"], VIDEOS, 500, 0.95, 0, "t_se")
    assert (lr["sequence_top1_low"], lr["sequence_top1_high"]) == (max(lr_expected.low, 0.0),
                                                                   min(lr_expected.high, 1.0))
    for metric in ("frame_top1", "frame_top5", "sequence_top1", "sequence_top5", "challenge_score"):
        for row in (srgan, lr):
            assert row[f"{metric}_low"] <= row[metric] <= row[f"{metric}_high"]
    # two seeds: sample sd, min and max of 7/8 and 6/8
    assert srgan["sequence_top1_seed_sd"] == pytest.approx(np.std([7 / 8, 6 / 8], ddof=1))
    assert (srgan["sequence_top1_seed_min"], srgan["sequence_top1_seed_max"]) == (6 / 8, 7 / 8)
    # one seed: no sd, min = max = the value
    assert np.isnan(lr["sequence_top1_seed_sd"])
    assert lr["sequence_top1_seed_min"] == lr["sequence_top1_seed_max"] == 0.25
    # training time of every seed
    assert srgan["train_seconds"] == 4.0 and lr["train_seconds"] == 2.5


def test_chance_level_over_the_people_present():
    assert chance_levels([0, 1, 2, 3]) == {"chance_top1": 0.25, "chance_top5": 1.0,
                                           "chance_challenge_score": (100 + 90 + 80 + 70) / 4}
    ten = chance_levels(list(range(10)))
    assert ten["chance_top1"] == 0.1 and ten["chance_top5"] == 0.5 and ten["chance_challenge_score"] == 40.0
    assert chance_levels([])["chance_top1"] is None


def test_summary_holds_intervals_differences_and_chance_but_not_the_outcomes(result):
    summary = result["comparison"].summary
    assert summary["chance_top1"] == 0.25 and summary["people_present"] == [0, 1, 2, 3]
    assert set(summary["intervals"]) == {"lr", "bicubic", "srgan"}
    assert set(summary["intervals"]["srgan"]["sequence_top1"]) == {"estimate", "low", "high"}
    assert "sequence_outcomes" not in summary["variants"]["srgan"] and "per_seed" in summary["variants"]["srgan"]
    assert [(d["variant"], d["baseline"]) for d in summary["differences"]] == [("srgan", "lr"), ("bicubic", "srgan"),
                                                                              ("hr", "lr")]
    assert summary["differences"][2]["sequence_top1_p"] is None  # skipped: null in the json, not NaN
    assert summary["bootstrap"] == {"samples": 500, "confidence": 0.95, "seed": 0, "interval": "t_se",
                                    "unit": "test video, and training seed where there are several"}
    assert summary["family"] == {"declared": [["srgan", "lr"], ["bicubic", "srgan"], ["hr", "lr"]],
                                 "ran": [["srgan", "lr"], ["bicubic", "srgan"]], "correction": "holm, per metric"}
    json.dumps(summary, allow_nan=False)


# ----------------------------------------------------------------------------------------------
# Paired differences
# ----------------------------------------------------------------------------------------------
def test_paired_differences_by_hand(result):
    d = result["comparison"].differences
    assert list(d.columns) == DIFFERENCE_COLUMNS
    rows = {(r["variant"], r["baseline"]): r for _, r in d.iterrows()}
    gain = rows[("srgan", "lr")]
    # per video, srgan (mean of its seeds) minus lr: (2 - 0), (2 - 1), (2 - 1), (1 - 0) / 2 ... in hits
    assert gain["sequence_top1_difference"] == pytest.approx(13 / 16 - 2 / 8)
    # per-video sums 2, 1, 1, 0.5: only all + and all - reach |4.5| of the 16 sign patterns
    assert gain["sequence_top1_p"] == pytest.approx(2 / 16)
    # Holm over the two pairs that ran (hr - lr is skipped): 0.125 x 2
    assert gain["sequence_top1_p_adjusted"] == pytest.approx(0.25)
    # the interval is clear of 0, but 4 videos cannot give p < 0.05: not shown
    assert gain["sequence_top1_low"] > 0 and not gain["sequence_top1_shown"]
    assert gain["videos"] == 4 and gain["sequences"] == 8 and gain["note"] == ""
    same = rows[("bicubic", "srgan")]  # identical predictions: the known null
    assert (same["sequence_top1_difference"], same["sequence_top1_low"], same["sequence_top1_high"]) == (0, 0, 0)
    assert same["sequence_top1_p"] == 1.0 and same["challenge_score_p"] == 1.0
    assert same["sequence_top1_p_adjusted"] == 1.0
    assert not same["sequence_top1_shown"] and not same["challenge_score_shown"]
    skipped = rows[("hr", "lr")]
    assert skipped["note"] == f"skipped: hr: {SKIP_HR['skipped']}" and np.isnan(skipped["sequence_top1_difference"])
    assert np.isnan(skipped["sequence_top1_p_adjusted"])


def test_holm_decides_what_is_shown_over_the_pairs_that_ran():
    """Four pairs ran, raw p 0.01, 0.04, 0.03, 0.002 (and a skipped one, not in the family): sorted
    0.002, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.008, 0.03, 0.06, 0.06 (never below the one before).
    Of the first three only the first stays shown, and a pair whose interval includes 0 is not shown
    whatever its p."""
    rows = pd.DataFrame({"variant": ["a", "b", "c", "d", "e"], "baseline": ["lr"] * 5,
                         "note": ["", "", "", "skipped: d: no data", ""]})
    for metric in ("sequence_top1", "challenge_score"):
        rows[f"{metric}_p"] = [0.01, 0.04, 0.03, np.nan, 0.002]
        rows[f"{metric}_low"] = [0.1, 0.1, 0.1, np.nan, -0.1]
        rows[f"{metric}_high"] = [0.3, 0.3, 0.3, np.nan, 0.3]
    adjusted = adjust_for_family(rows, 0.95)
    assert adjusted["sequence_top1_p_adjusted"].tolist()[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert adjusted["sequence_top1_p_adjusted"].iloc[4] == pytest.approx(0.008)
    assert adjusted["sequence_top1_shown"].tolist()[:3] == [True, False, False]
    assert adjusted["sequence_top1_shown"].iloc[4] == False  # noqa: E712 - the interval includes 0
    assert np.isnan(adjusted["challenge_score_p_adjusted"].iloc[3])
    assert adjusted["sequence_top1_p"].tolist()[:3] == [0.01, 0.04, 0.03]  # the raw p stays


def test_tracked_numbers_include_intervals_seed_spread_and_differences(result):
    tracked = result["comparison"].tracked
    d = result["comparison"].differences.set_index(["variant", "baseline"]).loc[("srgan", "lr")]
    # Fractions in percent (named _pct), the challenge score and p values as they are: one 0-100 scale.
    assert tracked["srgan_vs_lr/sequence_top1_pct_difference"] == pytest.approx(100 * d["sequence_top1_difference"])
    assert tracked["srgan_vs_lr/sequence_top1_pct_difference_low"] == pytest.approx(100 * d["sequence_top1_low"])
    assert tracked["srgan_vs_lr/sequence_top1_pct_difference_high"] == pytest.approx(100 * d["sequence_top1_high"])
    assert tracked["srgan_vs_lr/sequence_top1_p_value"] == pytest.approx(0.125)
    assert tracked["srgan_vs_lr/sequence_top1_p_adjusted"] == pytest.approx(0.25)
    assert tracked["bicubic_vs_srgan/challenge_score_difference"] == d_of(result, "bicubic", "srgan")["challenge_score_difference"]
    assert tracked["bicubic_vs_srgan/challenge_score_p_value"] == 1.0
    assert not any(key.startswith("hr_vs_lr/") for key in tracked)
    rows = result["comparison"].table.set_index("variant")
    assert tracked["srgan/sequence_top1_pct"] == pytest.approx(100 * rows.loc["srgan", "sequence_top1"])
    assert tracked["srgan/sequence_top1_pct_low"] == pytest.approx(100 * rows.loc["srgan", "sequence_top1_low"])
    assert tracked["lr/frame_macro_f1_pct"] == pytest.approx(100 * rows.loc["lr", "frame_macro_f1"])
    assert tracked["lr/challenge_score_high"] == rows.loc["lr", "challenge_score_high"]
    assert "srgan/sequence_top1_pct_seed_sd" in tracked and "lr/sequence_top1_pct_seed_sd" not in tracked
    assert not any(key.startswith("hr/") for key in tracked)
    assert all(name.count("/") == 1 for name in tracked)  # <variant or pair>/<metric>: the node adds the stage


def d_of(result, variant: str, baseline: str):
    return result["comparison"].differences.set_index(["variant", "baseline"]).loc[(variant, baseline)]


def test_pairs_must_share_their_test_sequences(result):
    evaluations = dict(result["evaluations"])
    other = evaluation("srgan", SRGAN_RANKS)
    other["sequence_outcomes"] = {**other["sequence_outcomes"], "sequence": list(reversed(VIDEOS))}
    evaluations["srgan"] = other
    reports = {v: train_report(v, 1) for v in ("lr", "bicubic", "srgan")} | {"hr": SKIP_HR}
    with pytest.raises(ValueError, match="same test sequences"):
        compare({}, {}, evaluations, reports, CFG)


# ----------------------------------------------------------------------------------------------
# Markdown and the forest plot
# ----------------------------------------------------------------------------------------------
def test_markdown_shows_intervals_spread_and_differences(result):
    markdown = result["comparison"].markdown
    rows = result["comparison"].table.set_index("variant")
    lr = rows.loc["lr"]
    assert (f"| lr | 64 | 25.0 [{100 * lr['frame_top1_low']:.1f}, {100 * lr['frame_top1_high']:.1f}] |"
            in markdown)
    assert "chance top-1 = 25.0 %, top-5 = 100.0 %, challenge score 85.0" in markdown
    assert "cluster bootstrap over the 4 test videos (500 redraws, seed 0" in markdown
    header = next(line for line in markdown.splitlines() if line.startswith("| variant | px |"))
    assert header.count("|") == 14 and "| seeds |" in header
    for line in markdown.splitlines():
        if any(line.startswith(f"| {v} | ") for v in ("lr", "bicubic", "srgan", "hr")) and "±" not in line:
            assert line.count("|") == 14, line
    # the spread table lists only the variants trained with several seeds
    spread = [line for line in markdown.splitlines() if line.startswith("| ") and "±" in line]
    assert [line.split(" | ")[0] for line in spread] == ["| bicubic", "| srgan"]
    assert "| srgan | 2 | " in spread[1] and "81.2 ± 8.8 (75.0–87.5)" in spread[1]
    gain = result["comparison"].differences.iloc[0]
    low, high = 100 * gain["sequence_top1_low"], 100 * gain["sequence_top1_high"]
    assert f"| srgan − lr | +56.2 [{low:+.1f}, {high:+.1f}] | 0.125 | 0.250 | not shown |" in markdown
    null = "+0.0 [+0.0, +0.0] | 1.000 | 1.000 | not shown"
    assert f"| bicubic − srgan | {null} | {null} |" in markdown
    assert f"| hr − lr | skipped: hr: {SKIP_HR['skipped']} |" in markdown
    assert "Shown: the interval excludes 0 and Holm p < 0.05." in markdown
    assert "(2 pairs, per metric; skipped pairs are not in it)" in markdown
    header = next(line for line in markdown.splitlines() if line.startswith("| variant − baseline |"))
    assert header.count("| p | Holm p | shown? |") == 2
    assert f"| hr − lr | skipped: hr: {SKIP_HR['skipped']} |" + " |" * 7 in markdown


def test_markdown_names_the_frame_size_the_split_policy_and_a_small_image_measure(result):
    assert "recognise people in 64 px frames?" in result["comparison"].markdown
    evaluations = {"lr": evaluation("lr", LR_RANKS), "bicubic": evaluation("bicubic", SRGAN_RANKS),
                   "srgan": evaluation("srgan", SRGAN_RANKS), "hr": SKIP_HR}
    evaluations["lr"]["input_px"] = 8
    reports = {v: train_report(v, 1) for v in ("lr", "bicubic", "srgan")} | {"hr": SKIP_HR}
    policy = "test and training by whole videos; validation = ...: 3 people"
    sr_report = {"val": {"val_psnr": 20.0, "val_psnr_bicubic": 19.5, "val_ssim": None, "val_ssim_bicubic": None},
                 "measure": {"note": "2x2 px images: SSIM not computable"}}
    comparison = compare({"split_by": "video", "leakage_split": {}, "split_policy": {"summary": policy}}, sr_report,
                         evaluations, reports, CFG)
    markdown = comparison.markdown
    assert "recognise people in 8 px frames?" in markdown
    assert f"Split policy: {policy}." in markdown and comparison.summary["split_policy"] == policy
    assert ("SR generator on validation: PSNR 20.00 dB vs bicubic 19.50 dB; SSIM nan vs nan (measured on 2x2 px "
            "images: SSIM not computable).") in markdown
    plt.close("all")


def test_forest_plot_draws_each_evaluated_difference_with_its_interval(result):
    fig, d = result["comparison"].forest, result["comparison"].differences
    top1_ax, score_ax = fig.axes
    labels = [t.get_text() for t in top1_ax.get_yticklabels()]
    assert labels == ["srgan − lr", "bicubic − srgan", "hr − lr (skipped)"]
    assert top1_ax.get_xlabel() == "sequence top-1 difference (points)"
    assert score_ax.get_xlabel() == "challenge score difference"
    for ax, metric, scale in ((top1_ax, "sequence_top1", 100), (score_ax, "challenge_score", 1)):
        bars = {c.get_label(): c for c in ax.containers}
        assert set(bars) == {"srgan − lr", "bicubic − srgan"}  # the skipped pair is named, not drawn
        for name, row in zip(("srgan − lr", "bicubic − srgan"), (d.iloc[0], d.iloc[1])):
            marker, _, (whiskers,) = bars[name].lines
            assert marker.get_xdata()[0] == pytest.approx(scale * row[f"{metric}_difference"])
            segment = whiskers.get_segments()[0]
            assert segment[:, 0] == pytest.approx([scale * row[f"{metric}_low"], scale * row[f"{metric}_high"]])
        # filled where shown, hollow where not
        assert bars["bicubic − srgan"].lines[0].get_markerfacecolor() == "white"
        assert any(line.get_xdata()[0] == 0 and line.get_linestyle() == "--" for line in ax.get_lines())
    assert "95 % intervals" in fig._suptitle.get_text()


# ----------------------------------------------------------------------------------------------
# The markdown, pinned
# ----------------------------------------------------------------------------------------------
def full_comparison():
    """A comparison that reaches every part of the markdown: a split policy, a variant not asked
    for, several seeds, a skipped pair, both generators' validation numbers and a leakage audit."""
    evaluations = {"lr": evaluation("lr", LR_RANKS), "bicubic": evaluation("bicubic", SRGAN_RANKS),
                   "srgan": evaluation("srgan", SRGAN_RANKS), "hr": SKIP_HR,
                   "clean64": {"variant": "clean64", "skipped": NOT_ASKED}}
    reports = {"lr": train_report("lr", 1), "bicubic": train_report("bicubic", 2),
               "srgan": train_report("srgan", 2), "hr": SKIP_HR, "clean64": {}}
    sampling = {"split_by": "video", "split_policy": {"summary": "test and training by whole videos"},
                "leakage_split": {"train_vs_test": {"videos": 0, "sequences": 0, "frames": 0},
                                  "val_vs_test": {"videos": 1, "sequences": 2, "frames": 3}}}
    sr_report = {"val": {"val_psnr": 24.5, "val_psnr_bicubic": 23.25, "val_ssim": 0.71, "val_ssim_bicubic": None},
                 "measure": {"note": "32 px crops"}}
    sr_report_id = {"val": {"val_psnr": 24.0, "val_psnr_bicubic": 23.25, "val_ssim": 0.7, "val_ssim_bicubic": 0.65,
                            "val_recogniser_top1_hr": 0.9, "val_recogniser_top1_sr": 0.6,
                            "val_recogniser_top1_bicubic": 0.4}}
    cfg = from_params(EvaluationConfig, base_params(
        "evaluation", comparisons=[["srgan", "lr"], ["bicubic", "srgan"], ["hr", "lr"], ["clean64", "lr"]],
        flip_tta=True, bootstrap={"samples": 200, "confidence": 0.9, "seed": 3, "interval": "t_se"}), "evaluation")
    return compare(sampling, sr_report, evaluations, reports, cfg, sr_report_id)


#: full_comparison()'s markdown as the report wrote it before _markdown was split into named parts.
PINNED_MARKDOWN = """\
## faceless: does super-resolution help recognise people in 64 px frames?

Test side: held out by `video`; chance top-1 = 25.0 %, top-5 = 100.0 %, challenge score 85.0 (a uniform guess among the 4 people present in the test side). Accuracies in %.

Split policy: test and training by whole videos.

Each value is the mean over the variant's seeds, with its 90 % interval [low, high]: a cluster bootstrap over the 4 test videos (200 redraws, seed 3; every sequence and frame of a video moves with it), and over the training seeds where a variant has several (two levels); interval: t times the bootstrap SE, corrected for few videos and seeds. Test-time flips: on.

| variant | px | frame top-1 | frame top-5 | seq top-1 | seq top-5 | challenge score | frame macro-F1 | seq macro-F1 | test frames | test seqs | seeds | train s |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
| lr | 64 | 25.0 [0.0, 61.6] | 87.5 [56.8, 100.0] | 25.0 [0.0, 61.6] | 87.5 [56.8, 100.0] | 77.5 [54.5, 100.0] | 50.0 | 50.0 | 8 | 8 | 1 | 2.5 |
| bicubic | 256 | 81.2 [37.2, 100.0] | 93.8 [72.6, 100.0] | 81.2 [37.2, 100.0] | 93.8 [72.6, 100.0] | 91.9 [71.1, 100.0] | 50.0 | 50.0 | 8 | 8 | 2 | 4.0 |
| srgan | 256 | 81.2 [37.2, 100.0] | 93.8 [72.6, 100.0] | 81.2 [37.2, 100.0] | 93.8 [72.6, 100.0] | 91.9 [71.1, 100.0] | 50.0 | 50.0 | 8 | 8 | 2 | 4.0 |
| hr | skipped: no data for this variant (hr needs a source with high-resolution truth) | | | | | | | | | | | |

Not in classifier.variants: clean64 (`kedro run --pipeline=full --env controls` runs the controls srgan_self and clean64 too).

Spread over seeds (classifier.seeds): mean ± sd (min–max).

| variant | seeds | frame top-1 | frame top-5 | seq top-1 | seq top-5 | challenge score |
|---|---|---|---|---|---|---|
| bicubic | 2 | 81.2 ± 8.8 (75.0–87.5) | 93.8 ± 8.8 (87.5–100.0) | 81.2 ± 8.8 (75.0–87.5) | 93.8 ± 8.8 (87.5–100.0) | 91.9 ± 6.2 (87.5–96.2) |
| srgan | 2 | 81.2 ± 8.8 (75.0–87.5) | 93.8 ± 8.8 (87.5–100.0) | 81.2 ± 8.8 (75.0–87.5) | 93.8 ± 8.8 (87.5–100.0) | 91.9 ± 6.2 (87.5–96.2) |

Paired differences, variant − baseline, on the same test sequences: the difference with its 90 % interval (the same bootstrap), p of a two-sided sign-flip permutation test over videos on the outcomes averaged over seeds (exact over every sign pattern up to 16 videos, else 10000 random patterns), and Holm p: adjusted over the family of evaluation.comparisons, declared before the run, that ran (2 pairs, per metric; skipped pairs are not in it). Shown: the interval excludes 0 and Holm p < 0.1.

| variant − baseline | seq top-1 difference (points) [interval] | p | Holm p | shown? | challenge score difference [interval] | p | Holm p | shown? |
|---|---|---|---|---|---|---|---|---|
| srgan − lr | +56.2 [+20.0, +92.5] | 0.125 | 0.250 | not shown | +14.4 [-22.4, +51.2] | 0.500 | 1.000 | not shown |
| bicubic − srgan | +0.0 [+0.0, +0.0] | 1.000 | 1.000 | not shown | +0.0 [+0.0, +0.0] | 1.000 | 1.000 | not shown |
| hr − lr | skipped: hr: no data for this variant (hr needs a source with high-resolution truth) | | | | | | | |

SR generator on validation: PSNR 24.50 dB vs bicubic 23.25 dB; SSIM 0.7100 vs nan (measured on 32 px crops).

srgan_id generator (with the identity loss) on validation: PSNR 24.00 dB vs bicubic 23.25 dB; SSIM 0.7000 vs 0.6500. Its recogniser's top-1 on the validation crops: truth 90.0 %, SR 60.0 %, bicubic 40.0 %.

Leakage audit (shared between sides at the split; 0 = none):

| sides | videos | sequences | frames |
|---|---|---|---|
| train_vs_test | 0 | 0 | 0 |
| val_vs_test | 1 | 2 | 3 |
"""


def test_markdown_is_the_pinned_text():
    assert full_comparison().markdown == PINNED_MARKDOWN
    plt.close("all")
