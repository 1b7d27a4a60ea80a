"""The ``distributed`` parameters of a stage (``srgan.distributed``, ``classifier.distributed``,
``upscaling.distributed``; conf/base/globals.yml holds the one block they all take by default)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import torch

from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError


@dataclass(frozen=True)
class DistributedConfig:
    nproc: int | Literal["auto"]     # processes on this machine; 1 = no torch.distributed
    backend: Literal["auto", "gloo", "nccl"]
    nnodes: int                      # machines taking part (the others run faceless.distributed.worker)
    node_rank: int                   # this machine's place; the Kedro run is 0
    master: str                      # host:port of node 0's rendezvous (nnodes > 1)
    timeout_s: int                   # rendezvous and collective timeout

    def __post_init__(self) -> None:
        if self.nproc != "auto" and self.nproc < 1:
            raise ConfigError(f"distributed.nproc must be >= 1 or auto, got {self.nproc}")
        if self.nnodes < 1:
            raise ConfigError(f"distributed.nnodes must be >= 1, got {self.nnodes}")
        if not 0 <= self.node_rank < self.nnodes:
            raise ConfigError(f"distributed.node_rank must be in 0..{self.nnodes - 1}, got {self.node_rank}")
        if self.timeout_s < 1:
            raise ConfigError(f"distributed.timeout_s must be >= 1, got {self.timeout_s}")
        if self.nnodes > 1:
            master_address(self.master)

    def processes(self, device: str = "auto") -> int:
        """Processes on this machine: ``auto`` is one per visible GPU (1 on a CPU, or with ``device: cpu``)."""
        if self.nproc != "auto":
            return self.nproc
        if device in ("auto", "cuda") and torch.cuda.is_available():
            return torch.cuda.device_count()
        return 1

    def world_size(self, device: str = "auto") -> int:
        return self.processes(device) * self.nnodes

    def backend_for(self, device: str = "auto") -> str:
        """``auto``: nccl where the workers compute on CUDA, gloo elsewhere."""
        if self.backend != "auto":
            return self.backend
        return "nccl" if device in ("auto", "cuda") and torch.cuda.is_available() else "gloo"


def distributed_config(params: object, name: str) -> DistributedConfig:
    """``<stage>.distributed`` as a config; every message names the stage's parameter
    (``srgan.distributed.nproc``), the value checks' too."""
    try:
        return from_params(DistributedConfig, params, name)  # type: ignore[arg-type]
    except ConfigError as err:
        message = str(err)
        if message.startswith("distributed."):
            message = name + message.removeprefix("distributed")
        raise ConfigError(message) from None


def master_address(master: str) -> tuple[str, int]:
    """``host:port`` as (host, port); a ConfigError naming the parameter otherwise."""
    host, _, port = master.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"distributed.master must be host:port of node 0 (e.g. 10.0.0.1:29500), got {master!r}")
    return host, int(port)


def cores() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
