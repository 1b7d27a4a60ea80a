"""Evaluation stage: one variant's test-side metrics, the comparison across variants (table,
markdown, plots, tracked metrics), its wiring, and a classifier + evaluation pipeline run."""
from __future__ import annotations

import copy
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from faceless.pipeline_registry import register_pipelines
from faceless.pipelines.classifier.nodes import train_classifier
from faceless.pipelines.evaluation.nodes import compare_variants, evaluate_variant
from faceless.recognition import metrics as recognition_metrics
from faceless.recognition.report import TABLE_COLUMNS
from faceless.recognition.variants import VARIANTS

from ..conftest import base_params
from ..recognition.toy import EMPTY, FRAMES_PER_SIDE, SIZE, tiny_params, toy_sides

EVAL_PARAMS = base_params("evaluation", device="cpu", precision="fp32")
SAMPLING_REPORT = {
    "split_by": "video",
    "leakage_split": {"train_vs_val": {"videos": 0, "sequences": 0, "frames": 0},
                      "train_vs_test": {"videos": 0, "sequences": 0, "frames": 0},
                      "val_vs_test": {"videos": 0, "sequences": 0, "frames": 0}},
}
SR_REPORT = {"val": {"val_psnr": 25.5, "val_psnr_bicubic": 24.25, "val_ssim": 0.8125, "val_ssim_bicubic": 0.75}}
SKIP_BICUBIC = {"variant": "bicubic", "skipped": "not in classifier.variants"}
SKIP_HR = {"variant": "hr", "skipped": "no data for this variant (hr needs a source with high-resolution truth)"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def named(evaluations: list[dict], reports: list[dict]) -> dict[str, dict]:
    """compare_variants' inputs by name, as the pipeline passes them."""
    return {**{f"evaluation_{ev['variant']}": ev for ev in evaluations},
            **{f"classifier_report_{tr['variant']}": tr for tr in reports}}


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

    def spy(model, x_u8, normalisation, device, dtype, batch):
        seen.append((normalisation, batch))
        return real(model, x_u8, normalisation, device, dtype, batch)

    monkeypatch.setattr(recognition_metrics, "frame_log_probs", spy)
    shifted = {**trained["classifier"], "normalisation": {"mean": 0.2, "std": 0.5}}
    evaluate_variant(shifted, toy["test_x"], toy["test_index"], EVAL_PARAMS, variant="lr")
    assert seen == [({"mean": 0.2, "std": 0.5}, EVAL_PARAMS["batch_size"])]


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


# ----------------------------------------------------------------------------------------------
# compare_variants
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def comparison(trained, toy, capsys):
    """lr and srgan evaluated (the same toy classifier stands in for both); bicubic and hr skipped."""
    ev_lr = trained["evaluation"]
    ev_srgan = evaluate_variant(trained["classifier"], toy["test_x"], toy["test_index"], EVAL_PARAMS, variant="srgan")
    tr_lr = trained["report"]
    tr_srgan = {**copy.deepcopy(tr_lr), "variant": "srgan"}
    evaluations = [ev_lr, SKIP_BICUBIC, ev_srgan, SKIP_HR]
    reports = [tr_lr, SKIP_BICUBIC, tr_srgan, SKIP_HR]
    out = compare_variants(SAMPLING_REPORT, SR_REPORT, **named(evaluations, reports))
    printed = capsys.readouterr().out
    return {"out": out, "printed": printed, "evaluations": evaluations, "reports": reports}


def test_compare_variants_summary(comparison):
    summary = comparison["out"][0]
    assert list(summary["variants"]) == list(VARIANTS)
    assert summary["variants"]["bicubic"] == SKIP_BICUBIC
    assert summary["variants"]["lr"]["sequence"]["top1"] == 1.0
    assert summary["chance_top1"] == pytest.approx(1 / 3)
    assert summary["split_by"] == "video"
    assert summary["leakage_split"] == SAMPLING_REPORT["leakage_split"]
    assert summary["sr_val"] == SR_REPORT["val"]
    json.dumps(summary)


def test_compare_variants_lists_variants_in_order_whatever_the_order_of_its_inputs(comparison):
    reversed_inputs = dict(reversed(list(named(comparison["evaluations"], comparison["reports"]).items())))
    summary, table, *_ = compare_variants(SAMPLING_REPORT, SR_REPORT, **reversed_inputs)
    assert list(summary["variants"]) == table["variant"].tolist() == list(VARIANTS)


def test_compare_variants_needs_every_report_by_name(comparison):
    inputs = named(comparison["evaluations"], comparison["reports"])
    del inputs["classifier_report_hr"]
    with pytest.raises(TypeError, match="classifier_report_hr"):
        compare_variants(SAMPLING_REPORT, SR_REPORT, **inputs)


def test_compare_variants_table_has_a_row_per_variant(comparison):
    table = comparison["out"][1]
    evaluations, reports = comparison["evaluations"], comparison["reports"]
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == TABLE_COLUMNS + ["note"]
    assert table["variant"].tolist() == list(VARIANTS)
    rows = table.set_index("variant")
    for variant in ("bicubic", "hr"):
        assert rows.loc[variant, "note"].startswith("skipped: ")
        assert rows.loc[variant, TABLE_COLUMNS[1:]].isna().all()
    assert "truth" in rows.loc["hr", "note"]
    for ev, tr in zip(evaluations, reports):
        if "skipped" in ev:
            continue
        row = rows.loc[ev["variant"]]
        assert row["note"] == ""
        assert row["input_px"] == SIZE
        assert row["frame_top1"] == ev["frame"]["top1"] and row["frame_top5"] == ev["frame"]["top5"]
        assert row["sequence_top1"] == ev["sequence"]["top1"] and row["sequence_top5"] == ev["sequence"]["top5"]
        assert row["challenge_score"] == ev["sequence"]["challenge_score"]
        assert row["frame_macro_f1"] == ev["frame"]["macro_f1"]
        assert row["sequence_macro_f1"] == ev["sequence"]["macro_f1"]
        assert row["test_frames"] == FRAMES_PER_SIDE and row["test_sequences"] == 6
        assert row["train_seconds"] == tr["seconds"] and row["best_epoch"] == tr["best_epoch"]


def test_compare_variants_markdown_is_printed_and_names_everything(comparison):
    markdown, printed = comparison["out"][2], comparison["printed"]
    assert isinstance(markdown, str)
    assert markdown in printed
    for variant in VARIANTS:
        assert f"| {variant} |" in markdown
    assert "| bicubic | skipped: not in classifier.variants |" in markdown
    assert "Leakage audit" in markdown
    assert "| sides | videos | sequences | frames |" in markdown
    for pair in SAMPLING_REPORT["leakage_split"]:
        assert f"| {pair} | 0 | 0 | 0 |" in markdown
    assert "chance top-1 = 33.3 %" in markdown
    assert "held out by `video`" in markdown
    assert "PSNR 25.50 dB vs bicubic 24.25 dB" in markdown
    # every table row has the header's 12 cells
    header = next(line for line in markdown.splitlines() if line.startswith("| variant |"))
    for line in markdown.splitlines():
        if any(line.startswith(f"| {v} |") for v in VARIANTS):
            assert line.count("|") == header.count("|"), line


def test_compare_variants_confusion_figure_has_a_panel_per_evaluated_variant(comparison):
    confusion, ev_lr = comparison["out"][3], comparison["evaluations"][0]
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
    curves, tr_lr = comparison["out"][4], comparison["reports"][0]
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


def test_compare_variants_mlflow_metrics_only_for_evaluated_variants(comparison):
    metrics = comparison["out"][5]
    keys = ["frame_top1", "frame_top5", "sequence_top1", "sequence_top5", "challenge_score", "frame_macro_f1",
            "sequence_macro_f1"]
    assert set(metrics) == {f"{v}.{k}" for v in ("lr", "srgan") for k in keys}
    assert metrics["lr.sequence_top1"] == {"value": 1.0, "step": 0}
    for entry in metrics.values():
        assert set(entry) == {"value", "step"}
        assert isinstance(entry["value"], float) and entry["step"] == 0
    ev_lr = comparison["evaluations"][0]
    assert metrics["lr.challenge_score"]["value"] == ev_lr["sequence"]["challenge_score"]


def test_compare_variants_with_every_variant_skipped(capsys):
    skips = [{"variant": v, "skipped": "not in classifier.variants"} for v in VARIANTS]
    summary, table, markdown, confusion, curves, metrics = compare_variants(SAMPLING_REPORT, {},
                                                                             **named(skips, skips))
    assert summary["chance_top1"] is None
    assert len(table) == len(VARIANTS) and table["note"].str.startswith("skipped").all()
    assert metrics == {}
    assert confusion.axes == [] and [t.get_text() for t in confusion.texts] == ["no variant evaluated"]
    assert [ax.get_title() for ax in curves.axes] == ["Validation accuracy", "Training loss"]
    assert all(ax.get_lines() == [] for ax in curves.axes)
    assert "SR generator" not in markdown  # no SR report, no SR line
    assert markdown in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------
# Wiring, and the classifier + evaluation stages run by Kedro
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pipelines():
    return register_pipelines()


def test_evaluation_nodes_read_their_variant_test_arrays(pipelines):
    by_name = {node.name: node for node in pipelines["evaluation"].nodes}
    expected = {"lr": "lr", "bicubic": "bicubic", "srgan": "sr", "hr": "hr"}
    for variant, prefix in expected.items():
        node = by_name[f"evaluation.evaluate_{variant}"]
        assert node.namespace == "evaluation"
        assert node.inputs == [f"classifier_{variant}", f"{prefix}_test", "test_index", "params:evaluation"]
        assert node.outputs == [f"evaluation_{variant}"]
    compare = by_name["evaluation.compare_variants"]
    assert compare.inputs == ["sampling_report", "sr_report", *[f"evaluation_{v}" for v in VARIANTS],
                              *[f"classifier_report_{v}" for v in VARIANTS]]
    assert compare.outputs == ["metrics", "comparison", "comparison_md", "confusion_matrices", "training_curves",
                               "evaluation_metrics"]


def test_classifier_and_evaluation_run_as_kedro_pipelines(pipelines, toy, tmp_path, capsys):
    catalog = DataCatalog()
    for prefix in ("lr", "bicubic", "sr"):
        for side in ("train", "val", "test"):
            catalog[f"{prefix}_{side}"] = toy[f"{side}_x"]
    for side in ("train", "val", "test"):
        catalog[f"hr_{side}"] = EMPTY
        catalog[f"{side}_index"] = toy[f"{side}_index"]
    catalog["params:classifier"] = tiny_params(tmp_path / "ckpt", variants=["lr", "srgan", "hr"], epochs=2)
    catalog["params:evaluation"] = EVAL_PARAMS
    catalog["sampling_report"] = SAMPLING_REPORT
    catalog["sr_report"] = SR_REPORT
    catalog["metrics"] = MemoryDataset(copy_mode="assign")
    SequentialRunner().run(pipelines["classifier"] + pipelines["evaluation"], catalog)
    summary = catalog["metrics"].load()
    assert list(summary["variants"]) == list(VARIANTS)
    assert summary["variants"]["bicubic"]["skipped"] == "not in classifier.variants"
    assert "truth" in summary["variants"]["hr"]["skipped"]
    for variant in ("lr", "srgan"):
        assert summary["variants"][variant]["test_frames"] == FRAMES_PER_SIDE
    # the same classifier recipe on the same arrays: lr and srgan agree exactly
    assert summary["variants"]["lr"]["frame"] == summary["variants"]["srgan"]["frame"]
