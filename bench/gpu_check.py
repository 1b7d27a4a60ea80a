"""One-shot GPU check of SRGAN training and inference (H100 / H200), in under 6 minutes.

    PYTHONPATH=src python bench/gpu_check.py            # on the GPU box, once
    PYTHONPATH=src python bench/gpu_check.py --dry-run  # here, on the CPU: tiny sizes, < 60 s

Needs torch, numpy, tqdm, matplotlib, pyyaml; not kedro or mlflow (only the engines are imported:
``faceless.sr``, ``faceless.inference``, ``faceless.models``, ``faceless.training``, plus the
training step of ``bench_srgan.py`` next to this file). Sections, each printing its rows as it
finishes; all rows are printed again as one table at the end and, if ``$OUT`` is set, written
to ``$OUT/gpu_check.json``:

  a. environment; bf16 (and TF32) 8192^3 matmul TFLOP/s as the reference peak
  b. paper-config training step, stage 1 (pixel) and stage 2 (adversarial), batch 16 and 64,
     crop 24 -> 96, fp32 vs bf16 autocast, eager; torch.compile for bf16 at batch 64 only
     (run last, as it is the slowest); channels_last as the project sets it on CUDA
  c. inference 64 -> 256 with the paper generator: batch 1 (per-image loop), 64, 256, bf16 and
     fp32, channels_last, inference_mode; plus the project's own ``upscale_batches`` path
  d. a short real SR training run (``SRTrainer.train``, what the ``train_srgan`` node runs; paper
     generator, 200 + 100 steps) on structured random data

Every section has a time budget; a cell that would start past its section's budget, or past
the overall soft limit, is skipped with a printed note. A watchdog prints what is there and
exits at the hard limit (350 s), so the script always ends within 6 minutes.

"fp32" on CUDA is what the project runs: ``select_device`` enables TF32 for matmuls and convs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

T0 = time.perf_counter()
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

NOTES: list[str] = []


import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from machine import cpu_model  # noqa: E402
from bench_srgan import (  # noqa: E402
    CONFIGS,
    FLOPS_CONVENTION,
    SCALE,
    TrainStep,
    check_srresnet_flops,
    generator_flops,
    inference_fn,
    inference_generator,
    time_steps,
)
import yaml  # noqa: E402

from faceless.inference import upscale_batches  # noqa: E402
from faceless.sr.config import load_config  # noqa: E402
from faceless.sr.pairs import random_batch  # noqa: E402
from faceless.sr.trainer import SRTrainer  # noqa: E402
from faceless.training.tracker import NullTracker  # noqa: E402
from faceless.training.device import autocast_dtype, memory_format, select_device  # noqa: E402
from faceless.training.loop import step_generator  # noqa: E402

CONF_SRGAN = Path(__file__).resolve().parents[1] / "conf" / "base" / "parameters_srgan.yml"
HARD_LIMIT_S = 350.0  # watchdog: print, write and exit (the whole script must end within 360 s)
DRY_RUN_HARD_LIMIT_S = 58.0


# ----------------------------------------------------------------------------------------------
# Sizes: the real check, and the CPU dry run
# ----------------------------------------------------------------------------------------------
def plan(dry_run: bool) -> dict[str, Any]:
    if dry_run:
        return {
            "cfg": {"blocks": 2, "channels": 16, "disc": 16}, "cfg_name": "tiny",
            "matmul": 512, "train_batches": (2, 4), "crop": 8, "warmup": 1, "steps": 1, "repeats": 1,
            "compile_backend": "aot_eager", "compile_batch": 4, "compile_warmup": 2,
            "infer": ((1, 4), (2, 4), (4, 4)), "infer_side": 16, "infer_project_images": 4,
            "frames": 16, "val_frames": 4, "frame_side": 64, "pretrain": 2, "gan": 1, "eval_every": 2,
            "node_batch": 2, "budgets": {"a": 10, "b": 25, "c": 10, "d": 25, "b-compile": 20},
            "soft_limit": 50.0,
        }
    return {
        "cfg": CONFIGS["paper"], "cfg_name": "paper",
        "matmul": 8192, "train_batches": (16, 64), "crop": 24, "warmup": 2, "steps": 20, "repeats": 3,
        "compile_backend": "inductor", "compile_batch": 64, "compile_warmup": 3,
        "infer": ((1, 128), (64, 256), (256, 256)), "infer_side": 64, "infer_project_images": 256,
        "frames": 512, "val_frames": 64, "frame_side": 64, "pretrain": 200, "gan": 100, "eval_every": 100,
        "node_batch": 16, "budgets": {"a": 20, "b": 80, "c": 40, "d": 80, "b-compile": 130},
        "soft_limit": 320.0,
    }


# ----------------------------------------------------------------------------------------------
# Rows, budgets, watchdog
# ----------------------------------------------------------------------------------------------
class Report:
    COLUMNS = (("sec", 4, "section"), ("case", 34, "case"), ("ms", 10, "ms"), ("img/s", 10, "images_per_s"),
               ("TFLOP/s", 9, "tflops"), ("peak GiB", 9, "peak_gib"))

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.header_printed = False
        self.meta: dict[str, Any] = {}

    @staticmethod
    def _cell(value: Any, width: int) -> str:
        if value is None:
            return " " * width
        if isinstance(value, float):
            text = f"{value:.3g}" if abs(value) < 10 else f"{value:,.1f}"
            return f"{text:>{width}}"
        return f"{str(value):>{width}}"

    def format_row(self, row: dict[str, Any]) -> str:
        parts = [f"{row['section']:<4}", f"{row['case']:<34}"]
        parts += [self._cell(row.get(key), width) for _, width, key in self.COLUMNS[2:]]
        return " ".join(parts) + ("  " + row["note"] if row.get("note") else "")

    def header(self) -> str:
        cells = [f"{name:>{width}}" for name, width, _ in self.COLUMNS[2:]]
        return " ".join([f"{'sec':<4}", f"{'case':<34}", *cells]) + "  note"

    def add(self, section: str, case: str, note: str = "", **fields: Any) -> dict[str, Any]:
        row = {"section": section, "case": case, **fields, "note": note,
               "t_s": round(time.perf_counter() - T0, 1)}
        with self.lock:
            if not self.header_printed:
                print(self.header(), flush=True)
                self.header_printed = True
            self.rows.append(row)
            print(self.format_row(row), flush=True)
        return row

    def final(self, reason: str = "") -> None:
        with self.lock:
            total = time.perf_counter() - T0
            print(f"\n== gpu_check summary ({total:.0f} s{', ' + reason if reason else ''}) ==", flush=True)
            for key, value in self.meta.items():
                print(f"{key}: {value}")
            for note in NOTES:
                print(f"note: {note}")
            print(FLOPS_CONVENTION)
            print(self.header())
            for row in sorted(self.rows, key=lambda r: r["section"][0]):
                print(self.format_row(row))
            sys.stdout.flush()
            out = os.environ.get("OUT")
            if out:
                path = Path(out) / "gpu_check.json"
                payload = {"meta": self.meta, "notes": NOTES, "flops_convention": FLOPS_CONVENTION,
                           "total_s": round(total, 1), "ended": reason or "completed", "rows": self.rows}
                path.write_text(json.dumps(payload, indent=1, default=str))
                print(f"wrote {path}", flush=True)


class Budget:
    """Per-section deadlines inside an overall soft limit (seconds since the script started)."""

    def __init__(self, budgets: dict[str, float], soft_limit: float, report: Report) -> None:
        self.budgets, self.soft_limit, self.report = budgets, soft_limit, report
        self.section, self.deadline = "", 0.0

    def start(self, section: str) -> None:
        now = time.perf_counter() - T0
        self.section = section
        self.deadline = min(now + self.budgets[section], self.soft_limit)

    def ok(self, case: str, need_s: float = 0.0) -> bool:
        """True if ``case`` may start: it would end (``need_s`` from now) inside both limits."""
        now = time.perf_counter() - T0
        if now + need_s <= self.deadline:
            return True
        self.report.add(self.section[0], case,
                        note=f"SKIPPED: {now:.0f} s + ~{need_s:.0f} s needed > section '{self.section}' "
                             f"deadline {self.deadline:.0f} s (soft limit {self.soft_limit:.0f} s)")
        return False


def start_watchdog(report: Report, limit_s: float) -> threading.Timer:
    def fire() -> None:
        print(f"\n!! hard time limit {limit_s:.0f} s reached: stopping now", flush=True)
        try:
            report.final(reason=f"stopped by the {limit_s:.0f} s watchdog")
        finally:
            os._exit(3)

    timer = threading.Timer(max(1.0, limit_s - (time.perf_counter() - T0)), fire)
    timer.daemon = True
    timer.start()
    return timer


def failed(report: Report, section: str, case: str, error: BaseException) -> None:
    message = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
    report.add(section, case, note=f"FAILED: {type(error).__name__}: {message}")
    traceback.print_exc(limit=3)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


# ----------------------------------------------------------------------------------------------
# a. environment
# ----------------------------------------------------------------------------------------------
def matmul_tflops(device: torch.device, n: int, dtype: torch.dtype, iters: int = 10) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    seconds, _, _ = time_steps(lambda: torch.mm(a, b), device, warmup=3, steps=iters, repeats=3)
    return 2.0 * n**3 / seconds / 1e12


def section_a(device: torch.device, p: dict[str, Any], report: Report, budget: Budget) -> None:
    budget.start("a")
    meta = report.meta
    meta["torch"] = torch.__version__
    meta["cuda"] = torch.version.cuda
    meta["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    meta["cpu"] = f"{cpu_model()}, {os.cpu_count()} cores"
    meta["python"] = platform.python_version()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        meta["device"] = props.name
        meta["capability"] = f"{props.major}.{props.minor}"
        meta["memory_gib"] = round(props.total_memory / 2**30, 1)
        meta["sms"] = props.multi_processor_count
        meta["tf32"] = f"matmul={torch.backends.cuda.matmul.allow_tf32} cudnn={torch.backends.cudnn.allow_tf32}"
        meta["cudnn.benchmark"] = torch.backends.cudnn.benchmark
    else:
        meta["device"] = f"cpu (dry run), bf16 autocast by 'auto': {autocast_dtype(device, 'auto') is not None}"
    meta["config"] = f"{p['cfg_name']} {p['cfg']}"
    report.add("a", "env", note=", ".join(f"{k}={meta[k]}" for k in ("torch", "cuda", "cudnn", "device",
                                                                       "capability", "memory_gib")
                                          if k in meta))
    ours, counted = check_srresnet_flops(p["cfg"], p["crop"])
    report.add("a", "flops check G fwd/img", note=f"srresnet_flops={ours / 1e9:.4f} GFLOP, "
                                                  f"hook-counted={counted / 1e9:.4f} GFLOP")
    n = p["matmul"]
    for name, dtype in (("bf16", torch.bfloat16), ("fp32/tf32", torch.float32)):
        case = f"matmul {name} {n}^3"
        if not budget.ok(case, 3):
            continue
        try:
            tflops = matmul_tflops(device, n, dtype)
            report.add("a", case, tflops=tflops, note="reference peak" if name == "bf16" else "")
            meta[f"matmul_{name}_tflops"] = round(tflops, 1)
        except Exception as error:  # noqa: BLE001 - report it, carry on
            failed(report, "a", case, error)
    reset_peak(device)


# ----------------------------------------------------------------------------------------------
# b. training step
# ----------------------------------------------------------------------------------------------
def train_cell(device: torch.device, p: dict[str, Any], report: Report, stage: int, precision: str,
               batch: int, compile_backend: str | None = None) -> None:
    mode = "compile" if compile_backend else "eager"
    case = f"train s{stage} {precision} {mode} b{batch}"
    try:
        reset_peak(device)
        dtype = autocast_dtype(device, precision)
        bench = TrainStep(p["cfg"], device, dtype, batch, p["crop"], compile_backend=compile_backend)
        warmup = p["compile_warmup"] if compile_backend else p["warmup"]
        seconds, first, runs = time_steps(bench.step(stage), device, warmup, p["steps"], p["repeats"])
        tflops = bench.flops_per_step(stage) / seconds / 1e12
        note = f"1st step {first:.2f} s"
        extra: dict[str, Any] = {}
        if compile_backend:
            extra["compile_s"] = round(first - seconds, 2)
            note = f"compile ~{first - seconds:.1f} s (1st step - steady step), backend {compile_backend}"
        report.add("b", case, ms=seconds * 1e3, images_per_s=batch / seconds, tflops=tflops,
                   peak_gib=peak_gib(device), note=note, stage=stage, precision=precision, batch=batch,
                   mode=mode, first_step_s=round(first, 3), timed_runs=runs, **extra)
        del bench
    except Exception as error:  # noqa: BLE001 - OOM, compile error...: report it, carry on
        failed(report, "b", case, error)
    reset_peak(device)


def make_frames(p: dict[str, Any], device: torch.device, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(LR uint8 NHWC count x 64 x 64, HR uint8 NHWC count x 256 x 256), random but structured.

    HR: smooth colour shading (bicubic-upsampled coarse noise) plus hard-edged coloured blobs
    (thresholded smooth noise), so that there are sharp edges for SR to beat bicubic on. LR: the
    HR images area-downscaled 4x (the truth pairs a source with HR would give).
    """
    side = p["frame_side"] * SCALE
    gen = torch.Generator().manual_seed(seed)

    def field(n: int, cells: int, channels: int) -> torch.Tensor:
        noise = torch.rand(n, channels, cells, cells, generator=gen).to(device)
        return F.interpolate(noise, size=(side, side), mode="bicubic", align_corners=False)

    lr_out, hr_out = [], []
    for start in range(0, count, 64):
        n = min(64, count - start)
        hr = 0.5 * field(n, 4, 3) + 0.25 * field(n, 8, 3)
        for cells in (6, 12, 24):  # blobs of three sizes, each with its own colour
            mask = (field(n, cells, 1) > 0.6).float()
            colour = torch.rand(n, 3, 1, 1, generator=gen).to(device)
            hr = hr * (1 - mask) + colour * mask
        hr = hr + 0.03 * field(n, 64, 3)  # a little fine texture
        hr = hr.clamp(0, 1)
        lr = F.interpolate(hr, scale_factor=1 / SCALE, mode="area")
        hr_out.append((hr * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu())
        lr_out.append((lr * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu())
    return torch.cat(lr_out).numpy(), torch.cat(hr_out).numpy()


def data_cells(device: torch.device, p: dict[str, Any], report: Report, budget: Budget,
               frames: tuple[np.ndarray, np.ndarray]) -> None:
    """The real node's batch sampling (``random_batch`` on device-resident uint8 data)."""
    lr = torch.from_numpy(frames[0]).permute(0, 3, 1, 2).contiguous().to(device)
    hr = torch.from_numpy(frames[1]).permute(0, 3, 1, 2).contiguous().to(device)
    for batch in p["train_batches"]:
        case = f"data random_batch b{batch}"
        if not budget.ok(case, 2):
            return
        try:
            counter = iter(range(10**9))

            def sample(batch: int = batch) -> None:
                random_batch(lr, hr, batch, p["crop"], SCALE, step_generator(0, next(counter)))

            seconds, _, _ = time_steps(sample, device, p["warmup"], p["steps"], p["repeats"])
            report.add("b", case, ms=seconds * 1e3, images_per_s=batch / seconds,
                       note="train_srgan's batch sampling per step (not in the step rows)")
        except Exception as error:  # noqa: BLE001
            failed(report, "b", case, error)


def section_b(device: torch.device, p: dict[str, Any], report: Report, budget: Budget,
              frames: tuple[np.ndarray, np.ndarray]) -> None:
    budget.start("b")
    report.add("b", f"{p['cfg_name']} crop {p['crop']}->{p['crop'] * SCALE}",
               note=f"warm-up {p['warmup']}, {p['steps']} steps x {p['repeats']} repeats (median); "
                    f"memory format {memory_format(device)}")
    for batch in p["train_batches"]:
        for stage in (1, 2):
            for precision in ("fp32", "bf16"):
                if budget.ok(f"train s{stage} {precision} eager b{batch}", 3):
                    train_cell(device, p, report, stage, precision, batch)
    data_cells(device, p, report, budget, frames)


def section_b_compile(device: torch.device, p: dict[str, Any], report: Report, budget: Budget) -> None:
    budget.start("b-compile")
    batch = p["compile_batch"]
    for stage, need in ((1, 45), (2, 60)):
        need = need if device.type == "cuda" else 5
        if budget.ok(f"train s{stage} bf16 compile b{batch}", need):
            train_cell(device, p, report, stage, "bf16", batch, compile_backend=p["compile_backend"])


# ----------------------------------------------------------------------------------------------
# c. inference
# ----------------------------------------------------------------------------------------------
def section_c(device: torch.device, p: dict[str, Any], report: Report, budget: Budget) -> None:
    budget.start("c")
    cfg = p["cfg"]
    generator = inference_generator(cfg, device)
    side = p["infer_side"]
    fwd = generator_flops(cfg, side, side)
    per_image: dict[str, float] = {}
    for precision in ("bf16", "fp32"):
        dtype = autocast_dtype(device, precision)
        for batch, images in p["infer"]:
            case = f"infer {side}->{side * SCALE} {precision} b{batch}"
            if not budget.ok(case, 3):
                continue
            try:
                reset_peak(device)
                fn = inference_fn(generator, device, dtype, images, batch, side=side)
                seconds, _, _ = time_steps(fn, device, 1, 1, p["repeats"])
                rate = images / seconds
                if batch == 1:
                    per_image[precision] = rate
                ratio = rate / per_image[precision] if precision in per_image else None
                note = "per-image loop" if batch == 1 else (f"{ratio:.1f}x per-image" if ratio else "")
                report.add("c", case, ms=seconds * 1e3 * batch / images, images_per_s=rate,
                           tflops=fwd * rate / 1e12, peak_gib=peak_gib(device), note=note, batch=batch,
                           precision=precision, ratio_vs_per_image=ratio)
            except Exception as error:  # noqa: BLE001
                failed(report, "c", case, error)
    # The project's own path: uint8 on the host in, float32 on the host out.
    images = p["infer_project_images"]
    lr_u8 = torch.randint(0, 256, (images, 3, side, side), dtype=torch.uint8)
    dtype = autocast_dtype(device, "auto")
    for batch in (1, p["infer"][-1][0]):
        case = f"upscale_batches auto b{batch}"
        if not budget.ok(case, 3):
            continue
        try:
            def project(batch: int = batch) -> None:
                for _ in upscale_batches(generator, lr_u8, SCALE, device, dtype, batch=batch):
                    pass

            seconds, _, _ = time_steps(project, device, 1, 1, p["repeats"])
            report.add("c", case, ms=seconds * 1e3 * batch / images, images_per_s=images / seconds,
                       note="inference.upscale_batches: uint8 host -> device, float32 back to host")
        except Exception as error:  # noqa: BLE001
            failed(report, "c", case, error)
    del generator
    reset_peak(device)


# ----------------------------------------------------------------------------------------------
# d. the real node
# ----------------------------------------------------------------------------------------------
def section_d(device: torch.device, p: dict[str, Any], report: Report, budget: Budget,
              frames: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray]) -> None:
    budget.start("d")
    case = f"train_srgan {p['pretrain']}+{p['gan']} b{p['node_batch']}"
    if not budget.ok(case, budget.budgets["d"] * 0.5):
        return
    cfg = p["cfg"]
    with tempfile.TemporaryDirectory(prefix="gpu_check_srgan_") as checkpoints:
        params = yaml.safe_load(CONF_SRGAN.read_text())["srgan"]  # conf/base, the paper generator, a short run
        params["generator"].update(blocks=cfg["blocks"], channels=cfg["channels"])
        params["discriminator"].update(channels=cfg["disc"])
        params.update(scale=SCALE, pretrain_steps=p["pretrain"], gan_steps=p["gan"], lr_pretrain=2.0e-4,
                      batch_size=p["node_batch"], crop=p["crop"], device=device.type, precision="auto",
                      compile=False, eval_every=p["eval_every"], val_frames=p["val_frames"],
                      checkpoint_every=p["eval_every"] * 2, checkpoint_dir=checkpoints, resume=False,
                      init_weights=None)
        try:
            reset_peak(device)
            started = time.perf_counter()
            trainer = SRTrainer.from_arrays(load_config(params), frames[0], frames[1], val[0], val[1])
            _, rep = trainer.train(NullTracker())  # what the srgan node runs, without MLflow
            wall = time.perf_counter() - started
            val_m = rep["val"]
            gains = ", ".join(f"@{h['step']}: {h['val_psnr_gain']:+.2f}" for h in rep["history"])
            report.add("d", case, ms=rep["seconds"] * 1e3 / max(1, rep["steps"]["run_now"]),
                       images_per_s=rep["train_images_per_s"], peak_gib=peak_gib(device),
                       note=(f"{rep['device']} {rep['precision']} pairs={rep['pairs']} "
                             f"{rep['lr_size']}->{rep['hr_size']}; loop {rep['seconds']:.1f} s, node {wall:.1f} s; "
                             f"val PSNR {val_m['val_psnr']:.2f} dB vs bicubic {val_m['val_psnr_bicubic']:.2f} "
                             f"(gain {val_m['val_psnr_gain']:+.2f}; {gains})"),
                       seconds=rep["seconds"], node_wall_s=round(wall, 2),
                       train_images_per_s=rep["train_images_per_s"], val=val_m, history=rep["history"],
                       report_device=rep["device"], report_precision=rep["precision"])
        except Exception as error:  # noqa: BLE001
            failed(report, "d", case, error)
    reset_peak(device)


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, 1 step each (< 60 s)")
    parser.add_argument("--soft-limit", type=float, default=None,
                        help="override the overall soft limit in seconds (tests the skipping)")
    parser.add_argument("--hard-limit", type=float, default=None,
                        help=f"watchdog seconds (default {HARD_LIMIT_S:.0f}; dry run {DRY_RUN_HARD_LIMIT_S:.0f})")
    arguments = parser.parse_args()
    p = plan(arguments.dry_run)
    if arguments.soft_limit is not None:
        p["soft_limit"] = arguments.soft_limit

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("  [%(name)s] %(message)s"))
    project_logger = logging.getLogger("faceless")
    project_logger.addHandler(handler)
    project_logger.setLevel(logging.INFO)

    report = Report()
    hard = arguments.hard_limit or (DRY_RUN_HARD_LIMIT_S if arguments.dry_run else HARD_LIMIT_S)
    start_watchdog(report, hard)
    if arguments.dry_run:
        device = select_device("cpu")
    else:
        if not torch.cuda.is_available():
            sys.exit("gpu_check: no CUDA device (use --dry-run on the CPU)")
        device = select_device("cuda")  # the project's set-up: TF32 on, cudnn.benchmark on
    report.meta["mode"] = "dry run (CPU, tiny sizes)" if arguments.dry_run else "full"
    budget = Budget(p["budgets"], p["soft_limit"], report)
    print(f"gpu_check: {report.meta['mode']}, soft limit {p['soft_limit']:.0f} s, "
          f"imports took {time.perf_counter() - T0:.1f} s", flush=True)

    section_a(device, p, report, budget)
    frames = make_frames(p, device, p["frames"], seed=1)
    val = make_frames(p, device, p["val_frames"], seed=2)
    section_b(device, p, report, budget, frames)
    section_c(device, p, report, budget)
    section_d(device, p, report, budget, frames, val)
    section_b_compile(device, p, report, budget)  # last: the slowest and least certain
    report.final()


if __name__ == "__main__":
    main()
