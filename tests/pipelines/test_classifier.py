"""Classifier and evaluation stages: learning a toy set, skips, resume, augmentation, the comparison,
and the wiring of the registered pipelines."""
from __future__ import annotations

import copy
import json
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from faceless.config import ConfigError
from faceless.data.datasets import TorchWeightsDataset
from faceless.models.classifier import FrameClassifier
from faceless.pipeline_registry import STAGES, register_pipelines
from faceless.pipelines.classifier import nodes
from faceless.pipelines.classifier.nodes import (
    VARIANTS,
    accuracy_summary,
    augment,
    load_classifier,
    predict_log_probs,
    to_tensor,
    train_classifier,
)
from faceless.pipelines.evaluation.nodes import TABLE_COLUMNS, compare_variants, evaluate_variant

from ..conftest import assert_state_equal

SIZE = 16
EPOCHS, BATCH = 8, 16
FRAMES_PER_SIDE = 3 * 2 * 4               # 3 people x 2 sequences x 4 frames (one video each per side)
STEPS_PER_EPOCH = math.ceil(FRAMES_PER_SIDE / BATCH)
TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH
PEOPLE = (7, 3, 5)                         # person ids; labels 0, 1, 2
COLOURS = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]])  # solid red / green / blue
EMPTY = np.zeros((0, 0, 0, 3), dtype=np.uint8)
EVAL_PARAMS = {"device": "cpu", "precision": "fp32"}


def toy_side(video: int, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Noisy solid-colour frames, one colour per person: trivially separable."""
    rng = np.random.default_rng(seed)
    frames, rows = [], []
    for label, person in enumerate(PEOPLE):
        for sequence in range(2):
            for frame in range(4):
                noisy = COLOURS[label] + rng.normal(0, 25, (SIZE, SIZE, 3))
                frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
                rows.append({"person": person, "video": video, "sequence": sequence, "frame": frame,
                             "label": label})
    return np.stack(frames), pd.DataFrame(rows)


def tiny_params(checkpoint_dir, **overrides) -> dict:
    params = {"epochs": EPOCHS, "batch_size": BATCH, "device": "cpu", "precision": "fp32",
              "model": {"width": 8, "depth": 2}, "checkpoint_dir": str(checkpoint_dir), "augment_strength": 0.3,
              "selection": "best_val"}  # these tests pin the validation-based selection; see the last-epoch test
    params.update(overrides)
    return params


def selection_score(entry: dict) -> float:
    """The model-selection score the classifier documents (sequence, then frame top-1, then NLL)."""
    return entry["val_sequence_top1"] + 1e-3 * entry["val_frame_top1"] - 1e-6 * entry["val_nll"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def toy():
    train_x, train_index = toy_side(video=0, seed=1)
    val_x, val_index = toy_side(video=1, seed=2)
    test_x, test_index = toy_side(video=2, seed=3)
    return {"train_x": train_x, "train_index": train_index, "val_x": val_x, "val_index": val_index,
            "test_x": test_x, "test_index": test_index}


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    """One tiny training run of the ``lr`` variant, shared by the tests that only read its results."""
    ckpt = tmp_path_factory.mktemp("classifier") / "ckpt"
    params = tiny_params(ckpt)
    classifier, report = train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                                          copy.deepcopy(params), variant="lr")
    evaluation = evaluate_variant(classifier, toy["test_x"], toy["test_index"], EVAL_PARAMS, variant="lr")
    return {"params": params, "ckpt": ckpt, "classifier": classifier, "report": report, "evaluation": evaluation}


# ----------------------------------------------------------------------------------------------
# train_classifier + evaluate_variant
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


def test_classifier_output_and_report(trained):
    classifier, report = trained["classifier"], trained["report"]
    assert set(classifier) == {"variant", "config", "state_dict", "normalisation", "class_names"}
    assert classifier["class_names"] == ["7", "3", "5"]  # label -> who, from the index
    assert classifier["variant"] == "lr"
    assert classifier["config"]["num_classes"] == 3
    assert classifier["config"]["input_size"] == SIZE
    assert classifier["config"]["width"] == 8 and classifier["config"]["depth"] == 2
    for v in classifier["state_dict"].values():
        assert v.device.type == "cpu" and not v.requires_grad
    assert report["variant"] == "lr" and report["device"] == "cpu" and report["precision"] == "fp32"
    assert report["input_size"] == [SIZE, SIZE]
    assert report["train_frames"] == report["val_frames"] == FRAMES_PER_SIDE
    assert report["epochs"] == EPOCHS
    assert report["resumed_from_step"] == 0
    assert [h["step"] for h in report["history"]] == [STEPS_PER_EPOCH * (e + 1) for e in range(EPOCHS)]
    assert report["config"] == classifier["config"]
    json.dumps(report)  # saved by a JSONDataset


def test_classifier_returns_the_best_validation_weights_and_names_their_epoch(trained, toy):
    """``best_epoch`` is 1-based and within ``epochs``; the weights score what the history says."""
    report = trained["report"]
    history = report["history"]
    scores = [selection_score(h) for h in history]
    best = scores.index(max(scores))  # the first of equal scores: selection replaces only on '>'
    assert 1 <= report["best_epoch"] <= EPOCHS
    assert report["best_epoch"] == history[best]["step"] // STEPS_PER_EPOCH
    model = load_classifier(trained["classifier"])
    labels = torch.as_tensor(toy["val_index"]["label"].to_numpy())
    summary = accuracy_summary(predict_log_probs(model, to_tensor(toy["val_x"]), torch.device("cpu"), None),
                               labels, toy["val_index"])
    assert summary["sequence_top1"] == history[best]["val_sequence_top1"]
    assert summary["frame_top1"] == history[best]["val_frame_top1"]
    assert summary["nll"] == pytest.approx(history[best]["val_nll"], abs=1e-6)


def test_selection_last_keeps_the_final_epoch(toy, tmp_path):
    params = tiny_params(tmp_path / "ckpt", epochs=3, selection="last")
    saved, report = train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"], params,
                                     variant="lr")
    assert report["selection"] == "last" and report["best_epoch"] == 3
    model = load_classifier(saved)
    labels = torch.as_tensor(toy["val_index"]["label"].to_numpy())
    summary = accuracy_summary(predict_log_probs(model, to_tensor(toy["val_x"]), torch.device("cpu"), None),
                               labels, toy["val_index"])
    assert summary["nll"] == pytest.approx(report["history"][-1]["val_nll"], abs=1e-6)


def test_unknown_selection_is_a_config_error(toy, tmp_path):
    with pytest.raises(ConfigError, match=r"classifier\.selection"):
        train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                         tiny_params(tmp_path / "ckpt", selection="best"), variant="lr")


def test_saved_classifier_round_trips_through_torch_weights_dataset(trained, toy, tmp_path):
    path = tmp_path / "models" / "classifier_lr.pt"
    TorchWeightsDataset(str(path)).save(trained["classifier"])
    loaded = TorchWeightsDataset(str(path)).load()  # weights_only
    assert loaded["config"] == trained["classifier"]["config"]
    assert loaded["normalisation"] == trained["classifier"]["normalisation"]
    assert_state_equal(loaded["state_dict"], trained["classifier"]["state_dict"])
    a, b = load_classifier(trained["classifier"]), load_classifier(loaded)
    assert isinstance(b, FrameClassifier) and not b.training
    x = to_tensor(toy["test_x"][:5])
    cpu = torch.device("cpu")
    assert torch.equal(predict_log_probs(a, x, cpu, None), predict_log_probs(b, x, cpu, None))
    ev = evaluate_variant(loaded, toy["test_x"], toy["test_index"], EVAL_PARAMS, variant="lr")
    assert ev["frame"] == trained["evaluation"]["frame"]


def test_rerun_resumes_from_the_final_checkpoint_with_identical_weights(trained, toy):
    classifier, report = train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                                          copy.deepcopy(trained["params"]), variant="lr")
    assert report["resumed_from_step"] == TOTAL_STEPS
    assert_state_equal(classifier["state_dict"], trained["classifier"]["state_dict"])
    assert report["best_epoch"] == trained["report"]["best_epoch"]
    assert report["history"][-1] == trained["report"]["history"][-1]


def test_resumed_after_a_crash_equals_an_uninterrupted_run(trained, toy, tmp_path, monkeypatch):
    """The loop promises that a resumed run sees what an uninterrupted one would have seen."""
    params = tiny_params(tmp_path / "ckpt")
    real_augment = nodes.augment
    calls = {"n": 0}

    def crash_at_step_7(*args, **kwargs):
        if calls["n"] == 7:
            raise RuntimeError("killed")
        calls["n"] += 1
        return real_augment(*args, **kwargs)

    monkeypatch.setattr(nodes, "augment", crash_at_step_7)
    with pytest.raises(RuntimeError, match="killed"):
        train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                         copy.deepcopy(params), variant="lr")
    monkeypatch.setattr(nodes, "augment", real_augment)

    classifier, report = train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                                          copy.deepcopy(params), variant="lr")
    assert report["resumed_from_step"] == 6  # the checkpoint at the end of epoch 3
    final = torch.load(tmp_path / "ckpt" / "lr" / "last.pt", weights_only=True)["state"]["model"]
    uninterrupted = torch.load(trained["ckpt"] / "lr" / "last.pt", weights_only=True)["state"]["model"]
    assert_state_equal(final, uninterrupted)
    assert_state_equal(classifier["state_dict"], trained["classifier"]["state_dict"])


def test_rerun_keeps_an_earlier_best_epoch_whose_score_differs_only_in_nll(toy, tmp_path, monkeypatch):
    """Saturated accuracies: model selection then hinges on ``1e-6 * nll``, differences of ~1e-8.

    Epoch 1 is best (nll 0.50), the final epoch is slightly worse (nll 0.52). A rerun resumes at
    the final step and re-evaluates the final model; it must not replace the saved best with it.
    """
    summaries = {"best": {"frame_top1": 1.0, "sequence_top1": 1.0, "nll": 0.50},
                 "worse": {"frame_top1": 1.0, "sequence_top1": 1.0, "nll": 0.52}}
    calls = []

    def scripted_summary(log_probs, labels, index):
        calls.append(None)
        return dict(summaries["best" if len(calls) == 1 else "worse"])

    monkeypatch.setattr(nodes, "accuracy_summary", scripted_summary)
    params = tiny_params(tmp_path / "ckpt", epochs=2)
    first, first_report = train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                                           copy.deepcopy(params), variant="lr")
    assert [h["val_nll"] for h in first_report["history"]] == [0.50, 0.52]
    final_model = torch.load(tmp_path / "ckpt" / "lr" / "last.pt", weights_only=True)["state"]["model"]
    assert not torch.equal(first["state_dict"]["head.1.weight"], final_model["head.1.weight"])  # epoch 1 kept

    calls.clear()
    calls.append(None)  # the rerun's only evaluation (of the final model) scores "worse"
    again, again_report = train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                                           copy.deepcopy(params), variant="lr")
    assert again_report["resumed_from_step"] == 2 * STEPS_PER_EPOCH
    assert_state_equal(again["state_dict"], first["state_dict"])
    assert again_report["best_epoch"] == first_report["best_epoch"]


def test_other_params_start_from_scratch(trained, toy, tmp_path):
    import shutil

    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained["ckpt"], ckpt)
    params = tiny_params(ckpt, epochs=1)
    _, report = train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"], params,
                                 variant="lr")
    assert report["resumed_from_step"] == 0
    assert len(report["history"]) == 1


# ----------------------------------------------------------------------------------------------
# Skips and errors
# ----------------------------------------------------------------------------------------------
def test_a_variant_not_listed_is_skipped(toy, tmp_path):
    params = tiny_params(tmp_path, variants=["lr", "srgan"])
    classifier, report = train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                                          params, variant="bicubic")
    assert classifier == report == {"variant": "bicubic", "skipped": "not in classifier.variants"}
    assert not (tmp_path / "bicubic").exists()


def test_hr_without_truth_is_skipped_and_says_why(toy, tmp_path):
    classifier, report = train_classifier(EMPTY, toy["train_index"], EMPTY, toy["val_index"], tiny_params(tmp_path),
                                          variant="hr")
    assert set(classifier) == set(report) == {"variant", "skipped"}
    assert classifier["variant"] == "hr"
    assert "truth" in classifier["skipped"] and classifier == report


def test_unknown_variant_names_are_a_config_error(toy, tmp_path):
    params = tiny_params(tmp_path, variants=["lr", "sr"])
    with pytest.raises(ConfigError, match=r"classifier\.variants") as err:
        train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"], params, variant="lr")
    assert "sr" in str(err.value)


@pytest.mark.parametrize("side", ["train", "val"])
def test_arrays_and_indexes_of_different_lengths_raise(toy, tmp_path, side):
    data = {k: toy[k] for k in ("train_x", "train_index", "val_x", "val_index")}
    data[f"{side}_index"] = data[f"{side}_index"].iloc[:-1]
    with pytest.raises(ConfigError, match="length"):
        train_classifier(data["train_x"], data["train_index"], data["val_x"], data["val_index"],
                         tiny_params(tmp_path), variant="lr")


# ----------------------------------------------------------------------------------------------
# augment
# ----------------------------------------------------------------------------------------------
def test_augment_keeps_shape_and_range():
    x = torch.rand(6, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    out = augment(x, torch.Generator().manual_seed(1), strength=1.0)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, x)
    # extremes stay in range too
    for const in (0.0, 1.0):
        y = augment(torch.full((4, 3, 8, 8), const), torch.Generator().manual_seed(2), strength=1.0)
        assert y.min() >= 0 and y.max() <= 1


def test_augment_is_deterministic_for_a_generator_seed():
    x = torch.rand(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    a = augment(x, torch.Generator().manual_seed(5), 0.5)
    b = augment(x, torch.Generator().manual_seed(5), 0.5)
    c = augment(x, torch.Generator().manual_seed(6), 0.5)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_augment_differs_per_sample():
    image = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    out = augment(image.repeat(2, 1, 1, 1), torch.Generator().manual_seed(3), 1.0)
    assert not torch.allclose(out[0], out[1], atol=1e-3)


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------
def test_evaluate_variant_of_a_skipped_classifier_is_skipped(toy):
    skipped = {"variant": "hr", "skipped": "no data for this variant (hr needs ... truth)"}
    assert evaluate_variant(skipped, EMPTY, toy["test_index"], EVAL_PARAMS, variant="hr") == skipped


def test_evaluate_variant_with_mismatched_lengths_raises(trained, toy):
    with pytest.raises(ValueError, match="index rows"):
        evaluate_variant(trained["classifier"], toy["test_x"][:-1], toy["test_index"], EVAL_PARAMS, variant="lr")


SAMPLING_REPORT = {
    "split_by": "video",
    "leakage_split": {"train_vs_val": {"videos": 0, "sequences": 0, "frames": 0},
                      "train_vs_test": {"videos": 0, "sequences": 0, "frames": 0},
                      "val_vs_test": {"videos": 0, "sequences": 0, "frames": 0}},
}
SR_REPORT = {"val": {"val_psnr": 25.5, "val_psnr_bicubic": 24.25, "val_ssim": 0.8125, "val_ssim_bicubic": 0.75}}


@pytest.fixture
def comparison(trained, toy, capsys):
    """lr and srgan evaluated (the same toy classifier stands in for both); bicubic and hr skipped."""
    skip_bicubic = {"variant": "bicubic", "skipped": "not in classifier.variants"}
    skip_hr = {"variant": "hr", "skipped": "no data for this variant (hr needs a source with high-resolution truth)"}
    ev_lr = trained["evaluation"]
    ev_srgan = evaluate_variant(trained["classifier"], toy["test_x"], toy["test_index"], EVAL_PARAMS, variant="srgan")
    tr_lr = trained["report"]
    tr_srgan = {**copy.deepcopy(tr_lr), "variant": "srgan"}
    evaluations = [ev_lr, skip_bicubic, ev_srgan, skip_hr]
    reports = [tr_lr, skip_bicubic, tr_srgan, skip_hr]
    out = compare_variants(SAMPLING_REPORT, SR_REPORT, *evaluations, *reports)
    printed = capsys.readouterr().out
    return {"out": out, "printed": printed, "evaluations": evaluations, "reports": reports}


def test_compare_variants_summary(comparison):
    summary = comparison["out"][0]
    assert list(summary["variants"]) == list(VARIANTS)
    assert summary["variants"]["bicubic"] == {"variant": "bicubic", "skipped": "not in classifier.variants"}
    assert summary["variants"]["lr"]["sequence"]["top1"] == 1.0
    assert summary["chance_top1"] == pytest.approx(1 / 3)
    assert summary["split_by"] == "video"
    assert summary["leakage_split"] == SAMPLING_REPORT["leakage_split"]
    assert summary["sr_val"] == SR_REPORT["val"]
    json.dumps(summary)


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


def test_compare_variants_figures(comparison):
    confusion, curves = comparison["out"][3], comparison["out"][4]
    assert isinstance(confusion, plt.Figure) and isinstance(curves, plt.Figure)
    # one confusion panel per evaluated variant
    titles = [ax.get_title() for ax in confusion.axes]
    assert len(confusion.axes) == 2
    assert titles[0].startswith("lr:") and titles[1].startswith("srgan:")
    # one curve per trained variant
    acc_ax = curves.axes[0]
    assert [line.get_label() for line in acc_ax.get_lines()] == ["lr", "srgan"]


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
    summary, table, markdown, confusion, curves, metrics = compare_variants(SAMPLING_REPORT, {}, *skips, *skips)
    assert summary["chance_top1"] is None
    assert len(table) == len(VARIANTS) and table["note"].str.startswith("skipped").all()
    assert metrics == {}
    assert isinstance(confusion, plt.Figure) and isinstance(curves, plt.Figure)
    assert markdown in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------
# Wiring
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pipelines():
    return register_pipelines()


def test_registered_pipelines_include_classifier_and_evaluation(pipelines):
    assert {"classifier", "evaluation", "full", "__default__"} <= set(pipelines)
    assert set(STAGES) <= set(pipelines)


def test_full_contains_every_node_of_every_stage(pipelines):
    full = {node.name for node in pipelines["full"].nodes}
    for stage in STAGES:
        names = {node.name for node in pipelines[stage].nodes}
        assert names and names <= full, stage
    assert len(full) == sum(len(pipelines[stage].nodes) for stage in STAGES)
    assert {node.name for node in pipelines["__default__"].nodes} == full
    # nothing but parameters comes from outside the run
    assert all(name.startswith("params:") for name in pipelines["full"].inputs())


def test_classifier_nodes_read_their_variant_arrays(pipelines):
    by_name = {node.name: node for node in pipelines["classifier"].nodes}
    assert set(by_name) == {f"train_classifier_{v}" for v in VARIANTS}
    expected = {"lr": "lr", "bicubic": "bicubic", "srgan": "sr", "hr": "hr"}
    for variant, prefix in expected.items():
        node = by_name[f"train_classifier_{variant}"]
        assert node.inputs == [f"{prefix}_train", "train_index", f"{prefix}_val", "val_index", "params:classifier"]
        assert node.outputs == [f"classifier_{variant}", f"classifier_report_{variant}"]
    assert "hr_train" in by_name["train_classifier_hr"].inputs
    assert "sr_train" in by_name["train_classifier_srgan"].inputs


def test_evaluation_nodes_read_their_variant_test_arrays(pipelines):
    by_name = {node.name: node for node in pipelines["evaluation"].nodes}
    expected = {"lr": "lr", "bicubic": "bicubic", "srgan": "sr", "hr": "hr"}
    for variant, prefix in expected.items():
        node = by_name[f"evaluate_{variant}"]
        assert node.inputs == [f"classifier_{variant}", f"{prefix}_test", "test_index", "params:evaluation"]
        assert node.outputs == [f"evaluation_{variant}"]
    compare = by_name["compare_variants"]
    assert compare.inputs == ["sampling_report", "sr_report", *[f"evaluation_{v}" for v in VARIANTS],
                              *[f"classifier_report_{v}" for v in VARIANTS]]
    assert compare.outputs == ["metrics", "comparison", "comparison_md", "confusion_matrices", "training_curves",
                               "evaluation_metrics"]
