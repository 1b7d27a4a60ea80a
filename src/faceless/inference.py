"""The one inference path: upscaling, frame log-probabilities and embeddings, sequence pooling.

Used by SR validation and sample plots (``sr``), classifier validation (``recognition``), the
upscaling stage (cached, streamed into a memory-mapped ``.npy``), evaluation and predict. Plain
PyTorch and NumPy: no Kedro, no MLflow; numbers go to the tracker the caller passes.

Sequences pool their frames by the mean log-probability (:func:`pool_sequences`) or, where a
pooling head was trained (:mod:`faceless.recognition.pooling`), by attention over the frames'
embeddings (:func:`pool_sequences_attention`); both give (sequences, classes) log-scores in the same
order, and :func:`classify_sequences` (predict, serving) takes either.

The upscaling cache
-------------------
:func:`upscale_cached` keys its output by a hash of the generator (config and weights), the input
array, the factor, the output dtype and the precision the generator runs at, and keeps it in
``cache_dir/<name>.npy`` with ``<name>.meta.json`` beside it:

* same key as the finished file -> nothing is computed ("cache hit"), the file is memory-mapped;
* otherwise the frames are upscaled in shards into ``<name>.partial.npy`` (memory-mapped), the
  frames done are recorded after each shard in ``<name>.partial.json``, and only a complete file
  is renamed to ``<name>.npy``. An interrupted run resumes at the last finished shard of the same
  key; a partial file is never served as done.

With several processes (``upscaling.distributed``, the node passes ``faceless.distributed.launch``
as the ``runner``) each rank writes a disjoint contiguous range of the shards into the same partial
file, opened read-write after this process made it (byte-exact writes, :class:`FramesFile`); this
process alone renames and records the entry, once the ranks' frames add up to every shard. The key
does not depend on how many processes made it, and neither do the frames: the batches are the same,
whoever computes them (bicubic byte for byte; the generator's up to its convolutions' float rounding,
which follows each process's thread count: rarely a value 1 off in 8 bits).

The caller (the upscaling node) returns the memory-mapped result; the catalog's
``NpyArrayDataset`` then publishes that very file under its own name by a hard link (no copy),
so the dataset only writes and the node does the work. Nothing here holds more than one batch of
256 px frames in memory.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F

from faceless.models import load_model
from faceless.training import parallel
from faceless.training.device import autocast, autocast_dtype, memory_format, select_device
from faceless.training.tracker import NullTracker, Tracker
from faceless.utils.atomic import DiskFullError, read_json, remove_stale_temporaries, reserve_space, write_json
from faceless.utils.digest import array_digest, weights_digest
from faceless.utils.errors import ConfigError, check_at_least
from faceless.utils.lock import FileLock
from faceless.utils.npy import read_npy_header
from faceless.utils.progress import tqdm

logger = logging.getLogger(__name__)

#: Bump when the way upscaled outputs are computed changes, so older caches are not reused.
CACHE_VERSION = 2
#: The index columns that name one sequence.
SEQUENCE_KEYS = ("person", "video", "sequence")
#: The device types ``upscaling.batch_size`` may name.
BATCH_DEVICE_TYPES = ("cuda", "mps", "cpu")

#: Frames downscaled at a time (memory only: every frame is downscaled on its own).
DOWNSCALE_CHUNK = 256


# ----------------------------------------------------------------------------------------------
# Arrays and models
# ----------------------------------------------------------------------------------------------
def to_nchw_uint8(frames: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> uint8 (N, 3, H, W): an own, writable copy (read once from a memory map)."""
    return torch.from_numpy(np.array(frames)).permute(0, 3, 1, 2).contiguous()


def load_generator(sr_generator: dict[str, Any]) -> torch.nn.Module:
    """The generator a ``sr_generator`` file describes (eval mode, CPU)."""
    return load_model("generator", sr_generator)


def load_classifier(classifier: dict[str, Any]) -> torch.nn.Module:
    """The classifier a ``classifier_<variant>`` file describes (eval mode, CPU)."""
    return load_model("backbone", classifier)


def precision_name(dtype: torch.dtype | None) -> str:
    return "fp32" if dtype is None else str(dtype).replace("torch.", "")


# ----------------------------------------------------------------------------------------------
# Upscaling
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UpscaleConfig:
    """``params:upscaling``."""

    factor: int
    batch_size: int | dict[str, int]   # frames per forward pass: one number, or one per device type
    shard_size: int                    # frames per shard: the unit of resume after an interruption
    device: Literal["auto", "cuda", "mps", "cpu"]
    precision: Literal["auto", "bf16", "fp32"]
    cache_dir: str
    # ``faceless.distributed.DistributedConfig``'s parameters: built and used by the upscaling node
    # (this layer cannot import it); not part of the cache key.
    distributed: dict[str, Any]

    def __post_init__(self) -> None:
        # from_params checks a mapping's type, not its keys and values: a typo (`cdua: 256`) or a
        # string would otherwise be found mid-run, or never.
        per_device = {} if isinstance(self.batch_size, int) else self.batch_size
        sizes = [self.batch_size] if isinstance(self.batch_size, int) else list(per_device.values())
        if set(per_device) - set(BATCH_DEVICE_TYPES) or not all(_positive_int(size) for size in sizes):
            raise ConfigError(f"upscaling.batch_size must be an integer >= 1 or one per device type "
                              f"({', '.join(BATCH_DEVICE_TYPES)}), got {self.batch_size!r}")
        check_at_least(self, ("factor", "shard_size"), 1, "upscaling")

    def batch_size_on(self, device: torch.device) -> int:
        size = self.batch_size if isinstance(self.batch_size, int) else self.batch_size.get(device.type)
        if size is None:
            raise ConfigError(f"upscaling.batch_size names no size for {device.type}, got {self.batch_size!r}")
        return size


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def upscale(generator: torch.nn.Module | None, x: torch.Tensor, factor: int, device: torch.device,
            dtype: torch.dtype | None) -> torch.Tensor:
    """One batch of float NCHW in [0, 1] upscaled ``factor`` x (``generator=None``: bicubic; factor 1:
    as it is); float32, not clamped."""
    if generator is None:
        return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="bicubic", align_corners=False)
    with autocast(device, dtype):
        return generator(x).float()


@torch.inference_mode()
def upscale_batches(generator: torch.nn.Module | None, lr_u8: torch.Tensor, scale: int, device: torch.device,
                    dtype: torch.dtype | None, batch: int) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield (start index, upscaled float32 NCHW in [0, 1] on the CPU) per batch of uint8 NCHW frames."""
    fmt = memory_format(device)
    for b in range(0, len(lr_u8), batch):
        x = (lr_u8[b:b + batch].to(device).float() / 255).contiguous(memory_format=fmt)
        yield b, upscale(generator, x, scale, device, dtype).float().clamp(0, 1).cpu()


def upscale_key(lr: np.ndarray, sr_generator: dict[str, Any] | None, factor: int, precision: str) -> str:
    """The cache key of one upscale: what the output depends on, and nothing else."""
    method = "srgan" if sr_generator is not None else ("copy" if factor == 1 else "bicubic")
    parts = {"version": CACHE_VERSION, "method": method, "factor": factor, "dtype": "uint8",
             "precision": precision, "input": array_digest(lr), "weights": weights_digest(sr_generator)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _stream_upscale(lr: np.ndarray, generator: torch.nn.Module | None, factor: int, out: np.ndarray,
                    batches: list[tuple[int, int]], device: torch.device, dtype: torch.dtype | None,
                    on_batch: Callable[[int, int], None]) -> None:
    """Fill ``out[start:stop]`` for each batch, the next batch read and converted in a helper thread."""
    fmt = memory_format(device)
    pin = device.type == "cuda"

    def prepare(start: int, stop: int) -> torch.Tensor:
        x = to_nchw_uint8(lr[start:stop]).contiguous(memory_format=fmt)
        return x.pin_memory() if pin else x

    with torch.inference_mode(), ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(prepare, *batches[0]) if batches else None
        for k, (start, stop) in enumerate(batches):
            x_u8 = pending.result()
            pending = pool.submit(prepare, *batches[k + 1]) if k + 1 < len(batches) else None
            x = x_u8.to(device, non_blocking=True).float().div_(255)
            y = upscale(generator, x, factor, device, dtype)
            y = y.float().clamp_(0, 1).mul_(255).round_().to(torch.uint8)
            out[start:stop] = y.permute(0, 2, 3, 1).cpu().numpy()
            on_batch(start, stop)


#: How an upscale's shards are run: ``runner(job, *args, tracker=tracker)`` runs ``job`` (a
#: module-level function ``job(*args, tracker)``) and returns rank 0's result. :func:`run_here` runs it
#: in this process; the upscaling node passes ``faceless.distributed.launch`` bound to its config.
ShardRunner = Callable[..., Any]


def run_here(job: Callable[..., Any], *args: Any, tracker: Tracker | None) -> Any:
    """The one-process :data:`ShardRunner`: ``job`` here, as rank 0 of 1."""
    return job(*args, tracker=tracker)


@dataclass(frozen=True)
class ShardPlan:
    """What every rank of one upscale is told besides the frames, the generator and the config."""

    name: str                            # the cache entry (``<cache_dir>/<name>.partial.npy`` is written)
    key: str                             # the entry's key, recorded with every finished shard
    shape: tuple[int, int, int, int]     # the output's
    factor: int
    first: int                           # the first shard not done yet (resume)
    precision: str                       # what the key was made for: every rank must compute at it


def upscale_cached(lr: np.ndarray, sr_generator: dict[str, Any] | None, config: UpscaleConfig, name: str,
                   tracker: Tracker | None = None, factor: int | None = None,
                   runner: ShardRunner = run_here) -> tuple[np.ndarray, dict[str, Any]]:
    """Upscale ``lr`` (N, h, w, 3) uint8 by ``config.factor`` (or ``factor``: 1 passes the frames as
    they are) with ``sr_generator``, or bicubic when None, through the cache in ``config.cache_dir``
    under ``name``; returns the read-only memory-mapped result and what it cost (also reported to
    ``tracker`` under the stats' own names: the caller's tracker says whose they are).

    ``runner`` runs :func:`upscale_shards` (this process by default); with several processes each
    computes a contiguous range of the shards into the same partial file, and this process alone
    checks, renames and records the entry once every shard is done."""
    t0 = time.perf_counter()
    factor = config.factor if factor is None else factor
    if lr.ndim != 4 or lr.shape[-1] != 3 or lr.dtype != np.uint8:
        raise ConfigError(f"upscaling: {name} input must be uint8 (N, H, W, 3), got {lr.dtype} {lr.shape}")
    if sr_generator is not None and int(sr_generator["config"]["scale"]) != factor:
        raise ConfigError(f"upscaling.factor={factor} but the generator upscales {sr_generator['config']['scale']}x")
    torch_device = select_device(config.device)
    config.batch_size_on(torch_device)  # names the device type it lacks, before any work
    dtype = autocast_dtype(torch_device, config.precision) if sr_generator is not None else None
    key = upscale_key(lr, sr_generator, factor, precision_name(dtype))
    paths = _CachePaths(Path(config.cache_dir), name)
    paths.final.parent.mkdir(parents=True, exist_ok=True)
    # One writer per entry: a second process is told who holds it instead of sharing its partial file.
    # (The ranks of one upscale share it: they write disjoint shards, under this process's lock.)
    with FileLock(paths.lock, f"the upscaling cache entry {paths.final}").acquire():
        remove_stale_temporaries(paths.final.parent)  # records of killed writes
        return _upscale_through_cache(lr, sr_generator, config, name, tracker, factor, torch_device, dtype, key,
                                      paths, t0, runner)


def _upscale_through_cache(lr: np.ndarray, sr_generator: dict[str, Any] | None, config: UpscaleConfig, name: str,
                           tracker: Tracker | None, factor: int, torch_device: torch.device,
                           dtype: torch.dtype | None, key: str, paths: _CachePaths, t0: float,
                           runner: ShardRunner = run_here) -> tuple[np.ndarray, dict[str, Any]]:
    n, h, w, c = lr.shape
    shape = (n, h * factor, w * factor, c)
    record = read_json(paths.meta)
    if paths.final.is_file() and record.get("key") == key and record.get("complete"):
        # Verified before it is served: size, .npy header and a sample of frames against what was
        # recorded when it was made; a damaged entry is removed and rebuilt, never served.
        damage = _damage(paths.final, shape, record.get("bytes"), record.get("sample_digest"))
        if damage is None:
            stats = {"cache": "hit", "seconds": round(time.perf_counter() - t0, 3), "images": n,
                     "bytes": paths.final.stat().st_size}
            logger.info("%s: cache hit (%s), nothing to compute", name, paths.final)
            _report(tracker, stats)
            return np.load(paths.final, mmap_mode="r"), stats
        logger.warning("%s: cache entry %s is damaged (%s): removed, computing it again", name, paths.final, damage)
        paths.meta.unlink(missing_ok=True)
        paths.final.unlink(missing_ok=True)
    shards = shard_ranges(n, config.shard_size)
    progress = read_json(paths.progress)
    first = 0
    damage = "another key"
    if paths.partial.is_file() and progress.get("key") == key:
        frames_done = progress.get("frames_done")
        damage = "no frame count" if not isinstance(frames_done, int) or not 0 <= frames_done <= n else _damage(
            paths.partial, shape, None, progress.get("sample_digest"), frames_done)
        if damage is None:
            # Frames, not shard numbers, are recorded: a rerun with another shard_size resumes at the
            # last shard boundary at or before the frames already done.
            first = max((i for i, (start, _) in enumerate(shards) if start <= frames_done), default=0)
            logger.info("%s: resuming at shard %d/%d of an interrupted run", name, first, len(shards))
        else:
            logger.warning("%s: the partial file of an interrupted run is damaged (%s): starting over", name, damage)
    if damage is not None:
        paths.clear_partial()
    paths.final.parent.mkdir(parents=True, exist_ok=True)
    # Made (or kept, to resume) here, before any rank opens it read-write.
    created = np.lib.format.open_memmap(paths.partial, mode="r+" if first else "w+", dtype=np.uint8, shape=shape)
    del created
    try:  # the whole (sparse) file's space now: ranks write into a map, where a full disk is a SIGBUS
        reserve_space(paths.partial, paths.partial.stat().st_size)
    except DiskFullError:
        paths.clear_partial()
        raise
    computed_from = shards[first][0] if first < len(shards) else n
    plan = ShardPlan(name=name, key=key, shape=shape, factor=factor, first=first, precision=precision_name(dtype))
    done = {"frames": 0, "seconds": 0.0, "processes": 1}
    if first < len(shards):
        done = runner(upscale_shards, lr, sr_generator, config, plan, tracker=tracker)
    images = n - computed_from
    if done["frames"] != images:  # every shard, or no entry
        raise RuntimeError(f"upscaling {name}: the processes computed {done['frames']} of the {images} frames "
                           f"left; the partial file {paths.partial} is kept and a rerun resumes it")
    compute_seconds = float(done["seconds"])
    digest = sample_digest(np.load(paths.partial, mmap_mode="r"), n)
    # The old "complete" record goes first: a crash between the rename and the new record must not
    # leave the old key vouching for the new file.
    paths.meta.unlink(missing_ok=True)
    os.replace(paths.partial, paths.final)
    stats = {"cache": "miss", "seconds": round(time.perf_counter() - t0, 3), "images": images,
             "images_per_s": round(images / compute_seconds, 2) if compute_seconds > 0 else None,
             "bytes": paths.final.stat().st_size, "resumed_from_shard": first, "precision": precision_name(dtype),
             "processes": int(done["processes"])}
    write_json(paths.meta, {"key": key, "complete": True, "shape": list(shape), "factor": factor,
                            "sample_digest": digest, **stats})
    paths.progress.unlink(missing_ok=True)
    logger.info("%s: cache miss, upscaled %d frames in %.1f s (%.1f img/s%s) -> %s", name, images, compute_seconds,
                stats["images_per_s"] or 0.0, f", {done['processes']} processes" if done["processes"] > 1 else "",
                paths.final)
    _report(tracker, stats)
    return np.load(paths.final, mmap_mode="r"), stats


def shard_ranges(n: int, shard_size: int) -> list[tuple[int, int]]:
    """The (start, stop) frames of each shard of ``n`` frames."""
    return [(s, min(s + shard_size, n)) for s in range(0, n, shard_size)]


def upscale_shards(lr: np.ndarray, sr_generator: dict[str, Any] | None, config: UpscaleConfig, plan: ShardPlan,
                   tracker: Tracker | None) -> dict[str, Any]:
    """The upscaling job (``job(*args, tracker)``, run by a :data:`ShardRunner` on every rank): this
    rank's part of the shards not done yet (:func:`upscale_part`), then, over all ranks, the frames
    computed (summed), the slowest rank's compute seconds and the number of processes."""
    world = parallel.world_size()
    frames, seconds = upscale_part(lr, sr_generator, config, plan, parallel.rank(), world)
    if world > 1:
        on_gpu = dist.get_backend() == "nccl"
        device = torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
        total = torch.tensor([float(frames)], dtype=torch.float64, device=device)
        slowest = torch.tensor([seconds], dtype=torch.float64, device=device)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        frames, seconds = int(total.item()), float(slowest.item())
    return {"frames": frames, "seconds": seconds, "processes": world}


def upscale_part(lr: np.ndarray, sr_generator: dict[str, Any] | None, config: UpscaleConfig, plan: ShardPlan,
                 rank: int, world: int) -> tuple[int, float]:
    """Rank ``rank`` of ``world``: upscale its contiguous range of the shards from ``plan.first`` on
    (:func:`faceless.training.parallel.shard`) into the entry's partial file, opened read-write (it exists, of
    ``plan.shape``; written through :class:`FramesFile`); returns the frames written and the seconds
    it took.

    Each finished shard is flushed; rank 0 records it as done (``frames_done``, as a one-process run
    does): its range starts where the frames done end, so the record stays a prefix of the output.
    Other ranks' shards are not recorded: after an interruption they are computed again."""
    device = select_device(config.device)
    dtype = autocast_dtype(device, config.precision) if sr_generator is not None else None
    if precision_name(dtype) != plan.precision:
        raise ConfigError(f"upscaling.precision={config.precision} means {precision_name(dtype)} on rank {rank}'s "
                          f"{device.type} but {plan.precision} where the run started: set upscaling.precision "
                          "to bf16 or fp32 so that every machine computes alike")
    batch_size, n = config.batch_size_on(device), plan.shape[0]
    shards = shard_ranges(n, config.shard_size)
    part = parallel.shard(len(shards) - plan.first, world, rank)
    mine = shards[plan.first + part.start:plan.first + part.stop]
    if not mine:
        return 0, 0.0
    paths = _CachePaths(Path(config.cache_dir), plan.name)
    out = FramesFile(paths.partial, plan.shape)
    batches = [(b, min(b + batch_size, stop)) for start, stop in mine for b in range(start, stop, batch_size)]
    shard_of_end = {stop for _, stop in mine}
    generator = None
    if sr_generator is not None:
        generator = load_generator(sr_generator).to(device, memory_format=memory_format(device))
    if world == 1:
        bar = tqdm(total=n, initial=mine[0][0], desc=plan.name, unit="img", dynamic_ncols=True, mininterval=1.0)
    else:  # rank 0's own part (the other ranks draw none)
        bar = tqdm(total=mine[-1][1] - mine[0][0], desc=f"{plan.name} (rank 0 of {world}: shards "
                   f"{plan.first + part.start + 1}-{plan.first + part.stop} of {len(shards)})", unit="img", dynamic_ncols=True,
                   mininterval=1.0, disable=rank != 0)

    def on_batch(start: int, stop: int) -> None:
        bar.update(stop - start)
        if stop in shard_of_end:
            out.flush()  # the shard is on disk before it is recorded as done
            if rank == 0:
                write_json(paths.progress, {"key": plan.key, "frames_done": stop, "shard_size": config.shard_size,
                                            "sample_digest": sample_digest(out, stop)})

    started = time.perf_counter()
    try:
        _stream_upscale(lr, generator, plan.factor, out, batches, device, dtype, on_batch)
        out.flush()
    finally:
        bar.close()
        out.close()
    return mine[-1][1] - mine[0][0], time.perf_counter() - started


class FramesFile:
    """The frames of an existing uint8 ``.npy`` of ``shape``, opened read-write, written and read
    at their byte offsets (``pwrite`` / ``pread``): ``out[start:stop] = frames``, ``out[i]``,
    ``flush()`` (to disk), ``close()``.

    Why not a memory map: a map writes back whole pages, and the page where two ranks' ranges meet
    holds frames of both (frames do not start on page boundaries). On one machine the ranks share
    the page cache, so that is harmless; on a network filesystem each machine writes back its own
    copy of that page, and one rank's frames there could be overwritten with the other's stale
    bytes. Plain writes send only the bytes written."""

    def __init__(self, path: Path, shape: tuple[int, ...]) -> None:
        found, fortran, dtype, self.header = read_npy_header(path)
        if tuple(found) != tuple(shape) or dtype != np.uint8 or fortran:
            raise RuntimeError(f"{path} holds {dtype} {tuple(found)}, expected uint8 {tuple(shape)}")
        self.shape, self.dtype = tuple(shape), np.dtype(np.uint8)
        self.frame_bytes = int(np.prod(shape[1:]))
        self._fd = os.open(path, os.O_RDWR)

    def __setitem__(self, index: slice, frames: np.ndarray) -> None:
        data = memoryview(np.ascontiguousarray(frames, dtype=np.uint8)).cast("B")
        if len(data) != (index.stop - index.start) * self.frame_bytes:
            raise ValueError(f"{len(data)} bytes for frames {index.start}:{index.stop}")
        offset, done = self.header + index.start * self.frame_bytes, 0
        while done < len(data):
            done += os.pwrite(self._fd, data[done:], offset + done)

    def __getitem__(self, i: int) -> np.ndarray:
        data = os.pread(self._fd, self.frame_bytes, self.header + int(i) * self.frame_bytes)
        return np.frombuffer(data, dtype=np.uint8).reshape(self.shape[1:])

    def flush(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


#: Frames a cache entry's check reads back (spread evenly, first and last included).
SAMPLE_FRAMES = 64


def sample_digest(array: np.ndarray, upto: int) -> str:
    """A hash of ``array``'s shape and of up to :data:`SAMPLE_FRAMES` frames spread over ``[0, upto)``:
    what a cache entry is checked against before it is served (a zeroed or swapped file fails it
    without reading every byte; one damaged frame between the samples does not)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps([list(array.shape), str(array.dtype), upto]).encode())
    if upto > 0:
        for i in np.unique(np.linspace(0, upto - 1, min(upto, SAMPLE_FRAMES)).round().astype(np.int64)):
            h.update(np.ascontiguousarray(array[i]).tobytes())
    return h.hexdigest()


def _damage(path: Path, shape: tuple[int, ...], size: int | None, digest: str | None,
            upto: int | None = None) -> str | None:
    """What is wrong with the uint8 ``.npy`` at ``path`` of ``shape`` (None: nothing found): its
    header, its size (the recorded ``size`` too), its sampled frames against ``digest``."""
    try:
        found_shape, fortran, dtype, header = read_npy_header(path)
        actual = path.stat().st_size
    except (OSError, ValueError) as err:
        return f"unreadable header: {err}"
    if found_shape != tuple(shape) or dtype != np.uint8 or fortran:
        return f"holds {dtype} {tuple(found_shape)}, expected uint8 {tuple(shape)}"
    expected = header + int(np.prod(shape))
    if actual != expected or (size is not None and actual != size):
        return f"{actual} bytes, expected {expected}"
    if not digest:
        return "no record of its content (written by an older version)"
    if sample_digest(np.load(path, mmap_mode="r"), shape[0] if upto is None else upto) != digest:
        return "its frames differ from those written"
    return None


class _CachePaths:
    def __init__(self, cache_dir: Path, name: str) -> None:
        self.final = cache_dir / f"{name}.npy"
        self.meta = cache_dir / f"{name}.meta.json"
        self.partial = cache_dir / f"{name}.partial.npy"
        self.progress = cache_dir / f"{name}.partial.json"
        self.lock = cache_dir / f"{name}.lock"

    def clear_partial(self) -> None:
        self.partial.unlink(missing_ok=True)
        self.progress.unlink(missing_ok=True)


def _report(tracker: Tracker | None, stats: dict[str, Any]) -> None:
    numbers = {k: v for k, v in stats.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    numbers["cache_hit"] = 1.0 if stats["cache"] == "hit" else 0.0
    (tracker or NullTracker()).log_metrics(numbers, 0)


def upscale_frames(lr: np.ndarray, sr_generator: dict[str, Any] | None, config: UpscaleConfig,
                   factor: int | None = None) -> np.ndarray:
    """What :func:`upscale_cached` computes, frame for frame (the same batches, precision and
    rounding), into memory and without a cache: a served model's few frames per request."""
    factor = config.factor if factor is None else factor
    if lr.ndim != 4 or lr.shape[-1] != 3 or lr.dtype != np.uint8:
        raise ConfigError(f"upscaling: input must be uint8 (N, H, W, 3), got {lr.dtype} {lr.shape}")
    torch_device = select_device(config.device)
    dtype = autocast_dtype(torch_device, config.precision) if sr_generator is not None else None
    batch_size, n = config.batch_size_on(torch_device), len(lr)
    batches = [(b, min(b + batch_size, stop)) for start, stop in shard_ranges(n, config.shard_size)
               for b in range(start, stop, batch_size)]
    generator = None
    if sr_generator is not None:
        generator = load_generator(sr_generator).to(torch_device, memory_format=memory_format(torch_device))
    out = np.empty((n, lr.shape[1] * factor, lr.shape[2] * factor, 3), dtype=np.uint8)
    _stream_upscale(lr, generator, factor, out, batches, torch_device, dtype, lambda start, stop: None)
    return out


# ----------------------------------------------------------------------------------------------
# Recognition: frames -> log-probabilities -> sequences
# ----------------------------------------------------------------------------------------------
def normalise(x_u8: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 frames -> the classifier's input scale (every variant alike)."""
    return (x_u8.float() / 255 - mean) / std


@torch.inference_mode()
def frame_log_probs(model: torch.nn.Module, x_u8: torch.Tensor, normalisation: dict[str, float],
                    device: torch.device, dtype: torch.dtype | None, batch: int, *, flip_tta: bool) -> torch.Tensor:
    """Log-probabilities (N, classes) of uint8 NCHW frames, float32 on the CPU.

    ``flip_tta``: each frame's row is the mean of its own and its horizontal mirror's
    log-probabilities (test-time augmentation; the classifier trained with random flips)."""
    classes = model.config()["num_classes"]
    (log_probs,) = _frame_rows(lambda xb: (F.log_softmax(model(xb).float(), dim=1),), model, x_u8, normalisation,
                               device, dtype, batch, flip_tta, (classes,))
    return log_probs


@torch.inference_mode()
def frame_embeddings(model: torch.nn.Module, x_u8: torch.Tensor, normalisation: dict[str, float],
                     device: torch.device, dtype: torch.dtype | None, batch: int, *, flip_tta: bool
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The frame embeddings the classifier's head reads (N, D: ``model.embed``, the body's globally
    pooled features) and the log-probabilities (N, classes) :func:`frame_log_probs` gives, in one
    pass, float32 on the CPU. ``flip_tta``: each row is the mean of the frame's and its mirror's."""
    if not hasattr(model, "embed"):
        raise ConfigError(f"backbone arch {model.config().get('arch')!r} has no frame embedding (``embed``, "
                          "``embed_dim``): sequence pooling by attention needs one")

    def rows(xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedded = model.embed(xb)
        return embedded.float(), F.log_softmax(model.head(embedded).float(), dim=1)

    widths = (model.embed_dim, model.config()["num_classes"])
    embedded, log_probs = _frame_rows(rows, model, x_u8, normalisation, device, dtype, batch, flip_tta, widths)
    return embedded, log_probs


def _frame_rows(rows: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], model: torch.nn.Module, x_u8: torch.Tensor,
                normalisation: dict[str, float], device: torch.device, dtype: torch.dtype | None, batch: int,
                flip_tta: bool, widths: tuple[int, ...]) -> list[torch.Tensor]:
    """``rows(frames)``'s outputs over ``x_u8`` in batches (normalised, in the device's memory format,
    under autocast), concatenated on the CPU; with ``flip_tta`` each is the mean of the frame's and its
    mirror's. No frames: empty tensors of ``widths`` columns."""
    model.eval()
    fmt = memory_format(device)
    out: list[tuple[torch.Tensor, ...]] = []
    for b in range(0, len(x_u8), batch):
        xb = normalise(x_u8[b:b + batch].to(device), normalisation["mean"], normalisation["std"])
        xb = xb.contiguous(memory_format=fmt)
        with autocast(device, dtype):
            found = rows(xb)
            if flip_tta:
                mirrored = rows(xb.flip(-1).contiguous(memory_format=fmt))
                found = tuple((a + m) / 2 for a, m in zip(found, mirrored))
        out.append(tuple(row.cpu() for row in found))
    if not out:
        return [torch.zeros(0, width) for width in widths]
    return [torch.cat(column) for column in zip(*out)]


def sequence_ids(index: pd.DataFrame) -> np.ndarray:
    """An integer id per (person, video, sequence) of the index rows, in order of appearance."""
    keys = index[list(SEQUENCE_KEYS)].astype(str).agg("/".join, axis=1)
    return pd.factorize(keys)[0]


def pool_sequences(log_probs: torch.Tensor, seq_ids: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean log-probability per sequence (a product of frame likelihoods: naive Bayes over a
    sequence's frames), float32 (sequences, classes); and each sequence's frame count."""
    ids = torch.as_tensor(np.asarray(seq_ids), dtype=torch.long)
    n_seq = int(ids.max()) + 1 if len(ids) else 0
    sums = torch.zeros(n_seq, log_probs.shape[1], dtype=torch.float64).index_add_(0, ids, log_probs.double())
    counts = torch.bincount(ids, minlength=n_seq)
    return (sums / counts.clamp(min=1).unsqueeze(1)).float(), counts


#: Padded frame slots (sequences x their longest) aggregated at a time: bounds the memory one
#: chunk takes, whatever the mix of short and long sequences.
ATTENTION_CHUNK_SLOTS = 1 << 18


def pool_sequences_attention(head: dict[str, Any], embeddings: torch.Tensor, seq_ids: np.ndarray | torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities per sequence by a trained attention head (``{"config", "state_dict"}``, one
    of a pooling file's ``heads``) over the frames' embeddings: float32 (sequences, classes), sequences
    in id order, and each sequence's frame count; the contract of :func:`pool_sequences`."""
    scores, counts, _ = sequence_attention(head, embeddings, seq_ids)
    return scores, counts


@torch.inference_mode()
def sequence_attention(head: dict[str, Any], embeddings: torch.Tensor, seq_ids: np.ndarray | torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`pool_sequences_attention`'s scores and counts, and each frame's attention weight (N,),
    in the frames' order (a sequence's weights sum to 1): which frames the head trusted."""
    aggregator = load_model("aggregator", head)
    ids = torch.as_tensor(np.asarray(seq_ids), dtype=torch.long)
    n_seq = int(ids.max()) + 1 if len(ids) else 0
    counts = torch.bincount(ids, minlength=n_seq)
    if n_seq and int(counts.min()) == 0:
        raise ValueError("sequence ids must be 0 .. n-1 with every id present (faceless.inference.sequence_ids)")
    scores = torch.zeros(n_seq, aggregator.config()["num_classes"])
    weights = torch.zeros(len(ids))
    for first, last in _sequence_chunks(counts):
        chosen = (ids >= first) & (ids < last)
        padded, mask, slot = pad_sequences(embeddings[chosen].float(), ids[chosen] - first)
        logits, chunk_weights = aggregator(padded, mask)
        scores[first:last] = torch.log_softmax(logits.float(), dim=1)
        weights[chosen] = chunk_weights[ids[chosen] - first, slot]
    return scores, counts, weights


def pad_sequences(values: torch.Tensor, seq_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows (N, D) of sequences ``seq_ids`` (0 .. S-1, every id present) as a padded batch (S, longest,
    D) with its mask (True on real rows) and each row's slot in its sequence (rows keep their order)."""
    ids = seq_ids.long()
    counts = torch.bincount(ids)
    if len(ids) and int(counts.min()) == 0:
        raise ValueError("sequence ids must be 0 .. n-1 with every id present (faceless.inference.sequence_ids)")
    order = torch.argsort(ids, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.empty_like(ids)
    slot[order] = torch.arange(len(ids)) - starts[ids[order]]
    longest = int(counts.max()) if len(ids) else 0
    padded = values.new_zeros(len(counts), longest, values.shape[1])
    mask = torch.zeros(len(counts), longest, dtype=torch.bool)
    padded[ids, slot], mask[ids, slot] = values, True
    return padded, mask, slot


def _sequence_chunks(counts: torch.Tensor) -> list[tuple[int, int]]:
    """Consecutive ranges of sequences whose padded batch (sequences x longest) stays within
    :data:`ATTENTION_CHUNK_SLOTS` (a single longer sequence is a chunk of its own)."""
    chunks, first, longest = [], 0, 0
    for s, count in enumerate(counts.tolist()):
        longest = max(longest, count)
        if s > first and (s + 1 - first) * longest > ATTENTION_CHUNK_SLOTS:
            chunks.append((first, s))
            first, longest = s, count
    if len(counts):
        chunks.append((first, len(counts)))
    return chunks


def attention_head(pooling: dict[str, Any] | None, classifier: dict[str, Any],
                   state_dict: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """The head of a saved pooling (:func:`faceless.recognition.pooling.train_pooling_heads`) trained on
    the embeddings of ``classifier``'s weights ``state_dict`` (one of its seeds); None when the pooling
    is the mean (or there is none, or a skip marker). A pooling trained on other weights is one
    ConfigError line."""
    if pooling is None or pooling.get("method", "mean") == "mean":
        return None
    digest = backbone_digest(classifier, state_dict)
    for head in pooling["heads"]:
        if head["backbone"] == digest:
            return head
    raise ConfigError(f"the attention pooling of {classifier.get('variant', 'this classifier')} was trained on "
                      "another classifier's weights: train the pooling again after the classifier")


def backbone_digest(classifier: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> str:
    """A content hash of a classifier's config and one seed's weights: what a pooling head is tied to."""
    return weights_digest({"config": classifier["config"], "state_dict": state_dict})


def sequence_labels(seq_ids: np.ndarray, labels: torch.Tensor) -> torch.Tensor:
    """Each sequence's label (all its frames share one): the label of its first frame."""
    _, first = np.unique(np.asarray(seq_ids), return_index=True)
    return labels.long()[torch.as_tensor(first, dtype=torch.long)]


def top_k_lists(scores: torch.Tensor, k: int) -> torch.Tensor:
    """The k most likely classes per row, best first (the seed returned the k *least* likely)."""
    return scores.topk(min(k, scores.shape[1]), dim=1, largest=True, sorted=True).indices


def classify_sequences(classifier: dict[str, Any], frames: np.ndarray, seq_ids: np.ndarray, device: str,
                       precision: str, batch: int, flip_tta: bool, pooling: dict[str, Any] | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.device]:
    """A saved classifier's pooled scores per sequence (``flip_tta`` as in :func:`frame_log_probs`),
    each sequence's frame count, and the device it ran on: what predict and the served model answer
    with. The pooling is the mean frame log-probability unless ``pooling`` (a saved pooling file)
    holds an attention head for the classifier's first seed (:func:`attention_head`)."""
    torch_device = select_device(device)
    dtype = autocast_dtype(torch_device, precision)
    model = load_classifier(classifier).to(torch_device)
    x_u8 = to_nchw_uint8(frames)
    head = attention_head(pooling, classifier, classifier["state_dict"])
    if head is None:
        log_probs = frame_log_probs(model, x_u8, classifier["normalisation"], torch_device, dtype, batch,
                                    flip_tta=flip_tta)
        scores, counts = pool_sequences(log_probs, seq_ids)
    else:
        embedded, _ = frame_embeddings(model, x_u8, classifier["normalisation"], torch_device, dtype, batch,
                                       flip_tta=flip_tta)
        scores, counts = pool_sequences_attention(head, embedded, seq_ids)
    return scores, counts, torch_device


def name_sequences(scores: torch.Tensor, counts: torch.Tensor, seq_names: list[str], names: list[str], k: int
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The k most likely people per sequence, best first: ``sequence, person_1..person_k``, and the
    same with each sequence's frame count and the probabilities of its k names."""
    top = top_k_lists(scores, k)
    probs = torch.softmax(scores, dim=1).gather(1, top)
    submission = pd.DataFrame({"sequence": list(seq_names)})
    detail = submission.assign(frames=counts.numpy())
    for r in range(k):
        column, have = f"person_{r + 1}", r < top.shape[1]
        submission[column] = [names[c] for c in top[:, r].tolist()] if have else ""
        detail[column] = submission[column]
        detail[f"probability_{r + 1}"] = probs[:, r].numpy().round(6) if have else np.nan
    return submission, detail
