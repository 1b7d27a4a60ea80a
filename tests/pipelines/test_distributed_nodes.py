"""The training nodes' ``distributed`` parameters: checked before any work, not part of a checkpoint's
identity, and srgan_id staying in one process (said in the log)."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from faceless.pipelines.classifier import nodes as classifier_nodes
from faceless.pipelines.srgan import nodes as srgan_nodes
from faceless.recognition.config import ClassifierConfig
from faceless.recognition.trainer import ClassifierTrainer
from faceless.sr.config import load_config
from faceless.sr.trainer import SRTrainer
from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError

from ..conftest import base_params, logger_messages
from ..recognition.toy import tiny_params as classifier_params
from ..recognition.toy import toy_sides
from ..sr.helpers import frame_data, tiny_params

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def with_nproc(params: dict, nproc) -> dict:
    params = copy.deepcopy(params)
    params["distributed"]["nproc"] = nproc
    return params


def test_the_process_count_is_not_part_of_a_checkpoints_identity(tmp_path):
    data = frame_data()
    args = [data[k] for k in ("lr_train", "hr_train", "lr_val", "hr_val")]
    sr = [SRTrainer.from_arrays(load_config(with_nproc(tiny_params(tmp_path), n)), *args).loop_config().fingerprint
          for n in (1, 4)]
    assert sr[0] == sr[1]
    toy = toy_sides()
    cls = [ClassifierTrainer(from_params(ClassifierConfig, with_nproc(classifier_params(tmp_path), n), "classifier"),
                             "lr", toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                             seed=0).loop_config().fingerprint for n in (1, 4)]
    assert cls[0] == cls[1]


def test_a_bad_distributed_block_is_one_line_before_any_work(tmp_path):
    data = frame_data()
    with pytest.raises(ConfigError, match="nproc"):
        srgan_nodes.train_generator_variant(data["lr_train"], data["hr_train"], data["lr_val"], data["hr_val"],
                                            with_nproc(tiny_params(tmp_path), 0), base_params("variants"), "srgan")
    assert not tmp_path.joinpath("srgan").exists()
    params = classifier_params(tmp_path)
    params["distributed"]["colour"] = "blue"
    toy = toy_sides()
    with pytest.raises(ConfigError, match="classifier.distributed.colour"):
        classifier_nodes.train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"], params,
                                          "lr")


def test_srgan_id_trains_in_this_process_and_says_so(tmp_path, monkeypatch, logger_records):
    calls = []

    def in_this_process(*args, **kwargs):
        calls.append((args, kwargs))
        return {}, {}

    def no_launch(*args, **kwargs):
        raise AssertionError("an identity variant is not launched on other processes")

    monkeypatch.setattr(srgan_nodes, "train_generator", in_this_process)
    monkeypatch.setattr(srgan_nodes, "launch", no_launch)
    caplog = logger_records(srgan_nodes.__name__)
    params = with_nproc(tiny_params(tmp_path), 2)
    data = frame_data()
    index = pd.DataFrame({"label": np.arange(len(data["lr_train"])) % 3})
    srgan_nodes.train_generator_variant(data["lr_train"], data["hr_train"], data["lr_val"], data["hr_val"], params,
                                        base_params("variants", srgan_id__enabled=True), "srgan_id",
                                        train_index=index, val_index=index.iloc[:len(data["lr_val"])])
    assert len(calls) == 1
    args, kwargs = calls[0]
    assert kwargs["name"] == "srgan_id"
    assert np.array_equal(kwargs["train_labels"], index["label"].to_numpy())
    assert np.array_equal(kwargs["val_labels"], index["label"].to_numpy()[:len(data["lr_val"])])
    assert args[0].checkpoint_dir == f"{tmp_path}/srgan_id" and args[0].distributed["nproc"] == 2
    assert any("srgan_id: trained in one process, not 2" in m for m in logger_messages(caplog, srgan_nodes.__name__))


def test_a_variant_without_identity_terms_is_launched_on_the_configured_processes(tmp_path, monkeypatch):
    launched = []

    def fake_launch(config, job, *args, **kwargs):
        launched.append((config, job, args, kwargs))
        return {}, {}

    monkeypatch.setattr(srgan_nodes, "launch", fake_launch)
    data = frame_data()
    srgan_nodes.train_generator_variant(data["lr_train"], data["hr_train"], data["lr_val"], data["hr_val"],
                                        with_nproc(tiny_params(tmp_path), 2),
                                        base_params("variants", srgan_self__enabled=True), "srgan_self")
    (config, job, args, kwargs), = launched
    assert config.nproc == 2 and kwargs["name"] == "srgan_self"
    assert job.keywords == {"name": "srgan_self", "other_people": False} and args[0].pairs == "self"
