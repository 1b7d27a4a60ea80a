"""Data-parallel training through the real launcher: ``kedro run`` with ``srgan.distributed.nproc=2``
and ``classifier.distributed.nproc=2`` (one MLflow run, each metric once per step, the losses of one
process), and two machines simulated on 127.0.0.1 training the generator one machine with two
processes trains."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from faceless.distributed import DistributedConfig, launch
from faceless.distributed.launch import free_port
from faceless.recognition.config import ClassifierConfig
from faceless.recognition.trainer import train_seeds
from faceless.sr.config import load_config, variant_config
from faceless.sr.trainer import train_generator
from faceless.training.tracker import MemoryTracker
from faceless.utils.config import from_params
from faceless.variants import variant_specs
from tests.gloo import other_machine

from .conftest import TINY_DEMO_PARAMS, base_params
from .sr.helpers import frame_data, tiny_params
from .test_cli import kedro

pytestmark = pytest.mark.slow

#: Both stages on 2 processes, in fp32 (the stated tolerance is fp32's), the classifier without dropout
#: (its masks are drawn per rank); 10 + 10 SR steps, so both stages log their losses.
TWO_PROCESSES = ("srgan.pretrain_steps=10,srgan.gan_steps=10,srgan.precision=fp32,srgan.distributed.nproc=2,"
                 "classifier.precision=fp32,classifier.model.dropout=0.0,classifier.distributed.nproc=2")
LOSS_RTOL = 1e-4


def stage_params(stage: str, overrides: str) -> dict:
    """``params:<stage>`` as the run gets them: conf/base with ``overrides`` (``a.b=v,...``) applied."""
    params = base_params(stage)
    for item in overrides.split(","):
        key, value = item.split("=", 1)
        first, *parents, leaf = key.split(".")
        if first != stage:
            continue
        node = params
        for parent in parents:
            node = node[parent]
        node[leaf] = yaml.safe_load(value)
    return params


def test_kedro_runs_srgan_and_a_classifier_on_two_processes_as_one(project_copy: Path) -> None:
    overrides = f"{TINY_DEMO_PARAMS},{TWO_PROCESSES}"
    result = kedro(project_copy, "run", "--pipeline=full",
                   "--to-nodes=srgan.srgan.train,classifier.lr.train", "--params", overrides)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert log.count("srgan.srgan.train: done") == 1 and log.count("classifier.lr.train: done") == 1
    assert "srgan: 2 processes on 1 machine, gloo" in log and "classifier lr: 2 processes on 1 machine" in log
    assert log.count("srgan: validation PSNR") == 1  # one voice: rank 0's, not each rank's

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{project_copy / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("faceless").experiment_id])
    assert len(runs) == 1
    run_id = runs[0].info.run_id

    def history(name: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in client.get_metric_history(run_id, name))

    # Each number once per step (rank 0's, replayed by the node), both SR stages.
    assert [s for s, _ in history("srgan/srgan/loss_mse")] == [10, 20]
    assert [s for s, _ in history("srgan/srgan/loss_d")] == [20]
    assert [s for s, _ in history("srgan/srgan/val_psnr")] == [3, 6, 9, 12, 15, 18, 20]

    data = project_copy / "data"
    report = json.loads((data / "08_reporting" / "sr_report_srgan.json").read_text())
    assert report["distributed"] == {"world_size": 2, "backend": "gloo", "batch_per_rank": [2, 2]}
    classifier_report = json.loads((data / "08_reporting" / "classifier_report_lr.json").read_text())
    assert classifier_report["distributed"] == {"world_size": 2, "backend": "gloo", "batch_per_rank": [8, 8]}

    # The same trainings in this process, on the frames the run sampled: the same losses.
    arrays = {name: np.load(data / "05_model_input" / f"{name}.npy") for name in ("lr_train", "hr_train", "lr_val",
                                                                                 "hr_val")}
    per_epoch = -(-len(arrays["lr_train"]) // 16)  # classifier.batch_size=16: logged once an epoch, 2 epochs
    assert [s for s, _ in history("classifier/lr/loss")] == [per_epoch, 2 * per_epoch]
    sr_params = stage_params("srgan", overrides) | {"checkpoint_dir": None}
    one = MemoryTracker()
    srgan_spec = variant_specs(base_params("variants"))["srgan"]
    train_generator(variant_config(sr_params, srgan_spec), arrays["lr_train"], arrays["hr_train"], arrays["lr_val"],
                    arrays["hr_val"], tracker=one)
    for name in ("srgan/srgan/loss_mse", "srgan/srgan/loss_gan", "srgan/srgan/loss_d", "srgan/srgan/val_psnr"):
        assert_same_curve(history(name), one.history[name], name)
    cls_params = stage_params("classifier", overrides) | {"checkpoint_dir": None}
    index = {side: pd.read_parquet(data / "03_primary" / f"{side}_index.parquet") for side in ("train", "val")}
    one = MemoryTracker()
    train_seeds(from_params(ClassifierConfig, cls_params, "classifier"), "lr", arrays["lr_train"], index["train"],
                arrays["lr_val"], index["val"], tracker=one)
    for name in ("classifier/lr/loss", "classifier/lr/val_nll"):
        assert_same_curve(history(name), one.history[name], name)


def assert_same_curve(got: list[tuple[int, float]], want: list[tuple[int, float]], name: str) -> None:
    assert [step for step, _ in got] == [step for step, _ in want], name
    assert [value for _, value in got] == pytest.approx([value for _, value in want], rel=LOSS_RTOL), name


def distributed(nproc: int, nnodes: int = 1, master: str = "127.0.0.1:29500") -> DistributedConfig:
    return DistributedConfig(nproc=nproc, backend="gloo", nnodes=nnodes, node_rank=0, master=master, timeout_s=120)


def test_two_machines_train_the_generator_one_machine_with_two_processes_does(tmp_path: Path) -> None:
    """Node 0 is this process's launch, node 1 the worker CLI as another machine runs it (one
    process each): the world, its shards and so the generator are those of one machine with two."""
    data = frame_data()
    args = [data[k] for k in ("lr_train", "hr_train", "lr_val", "hr_val")]
    config = load_config(tiny_params(None, pretrain_steps=4, gan_steps=4, batch_size=5, checkpoint_every=0))
    one_machine, report = launch(distributed(2), train_generator, config, *args, device="cpu")
    master = f"127.0.0.1:{free_port()}"
    with other_machine(master):
        two_machines, two_report = launch(distributed(1, nnodes=2, master=master), train_generator, config, *args,
                                          device="cpu")
    assert report["distributed"] == two_report["distributed"] == {"world_size": 2, "backend": "gloo",
                                                                  "batch_per_rank": [3, 2]}
    # Equal within float rounding, not bit for bit: a machine's one worker takes all its cores (2
    # threads here), the two workers of one machine one each, and threads split reductions differently.
    assert two_machines["state_dict"].keys() == one_machine["state_dict"].keys()
    for key, value in one_machine["state_dict"].items():
        torch.testing.assert_close(two_machines["state_dict"][key], value, rtol=0, atol=1e-5)
