"""A test harness for code that runs inside a process group: ``run_ranks(fn, world, *args)`` runs
``fn(*args)`` in ``world`` spawned processes joined by a gloo group (file rendezvous, one torch
thread each) and returns every rank's result. ``fn`` must be a module-level function."""
from __future__ import annotations

import os
import tempfile
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
