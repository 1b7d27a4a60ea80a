"""Job functions for the launcher's tests: module level, so spawned workers import them by name."""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist

from faceless.utils.errors import ConfigError


def gather_ranks(frames: np.ndarray, tracker) -> dict:
    """Every rank adds rank + 1 and its share of ``frames``' sum; rank 0 reports a metric."""
    rank, world = dist.get_rank(), dist.get_world_size()
    share = np.asarray(frames[rank::world], dtype=np.float64).sum()
    total = torch.tensor([rank + 1.0, share], dtype=torch.float64)
    dist.all_reduce(total)
    tracker.log_metrics({"job.total": float(total[0])}, 7)
    return {"world": world, "rank_sum": float(total[0]), "frames_sum": float(total[1]),
            "memmap": isinstance(frames, np.memmap), "threads": torch.get_num_threads(),
            "omp": os.environ.get("OMP_NUM_THREADS"), "initialised": dist.is_initialized()}


def in_process(frames: np.ndarray, tracker) -> dict:
    tracker.log_metrics({"job.total": 1.0}, 3)
    return {"initialised": dist.is_available() and dist.is_initialized(), "frames_sum": float(np.sum(frames))}


def config_error_on_rank_1(tracker) -> None:
    if dist.get_rank() == 1:
        raise ConfigError("srgan.crop=99: larger than the frames")
    dist.barrier()


def crash_on_rank_1(tracker) -> None:
    if dist.get_rank() == 1:
        raise ZeroDivisionError("a bug in a worker")
    dist.barrier()


def listening_addresses(tracker) -> list[str]:
    """The local addresses (hex, as /proc/net/tcp* write them) listening on the rendezvous port, seen
    from inside the job, while the store runs."""
    port = int(os.environ["MASTER_PORT"])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    dist.barrier()
    return found
