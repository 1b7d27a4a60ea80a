"""Batch 4x upscaling into a cached, memory-mapped ``.npy``, computed once and reused.

The upscaling node returns an :class:`UpscaleJob` (what to compute); the catalog's
:class:`CachedUpscaleDataset` decides whether to compute it. It keys the output by a hash of the
generator weights, the input array, the factor, the method, the output dtype and the precision
the generator runs at:

* same key as the finished file beside it -> nothing is computed ("cache hit");
* otherwise the frames are upscaled in shards straight into a memory-mapped temporary file
  (``<name>.partial.npy``), the number of finished shards is recorded after each one, and only a
  complete file is renamed to the final name. An interrupted run resumes at the first unfinished
  shard of the same key; a partial file is never served as done.

Nothing here holds more than one shard of 256 px images in memory.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset

from faceless.data.atomic import atomic_path
from faceless.data.digest import array_digest, weights_digest

logger = logging.getLogger(__name__)

#: Bump when the way outputs are computed changes, so older caches are not reused.
CACHE_VERSION = 1


@dataclass
class UpscaleJob:
    """Upscale ``lr`` (N, h, w, 3) uint8 by ``factor`` with a generator or bicubic interpolation."""

    lr: np.ndarray
    factor: int = 4
    sr_generator: dict[str, Any] | None = None   # None: bicubic
    batch_size: int = 32
    shard_size: int = 512
    device: str = "auto"
    precision: str = "auto"
    name: str = "upscale"
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        if self.sr_generator is None:
            return "copy" if self.factor == 1 else "bicubic"
        return "srgan"

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        n, h, w, c = self.lr.shape
        return (n, h * self.factor, w * self.factor, c)

    def compute_precision(self) -> str:
        """The precision the generator would run at here (bf16 and fp32 outputs differ slightly)."""
        if self.sr_generator is None:
            return "fp32"
        from faceless.training.device import autocast_dtype, select_device

        dtype = autocast_dtype(select_device(self.device), self.precision)
        return "fp32" if dtype is None else str(dtype).replace("torch.", "")

    def key(self) -> str:
        parts = {"version": CACHE_VERSION, "method": self.method, "factor": self.factor, "dtype": "uint8",
                 "precision": self.compute_precision(), "input": array_digest(self.lr),
                 "weights": weights_digest(self.sr_generator)}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]

    def shards(self) -> list[tuple[int, int]]:
        n = len(self.lr)
        return [(s, min(s + self.shard_size, n)) for s in range(0, n, self.shard_size)]

    def run(self, out: np.ndarray, first_shard: int, on_shard_done) -> None:
        """Fill ``out`` shard by shard from ``first_shard``; ``on_shard_done(i)`` after each."""
        import torch
        import torch.nn.functional as F
        from tqdm.auto import tqdm

        from faceless.training.device import autocast, autocast_dtype, memory_format, select_device

        device = select_device(self.device)
        dtype = autocast_dtype(device, self.precision) if self.sr_generator is not None else None
        fmt = memory_format(device, dtype)
        model = None
        if self.sr_generator is not None:
            from faceless.models.generator import SRResNet

            model = SRResNet.from_config(self.sr_generator["config"])
            model.load_state_dict(self.sr_generator["state_dict"])
            model = model.to(device, memory_format=fmt).eval()
        shards = self.shards()
        done_frames = shards[first_shard][0] if first_shard < len(shards) else len(self.lr)
        bar = tqdm(total=len(self.lr), initial=done_frames, desc=f"{self.name} ({self.method})", unit="img",
                   dynamic_ncols=True, mininterval=1.0)
        pin = device.type == "cuda"

        def prepare(start: int, stop: int) -> torch.Tensor:
            # Runs in a helper thread while the previous batch computes: read, convert, pin.
            x = torch.from_numpy(np.array(self.lr[start:stop])).permute(0, 3, 1, 2)  # own, writable copy
            x = x.contiguous(memory_format=fmt)
            return x.pin_memory() if pin else x

        batches = [(b, min(b + self.batch_size, stop)) for i, (start, stop) in enumerate(shards)
                   if i >= first_shard for b in range(start, stop, self.batch_size)]
        shard_of_end = {stop: i for i, (_, stop) in enumerate(shards)}
        with torch.inference_mode(), ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(prepare, *batches[0]) if batches else None
            for k, (start, stop) in enumerate(batches):
                x_u8 = pending.result()
                pending = pool.submit(prepare, *batches[k + 1]) if k + 1 < len(batches) else None
                x = x_u8.to(device, non_blocking=True).float().div_(255)
                if model is None and self.factor == 1:
                    y = x  # the frames as they are (predict's lr variant)
                elif model is None:
                    y = F.interpolate(x, scale_factor=self.factor, mode="bicubic", align_corners=False)
                else:
                    with autocast(device, dtype):
                        y = model(x)
                y = y.float().clamp_(0, 1).mul_(255).round_().to(torch.uint8)
                out[start:stop] = y.permute(0, 2, 3, 1).cpu().numpy()
                bar.update(stop - start)
                if stop in shard_of_end:
                    on_shard_done(shard_of_end[stop])
        bar.close()


class CachedUpscaleDataset(AbstractDataset[UpscaleJob, np.ndarray]):
    """A cached upscaled array: ``save(job)`` computes only what is missing; ``load()`` memory-maps.

    Beside ``filepath`` it keeps ``<name>.meta.json`` (key, shape, timing of the last compute);
    while computing, ``<name>.partial.npy`` and ``<name>.partial.json`` (key, frames done).
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    # paths ---------------------------------------------------------------------------------
    @property
    def _meta_path(self) -> Path:
        return self._filepath.with_name(self._filepath.stem + ".meta.json")

    @property
    def _partial_path(self) -> Path:
        return self._filepath.with_name(self._filepath.stem + ".partial.npy")

    @property
    def _progress_path(self) -> Path:
        return self._filepath.with_name(self._filepath.stem + ".partial.json")

    # kedro API -----------------------------------------------------------------------------
    def load(self) -> np.ndarray:
        return np.load(self._filepath, mmap_mode="r", allow_pickle=False)

    def save(self, job: UpscaleJob) -> None:
        t0 = time.perf_counter()
        key = job.key()
        meta = _read_json(self._meta_path)
        if self._filepath.is_file() and meta.get("key") == key and meta.get("complete"):
            job.stats = {"cache": "hit", "seconds": round(time.perf_counter() - t0, 3),
                         "images": len(job.lr), "bytes": self._filepath.stat().st_size}
            logger.info("%s: cache hit (%s), nothing to compute", job.name, self._filepath)
            _log_stats(job)
            return
        shards = job.shards()
        progress = _read_json(self._progress_path)
        first = 0
        if self._partial_path.is_file() and progress.get("key") == key:
            # Frames, not shard numbers, are recorded: a rerun with another shard_size resumes at
            # the last shard boundary it has at or before the frames already done.
            frames_done = int(progress.get("frames_done", 0))
            first = max((i for i, (start, _) in enumerate(shards) if start <= frames_done), default=0)
            logger.info("%s: resuming at shard %d/%d of an interrupted run", job.name, first, len(shards))
        else:
            self._clear_partial()
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        out = np.lib.format.open_memmap(self._partial_path, mode="r+" if first else "w+", dtype=np.uint8,
                                        shape=job.output_shape)

        def on_shard_done(index: int) -> None:
            out.flush()  # the shard is on disk before it is recorded as done
            _write_json(self._progress_path, {"key": key, "shards_done": index + 1, "frames_done": shards[index][1],
                                              "shard_size": job.shard_size})

        computed_from = shards[first][0] if first < len(shards) else len(job.lr)
        t1 = time.perf_counter()
        job.run(out, first, on_shard_done)
        out.flush()
        del out
        compute_seconds = time.perf_counter() - t1
        # The old "complete" record goes first: a crash between the rename and the new record must
        # not leave the old key vouching for the new file.
        self._meta_path.unlink(missing_ok=True)
        os.replace(self._partial_path, self._filepath)
        images = len(job.lr) - computed_from
        job.stats = {"cache": "miss", "seconds": round(time.perf_counter() - t0, 3), "images": images,
                     "images_per_s": round(images / compute_seconds, 2) if compute_seconds > 0 else None,
                     "bytes": self._filepath.stat().st_size, "resumed_from_shard": first}
        _write_json(self._meta_path, {"key": key, "complete": True, "shape": list(job.output_shape),
                                      "method": job.method, "factor": job.factor, **job.stats})
        self._progress_path.unlink(missing_ok=True)
        logger.info("%s: cache miss, upscaled %d frames in %.1f s (%.1f img/s) -> %s", job.name, images,
                    compute_seconds, job.stats["images_per_s"] or 0.0, self._filepath)
        _log_stats(job)

    def _exists(self) -> bool:
        return self._filepath.is_file() and bool(_read_json(self._meta_path).get("complete"))

    def _clear_partial(self) -> None:
        self._partial_path.unlink(missing_ok=True)
        self._progress_path.unlink(missing_ok=True)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2))


def _log_stats(job: UpscaleJob) -> None:
    from faceless.training.loop import log_metrics

    numbers = {k: v for k, v in job.stats.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    numbers["cache_hit"] = 1.0 if job.stats.get("cache") == "hit" else 0.0
    log_metrics(numbers, step=0, prefix=f"upscaling.{job.name}.")
