"""The SR recipe's screen, on the VALIDATION side only: PSNR gain over bicubic of the srgan
generator trained with conf/base's recipe and with changes to it.

    OMP_NUM_THREADS=1 python bench/screen_sr.py --cache /tmp/screen-cache \\
        --setting base: --setting cosine:lr_pretrain_schedule=cosine \\
        --setting cosine-2e-3:lr_pretrain_schedule=cosine,lr_pretrain=2e-3 --seeds 0,1

Each ``--setting NAME:key=value,...`` changes ``params:srgan`` keys (dotted for nested ones, values
read as YAML); an empty change list is conf/base's recipe. The data are the demo's train and val
sides exactly as ``bench/screen.py`` builds them (rendered with conf/base's ingestion parameters,
split and sampled by the sampling stage's own nodes; no test frame is ever loaded; ``--cache``
keeps them for the next call). Each setting x ``srgan.seed`` trains the generator as the srgan node
does (:func:`faceless.sr.trainer.train_generator` on ``variant_config`` of the ``srgan`` block) and
reads its report: validation PSNR, bicubic's, their difference (the gain), SSIM, and the training's
wall and CPU seconds. The table gives each setting's mean gain over seeds and its difference from
the first setting, paired by seed. Writes nothing into the repository.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import yaml  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from machine import cpu_model, usable_cores  # noqa: E402
from screen import build_sides, conf_section, set_path  # noqa: E402

import torch  # noqa: E402

from faceless.sr.config import variant_config  # noqa: E402
from faceless.sr.trainer import train_generator  # noqa: E402
from faceless.variants import variant_specs  # noqa: E402


def parse_setting(text: str) -> tuple[str, dict[str, object]]:
    name, _, changes = text.partition(":")
    values = {}
    for item in filter(None, changes.split(",")):
        key, _, value = item.partition("=")
        values[key.strip()] = yaml.safe_load(value)
    return name or "base", values


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", action="append", default=[], help="NAME:key=value,... (repeatable)")
    parser.add_argument("--seeds", default="0", help="srgan.seed values, comma-separated")
    parser.add_argument("--cache", default=None, help="folder keeping the rendered train/val sides")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long smoke run on a tiny demo")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    settings = [parse_setting(text) for text in (args.setting or ["base:"])]
    seeds = [int(s) for s in args.seeds.split(",")]
    sides = build_sides(args)
    base = conf_section("srgan")
    variants = yaml.safe_load((Path(__file__).resolve().parents[1] / "conf" / "base" /
                               "parameters_variants.yml").read_text())["variants"]
    spec = variant_specs(variants)["srgan"]
    results: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="screen-sr-") as tmp:
        for name, changes in settings:
            for seed in seeds:
                params = copy.deepcopy(base)
                for key, value in changes.items():
                    set_path(params, key, value)
                params.update(seed=seed, checkpoint_dir=str(Path(tmp) / f"{name}-{seed}"), resume=False,
                              distributed={**params["distributed"], "nproc": 1})
                config = variant_config(params, spec)
                wall, cpu = time.perf_counter(), time.process_time()
                _, report = train_generator(config, sides["lr_train"], sides["hr_train"], sides["lr_val"],
                                            sides["hr_val"])
                val = report["val"]
                row = {"gain": val["val_psnr_gain"], "psnr": val["val_psnr"], "ssim": val["val_ssim"],
                       "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
                results.setdefault(name, []).append(row)
                print(f"{name} seed {seed}: gain {row['gain']:+.3f} dB, PSNR {row['psnr']:.2f}, "
                      f"{row['wall']:.0f} s wall, {row['cpu']:.0f} s CPU", flush=True)
    first = settings[0][0]
    print(f"\nsrgan on the demo's VALIDATION side, seeds {seeds} (PSNR gain over bicubic, dB)")
    print(f"{'setting':<24} {'gain':>7} {'min':>7} {'max':>7} {'vs ' + first:>10} {'wall s':>7} {'CPU s':>7}")
    for name, _ in settings:
        rows = results[name]
        gains = [r["gain"] for r in rows]
        paired = statistics.mean(g - b["gain"] for g, b in zip(gains, results[first]))
        print(f"{name:<24} {statistics.mean(gains):+7.3f} {min(gains):+7.3f} {max(gains):+7.3f} {paired:+10.3f} "
              f"{statistics.median(r['wall'] for r in rows):7.0f} {statistics.median(r['cpu'] for r in rows):7.0f}")
    print(f"machine: {cpu_model()}, {usable_cores()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}")


if __name__ == "__main__":
    main()
