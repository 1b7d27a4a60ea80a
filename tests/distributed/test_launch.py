"""The launcher: one process without torch.distributed, N gloo workers on this machine, two
machines simulated on 127.0.0.1 (the worker CLI), arguments by file, errors in one line."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from faceless.distributed import DistributedConfig, launch
from faceless.distributed.launch import MappedArray, free_port, mapped, pack, unpack
from faceless.training.tracker import MemoryTracker
from faceless.utils.errors import ConfigError
from tests.distributed import jobs
from tests.gloo import other_machine


def config(nproc=1, nnodes=1, node_rank=0, master="127.0.0.1:29500") -> DistributedConfig:
    return DistributedConfig(nproc=nproc, backend="gloo", nnodes=nnodes, node_rank=node_rank, master=master,
                             timeout_s=120)


@pytest.fixture
def frames(tmp_path) -> np.memmap:
    array = np.arange(6 * 4 * 4 * 3, dtype=np.uint8).reshape(6, 4, 4, 3)
    np.save(tmp_path / "frames.npy", array)
    return np.load(tmp_path / "frames.npy", mmap_mode="r")


def test_one_process_runs_in_this_process_without_a_process_group(frames):
    tracker = MemoryTracker()
    result = launch(config(nproc=1), jobs.in_process, frames, tracker=tracker, device="cpu")
    assert result == {"initialised": False, "frames_sum": float(np.sum(frames))}
    assert tracker.history == {"job.total": [(3, 1.0)]}


def test_memory_maps_travel_by_file_and_reopen_equal(frames):
    for array in (frames, frames[2:5], frames[1]):
        reference = pack(array)
        assert isinstance(reference, MappedArray)
        reopened = unpack(reference)
        assert isinstance(reopened, np.memmap) and np.array_equal(reopened, array)
    assert mapped(frames[:, :, ::2]) is None  # not contiguous: travels by value
    packed = pack({"a": [frames[:1], 3], "b": np.ones(2)})
    assert isinstance(packed["a"][0], MappedArray) and packed["a"][1] == 3 and isinstance(packed["b"], np.ndarray)


def test_two_gloo_workers_share_the_cores_and_rank_0_reports_once(frames):
    tracker = MemoryTracker()
    result = launch(config(nproc=2), jobs.gather_ranks, frames, tracker=tracker, device="cpu")
    assert result["initialised"] and result["world"] == 2 and result["memmap"]
    assert result["rank_sum"] == 3.0
    assert result["frames_sum"] == float(np.asarray(frames, dtype=np.float64).sum())
    assert result["omp"] == str(result["threads"]) and result["threads"] >= 1
    assert tracker.history == {"job.total": [(7, 3.0)]}


def test_a_config_error_in_a_worker_is_one_line_config_error():
    with pytest.raises(ConfigError, match=r"^srgan.crop=99: larger than the frames$"):
        launch(config(nproc=2), jobs.config_error_on_rank_1, device="cpu")


def test_a_crash_in_a_worker_names_its_rank_and_exception():
    with pytest.raises(RuntimeError, match=r"rank 1 failed: .*ZeroDivisionError: a bug in a worker"):
        launch(config(nproc=2), jobs.crash_on_rank_1, device="cpu")


def test_node_rank_other_than_0_is_refused_for_the_kedro_run():
    with pytest.raises(ConfigError, match="worker"):
        launch(config(nproc=1, nnodes=2, node_rank=1), jobs.in_process, np.zeros(1), device="cpu")


@pytest.mark.parametrize("master", ["node0", "node0:http", ":29500"])
def test_a_bad_master_is_one_line(master):
    with pytest.raises(ConfigError, match="distributed.master"):
        config(nproc=1, nnodes=2, master=master)


def test_two_machines_on_localhost_join_through_the_worker_cli(frames):
    """Node 0 is this process's launch; node 1 the worker CLI, as another machine would run it: the
    job (and the memory map's path) reaches it from rank 0, the world is 2 and the all-reduce spans both."""
    master = f"127.0.0.1:{free_port()}"
    tracker = MemoryTracker()
    with other_machine(master):
        result = launch(config(nproc=1, nnodes=2, master=master), jobs.gather_ranks, frames, tracker=tracker,
                        device="cpu")
    assert result["world"] == 2 and result["rank_sum"] == 3.0
    assert result["frames_sum"] == float(np.asarray(frames, dtype=np.float64).sum())
    assert tracker.history == {"job.total": [(7, 3.0)]}


def test_the_worker_cli_refuses_node_rank_0_in_one_line():
    done = subprocess.run([sys.executable, "-m", "faceless.distributed.worker", "--nnodes", "2", "--node-rank", "0",
                           "--nproc", "1", "--master", "127.0.0.1:29500"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("Error: --node-rank must be in 1..1") and "Traceback" not in done.stderr
