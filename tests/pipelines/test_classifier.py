"""Classifier stage: the node (skips, config errors, the saved file) and its wiring. The recipe
itself is tested on the engine in tests/recognition/test_trainer.py."""
from __future__ import annotations

import copy

import pytest
import torch

from faceless.data.datasets import TorchWeightsDataset
from faceless.inference import frame_log_probs, load_classifier, to_nchw_uint8
from faceless.models.classifier import FrameClassifier
from faceless.pipeline_registry import STAGES, build_pipelines, register_pipelines
from faceless.pipelines.classifier.nodes import train_classifier
from faceless.recognition.config import ClassifierConfig
from faceless.recognition.trainer import ClassifierTrainer
from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError
from faceless.variants import no_data_reason, variant_specs

from ..conftest import assert_state_equal, base_params
from ..recognition.toy import EMPTY, EPOCHS, tiny_params, toy_sides

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run_node(toy: dict, params: dict, variant: str = "lr", **arrays):
    data = {k: toy[k] for k in ("train_x", "train_index", "val_x", "val_index")} | arrays
    return train_classifier(data["train_x"], data["train_index"], data["val_x"], data["val_index"],
                            copy.deepcopy(params), variant=variant)


@pytest.fixture(scope="module")
def toy():
    return toy_sides()


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    params = tiny_params(tmp_path_factory.mktemp("classifier") / "ckpt")
    classifier, report = run_node(toy, params)
    return {"params": params, "classifier": classifier, "report": report}


# ----------------------------------------------------------------------------------------------
# train_classifier
# ----------------------------------------------------------------------------------------------
def test_the_node_saves_what_the_trainer_trains(trained, toy):
    classifier, report = trained["classifier"], trained["report"]
    # a single run's keys, and the repeats (none with one seed)
    assert set(classifier) == {"variant", "config", "state_dict", "normalisation", "class_names", "seed", "repeats"}
    assert classifier["seed"] == 0 and classifier["repeats"] == []
    assert report["seed"] == 0 and report["seeds"] == [0] and report["repeats"] == []
    assert classifier["variant"] == report["variant"] == "lr"
    assert classifier["config"]["arch"] == "small_cnn"
    assert report["selection"] == "last" and report["best_epoch"] == EPOCHS
    params = {**trained["params"], "checkpoint_dir": None}
    cfg = from_params(ClassifierConfig, params, "classifier")
    direct, _ = ClassifierTrainer(cfg, "lr", toy["train_x"], toy["train_index"], toy["val_x"],
                                  toy["val_index"], seed=0).train()
    assert_state_equal(classifier["state_dict"], direct["state_dict"])


def test_saved_classifier_round_trips_through_torch_weights_dataset(trained, toy, tmp_path):
    path = tmp_path / "models" / "classifier_lr.pt"
    TorchWeightsDataset(str(path)).save(trained["classifier"])
    loaded = TorchWeightsDataset(str(path)).load()  # weights_only
    assert loaded["config"] == trained["classifier"]["config"]
    assert loaded["normalisation"] == trained["classifier"]["normalisation"]
    assert loaded["class_names"] == ["7", "3", "5"]
    assert_state_equal(loaded["state_dict"], trained["classifier"]["state_dict"])
    a, b = load_classifier(trained["classifier"]), load_classifier(loaded)
    assert isinstance(b, FrameClassifier) and not b.training
    x = to_nchw_uint8(toy["test_x"][:5])
    cpu, norm = torch.device("cpu"), loaded["normalisation"]
    assert torch.equal(frame_log_probs(a, x, norm, cpu, None, 128, flip_tta=False),
                       frame_log_probs(b, x, norm, cpu, None, 128, flip_tta=False))


def test_a_classifier_with_repeats_round_trips_through_torch_weights_dataset(trained, tmp_path):
    """The other seeds' weights travel in the same file, loadable with weights_only."""
    halved = {k: v / 2 if v.is_floating_point() else v for k, v in trained["classifier"]["state_dict"].items()}
    classifier = {**trained["classifier"], "repeats": [{"seed": 10, "state_dict": halved}]}
    path = tmp_path / "classifier_lr.pt"
    TorchWeightsDataset(str(path)).save(classifier)
    loaded = TorchWeightsDataset(str(path)).load()
    assert loaded["seed"] == 0 and [r["seed"] for r in loaded["repeats"]] == [10]
    assert_state_equal(loaded["repeats"][0]["state_dict"], halved)
    assert_state_equal(loaded["state_dict"], trained["classifier"]["state_dict"])


def test_unknown_selection_is_a_config_error(toy, tmp_path):
    with pytest.raises(ConfigError, match=r"classifier\.selection"):
        run_node(toy, tiny_params(tmp_path / "ckpt", selection="best"))


def test_a_variant_without_frames_is_skipped_and_says_why(toy, tmp_path):
    no_data = no_data_reason(variant_specs(base_params("variants"))["hr"])
    data = {k: toy[k] for k in ("train_index", "val_index")}
    classifier, report = train_classifier(EMPTY, data["train_index"], EMPTY, data["val_index"],
                                          tiny_params(tmp_path), variant="hr", no_data=no_data)
    assert set(classifier) == set(report) == {"variant", "skipped"}
    assert classifier["variant"] == "hr" and classifier == report
    assert classifier["skipped"] == "no data for this variant (hr is the high-resolution truth: the source has none)"
    assert not (tmp_path / "hr").exists()


def test_config_errors_come_before_a_skip(toy, tmp_path):
    """A wrong parameter is reported even by a variant that would be skipped."""
    with pytest.raises(ConfigError, match=r"classifier\.model\.arch"):
        run_node(toy, tiny_params(tmp_path, model__arch="nope"), variant="hr", train_x=EMPTY)


@pytest.mark.parametrize("side", ["train", "val"])
def test_arrays_and_indexes_of_different_lengths_raise(toy, tmp_path, side):
    with pytest.raises(ConfigError, match="length"):
        run_node(toy, tiny_params(tmp_path), **{f"{side}_index": toy[f"{side}_index"].iloc[:-1]})


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
    """A node per variant that is on (conf/base: lr, bicubic, srgan, hr), in its own namespace, reading
    its input's arrays: the frames for lr, the truth for hr, what upscaling made for the others; then
    its pooling's node on the same arrays (tests/pipelines/test_pooling.py)."""
    by_name = {node.name: node for node in pipelines["classifier"].nodes}
    assert set(by_name) == {f"classifier.{v}.{n}" for v in ("lr", "bicubic", "srgan", "hr")
                            for n in ("train", "train_pooling")}
    expected = {"lr": "lr", "bicubic": "bicubic", "srgan": "srgan", "hr": "hr"}
    for variant, prefix in expected.items():
        node = by_name[f"classifier.{variant}.train"]
        assert node.namespace == f"classifier.{variant}"
        assert node.inputs == [f"{prefix}_train", "train_index", f"{prefix}_val", "val_index", "params:classifier"]
        assert node.outputs == [f"classifier_{variant}", f"classifier_report_{variant}"]


def test_a_variant_switched_on_gets_its_nodes_and_one_switched_off_has_none():
    params = {"variants": base_params("variants"), "predict": base_params("predict")}
    params["variants"]["srgan_self"]["enabled"] = True
    params["variants"]["bicubic"]["enabled"] = False
    pipes = build_pipelines(params)
    names = {node.name for node in pipes["full"].nodes}
    assert {"srgan.srgan_self.train", "upscaling.srgan_self.upscale_test", "classifier.srgan_self.train",
            "evaluation.srgan_self.evaluate"} <= names
    assert not [name for name in names if ".bicubic." in name]
    compare, = [node for node in pipes["evaluation"].nodes if node.name == "evaluation.compare_variants"]
    assert "evaluation_srgan_self" in compare.inputs and "evaluation_bicubic" not in compare.inputs
