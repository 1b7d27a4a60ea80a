"""Data-parallel scaling with processes: training steps (DDP) and the sharded upscaling.

    python bench/bench_distributed.py [--device cpu|cuda] [--procs N] [--repeats 5] [--warmup 2]
                                      [--rounds 3] [--frames N] [--quick]

(a) Training steps at the pipeline's real settings (conf/base): the SR generator's pretraining step
    (``srgan.generator``, ``srgan.batch_size`` crops of ``srgan.crop`` px, pixel MSE, Adam) and the
    classifier's step (``classifier.model``, ``classifier.batch_size``, cross-entropy, AdamW) on
    256 px (the SR / bicubic / hr variants) and 64 px inputs (lr, clean64); at the precision and
    memory format the pipeline picks (``precision: auto``). Each step is forward, backward and the
    optimiser step, at the same GLOBAL batch: one process takes the whole batch; N processes each
    take their contiguous part of it in DistributedDataParallel (gradients all-reduced), as the
    data-parallel trainers do. BatchNorm is synchronised over the ranks with
    ``faceless.training.parallel.convert_sync_batchnorm`` where that module exists (the trainers'
    own), plain (per-rank statistics) otherwise; the table says which.
(b) The upscaling node's path, ``faceless.inference.upscale_cached``, with conf/base's generator (random
    weights) on ``--frames`` random 64 px frames, a fresh cache each time: one process, then N
    processes sharing the shards (shards of frames / 8). frames/s of the compute (the slowest rank)
    and of the whole call (worker start-up included).

On the CPU: 1 process x all usable cores' threads vs N processes x (cores / N) threads, gloo. On
CUDA: 1 process on one GPU vs N processes on N GPUs (nccl); with fewer GPUs than ``--procs`` the
processes share them over gloo (a smoke test, not a scaling figure). The N-process runs are
started by ``faceless.distributed.launch`` (PyTorch's elastic launcher, spawn), as the pipeline
starts them. (a) runs one process, then N, ``--rounds`` times (alternated, so that a load that
changes meanwhile weighs on both alike), each ``--warmup`` steps then ``--repeats`` timed ones: the
median of all timed steps (spread = max - min). ``--quick``: one round of 1 warm-up and 2 timed
steps, 64 frames (CPU) / 2048 (CUDA), one repeat of (b). Writes only to a
temporary folder, removed afterwards.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from faceless.distributed import DistributedConfig, launch  # noqa: E402
from faceless.inference import UpscaleConfig, run_here, upscale_cached  # noqa: E402
from faceless.models.classifier import FrameClassifier  # noqa: E402
from faceless.models.generator import SRResNet  # noqa: E402
from faceless.training.device import autocast, autocast_dtype, memory_format  # noqa: E402
from machine import cpu_model, usable_cores  # noqa: E402

try:  # the data-parallel trainers' helpers (issue 15); absent before they land
    from faceless.training import parallel  # noqa: E402
except ImportError:
    parallel = None

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"
#: Classes of the classifier's head: the demo's people.
CLASSES = 16


def conf(stage: str) -> dict:
    return yaml.safe_load((CONF / f"parameters_{stage}.yml").read_text())[stage]


def generator_shape() -> dict:
    sr = conf("srgan")
    return {"scale": sr["scale"], **{k: v for k, v in sr["generator"].items() if k != "arch"}}


def training_cases() -> list[dict]:
    """What (a) times: plain, picklable descriptions (the workers build the models)."""
    sr, clf = conf("srgan"), conf("classifier")
    model = {k: clf["model"][k] for k in ("width", "depth", "dropout", "base_size")}
    return [
        {"name": "SR generator, pretraining step", "kind": "sr", "batch": sr["batch_size"], "crop": sr["crop"],
         "generator": generator_shape(), "precision": sr["precision"]},
        {"name": "classifier, 256 px", "kind": "classifier", "batch": clf["batch_size"], "size": 256,
         "model": model, "precision": clf["precision"]},
        {"name": "classifier, 64 px", "kind": "classifier", "batch": clf["batch_size"], "size": 64,
         "model": model, "precision": clf["precision"]},
    ]


def my_part(batch: int, rank: int, world: int) -> int:
    """This rank's share of the global batch (the first ``batch % world`` ranks one more)."""
    per, extra = divmod(batch, world)
    return per + (1 if rank < extra else 0)


def build_step(case: dict, device: torch.device, rank: int, world: int):
    """(step function, per-rank batch) for one case, the model wrapped for data parallelism."""
    torch.manual_seed(0)
    dtype = autocast_dtype(device, case["precision"])
    fmt = memory_format(device)
    n = my_part(case["batch"], rank, world)
    if case["kind"] == "sr":
        model = SRResNet(**case["generator"])
        x = torch.rand(n, 3, case["crop"], case["crop"])
        s = case["generator"]["scale"]
        target = torch.rand(n, 3, case["crop"] * s, case["crop"] * s)
        make_optimiser = partial(torch.optim.Adam, lr=1e-4)
        loss_of = F.mse_loss
    else:
        model = FrameClassifier(CLASSES, input_size=case["size"], **case["model"])
        x = torch.rand(n, 3, case["size"], case["size"])
        target = torch.randint(0, CLASSES, (n,))
        make_optimiser = partial(torch.optim.AdamW, lr=1e-3)
        loss_of = F.cross_entropy
    model = model.to(device, memory_format=fmt).train()
    x, target = x.to(device).contiguous(memory_format=fmt), target.to(device)
    if world > 1:
        if parallel is not None:
            model = parallel.wrap_ddp(parallel.convert_sync_batchnorm(model, device), device)
        else:
            ids = [device.index] if device.type == "cuda" else None
            with warnings.catch_warnings():  # torch 2.14 renames the argument (same meaning)
                warnings.simplefilter("ignore", FutureWarning)
                model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)
    optimiser = make_optimiser(model.parameters())

    def step() -> None:
        with autocast(device, dtype):
            loss = loss_of(model(x).float(), target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return step, n


def train_steps(cases: list[dict], device_name: str, warmup: int, repeats: int, tracker) -> dict:
    """Job (``faceless.distributed.launch``; in this process for one): every case's step, timed on
    each rank, ranks aligned by a barrier before every step; rank 0's seconds per case."""
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    rank = dist.get_rank() if world > 1 else 0
    device = torch.device("cuda", torch.cuda.current_device()) if device_name == "cuda" else torch.device("cpu")
    times: dict[str, list[float]] = {}
    for case in cases:
        step, n = build_step(case, device, rank, world)
        for k in range(warmup + repeats):
            if world > 1:
                dist.barrier()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started = time.perf_counter()
            step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if k >= warmup:
                times.setdefault(case["name"], []).append(time.perf_counter() - started)
    return {"times": times, "threads": torch.get_num_threads(), "world": world}


def distributed_config(procs: int, device: str) -> DistributedConfig:
    gpus = torch.cuda.device_count() if device == "cuda" else 0
    backend = "nccl" if device == "cuda" and gpus >= procs else "gloo"  # ranks sharing a GPU: gloo
    return DistributedConfig(nproc=procs, backend=backend, nnodes=1, node_rank=0, master="127.0.0.1:29500",
                             timeout_s=600)


def upscale_once(frames: Path, generator: dict, device: str, procs: int, shard_size: int, folder: Path) -> dict:
    lr = np.load(frames, mmap_mode="r")  # travels to the workers by its file, as the catalog's arrays do
    config = UpscaleConfig(factor=generator["config"]["scale"], batch_size=conf("upscaling")["batch_size"],
                           shard_size=shard_size, device=device, precision="auto", cache_dir=str(folder),
                           distributed={})
    runner = run_here if procs == 1 else partial(launch, distributed_config(procs, device), device=device)
    started = time.perf_counter()
    _, stats = upscale_cached(lr, generator, config, "bench", runner=runner)
    return {"wall_s": time.perf_counter() - started, "compute_fps": stats["images_per_s"], "frames": len(lr)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--procs", type=int, default=None, help="processes of the data-parallel side "
                        "(default: 2 on the CPU, one per GPU on CUDA, at least 2)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="(a): one process, then N, this many times")
    parser.add_argument("--frames", type=int, default=None, help="frames of (b) (default 256 CPU, 8192 CUDA)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    began = time.perf_counter()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device here")
    gpus = torch.cuda.device_count() if args.device == "cuda" else 0
    procs = args.procs or max(2, gpus)
    repeats, warmup, rounds = (2, 1, 1) if args.quick else (args.repeats, args.warmup, args.rounds)
    frames = args.frames or ((2048 if args.quick else 8192) if args.device == "cuda" else (64 if args.quick else 256))
    upscale_repeats = 1 if args.quick else 3
    cores = usable_cores()
    torch.set_num_threads(cores)
    load = os.getloadavg()
    print(f"machine: {cpu_model()}, {cores} usable cores, torch {torch.__version__}, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}"
          + (f", {gpus} x {torch.cuda.get_device_name(0)}" if gpus else "")
          + f"; load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    sync_bn = "synchronised (faceless.training.parallel)" if parallel is not None else "per rank (plain DDP)"
    one_label = f"1 x {cores} thr" if args.device == "cpu" else "1 GPU"
    many_label = (f"{procs} x {max(1, cores // procs)} thr" if args.device == "cpu"
                  else f"{procs} procs / {min(procs, gpus)} GPU")
    backend = distributed_config(procs, args.device).backend

    cases = training_cases()
    print(f"\n(a) training steps: {one_label} vs {many_label} ({backend}), global batch fixed, "
          f"{rounds} x ({warmup} warm-up + {repeats} timed steps), BatchNorm {sync_bn} ...", flush=True)
    single: dict[str, list[float]] = {}
    many: dict[str, list[float]] = {}
    for _ in range(rounds):  # alternated, so that a load changing meanwhile weighs on both sides alike
        for times, config in ((single, distributed_config(1, args.device)),
                              (many, distributed_config(procs, args.device))):
            for name, seconds in launch(config, train_steps, cases, args.device, warmup, repeats,
                                        device=args.device)["times"].items():
                times.setdefault(name, []).extend(seconds)

    def cell(seconds: list[float], batch: int) -> str:
        median = statistics.median(seconds)
        return f"{median * 1e3:>9.0f}{(max(seconds) - min(seconds)) * 1e3:>7.0f}{batch / median:>8.1f}"

    header = (f"{'case':<32}{'batch':>6} | {one_label + ': ms':>15}{'spread':>7}{'img/s':>8} | "
              f"{many_label + ': ms':>17}{'spread':>7}{'img/s':>8} | {'speed-up':>8}{'of mins':>8}")
    print("\nmedian ms per step (spread = max - min), images/s = global batch / median; speed-up of the "
          "medians, and of the fastest steps (less sensitive to other processes' load)")
    print(header)
    print("-" * len(header))
    for case in cases:
        a, b = single[case["name"]], many[case["name"]]
        print(f"{case['name']:<32}{case['batch']:>6} | {cell(a, case['batch']):>30} | {cell(b, case['batch']):>32} | "
              f"{statistics.median(a) / statistics.median(b):>8.2f}{min(a) / min(b):>8.2f}")

    print(f"\n(b) upscaling {frames} random 64 px frames, conf/base generator (random weights), "
          f"precision auto, shards of {max(1, frames // 8)} frames, median of {upscale_repeats} ...", flush=True)
    torch.manual_seed(0)
    model = SRResNet(**generator_shape())
    generator = {"config": model.config(), "state_dict": model.state_dict()}
    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        path = Path(tmp) / "lr.npy"
        np.save(path, np.random.default_rng(0).integers(0, 256, (frames, 64, 64, 3), dtype=np.uint8))
        for r in range(upscale_repeats):  # alternated, as (a)
            for label, n in ((one_label, 1), (many_label, procs)):
                rows.setdefault(label, []).append(
                    upscale_once(path, generator, args.device, n, max(1, frames // 8), Path(tmp) / f"cache-{n}-{r}"))
    header = f"{'':<22}{'compute frames/s':>18}{'call frames/s':>15}{'call s':>9}"
    print(header)
    print("-" * len(header))
    for label, runs in rows.items():
        compute = statistics.median(r["compute_fps"] for r in runs)
        wall = statistics.median(r["wall_s"] for r in runs)
        print(f"{label:<22}{compute:>18.1f}{frames / wall:>15.1f}{wall:>9.2f}")
    one, two = (statistics.median(r["compute_fps"] for r in rows[k]) for k in (one_label, many_label))
    print(f"compute speed-up {two / one:.2f} (call: worker start-up included)")
    load = os.getloadavg()
    print(f"\ntotal {time.perf_counter() - began:.0f} s; load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
