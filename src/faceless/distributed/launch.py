"""Launch a stage's work on ``torch.distributed`` from one Kedro node, with PyTorch's own launcher.

:func:`launch` runs ``fn(*args, tracker=...)``: in this process where the world is one process
(today's path, no process group), else in ``nproc`` workers started by the elastic launcher
(``torch.distributed.launcher.api.elastic_launch``, the engine behind ``torchrun``; spawn; a static
rendezvous at ``master`` with this machine as ``node_rank``). Each worker initialises the process
group (nccl on CUDA, gloo on CPU), takes ``cores // nproc`` threads or its GPU, runs ``fn``; rank 0
records what it reports and returns the result, which the node gets back and replays into its
tracker (MLflow), so MLflow is written once, from the node. Never ``torchrun kedro run``: every
node of the pipeline would run once per process.

Other machines join with ``python -m faceless.distributed.worker`` (:func:`join`): they receive
each job from rank 0 over the process group, so they need the same project and data paths
(shared storage), nothing else. Arguments that are memory maps (what the catalog loads) travel
by file, not by value.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import logging
import mmap
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.api import DefaultLogsSpecs
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed import TCPStore
from torch.distributed.elastic.rendezvous import RendezvousParameters, rendezvous_handler_registry
from torch.distributed.elastic.rendezvous.static_tcp_rendezvous import StaticTCPRendezvous
from torch.distributed.elastic.rendezvous.static_tcp_rendezvous import create_rdzv_handler as _create_static
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from faceless.distributed.config import DistributedConfig, cores
from faceless.training.tracker import NullTracker, Tracker
from faceless.utils.errors import ConfigError

logger = logging.getLogger(__name__)

#: The elastic launcher's own lines (its launch config; a failed worker's traceback, which
#: :func:`worker_error` raises again, once) and the spawner's notes on stopping the others.
logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
logging.getLogger("torch.multiprocessing.spawn").setLevel(logging.ERROR)


@dataclass(frozen=True)
class MappedArray:
    """A read-only memory map passed by its file: reopened in each worker, never copied."""

    path: str
    dtype: str
    shape: tuple[int, ...]
    offset: int

    def open(self) -> np.memmap:
        return np.memmap(self.path, dtype=np.dtype(self.dtype), mode="r", offset=self.offset, shape=self.shape)


class RecordingTracker:
    """Keeps what rank 0 reports, in order, to replay into the node's tracker."""

    def __init__(self) -> None:
        self.records: list[tuple[dict[str, float], int]] = []

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.records.append(({k: float(v) for k, v in metrics.items()}, int(step)))


@dataclass(frozen=True)
class Job:
    """What every worker runs: ``fn(*args, tracker=...)``; ``fn`` is a module-level function."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]


@dataclass(frozen=True)
class WorkerSettings:
    backend: str
    device: str
    nnodes: int
    timeout_s: int


def launch(config: DistributedConfig, fn: Callable[..., Any], *args: Any, tracker: Tracker | None = None,
           device: str = "auto", name: str | None = None) -> Any:
    """``fn(*args, tracker=tracker)`` on ``config``'s world; rank 0's return value (see the module
    docstring). ``device`` is the stage's device preference (it picks the backend and ``auto``'s
    process count); ``name`` what the log calls the job (``fn``'s name by default)."""
    tracker = tracker or NullTracker()
    if config.world_size(device) == 1:
        return fn(*args, tracker=tracker)
    if config.node_rank != 0:
        raise ConfigError(f"distributed.node_rank={config.node_rank}: the Kedro run is node 0; other machines run "
                          "`python -m faceless.distributed.worker --node-rank N ...`")
    settings = WorkerSettings(config.backend_for(device), device, config.nnodes, config.timeout_s)
    nproc = config.processes(device)
    master = config.master if config.nnodes > 1 else f"127.0.0.1:{free_port()}"
    logger.info("%s: %d processes on each of %d machines, %s (rendezvous %s)" if config.nnodes > 1 else
                "%s: %d processes on %d machine, %s (rendezvous %s)", name or getattr(fn, "__name__", "job"), nproc,
                config.nnodes, settings.backend, master)
    returned = _run_agent(nproc, config.nnodes, 0, master, settings, Job(fn, pack(args)))
    result, records = returned[0]
    for metrics, step in records:
        tracker.log_metrics(metrics, step)
    return result


def join(nproc: int, nnodes: int, node_rank: int, master: str, backend: str, device: str, timeout_s: int) -> None:
    """One job on another machine: start ``nproc`` workers that join node 0's rendezvous at
    ``master`` and run the job rank 0 sends them."""
    backend = DistributedConfig(nproc, backend, nnodes, node_rank, master, timeout_s).backend_for(device)  # type: ignore[arg-type]
    _run_agent(nproc, nnodes, node_rank, master, WorkerSettings(backend, device, nnodes, timeout_s), None)


def _run_agent(nproc: int, nnodes: int, node_rank: int, master: str, settings: WorkerSettings,
               job: Job | None) -> dict[int, Any]:
    with tempfile.TemporaryDirectory(prefix="faceless-workers-") as logs:
        launch_config = LaunchConfig(
            min_nodes=nnodes, max_nodes=nnodes, nproc_per_node=nproc, run_id="faceless",  # the same on every machine (it prefixes the store keys)
            rdzv_backend=RENDEZVOUS_BACKEND, rdzv_endpoint=master,
            rdzv_configs={"rank": node_rank, "timeout": settings.timeout_s},
            max_restarts=0, start_method="spawn", monitor_interval=0.1, logs_specs=DefaultLogsSpecs(log_dir=logs))
        try:
            return elastic_launch(launch_config, worker_main)(job, settings)
        except ChildFailedError as err:
            # The launcher keeps the failure it noticed first, which may be a worker that lost its
            # peer; every worker's error file tells which one failed at the root.
            failures = {rank: failure.message for rank, failure in err.failures.items()}
            for path in sorted(Path(logs).glob("*/attempt_*/*/error.json")):
                with contextlib.suppress(OSError, ValueError, KeyError):
                    rank = node_rank * nproc + int(path.parent.name)
                    failures.setdefault(rank, json.loads(path.read_text())["message"])
            raise worker_error(failures) from None


#: What a worker reports when another one failed first (its collective lost its peer).
PEER_FAILURES = ("connection reset by peer", "connection closed by peer", "broken pipe", "timed out", "aborted")


def worker_error(failures: Mapping[int, Any]) -> Exception:
    """The root failure among the workers' (rank -> error-file message) as an exception: a
    ConfigError stays a one-line ConfigError; anything else a RuntimeError with the worker's
    traceback (a real bug keeps it)."""
    described = []
    for rank, message in failures.items():
        message = message if isinstance(message, dict) else {"message": str(message)}
        text = " ".join(str(message.get("message", "")).split())
        kind = 0 if text.startswith(f"{ConfigError.__name__}: ") else 2 if any(
            marker in text.lower() for marker in PEER_FAILURES) else 1
        described.append((kind, rank, text, message.get("extraInfo", {}).get("py_callstack", "")))
    kind, rank, text, callstack = min(described)
    if kind == 0:
        return ConfigError(text.removeprefix(f"{ConfigError.__name__}: "))
    return RuntimeError(f"distributed worker rank {rank} failed: {text or 'no message'}\n{callstack}".rstrip())


def worker_main(job: Job | None, settings: WorkerSettings) -> Any:
    """A worker process: set up, join the process group, get the job (from rank 0 where ``job`` is
    None), run it; rank 0 returns ``(result, recorded metrics)``, the others None."""
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    device = configure_worker(rank, local_rank, int(os.environ["LOCAL_WORLD_SIZE"]), settings)
    dist.init_process_group(settings.backend, timeout=datetime.timedelta(seconds=settings.timeout_s),
                            device_id=device if settings.backend == "nccl" else None)
    try:
        if settings.nnodes > 1:  # the other machines' workers get the job from rank 0
            holder = [job]
            dist.broadcast_object_list(holder, src=0, device=device if settings.backend == "nccl" else None)
            job = holder[0]
        assert job is not None
        tracker = RecordingTracker() if rank == 0 else NullTracker()
        result = job.fn(*unpack(job.args), tracker=tracker)
        dist.barrier()
        return (result, tracker.records) if rank == 0 else None
    finally:
        dist.destroy_process_group()


def configure_worker(rank: int, local_rank: int, local_world: int, settings: WorkerSettings) -> torch.device | None:
    """Threads (this machine's cores shared between its workers) or the GPU, logs and progress bars
    for one worker; its CUDA device, if any."""
    threads = max(1, cores() // local_world)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    # Under `kedro run` the spawned worker re-imports Kedro, whose logging (the node's console
    # handler) is then in place: keep it. Elsewhere (tests, benches) a plain handler.
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s rank {rank} %(levelname)s %(name)s: %(message)s")
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    if rank != 0:  # one voice: the other ranks say only what goes wrong
        os.environ["FACELESS_PROGRESS"] = "0"
        for name in ("", "faceless"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if settings.device in ("auto", "cuda") and torch.cuda.is_available():
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
        return device
    return None


def pack(value: Any) -> Any:
    """``value`` with its memory maps replaced by :class:`MappedArray` references (in lists, tuples and dicts)."""
    if isinstance(value, np.memmap):
        return mapped(value) or np.asarray(value)
    if isinstance(value, (list, tuple)):
        return type(value)(pack(v) for v in value)
    if isinstance(value, dict):
        return {k: pack(v) for k, v in value.items()}
    return value


def unpack(value: Any) -> Any:
    if isinstance(value, MappedArray):
        return value.open()
    if isinstance(value, (list, tuple)):
        return type(value)(unpack(v) for v in value)
    if isinstance(value, dict):
        return {k: unpack(v) for k, v in value.items()}
    return value


def mapped(array: np.memmap) -> MappedArray | None:
    """The file, offset and shape behind a C-contiguous memory map (a slice of one too); None where
    it cannot be reopened so (no file, not contiguous): then it travels by value."""
    buffer = getattr(array, "_mmap", None)
    if array.filename is None or buffer is None or not array.flags.c_contiguous or array.size == 0:
        return None
    granularity = mmap.ALLOCATIONGRANULARITY
    map_start = np.frombuffer(buffer, dtype=np.uint8).ctypes.data
    offset = array.offset - array.offset % granularity + (array.ctypes.data - map_start)
    path = Path(array.filename)
    with contextlib.suppress(ValueError):  # under the project folder: relative, as on another machine
        path = path.relative_to(Path.cwd())
    return MappedArray(str(path), array.dtype.str, tuple(array.shape), int(offset))


# ----------------------------------------------------------------------------------------------
# The rendezvous store, listening on the configured interface only
# ----------------------------------------------------------------------------------------------
#: PyTorch's static rendezvous, but node 0's store listens on ``master``'s address only (torch's
#: TCPStore server listens on every interface): 127.0.0.1 on one machine.
RENDEZVOUS_BACKEND = "faceless-static"
#: Set in this process once its agent reached the rendezvous store (the worker CLI's watchdog).
RENDEZVOUS_REACHED = threading.Event()


def bound_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``'s address (not every interface) and ``port``."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
        listener.listen(1024)
    except OSError:
        listener.close()
        raise
    return listener


class BoundStaticRendezvous(StaticTCPRendezvous):
    """:class:`StaticTCPRendezvous` whose rank-0 store listens on ``master_addr`` only."""

    def get_backend(self) -> str:
        return RENDEZVOUS_BACKEND

    def next_rendezvous(self):
        if not self._store:
            if self.rank == 0:
                listener = bound_listener(self.master_addr, self.master_port)
                self._store = TCPStore(self.master_addr, self.master_port, self.world_size, True, self.timeout,
                                       multi_tenant=True, master_listen_fd=listener.detach())
            else:
                self._store = TCPStore(self.master_addr, self.master_port, self.world_size, False, self.timeout)
            RENDEZVOUS_REACHED.set()
        return super().next_rendezvous()


def _create_bound_static(params: RendezvousParameters) -> BoundStaticRendezvous:
    static = _create_static(params)
    return BoundStaticRendezvous(static.master_addr, static.master_port, static.rank, static.world_size,
                                 static.run_id, int(static.timeout.total_seconds()))


with contextlib.suppress(ValueError):  # registered once per process
    rendezvous_handler_registry.register(RENDEZVOUS_BACKEND, _create_bound_static)


def free_port() -> int:
    """A TCP port free on this machine now (the single-machine rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
