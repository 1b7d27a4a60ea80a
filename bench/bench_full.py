"""Time the default ``kedro run --pipeline=full`` end to end, per stage and per node, with FLOPs.

    python bench/bench_full.py [--params "a.b=1,..."] [--env ENV] [--keep] [--tmp DIR]
    python bench/bench_full.py --existing PROJECT [--events FILE]   # the tables of a finished run

Runs the real command in a fresh copy of the project (conf, pyproject; empty data folders; the
package from the current install), from scratch, and prints:

* the machine: CPU model, torch's CPU capability (AVX2 / AVX512 / AMX...), threads, and this
  machine's dense matmul rate (1024^3, median of 5) in fp32 and bf16, the yardstick;
* per node and per stage: wall seconds (Kedro's own node timings, from the run-status events
  kedro-viz records in ``.viz/``), FLOPs of the convolutions and linear layers the node ran
  (forward FLOPs per image counted with ``torch.utils.flop_counter`` on the real models, times
  images; training = 3 x forward), achieved GFLOP/s and its % of the matmul rate in the precision
  the stage ran at.

FLOPs leave out augmentation, data loading, the SR stage's periodic validation and the bicubic
skip: achieved rates are lower bounds. Nothing is written into the repository.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from machine import cpu_model, matmul_gflops, usable_cores  # noqa: E402  (bench/ is on sys.path when run as a script)

from faceless.data import SIDES  # noqa: E402
from faceless.models import build_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GFLOP = 1e9


def project_copy(dest: Path) -> Path:
    """conf, notebooks and pyproject in ``dest`` with empty data folders (the package is installed)."""
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(ROOT / name, dest)
    shutil.copytree(ROOT / "conf", dest / "conf", ignore=shutil.ignore_patterns("credentials*", "local"))
    (dest / "conf" / "local").mkdir()
    (dest / "src").mkdir()
    for folder in (ROOT / "data").iterdir():
        if folder.is_dir():
            (dest / "data" / folder.name).mkdir(parents=True)
    return dest


def forward_flops(kind: str, config: dict[str, Any], side: int) -> float:
    """FLOPs of one forward pass of a saved model config on one ``side`` x ``side`` image."""
    model = build_model(kind, config).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, side, side))
    return float(counter.get_total_flops())


def sr_training_flops(report: dict[str, Any], generator: dict[str, Any]) -> float:
    """FLOPs of one SR training, from its report."""
    params, scale = report["params"], generator["scale"]
    crop = min(params["crop"], *report["lr_size"])  # random_batch crops no larger than the frames
    g_crop = forward_flops("generator", generator, crop)
    d_crop = forward_flops("discriminator", params["discriminator"], crop * scale)
    steps = report["steps"]
    # stage 1: G forward + backward; stage 2: G forward + backward and D on real, detached fake and fake
    return params["batch_size"] * (3 * g_crop * steps["pretrain"] + (3 * g_crop + 9 * d_crop) * steps["gan"])


def node_flops(data: Path) -> tuple[dict[str, float], dict[str, str]]:
    """FLOPs per node name, and the precision each node ran at, from the run's reports."""
    reporting, models = data / "08_reporting", data / "06_models"
    frames = {side: np.load(data / "05_model_input" / f"lr_{side}.npy", mmap_mode="r").shape for side in SIDES}
    flops: dict[str, float] = defaultdict(float)
    precision: dict[str, str] = {}
    for report_path in sorted(reporting.glob("sr_report_*.json")):
        variant = report_path.stem[len("sr_report_"):]
        report = json.loads(report_path.read_text())
        if "skipped" in report or report.get("trained_here") is False:  # an import is not trained here
            continue
        generator = torch.load(models / f"sr_generator_{variant}.pt", weights_only=True)["config"]
        node = f"srgan.{variant}.train"
        flops[node], precision[node] = sr_training_flops(report, generator), report["precision"]
        for side, (count, height, *_) in frames.items():  # each generator upscales the split's frames
            flops[f"upscaling.{variant}.upscale_{side}"] = count * forward_flops("generator", generator, height)
            precision[f"upscaling.{variant}.upscale_{side}"] = report["precision"]
    for path in sorted(reporting.glob("classifier_report_*.json")):
        report = json.loads(path.read_text())
        if "skipped" in report:
            continue
        variant, seeds = report["variant"], len(report.get("seeds", [0]))
        per_image = forward_flops("backbone", report["config"], report["input_size"][0])
        train = 3 * per_image * report["train_frames"] * report["epochs"]
        validate = per_image * report["val_frames"] * len(report["history"])  # classifier.eval_every_epochs
        flops[f"classifier.{variant}.train"] = seeds * (train + validate)
        precision[f"classifier.{variant}.train"] = report["precision"]
        evaluation = reporting / f"evaluation_{variant}.json"
        if evaluation.is_file():
            tested = json.loads(evaluation.read_text())["test_frames"]
            flops[f"evaluation.{variant}.evaluate"] = seeds * per_image * tested
            precision[f"evaluation.{variant}.evaluate"] = report["precision"]
    return flops, precision


def run(args: argparse.Namespace, folder: Path) -> None:
    project = project_copy(folder / "project")
    command = [sys.executable, "-m", "kedro", "run", "--pipeline=full"]
    if args.params:
        command += ["--params", args.params]
    if args.env:
        command += ["--env", args.env]
    env = {**os.environ, "COLUMNS": "200", "KEDRO_DISABLE_TELEMETRY": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    print(f"running {' '.join(command[1:])} in a fresh project copy ...", flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
        raise SystemExit(f"kedro run failed with exit code {result.returncode}")
    report(project, project / ".viz" / "kedro_pipeline_events.json", wall)
    if args.keep:
        print(f"project kept at {project}")


def report(project: Path, events_file: Path, wall: float | None) -> None:
    """The tables of a finished run: node timings from kedro-viz's run events, FLOPs from its reports."""
    events = json.loads(events_file.read_text())
    seconds = {e["node"]: e["duration"] for e in events if e.get("event") == "after_node_run"}
    flops, precision = node_flops(project / "data")
    peak = {"fp32": matmul_gflops(1024, torch.float32), "bfloat16": matmul_gflops(1024, torch.bfloat16)}
    print_table(seconds, flops, precision, peak, wall)


def print_table(seconds: dict[str, float], flops: dict[str, float], precision: dict[str, str],
                peak: dict[str, float], wall: float | None) -> None:
    print(f"\nCPU: {cpu_model()}; torch {torch.__version__}, capability "
          f"{torch.backends.cpu.get_cpu_capability()}, {usable_cores()} threads; matmul 1024^3: "
          f"fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bfloat16']:.0f} GFLOP/s")
    header = f"{'node':<42} {'s':>8} {'GFLOP':>9} {'GFLOP/s':>8} {'% mm':>6} {'precision':>9}"
    print(header + "\n" + "-" * len(header))
    stages: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for node, s in sorted(seconds.items(), key=lambda item: -item[1]):
        gflop = flops.get(node, 0.0) / GFLOP
        stage = node.split(".")[0]
        stages[stage][0] += s
        stages[stage][1] += gflop
        rate = gflop / s if s > 0 and gflop else None
        share = 100 * rate / peak.get(precision.get(node, "fp32"), peak["fp32"]) if rate else None
        print(f"{node:<42} {s:>8.1f} {gflop:>9.1f} {rate or 0:>8.1f} {share or 0:>5.0f}% {precision.get(node, ''):>9}"
              if rate else f"{node:<42} {s:>8.1f} {'':>9} {'':>8} {'':>6} {'':>9}")
    print(f"\n{'stage':<14} {'s':>8} {'GFLOP':>9} {'GFLOP/s':>8}")
    for stage, (s, gflop) in sorted(stages.items(), key=lambda item: -item[1][0]):
        print(f"{stage:<14} {s:>8.1f} {gflop:>9.1f} {gflop / s if s and gflop else 0:>8.1f}")
    print(f"\nnodes {sum(seconds.values()):.1f} s" + (f"; wall clock of the command {wall:.1f} s (start-up, "
                                                      "catalog I/O and MLflow included)" if wall else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--params", default="", help="kedro --params for the run (default: none, the defaults)")
    parser.add_argument("--env", default="", help="kedro --env (e.g. seed)")
    parser.add_argument("--keep", action="store_true", help="keep the project copy (printed at the end)")
    parser.add_argument("--tmp", default=None, help="folder for the project copy (default: a temporary folder)")
    parser.add_argument("--existing", default=None, help="print the tables of a finished run in this project folder "
                        "(its .viz events and reports) instead of running")
    parser.add_argument("--events", default=None, help="with --existing: the run-events file to read")
    args = parser.parse_args()
    if args.existing:
        project = Path(args.existing)
        report(project, Path(args.events or project / ".viz" / "kedro_pipeline_events.json"), None)
        return
    if args.tmp:
        folder = Path(tempfile.mkdtemp(prefix="bench_full_", dir=args.tmp))
        run(args, folder)
        return
    with tempfile.TemporaryDirectory(prefix="bench_full_") as folder:
        if args.keep:
            folder = tempfile.mkdtemp(prefix="bench_full_")
        run(args, Path(folder))


if __name__ == "__main__":
    main()
