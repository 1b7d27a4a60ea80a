"""A test harness for code that runs inside a process group: ``run_ranks(fn, world, *args)`` runs
``fn(*args)`` in ``world`` spawned processes joined by a gloo group (file rendezvous, one torch
thread each) and returns every rank's result. ``fn`` must be a module-level function."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def run_ranks(fn, world: int, *args: Any) -> list[Any]:
    with tempfile.TemporaryDirectory(prefix="gloo-") as folder:
        mp.spawn(_entry, args=(fn, world, folder, args), nprocs=world, join=True)
        return [torch.load(Path(folder) / f"{r}.pt", weights_only=False) for r in range(world)]


def _entry(rank: int, fn, world: int, folder: str, args: tuple) -> None:
    os.environ["FACELESS_PROGRESS"] = "0"
    from faceless.training.device import select_device

    select_device("cpu")  # cached: later calls keep our thread count
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/store", rank=rank, world_size=world)
    try:
        torch.save(fn(*args), Path(folder) / f"{rank}.pt")
    finally:
        dist.destroy_process_group()


@contextlib.contextmanager
def other_machine(master: str, jobs: int = 1) -> Iterator[subprocess.Popen]:
    """Node 1 of two, one process, as another machine runs it (``python -m faceless.distributed.worker``),
    for the block's ``launch`` at ``master`` to be node 0 of; after the block it must have done its
    ``jobs`` and exited 0 (its output is the failure message otherwise)."""
    other = subprocess.Popen([sys.executable, "-m", "faceless.distributed.worker", "--nnodes", "2", "--node-rank", "1",
                              "--nproc", "1", "--master", master, "--backend", "gloo", "--device", "cpu",
                              "--timeout-s", "120", "--jobs", str(jobs)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        yield other
        output, _ = other.communicate(timeout=120)
    finally:
        other.kill()
    assert other.returncode == 0, output
