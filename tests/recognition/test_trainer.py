"""ClassifierTrainer: learning, which epoch is kept, resume, the tracker, state round trips."""
from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest
import torch

from faceless.inference import frame_log_probs, load_classifier, to_nchw_uint8
from faceless.recognition import trainer as trainer_module
from faceless.recognition.config import ClassifierConfig
from faceless.recognition.metrics import accuracy_summary
from faceless.recognition.trainer import ClassifierTrainer
from faceless.training.tracker import MemoryTracker
from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError

from ..conftest import assert_state_equal
from .toy import EPOCHS, FRAMES_PER_SIDE, STEPS_PER_EPOCH, TOTAL_STEPS, selection_score, tiny_params, toy_sides

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_trainer(toy: dict, params: dict, variant: str = "lr") -> ClassifierTrainer:
    cfg = from_params(ClassifierConfig, copy.deepcopy(params), "classifier")
    return ClassifierTrainer(cfg, variant, toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                             seed=cfg.seeds[0])


def train(toy: dict, params: dict, tracker=None) -> tuple[dict, dict]:
    return make_trainer(toy, params).train(tracker)


def val_summary(saved: dict, toy: dict) -> dict[str, float]:
    """What the saved weights score on the validation side, measured afresh."""
    labels = torch.tensor(toy["val_index"]["label"].to_numpy())
    log_probs = frame_log_probs(load_classifier(saved), to_nchw_uint8(toy["val_x"]), saved["normalisation"],
                                torch.device("cpu"), None, 128, flip_tta=False)
    return accuracy_summary(log_probs, labels, toy["val_index"])


def final_checkpoint_model(directory) -> dict:
    return torch.load(directory / "lr" / "seed_0" / "last.pt", weights_only=True)["state"]["model"]


@pytest.fixture(scope="module")
def toy():
    return toy_sides()


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    """One tiny run of the ``lr`` variant with conf/base's recipe (selection ``last``), shared by the
    tests that only read its results."""
    ckpt = tmp_path_factory.mktemp("classifier") / "ckpt"
    params = tiny_params(ckpt)
    tracker = MemoryTracker()
    saved, report = train(toy, params, tracker)
    return {"params": params, "ckpt": ckpt, "saved": saved, "report": report, "tracker": tracker}


# ----------------------------------------------------------------------------------------------
# What is kept
# ----------------------------------------------------------------------------------------------
def test_default_selection_last_keeps_the_final_epoch(trained, toy):
    report, saved = trained["report"], trained["saved"]
    assert trained["params"]["selection"] == "last"  # conf/base's default
    assert report["selection"] == "last" and report["best_epoch"] == EPOCHS
    assert_state_equal(saved["state_dict"], final_checkpoint_model(trained["ckpt"]))
    summary = val_summary(saved, toy)
    assert summary["sequence_top1"] == report["history"][-1]["val_sequence_top1"]
    assert summary["nll"] == pytest.approx(report["history"][-1]["val_nll"], abs=1e-6)


def test_the_recipe_learns_the_toy_set(trained, toy):
    assert trained["report"]["history"][-1]["val_sequence_top1"] == 1.0
    assert val_summary(trained["saved"], toy)["frame_top1"] >= 0.9


def test_best_val_returns_the_best_validation_weights_and_names_their_epoch(toy, tmp_path):
    """``best_epoch`` is 1-based and within ``epochs``; the weights score what the history says."""
    saved, report = train(toy, tiny_params(tmp_path / "ckpt", selection="best_val"))
    history = report["history"]
    scores = [selection_score(h) for h in history]
    best = scores.index(max(scores))  # the first of equal scores: selection replaces only on '>'
    assert report["selection"] == "best_val"
    assert 1 <= report["best_epoch"] <= EPOCHS
    assert report["best_epoch"] == history[best]["step"] // STEPS_PER_EPOCH
    summary = val_summary(saved, toy)
    assert summary["sequence_top1"] == history[best]["val_sequence_top1"]
    assert summary["frame_top1"] == history[best]["val_frame_top1"]
    assert summary["nll"] == pytest.approx(history[best]["val_nll"], abs=1e-6)


def test_rerun_keeps_an_earlier_best_epoch_whose_score_differs_only_in_nll(toy, tmp_path, monkeypatch):
    """best_val with saturated accuracies: selection then hinges on ``1e-6 * nll``, differences of ~1e-8.

    Epoch 1 is best (nll 0.50), the final epoch is slightly worse (nll 0.52). A rerun resumes at
    the final step and re-evaluates the final model; it must not replace the saved best with it.
    """
    summaries = {"best": {"frame_top1": 1.0, "sequence_top1": 1.0, "nll": 0.50},
                 "worse": {"frame_top1": 1.0, "sequence_top1": 1.0, "nll": 0.52}}
    calls = []

    def scripted_summary(log_probs, labels, index):
        calls.append(None)
        return dict(summaries["best" if len(calls) == 1 else "worse"])

    monkeypatch.setattr(trainer_module, "accuracy_summary", scripted_summary)
    params = tiny_params(tmp_path / "ckpt", epochs=2, selection="best_val")
    first, first_report = train(toy, params)
    assert [h["val_nll"] for h in first_report["history"]] == [0.50, 0.52]
    final_model = final_checkpoint_model(tmp_path / "ckpt")
    assert not torch.equal(first["state_dict"]["head.1.weight"], final_model["head.1.weight"])  # epoch 1 kept

    calls.clear()
    calls.append(None)  # the rerun's only evaluation (of the final model) scores "worse"
    again, again_report = train(toy, params)
    assert again_report["resumed_from_step"] == 2 * STEPS_PER_EPOCH
    assert_state_equal(again["state_dict"], first["state_dict"])
    assert again_report["best_epoch"] == first_report["best_epoch"] == 1


def test_without_a_validation_side_the_final_weights_are_kept(toy, tmp_path):
    no_val = {**toy, "val_x": toy["val_x"][:0], "val_index": toy["val_index"].iloc[:0]}
    saved, report = make_trainer(no_val, tiny_params(tmp_path / "ckpt", epochs=2)).train()
    assert report["history"] == [] and report["val_frames"] == 0
    assert report["best_epoch"] == 2
    assert_state_equal(saved["state_dict"], final_checkpoint_model(tmp_path / "ckpt"))


# ----------------------------------------------------------------------------------------------
# Output, report and tracker
# ----------------------------------------------------------------------------------------------
def test_saved_classifier_and_report(trained):
    saved, report = trained["saved"], trained["report"]
    assert set(saved) == {"variant", "config", "state_dict", "normalisation", "class_names"}
    assert saved["class_names"] == ["7", "3", "5"]  # label -> who, from the index
    assert saved["normalisation"] == trained["params"]["normalisation"] == {"mean": 0.5, "std": 0.25}
    assert saved["config"] == {"arch": "small_cnn", "num_classes": 3, "input_size": 16, "width": 8, "depth": 2,
                               "dropout": 0.3, "base_size": trained["params"]["model"]["base_size"],
                               "in_channels": 3}
    assert all(v.device.type == "cpu" for v in saved["state_dict"].values())
    assert report["device"] == "cpu" and report["precision"] == "fp32"
    assert report["input_size"] == [16, 16]
    assert report["train_frames"] == report["val_frames"] == FRAMES_PER_SIDE
    assert report["epochs"] == EPOCHS and report["resumed_from_step"] == 0
    assert [h["step"] for h in report["history"]] == [STEPS_PER_EPOCH * (e + 1) for e in range(EPOCHS)]
    assert [h["step"] for h in report["train_loss"]] == [STEPS_PER_EPOCH * (e + 1) for e in range(EPOCHS)]
    assert report["config"] == saved["config"] and report["config"] is not saved["config"]


def test_saved_normalisation_comes_from_the_config(toy, tmp_path):
    saved, _ = train(toy, tiny_params(tmp_path / "ckpt", epochs=1, normalisation={"mean": 0.4, "std": 0.3}))
    assert saved["normalisation"] == {"mean": 0.4, "std": 0.3}


def test_losses_and_validation_metrics_go_to_the_tracker(trained):
    history, report = trained["tracker"].history, trained["report"]
    epochs_steps = [STEPS_PER_EPOCH * (e + 1) for e in range(EPOCHS)]
    assert [step for step, _ in history["classifier/lr/loss"]] == epochs_steps
    assert [value for _, value in history["classifier/lr/loss"]] == [h["loss"] for h in report["train_loss"]]
    for name in ("val_sequence_top1", "val_frame_top1", "val_nll"):
        assert history[f"classifier/lr/{name}"] == [(h["step"], h[name]) for h in report["history"]]


# ----------------------------------------------------------------------------------------------
# Checkpoints and resume
# ----------------------------------------------------------------------------------------------
def test_state_dict_round_trip_continues_identically(toy, tmp_path):
    params = tiny_params(None, epochs=2)
    first = make_trainer(toy, params)
    for step in range(STEPS_PER_EPOCH):
        first.step(step)
    first.evaluate(STEPS_PER_EPOCH)
    second = make_trainer(toy, params)
    second.load_state_dict(copy.deepcopy(first.state_dict()))
    assert_state_equal(second.model.state_dict(), first.model.state_dict())
    assert second.kept_epoch == first.kept_epoch == 0
    assert second.step(STEPS_PER_EPOCH) == first.step(STEPS_PER_EPOCH)
    assert_state_equal(second.model.state_dict(), first.model.state_dict())


def test_rerun_resumes_from_the_final_checkpoint_with_identical_weights(trained, toy):
    saved, report = train(toy, trained["params"])
    assert report["resumed_from_step"] == TOTAL_STEPS
    assert_state_equal(saved["state_dict"], trained["saved"]["state_dict"])
    assert report["best_epoch"] == trained["report"]["best_epoch"]
    assert report["history"][-1] == trained["report"]["history"][-1]


def test_resumed_after_a_crash_equals_an_uninterrupted_run(trained, toy, tmp_path, monkeypatch):
    """The loop promises that a resumed run sees what an uninterrupted one would have seen."""
    params = tiny_params(tmp_path / "ckpt")
    real_augment = trainer_module.augment
    calls = {"n": 0}

    def crash_at_step_7(*args, **kwargs):
        if calls["n"] == 7:
            raise RuntimeError("killed")
        calls["n"] += 1
        return real_augment(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "augment", crash_at_step_7)
    with pytest.raises(RuntimeError, match="killed"):
        train(toy, params)
    monkeypatch.setattr(trainer_module, "augment", real_augment)

    saved, report = train(toy, params)
    assert report["resumed_from_step"] == 6  # the checkpoint at the end of epoch 3
    assert_state_equal(final_checkpoint_model(tmp_path / "ckpt"), final_checkpoint_model(trained["ckpt"]))
    assert_state_equal(saved["state_dict"], trained["saved"]["state_dict"])


def test_other_params_start_from_scratch(trained, toy, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained["ckpt"], ckpt)
    _, report = train(toy, tiny_params(ckpt, epochs=1))
    assert report["resumed_from_step"] == 0
    assert len(report["history"]) == 1


@pytest.mark.parametrize("side", ["train", "val"])
def test_arrays_and_indexes_of_different_lengths_raise(toy, side):
    data = dict(toy)
    data[f"{side}_index"] = data[f"{side}_index"].iloc[:-1]
    with pytest.raises(ConfigError, match="length"):
        make_trainer(data, tiny_params(None))


def test_init_weights_initialise_the_body_and_drop_a_head_of_another_size(trained, toy, tmp_path):
    path = tmp_path / "init.pt"
    four_people = {k: (v.repeat(4, 1) if k.startswith("head.1.weight") else v)  # a head of 12 outputs
                   for k, v in trained["saved"]["state_dict"].items()}
    four_people["head.1.bias"] = torch.zeros(12)
    torch.save({"state_dict": four_people}, path)
    start = make_trainer(toy, tiny_params(None, init_weights=str(path))).model.state_dict()
    fresh = make_trainer(toy, tiny_params(None)).model.state_dict()
    assert torch.equal(start["stem.0.weight"], trained["saved"]["state_dict"]["stem.0.weight"])
    assert torch.equal(start["head.1.weight"], fresh["head.1.weight"])  # not loaded: another shape
    assert not np.array_equal(start["stem.0.weight"].numpy(), fresh["stem.0.weight"].numpy())


@pytest.mark.parametrize(("every", "expected_epochs"), [(1, [1, 2, 3, 4]), (2, [2, 4]), (3, [3, 4]), (0, [4])])
def test_validation_runs_every_eval_every_epochs_and_after_the_last(toy, every, expected_epochs):
    params = tiny_params(None, epochs=4, eval_every_epochs=every)
    _, report = train(toy, params)
    assert [h["step"] // STEPS_PER_EPOCH for h in report["history"]] == expected_epochs
