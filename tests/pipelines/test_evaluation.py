"""Evaluation stage: one variant's test-side metrics and outcomes (every seed, flip TTA), the
comparison across variants (table with intervals, markdown, differences, plots, tracked metrics),
its wiring, and a classifier + evaluation pipeline run. The statistics themselves are tested on
hand-made evaluations in tests/recognition/test_report.py and test_stats.py."""
from __future__ import annotations

import copy
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from faceless.inference import frame_log_probs, load_classifier, to_nchw_uint8
from faceless.pipeline_registry import build_pipelines
from faceless.pipelines.classifier.nodes import train_classifier
from faceless.pipelines.evaluation.nodes import compare_variants, evaluate_variant
from faceless.recognition import metrics as recognition_metrics
from faceless.recognition.report import COMPARISON_COLUMNS, DIFFERENCE_COLUMNS, TABLE_COLUMNS
from faceless.utils.errors import ConfigError

from ..conftest import assert_state_equal, base_params
from ..recognition.toy import EMPTY, FRAMES_PER_SIDE, SIZE, tiny_params, toy_sides

EVAL_PARAMS = base_params("evaluation", device="cpu", precision="fp32")
SAMPLING_REPORT = {
    "split_by": "video",
    "leakage_split": {"train_vs_val": {"videos": 0, "sequences": 0, "frames": 0},
                      "train_vs_test": {"videos": 0, "sequences": 0, "frames": 0},
                      "val_vs_test": {"videos": 0, "sequences": 0, "frames": 0}},
}
SR_REPORT = {"val": {"val_psnr": 25.5, "val_psnr_bicubic": 24.25, "val_ssim": 0.8125, "val_ssim_bicubic": 0.75}}
SKIP_BICUBIC = {"variant": "bicubic", "skipped": "no data for this variant (the sampled side has no frames)"}
SKIP_HR = {"variant": "hr", "skipped": "no data for this variant (hr is the high-resolution truth: the source has none)"}
#: The variants that are on in the comparison fixture's run, in conf's order.
VARIANTS = ("lr", "bicubic", "srgan", "srgan_self", "hr")
#: Each variant's arrays (``<prefix>_<side>``): the frames for lr, the truth for hr, made ones for the others.
VARIANT_ARRAYS = {"lr": "lr", "bicubic": "bicubic", "srgan": "srgan", "srgan_self": "srgan_self", "hr": "hr"}
#: The variants the comparison fixture evaluates (the same toy classifier stands in for both).
EVALUATED = ("lr", "srgan")
#: The comparison's outputs, in the node's order.
OUTPUTS = ["metrics", "comparison", "comparison_md", "confusion_matrices", "training_curves", "evaluation_metrics",
           "differences", "differences_plot"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def named(evaluations: list[dict], reports: list[dict]) -> dict[str, dict]:
    """compare_variants' inputs by name, as the pipeline passes them."""
    return {**{f"evaluation_{ev['variant']}": ev for ev in evaluations},
            **{f"classifier_report_{tr['variant']}": tr for tr in reports}}


def compare(evaluations: list[dict], reports: list[dict], params: dict = EVAL_PARAMS, sr_report: dict = SR_REPORT,
            variants: list[str] | None = None, **inputs):
    """compare_variants as the pipeline calls it: the variants that are on, in order, and their reports."""
    variants = variants or [ev["variant"] for ev in evaluations]
    return compare_variants(SAMPLING_REPORT, params, variants=variants, sr_variant="srgan",
                            sr_report_srgan=sr_report, **(inputs or named(evaluations, reports)))


def family(variants) -> list[list[str]]:
    """The declared comparisons whose two variants are on."""
    return [pair for pair in EVAL_PARAMS["comparisons"] if set(pair) <= set(variants)]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def toy():
    return toy_sides()


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    """One tiny training run of the ``lr`` variant (conf/base's recipe, made tiny), and its evaluation."""
    params = tiny_params(tmp_path_factory.mktemp("classifier") / "ckpt")
    classifier, report = train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                                          params, variant="lr")
    evaluation = evaluate_variant(classifier, toy["test_x"], toy["test_index"], EVAL_PARAMS, variant="lr")
    return {"classifier": classifier, "report": report, "evaluation": evaluation}


# ----------------------------------------------------------------------------------------------
# evaluate_variant
# ----------------------------------------------------------------------------------------------
def test_classifier_learns_a_separable_toy_set(trained):
    ev = trained["evaluation"]
    assert ev["variant"] == "lr" and "skipped" not in ev
    assert ev["frame"]["top1"] >= 0.9
    assert ev["sequence"]["top1"] == 1.0
    assert ev["sequence"]["challenge_score"] == pytest.approx(100.0)
    assert ev["input_px"] == SIZE
    assert ev["test_frames"] == FRAMES_PER_SIDE and ev["test_sequences"] == 6
    assert ev["frame"]["count"] == FRAMES_PER_SIDE and ev["sequence"]["count"] == 6
    assert ev["labels_present"] == [0, 1, 2]
    assert ev["label_to_person"] == {"0": "7", "1": "3", "2": "5"}
    assert set(ev["per_person_frame_accuracy"]) == {"7", "3", "5"}
    assert all(v >= 0.5 for v in ev["per_person_frame_accuracy"].values())
    json.dumps(ev)  # saved by a JSONDataset


def test_evaluation_reads_the_normalisation_from_the_classifier_file(trained, toy, monkeypatch):
    seen = []
    real = recognition_metrics.frame_log_probs

    def spy(model, x_u8, normalisation, device, dtype, batch, *, flip_tta):
        seen.append((normalisation, batch, flip_tta))
        return real(model, x_u8, normalisation, device, dtype, batch, flip_tta=flip_tta)

    monkeypatch.setattr(recognition_metrics, "frame_log_probs", spy)
    shifted = {**trained["classifier"], "normalisation": {"mean": 0.2, "std": 0.5}}
    evaluate_variant(shifted, toy["test_x"], toy["test_index"], EVAL_PARAMS, variant="lr")
    assert seen == [({"mean": 0.2, "std": 0.5}, EVAL_PARAMS["batch_size"], False)]


def test_evaluation_batch_size_does_not_change_the_answer(trained, toy):
    params = base_params("evaluation", device="cpu", precision="fp32", batch_size=5)
    ev = evaluate_variant(trained["classifier"], toy["test_x"], toy["test_index"], params, variant="lr")
    assert ev["frame"]["confusion"] == trained["evaluation"]["frame"]["confusion"]
    assert ev["sequence"]["top1"] == trained["evaluation"]["sequence"]["top1"]


def test_evaluate_variant_of_a_skipped_classifier_is_skipped(toy):
    skipped = {"variant": "hr", "skipped": "no data for this variant (hr needs ... truth)"}
    assert evaluate_variant(skipped, EMPTY, toy["test_index"], EVAL_PARAMS, variant="hr") == skipped


def test_evaluate_variant_with_mismatched_lengths_raises(trained, toy):
    with pytest.raises(ValueError, match="index rows"):
        evaluate_variant(trained["classifier"], toy["test_x"][:-1], toy["test_index"], EVAL_PARAMS, variant="lr")



def test_evaluation_keeps_every_sequence_and_frame_outcome_with_its_video(trained, toy):
    ev = trained["evaluation"]
    seqs, frames = ev["sequence_outcomes"], ev["frame_outcomes"]
    # video keys are person/video: the toy's three people share video number 2
    assert seqs["sequence"] == ["7/2/0", "7/2/1", "3/2/0", "3/2/1", "5/2/0", "5/2/1"]
    assert seqs["video"] == ["7/2", "7/2", "3/2", "3/2", "5/2", "5/2"] and ev["test_videos"] == 3
    assert seqs["label"] == [0, 0, 1, 1, 2, 2]
    # the rank of the truth in the pooled scores, measured afresh
    model, cpu = load_classifier(trained["classifier"]), torch.device("cpu")
    log_probs = frame_log_probs(model, to_nchw_uint8(toy["test_x"]), trained["classifier"]["normalisation"], cpu,
                                None, 128, flip_tta=False)
    scores, labels = recognition_metrics.sequence_scores(log_probs, torch.tensor(seqs["label"]).repeat_interleave(4),
                                                         toy["test_index"])
    expected_rank = (scores > scores.gather(1, labels.unsqueeze(1))).sum(1).float()  # no ties on real scores
    assert seqs["rank"] == expected_rank.tolist()
    assert seqs["top1"] == [float(r == 0) for r in seqs["rank"]]
    assert seqs["top5"] == [float(r < 5) for r in seqs["rank"]]
    assert seqs["points"] == [100.0 - 10 * r if r < 5 else 0.0 for r in seqs["rank"]]
    # the table's numbers are the outcomes' means
    assert np.mean(seqs["top1"]) == pytest.approx(ev["sequence"]["top1"])
    assert np.mean(seqs["points"]) == pytest.approx(ev["sequence"]["challenge_score"])
    assert frames["video"] == toy["test_index"]["person"].astype(str).add("/2").tolist()
    assert frames["top1"] == (log_probs.argmax(1) == torch.tensor(toy["test_index"]["label"])).float().tolist()
    assert np.mean(frames["top1"]) == pytest.approx(ev["frame"]["top1"])
    assert np.mean(frames["top5"]) == pytest.approx(ev["frame"]["top5"])
    # one seed: per_seed holds that run's numbers
    assert ev["seeds"] == [0] and ev["flip_tta"] is False
    assert ev["per_seed"] == [{"seed": 0, "frame_top1": ev["frame"]["top1"], "frame_top5": ev["frame"]["top5"],
                               "sequence_top1": ev["sequence"]["top1"], "sequence_top5": ev["sequence"]["top5"],
                               "challenge_score": ev["sequence"]["challenge_score"],
                               "frame_macro_f1": ev["frame"]["macro_f1"],
                               "sequence_macro_f1": ev["sequence"]["macro_f1"]}]


def test_flip_tta_is_the_mean_of_the_frame_and_its_mirror(trained, toy):
    model, cpu = load_classifier(trained["classifier"]), torch.device("cpu")
    norm = trained["classifier"]["normalisation"]
    plain = frame_log_probs(model, to_nchw_uint8(toy["test_x"]), norm, cpu, None, 7, flip_tta=False)
    mirrored = frame_log_probs(model, to_nchw_uint8(toy["test_x"][:, :, ::-1]), norm, cpu, None, 7, flip_tta=False)
    flipped = frame_log_probs(model, to_nchw_uint8(toy["test_x"]), norm, cpu, None, 7, flip_tta=True)
    assert not torch.allclose(plain, mirrored)  # the mirror is another input
    assert torch.allclose(flipped, (plain + mirrored) / 2, atol=1e-6)
    params = base_params("evaluation", device="cpu", precision="fp32", flip_tta=True)
    ev = evaluate_variant(trained["classifier"], toy["test_x"], toy["test_index"], params, variant="lr")
    assert ev["flip_tta"] is True
    labels = torch.tensor(toy["test_index"]["label"])
    assert ev["frame_outcomes"]["top1"] == (flipped.argmax(1) == labels).float().tolist()


def test_two_seeds_train_two_models_and_evaluation_averages_them(toy, trained, tmp_path):
    params = tiny_params(tmp_path / "ckpt", seeds=[0, 10])
    classifier, report = train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                                          params, variant="lr")
    # the first seed is exactly the single run (what predict reads); the second is its own model
    assert classifier["seed"] == 0 and [r["seed"] for r in classifier["repeats"]] == [10]
    assert_state_equal(classifier["state_dict"], trained["classifier"]["state_dict"])
    single_10, _ = train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                                    tiny_params(None, seeds=[10]), variant="lr")
    assert_state_equal(classifier["repeats"][0]["state_dict"], single_10["state_dict"])
    assert any(not torch.equal(a, b) for a, b in zip(classifier["state_dict"].values(),
                                                     single_10["state_dict"].values()))
    assert report["seeds"] == [0, 10] and [r["seed"] for r in report["repeats"]] == [10]
    assert len(report["repeats"][0]["history"]) == report["epochs"]
    checkpoints = tmp_path / "ckpt" / "lr"
    assert (checkpoints / "seed_0" / "last.pt").is_file() and (checkpoints / "seed_10" / "last.pt").is_file()
    # evaluation: every seed, outcomes averaged over them
    ev = evaluate_variant(classifier, toy["test_x"], toy["test_index"], EVAL_PARAMS, variant="lr")
    ev_10 = evaluate_variant(single_10, toy["test_x"], toy["test_index"], EVAL_PARAMS, variant="lr")
    ev_0 = trained["evaluation"]
    assert ev["seeds"] == [0, 10] and [run["seed"] for run in ev["per_seed"]] == [0, 10]
    assert ev["per_seed"][0] == ev_0["per_seed"][0] and ev["per_seed"][1] == {**ev_10["per_seed"][0], "seed": 10}
    assert ev["frame"] == ev_0["frame"]  # a single run's keys: the first seed's
    for kind in ("sequence_outcomes", "frame_outcomes"):
        for column in ("top1", "top5"):
            assert ev[kind][column] == pytest.approx((np.array(ev_0[kind][column]) + ev_10[kind][column]) / 2)
            # and each seed's own outcomes, for the bootstrap over seeds
            assert ev[kind]["by_seed"][column] == ev_0[kind]["by_seed"][column] + ev_10[kind]["by_seed"][column]
    assert ev["sequence_outcomes"]["by_seed"]["points"] == (ev_0["sequence_outcomes"]["by_seed"]["points"]
                                                          + ev_10["sequence_outcomes"]["by_seed"]["points"])
    # the table: mean over the seeds and their spread
    out = compare([ev], [report])
    row = out[1].set_index("variant").loc["lr"]
    top1 = [run["sequence_top1"] for run in ev["per_seed"]]
    assert row["seeds"] == 2 and row["sequence_top1"] == pytest.approx(np.mean(top1))
    assert row["sequence_top1_seed_sd"] == pytest.approx(np.std(top1, ddof=1))
    assert (row["sequence_top1_seed_min"], row["sequence_top1_seed_max"]) == (min(top1), max(top1))
    assert row["train_seconds"] == pytest.approx(report["seconds"] + report["repeats"][0]["seconds"])
    assert "Spread over seeds" in out[2] and "| lr | 2 | " in out[2]


# ----------------------------------------------------------------------------------------------
# compare_variants
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def comparison(trained, toy, capsys):
    """lr and srgan evaluated (the same toy classifier stands in for both); the others skipped."""
    ev_lr = trained["evaluation"]
    ev_srgan = evaluate_variant(trained["classifier"], toy["test_x"], toy["test_index"], EVAL_PARAMS, variant="srgan")
    tr_lr = trained["report"]
    tr_srgan = {**copy.deepcopy(tr_lr), "variant": "srgan"}
    done = {"lr": (ev_lr, tr_lr), "srgan": (ev_srgan, tr_srgan)}
    skips = {"bicubic": SKIP_BICUBIC, "hr": SKIP_HR}
    evaluations, reports = [], []
    for variant in VARIANTS:
        ev, tr = done.get(variant) or (skips.get(variant, {"variant": variant, "skipped": "no data"}),) * 2
        evaluations.append(ev)
        reports.append(tr)
    out = compare(evaluations, reports)
    printed = capsys.readouterr().out
    return {"out": dict(zip(OUTPUTS, out)), "printed": printed, "evaluations": evaluations, "reports": reports}


def test_compare_variants_summary(comparison):
    summary = comparison["out"]["metrics"]
    assert list(summary["variants"]) == list(VARIANTS)
    assert summary["variants"]["bicubic"] == SKIP_BICUBIC
    assert summary["variants"]["lr"]["sequence"]["top1"] == 1.0
    assert summary["chance_top1"] == pytest.approx(1 / 3) and summary["people_present"] == [0, 1, 2]
    assert summary["split_by"] == "video"
    assert summary["leakage_split"] == SAMPLING_REPORT["leakage_split"]
    assert summary["sr_val"] == SR_REPORT["val"]
    assert set(summary["intervals"]) == set(EVALUATED)
    assert len(summary["differences"]) == len(family(VARIANTS))
    json.dumps(summary)


def test_compare_variants_lists_variants_in_order_whatever_the_order_of_its_inputs(comparison):
    reversed_inputs = dict(reversed(list(named(comparison["evaluations"], comparison["reports"]).items())))
    summary, table, *_ = compare([], [], variants=list(VARIANTS), **reversed_inputs)
    assert list(summary["variants"]) == table["variant"].tolist() == list(VARIANTS)


def test_compare_variants_needs_every_report_by_name(comparison):
    inputs = named(comparison["evaluations"], comparison["reports"])
    del inputs["classifier_report_hr"]
    with pytest.raises(TypeError, match="classifier_report_hr"):
        compare([], [], variants=list(VARIANTS), **inputs)


def test_compare_variants_checks_its_parameters(comparison):
    inputs = named(comparison["evaluations"], comparison["reports"])
    params = base_params("evaluation", comparisons=[["srgan", "srgan"]])
    with pytest.raises(ConfigError, match=r"evaluation\.comparisons\[0\]"):
        compare([], [], params, variants=list(VARIANTS), **inputs)


def test_compare_variants_table_has_a_row_per_variant(comparison):
    table = comparison["out"]["comparison"]
    evaluations, reports = comparison["evaluations"], comparison["reports"]
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == COMPARISON_COLUMNS and COMPARISON_COLUMNS[:len(TABLE_COLUMNS)] == TABLE_COLUMNS
    assert table["variant"].tolist() == list(VARIANTS)
    rows = table.set_index("variant")
    for variant in set(VARIANTS) - set(EVALUATED):
        assert rows.loc[variant, "note"].startswith("skipped: ")
        assert rows.loc[variant, COMPARISON_COLUMNS[1:-1]].isna().all()
    assert "truth" in rows.loc["hr", "note"]
    for ev, tr in zip(evaluations, reports):
        if "skipped" in ev:
            continue
        row = rows.loc[ev["variant"]]
        assert row["note"] == ""
        assert row["input_px"] == SIZE
        # one seed: today's numbers, exactly
        assert row["frame_top1"] == ev["frame"]["top1"] and row["frame_top5"] == ev["frame"]["top5"]
        assert row["sequence_top1"] == ev["sequence"]["top1"] and row["sequence_top5"] == ev["sequence"]["top5"]
        assert row["challenge_score"] == ev["sequence"]["challenge_score"]
        assert row["frame_macro_f1"] == ev["frame"]["macro_f1"]
        assert row["sequence_macro_f1"] == ev["sequence"]["macro_f1"]
        assert row["test_frames"] == FRAMES_PER_SIDE and row["test_sequences"] == 6
        assert row["train_seconds"] == tr["seconds"] and row["best_epoch"] == tr["best_epoch"]
        assert row["seeds"] == 1 and np.isnan(row["sequence_top1_seed_sd"])
        # every sequence right: every redraw of the videos too
        assert (row["sequence_top1_low"], row["sequence_top1_high"]) == (1.0, 1.0)
        assert row["frame_top1_low"] <= row["frame_top1"] <= row["frame_top1_high"]


def test_compare_variants_differences_of_the_parameter_list(comparison):
    differences = comparison["out"]["differences"]
    assert list(differences.columns) == DIFFERENCE_COLUMNS
    assert differences[["variant", "baseline"]].values.tolist() == family(VARIANTS)
    rows = differences.set_index(["variant", "baseline"])
    # srgan and lr are the same classifier here: the known null
    same = rows.loc[("srgan", "lr")]
    assert (same["sequence_top1_difference"], same["sequence_top1_low"], same["sequence_top1_high"]) == (0, 0, 0)
    assert same["sequence_top1_p"] == 1.0 and not same["sequence_top1_shown"]
    assert same["videos"] == 3 and same["sequences"] == 6
    for pair, row in rows.iterrows():
        if pair != ("srgan", "lr"):
            assert row["note"].startswith("skipped: ") and np.isnan(row["sequence_top1_p"]), pair
    assert rows.loc[("srgan", "bicubic"), "note"].startswith("skipped: bicubic: no data for this variant")


def test_compare_variants_markdown_is_printed_and_names_everything(comparison):
    markdown, printed = comparison["out"]["comparison_md"], comparison["printed"]
    assert isinstance(markdown, str)
    # The run prints the headline that fits a terminal; the whole table is the markdown file.
    assert "faceless: the answer" in printed and "data/08_reporting/comparison.md" in printed
    assert markdown not in printed and all(len(line) <= 100 for line in printed.splitlines())
    for variant in VARIANTS:
        assert any(line.startswith(f"{variant} ") for line in printed.splitlines()), variant
    # A variant that is on but could not run keeps its row and says why; one that is off has none.
    for variant in VARIANTS:
        assert f"| {variant} |" in markdown, variant
    assert "| clean64 |" not in markdown and "Not in classifier.variants" not in markdown
    assert "| hr | skipped: no data for this variant (hr is the high-resolution truth: the source has none) |" in markdown
    assert "Leakage audit" in markdown
    assert "| sides | videos | sequences | frames |" in markdown
    for pair in SAMPLING_REPORT["leakage_split"]:
        assert f"| {pair} | 0 | 0 | 0 |" in markdown
    assert "chance top-1 = 33.3 %" in markdown and "3 people present in the test side" in markdown
    assert "held out by `video`" in markdown
    assert "PSNR 25.50 dB vs bicubic 24.25 dB" in markdown
    assert "| lr | 16 | " in markdown and "[100.0, 100.0]" in markdown  # seq top-1 and its interval
    assert "| srgan − lr | +0.0 [+0.0, +0.0] | 1.000 | 1.000 | not shown |" in markdown
    assert "srgan_other − lr" not in markdown  # a pair with a variant that is off is not in the family
    assert "| srgan_self − lr | skipped: srgan_self: no data |" in markdown
    assert "Spread over seeds" not in markdown  # one seed each
    # every table row has its header's cells
    header = next(line for line in markdown.splitlines() if line.startswith("| variant |"))
    for line in markdown.splitlines():
        if any(line.startswith(f"| {v} |") for v in VARIANTS):
            assert line.count("|") == header.count("|") == 14, line


def test_compare_variants_confusion_figure_has_a_panel_per_evaluated_variant(comparison):
    confusion, ev_lr = comparison["out"]["confusion_matrices"], comparison["evaluations"][0]
    assert len(confusion.axes) == 2
    titles = [ax.get_title() for ax in confusion.axes]
    assert titles[0] == f"lr: frame top-1 {100 * ev_lr['frame']['top1']:.0f} %" and titles[1].startswith("srgan:")
    assert confusion._suptitle.get_text() == "Test-side confusion (rows normalised)"
    for ax in confusion.axes:
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted person", "true person")
        assert [t.get_text() for t in ax.get_xticklabels()] == ["7", "3", "5"]  # people by name
        shown = ax.get_images()[0].get_array()
        assert shown.shape == (3, 3) and np.allclose(shown.sum(1), 1)  # rows normalised


def test_compare_variants_curves_have_a_line_per_trained_variant(comparison):
    curves, tr_lr = comparison["out"]["training_curves"], comparison["reports"][0]
    acc_ax, loss_ax = curves.axes
    assert acc_ax.get_title() == "Validation accuracy" and loss_ax.get_title() == "Training loss"
    assert acc_ax.get_ylabel() == "validation sequence top-1" and acc_ax.get_xlabel() == "epoch"
    for ax in (acc_ax, loss_ax):
        assert [line.get_label() for line in ax.get_lines()] == ["lr", "srgan"]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["lr", "srgan"]
    lr_acc, lr_loss = acc_ax.get_lines()[0], loss_ax.get_lines()[0]
    assert list(lr_acc.get_ydata()) == [h["val_sequence_top1"] for h in tr_lr["history"]]
    assert list(lr_loss.get_ydata()) == [h["loss"] for h in tr_lr["train_loss"]]
    assert list(lr_acc.get_xdata()) == list(range(1, len(tr_lr["history"]) + 1))


def test_compare_variants_forest_plot_names_every_pair(comparison):
    forest = comparison["out"]["differences_plot"]
    labels = [t.get_text() for t in forest.axes[0].get_yticklabels()]
    assert labels == [f"{a} − {b}" + ("" if (a, b) == ("srgan", "lr") else " (skipped)")
                      for a, b in family(VARIANTS)]
    assert len(labels) < len(EVAL_PARAMS["comparisons"])  # pairs with a variant that is off are not run
    assert [c.get_label() for c in forest.axes[0].containers] == ["srgan − lr"]


def test_compare_variants_mlflow_metrics_only_for_evaluated_variants(comparison):
    metrics = comparison["out"]["evaluation_metrics"]
    # <variant>/<metric> (under evaluation/: the catalog): an MLflow chart section per variant; fractions in percent.
    keys = ["frame_top1_pct", "frame_top5_pct", "sequence_top1_pct", "sequence_top5_pct", "challenge_score",
            "frame_macro_f1_pct", "sequence_macro_f1_pct"]
    intervals = [f"{k}_{end}" for k in keys[:5] for end in ("low", "high")]
    differences = [f"srgan_vs_lr/{m}_difference{end}" for m in ("sequence_top1_pct", "challenge_score")
                   for end in ("", "_low", "_high")]
    differences += [f"srgan_vs_lr/{m}_{p}" for m in ("sequence_top1", "challenge_score")
                    for p in ("p_value", "p_adjusted")]
    assert set(metrics) == {f"{v}/{k}" for v in EVALUATED for k in keys + intervals} | set(differences)
    assert metrics["lr/sequence_top1_pct"] == {"value": 100.0, "step": 0}
    assert metrics["srgan_vs_lr/sequence_top1_p_value"] == {"value": 1.0, "step": 0}
    for entry in metrics.values():
        assert set(entry) == {"value", "step"}
        assert isinstance(entry["value"], float) and entry["step"] == 0
        assert 0 <= abs(entry["value"]) <= 100
    ev_lr = comparison["evaluations"][0]
    assert metrics["lr/challenge_score"]["value"] == ev_lr["sequence"]["challenge_score"]


def test_compare_variants_with_every_variant_skipped(capsys):
    skips = [{"variant": v, "skipped": "no data for this variant (the sampled side has no frames)"} for v in VARIANTS]
    out = dict(zip(OUTPUTS, compare(skips, skips, sr_report={})))
    summary, table, markdown, confusion, curves = (out[k] for k in OUTPUTS[:5])
    assert summary["chance_top1"] is None
    assert len(table) == len(VARIANTS) and table["note"].str.startswith("skipped").all()
    assert out["evaluation_metrics"] == {}
    assert out["differences"]["note"].str.startswith("skipped").all()
    assert confusion.axes == [] and [t.get_text() for t in confusion.texts] == ["no variant evaluated"]
    assert [ax.get_title() for ax in curves.axes] == ["Validation accuracy", "Training loss"]
    assert all(ax.get_lines() == [] for ax in curves.axes)
    assert all(ax.containers == [] for ax in out["differences_plot"].axes)
    assert "SR generator" not in markdown  # no SR report, no SR line
    assert "faceless: the answer" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------
# Wiring, and the classifier + evaluation stages run by Kedro
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pipelines():
    """The stages with conf/base's variants and srgan_self switched on (a generator variant beside srgan)."""
    variants = base_params("variants")
    variants["srgan_self"]["enabled"] = True
    return build_pipelines({"variants": variants, "predict": base_params("predict")})


def test_evaluation_nodes_read_their_variant_test_arrays(pipelines):
    by_name = {node.name: node for node in pipelines["evaluation"].nodes}
    for variant in VARIANTS:
        node = by_name[f"evaluation.{variant}.evaluate"]
        assert node.namespace == f"evaluation.{variant}"
        assert node.inputs == [f"classifier_{variant}", f"{VARIANT_ARRAYS[variant]}_test", "test_index",
                               "params:evaluation", f"pooling_{variant}"]
        assert node.outputs == [f"evaluation_{variant}"]
    assert by_name["evaluation.srgan.evaluate"].inputs[1] == "srgan_test"
    compare = by_name["evaluation.compare_variants"]
    reports = [f"{kind}_{v}" for v in VARIANTS for kind in ("evaluation", "classifier_report")]
    assert compare.inputs == ["sampling_report", "params:evaluation", "params:pooling", *reports, "sr_report_srgan",
                              "sr_report_srgan_self"]
    assert compare.outputs == OUTPUTS


def test_classifier_and_evaluation_run_as_kedro_pipelines(pipelines, toy, tmp_path, capsys):
    catalog = DataCatalog()
    for variant in VARIANTS:
        for side in ("train", "val", "test"):
            has_data = variant in ("lr", "srgan")
            catalog[f"{VARIANT_ARRAYS[variant]}_{side}"] = toy[f"{side}_x"] if has_data else EMPTY
    for side in ("train", "val", "test"):
        catalog[f"{side}_index"] = toy[f"{side}_index"]
    catalog["params:classifier"] = tiny_params(tmp_path / "ckpt", epochs=2)
    catalog["params:evaluation"] = EVAL_PARAMS
    catalog["params:pooling"] = base_params("pooling")  # the mean: nothing trained
    catalog["sampling_report"] = SAMPLING_REPORT
    catalog["sr_report_srgan"] = SR_REPORT
    catalog["sr_report_srgan_self"] = {"variant": "srgan_self", "skipped": "the source has no truth"}
    catalog["metrics"] = MemoryDataset(copy_mode="assign")
    catalog["differences"] = MemoryDataset(copy_mode="assign")
    SequentialRunner().run(pipelines["classifier"] + pipelines["evaluation"], catalog)
    summary = catalog["metrics"].load()
    assert list(summary["variants"]) == list(VARIANTS)
    assert summary["variants"]["bicubic"]["skipped"] == "no data for this variant (the sampled side has no frames)"
    assert "truth" in summary["variants"]["hr"]["skipped"]
    for variant in ("lr", "srgan"):
        assert summary["variants"][variant]["test_frames"] == FRAMES_PER_SIDE
    # the same classifier recipe on the same arrays: lr and srgan agree exactly
    assert summary["variants"]["lr"]["frame"] == summary["variants"]["srgan"]["frame"]
    differences = catalog["differences"].load().set_index(["variant", "baseline"])
    assert differences.loc[("srgan", "lr"), "sequence_top1_p"] == 1.0
