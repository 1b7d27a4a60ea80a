"""Benchmark SRGAN training and inference throughput (demo and paper configurations).

    python bench/bench_srgan.py [--device auto|cpu|cuda] [--steps N] [--quick]

Training: the engine's own steps (``SRTrainer.pretrain_step`` / ``adversarial_step``: the modules,
conf/base's losses, autocast, memory format, Adam, EMA update, ``.item()`` of the losses, as
``train_srgan`` runs them), but on a fixed batch already on the device, so the number is the
model's cost without the batch sampling. Each
cell: 2 warm-up steps, then ``--steps`` timed steps, repeated 3 times; the median step time
gives images/s = batch / step time. A cell whose single run would exceed 20 s (3 s with
``--quick``, which also warms up with 1 step) is timed once and marked ``*``.

Inference: 64 -> 256 px of the demo and paper generators, batch 32, fp32 and bf16 autocast.

Achieved FLOP/s counts convolution and linear FLOPs (2 x multiply-adds) only, so it is a lower
bound. Stage 1 (pixel loss, G only): 3 x forward FLOPs of the generator (``srresnet_flops``;
the backward pass is counted as 2 x forward). Stage 2 (one D step, then one G step):
3 x G forward + 9 x D forward (D runs forward three times, on real, detached fake and fake,
and backward three times).

Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from machine import cpu_model  # noqa: E402  (bench/ is on sys.path when run as a script)

from faceless.models.discriminator import SRGANDiscriminator  # noqa: E402
from faceless.models.generator import LEGACY_LAYOUT, SRResNet, srresnet_flops  # noqa: E402
from faceless.training.device import (  # noqa: E402
    autocast,
    autocast_dtype,
    memory_format,
    select_device,
)

SRGAN_PARAMS = Path(__file__).resolve().parents[1] / "conf" / "base" / "parameters_srgan.yml"
from faceless.sr.config import load_config  # noqa: E402
from faceless.sr.trainer import SRData, SRTrainer  # noqa: E402

SCALE = 4
_DEFAULT = yaml.safe_load(SRGAN_PARAMS.read_text())["srgan"]
_LAYOUT_KEYS = ("head_kernel", "tail_kernel", "upsample")
#: generator blocks / channels / layout and discriminator channels of the configurations compared.
CONFIGS: dict[str, dict[str, Any]] = {
    # conf/base/parameters_srgan.yml, as it is
    "demo": {"blocks": _DEFAULT["generator"]["blocks"], "channels": _DEFAULT["generator"]["channels"],
             "disc": _DEFAULT["discriminator"]["channels"],
             **{k: _DEFAULT["generator"][k] for k in _LAYOUT_KEYS}},
    # the same size in the paper's layout (9x9 head and tail, two x2 steps): the default until it was measured
    "demo-paper-layout": {"blocks": 6, "channels": 32, "disc": 32, **LEGACY_LAYOUT},
    "paper": {"blocks": 16, "channels": 64, "disc": 64, **LEGACY_LAYOUT},  # Ledig et al. 2017
}


def layout(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: cfg[k] for k in _LAYOUT_KEYS}
PRECISIONS = ("fp32", "bf16")
FLOPS_CONVENTION = (
    "FLOPs = 2 x multiply-adds of convs + linears only (lower bound); "
    "stage 1 = 3 x G forward (srresnet_flops; backward = 2 x forward); "
    "stage 2 = 3 x G forward + 9 x D forward (D: 3 forwards + 3 backwards)"
)


# ----------------------------------------------------------------------------------------------
# Machine
# ----------------------------------------------------------------------------------------------
def machine_lines(device: torch.device) -> list[str]:
    lines = [
        f"cpu: {cpu_model()} (platform.processor()={platform.processor() or '?'}), "
        f"cpu_count={os.cpu_count()}, torch threads={torch.get_num_threads()}",
        f"torch {torch.__version__}, python {platform.python_version()}",
    ]
    if hasattr(os, "getloadavg"):
        lines.append("load average at start (1/5/15 min): "
                     + " / ".join(f"{v:.2f}" for v in os.getloadavg())
                     + "  (a load near the core count means the CPU is shared: timings are pessimistic)")
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        lines.append(f"device: cuda {props.name}, capability {props.major}.{props.minor}, "
                     f"{props.total_memory / 2**30:.1f} GiB")
    else:
        bf16 = autocast_dtype(device, "auto") is not None
        lines.append(f"device: {device.type} (native bf16 per the project's check: {bf16})")
    return lines


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------------------------
# FLOPs
# ----------------------------------------------------------------------------------------------
def counted_flops(module: nn.Module, input_shape: tuple[int, ...]) -> float:
    """Conv + linear FLOPs (2 x multiply-adds, no bias) of one forward pass, per whole input.

    Runs ``module`` on the meta device (no memory, no compute): only the shapes are needed.
    """
    total = 0.0

    def hook(layer: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(layer, nn.Conv2d):
            kh, kw = layer.kernel_size
            total += 2.0 * output.numel() * (layer.in_channels // layer.groups) * kh * kw
        elif isinstance(layer, nn.Linear):
            total += 2.0 * output.numel() * layer.in_features

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            module(torch.empty(input_shape, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return total


def generator_flops(cfg: dict[str, int], h: int, w: int) -> float:
    """Forward FLOPs of one image through the generator, from the project's ``srresnet_flops``."""
    return srresnet_flops(h, w, {"channels": cfg["channels"], "blocks": cfg["blocks"], "scale": SCALE, **layout(cfg)})


def discriminator_flops(cfg: dict[str, int], hr: int) -> float:
    """Forward FLOPs of one ``hr`` x ``hr`` image through the discriminator (counted on meta)."""
    with torch.device("meta"):
        disc = SRGANDiscriminator(channels=cfg["disc"], pooled_size=_DEFAULT["discriminator"]["pooled_size"])
    return counted_flops(disc, (1, 3, hr, hr))


def check_srresnet_flops(cfg: dict[str, int], h: int = 24) -> tuple[float, float]:
    """(srresnet_flops, hook-counted FLOPs) of one image, which should agree exactly."""
    with torch.device("meta"):
        gen = SRResNet(channels=cfg["channels"], blocks=cfg["blocks"], scale=SCALE, bicubic_skip=True, **layout(cfg))
    return generator_flops(cfg, h, h), counted_flops(gen, (1, 3, h, h))


# ----------------------------------------------------------------------------------------------
# Training step (the engine's own: faceless.sr.trainer.SRTrainer)
# ----------------------------------------------------------------------------------------------
def srgan_params(cfg: dict[str, int], device: torch.device, dtype: torch.dtype | None, batch: int, crop: int,
                 seed: int) -> dict[str, Any]:
    """``params:srgan`` from conf/base (the only source of defaults) with this cell's sizes."""
    params = yaml.safe_load(SRGAN_PARAMS.read_text())["srgan"]
    params["generator"].update(blocks=cfg["blocks"], channels=cfg["channels"], **layout(cfg))
    params["discriminator"].update(channels=cfg["disc"])
    params.update(device=device.type, precision="fp32" if dtype is None else "bf16", batch_size=batch, crop=crop,
                  seed=seed, compile=False, checkpoint_dir=None, init_weights=None)
    return params


class TrainStep:
    """An :class:`SRTrainer` (the models, optimisers, EMA and conf's losses of ``train_srgan``) and its
    two kinds of step, on one fixed batch already on the device (no batch sampling in the timing)."""

    def __init__(self, cfg: dict[str, int], device: torch.device, dtype: torch.dtype | None,
                 batch: int, crop: int, compile_backend: str | None = None, seed: int = 0) -> None:
        self.cfg, self.device, self.batch, self.crop = cfg, device, batch, crop
        config = load_config(srgan_params(cfg, device, dtype, batch, crop, seed))
        frames = torch.zeros(1, 3, crop * SCALE, crop * SCALE, dtype=torch.uint8)  # unused: the batch is fixed
        data = SRData(frames[..., :crop, :crop], frames, frames[..., :crop, :crop], frames, "truth")
        threads = torch.get_num_threads()
        self.trainer = trainer = SRTrainer(config, data)
        torch.set_num_threads(threads)  # the trainer's select_device(cpu) would reset the bench's choice
        assert trainer.dtype == dtype, (trainer.dtype, dtype)
        # As compile: true (each module compiled on its own); ``compile_backend`` "inductor" is
        # torch.compile's default, "aot_eager" only traces (a quick dry run).
        if compile_backend:
            trainer.train_g = torch.compile(trainer.generator, backend=compile_backend)
            trainer.train_d = torch.compile(trainer.discriminator, backend=compile_backend)
        hr = torch.rand(batch, 3, crop * SCALE, crop * SCALE, device=device)
        lr = F.avg_pool2d(hr, SCALE)
        self.lr_b, self.hr_b = lr.contiguous(memory_format=trainer.fmt), hr.contiguous(memory_format=trainer.fmt)

    def stage1(self) -> dict[str, float]:
        return self.trainer.pretrain_step(self.lr_b, self.hr_b)

    def stage2(self) -> dict[str, float]:
        return self.trainer.adversarial_step(self.lr_b, self.hr_b)

    def step(self, stage: int) -> Callable[[], object]:
        return self.stage1 if stage == 1 else self.stage2

    def flops_per_step(self, stage: int) -> float:
        g = generator_flops(self.cfg, self.crop, self.crop) * self.batch
        if stage == 1:
            return 3.0 * g
        return 3.0 * g + 9.0 * discriminator_flops(self.cfg, self.crop * SCALE) * self.batch


def time_steps(fn: Callable[[], object], device: torch.device, warmup: int, steps: int,
               repeats: int, slow_s: float = float("inf")) -> tuple[float, float, int]:
    """(median seconds per step over ``repeats`` runs of ``steps`` steps, seconds of the first
    warm-up step, runs actually timed). The first warm-up step carries one-off costs (cuDNN
    autotuning, oneDNN primitive creation, compilation). If one run of ``steps`` steps would take
    over ``slow_s`` seconds (judged from the last warm-up step), it is timed once, not ``repeats``
    times, as bench_scan.py does with its slow cases."""
    first = last = 0.0
    for i in range(warmup):
        sync(device)
        started = time.perf_counter()
        fn()
        sync(device)
        last = time.perf_counter() - started
        if i == 0:
            first = last
    if last * steps > slow_s:
        repeats = 1
    per_step = []
    for _ in range(repeats):
        sync(device)
        started = time.perf_counter()
        for _ in range(steps):
            fn()
        sync(device)
        per_step.append((time.perf_counter() - started) / steps)
    return statistics.median(per_step), first, len(per_step)


# ----------------------------------------------------------------------------------------------
# Inference
# ----------------------------------------------------------------------------------------------
def inference_generator(cfg: dict[str, int], device: torch.device, seed: int = 0) -> SRResNet:
    torch.manual_seed(seed)
    gen = SRResNet(channels=cfg["channels"], blocks=cfg["blocks"], scale=SCALE, bicubic_skip=True, **layout(cfg))
    return gen.to(device, memory_format=memory_format(device)).eval()


def inference_fn(generator: nn.Module, device: torch.device, dtype: torch.dtype | None, images: int,
                 batch: int, side: int = 64) -> Callable[[], object]:
    """Upscale ``images`` device-resident side x side images, ``batch`` at a time (model only:
    the output stays on the device, clamped as ``upscale_batches`` does)."""
    fmt = memory_format(device)  # as the upscaling path chooses it
    generator = generator.to(memory_format=fmt)
    x = torch.rand(images, 3, side, side, device=device).contiguous(memory_format=fmt)

    def run() -> None:
        with torch.inference_mode(), autocast(device, dtype):
            for b in range(0, images, batch):
                generator(x[b:b + batch]).float().clamp(0, 1)

    return run


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------
def run(device_name: str, steps: int | None, quick: bool) -> None:
    started = time.perf_counter()
    device = select_device(device_name)
    torch.set_num_threads(os.cpu_count() or 1)
    on_cpu = device.type == "cpu"
    if steps is None:
        steps = (1 if quick else 10) if on_cpu else (5 if quick else 50)
    warmup, repeats = (1 if quick else 2), 3
    slow_s = 3.0 if quick else 20.0  # one run longer than this: timed once (marked *)
    batch, crop = 16, 24
    infer_batch, infer_images = 32, 32
    for line in machine_lines(device):
        print(line, flush=True)
    for name, cfg in CONFIGS.items():
        ours, counted = check_srresnet_flops(cfg)
        print(f"flops check ({name}, 24x24 in): srresnet_flops={ours / 1e9:.3f} GFLOP, "
              f"hook-counted convs={counted / 1e9:.3f} GFLOP", flush=True)
    print(FLOPS_CONVENTION, flush=True)
    print(f"training: crop {crop} LR -> {crop * SCALE} HR, batch {batch}, {warmup} warm-up step(s), "
          f"{steps} timed step(s) x {repeats} repeats (median); * = timed once (a run > {slow_s:.0f} s)",
          flush=True)

    header = (f"{'config':<7}{'stage':>6}{'precision':>10}{'batch':>6}{'ms/step':>11}"
              f"{'images/s':>10}{'GFLOP/s':>10}{'1st step s':>11}")
    print(header, flush=True)
    train_rows = []
    for name, cfg in CONFIGS.items():
        for stage in (1, 2):
            for precision in PRECISIONS:
                bench = TrainStep(cfg, device, autocast_dtype(device, precision), batch, crop)
                seconds, first, runs = time_steps(bench.step(stage), device, warmup, steps, repeats, slow_s)
                gflops = bench.flops_per_step(stage) / seconds / 1e9
                mark = "*" if runs < repeats else " "
                row = (f"{name:<7}{stage:>6}{precision:>10}{batch:>6}{seconds * 1e3:>10.1f}{mark}"
                       f"{batch / seconds:>10.1f}{gflops:>10.1f}{first:>11.2f}")
                train_rows.append(row)
                print(row, flush=True)
                del bench

    infer_header = (f"{'config':<7}{'precision':>10}{'batch':>6}{'ms/batch':>11}{'images/s':>10}"
                    f"{'GFLOP/s':>10}")
    print(f"\ninference: 64 -> 256, batch {infer_batch}, eval, inference_mode, model only "
          f"(data on the device), 1 warm-up call, {repeats} repeats (median); GFLOP/s = forward "
          f"srresnet_flops / s", flush=True)
    print(infer_header, flush=True)
    infer_rows = []
    for name, cfg in CONFIGS.items():
        gen = inference_generator(cfg, device)
        for precision in PRECISIONS:
            fn = inference_fn(gen, device, autocast_dtype(device, precision), infer_images, infer_batch)
            seconds, _, runs = time_steps(fn, device, 1, 1, repeats, slow_s)
            per_batch = seconds * infer_batch / infer_images
            gflops = generator_flops(cfg, 64, 64) * infer_images / seconds / 1e9
            mark = "*" if runs < repeats else " "
            row = (f"{name:<7}{precision:>10}{infer_batch:>6}{per_batch * 1e3:>10.1f}{mark}"
                   f"{infer_images / seconds:>10.1f}{gflops:>10.1f}")
            infer_rows.append(row)
            print(row, flush=True)

    print("\n== summary ==")
    for line in machine_lines(device):
        print(line)
    print(FLOPS_CONVENTION)
    print(f"* = timed once instead of {repeats} times (one run > {slow_s:.0f} s)")
    print(header)
    print("\n".join(train_rows))
    print(infer_header)
    print("\n".join(infer_rows))
    print(f"total {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per repeat (default 10 on CPU, 50 on CUDA; --quick: 1 / 5)")
    parser.add_argument("--quick", action="store_true",
                        help="1 warm-up step, fewer timed steps, slow cells timed once (< 3 min on 2 CPU cores)")
    arguments = parser.parse_args()
    run(arguments.device, arguments.steps, arguments.quick)


if __name__ == "__main__":
    main()
