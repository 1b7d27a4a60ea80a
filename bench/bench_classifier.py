"""Where a classifier training step's time goes, at 64 and 256 px.

    python bench/bench_classifier.py [--repeats 15] [--batch 16] [--width 16] [--threads N]

Each case runs the trainer's own step (``ClassifierTrainer.step``: batch gather from uint8 frames,
the augmentation, the model in conf/base's memory format and precision, AdamW and the one-cycle
schedule) on random frames of the demo's size (24 x 16 training frames), and times its parts
separately in the same order: ``gather`` (index and convert to float), ``augment`` (flip,
scale/shift, colour), ``model`` (forward, backward, optimiser). Interleaved: every case once per
round, so a load that changes during the run affects all cases alike; medians over ``--repeats``
rounds after two warm-up rounds. ``step`` is the whole ``ClassifierTrainer.step`` timed on its own.
Force another CPU's path with ``ONEDNN_MAX_CPU_ISA=AVX2``. Writes nothing.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from faceless.recognition.augment import augment  # noqa: E402
from faceless.recognition.config import ClassifierConfig  # noqa: E402
from faceless.recognition.trainer import ClassifierTrainer  # noqa: E402
from faceless.training.loop import step_generator  # noqa: E402
from faceless.utils.config import from_params  # noqa: E402
from machine import cpu_model, usable_cores  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: The clock every part is read on: wall time, or with ``--clock cpu`` this process's CPU time (with
#: ``--threads 1`` a stable measure on a machine others share, where wall time is not).
clock = time.perf_counter


def classifier_params(batch: int, width: int) -> dict:
    params = yaml.safe_load((ROOT / "conf" / "base" / "parameters_classifier.yml").read_text())["classifier"]
    params["model"] = {**params["model"], "width": width}
    params.update(batch_size=batch, distributed={"nproc": 1}, device="cpu", checkpoint_every_epochs=0, resume=False)
    return params


def trainer(size: int, batch: int, width: int) -> ClassifierTrainer:
    rng = np.random.default_rng(0)
    people, frames = 16, 24
    x = rng.integers(0, 256, (people * frames, size, size, 3), dtype=np.uint8)
    index = pd.DataFrame({"label": np.repeat(np.arange(people), frames),
                          "video": np.repeat(np.arange(people), frames), "sequence": np.arange(people * frames)})
    cfg = from_params(ClassifierConfig, classifier_params(batch, width), "classifier")
    return ClassifierTrainer(cfg, f"{size}px", x, index, x[:0], index.iloc[:0], seed=0)


def parts(t: ClassifierTrainer, step: int) -> dict[str, float]:
    """The step's parts timed one after the other, as ``ClassifierTrainer.step`` runs them."""
    cfg = t.cfg
    times = {}
    started = clock()
    idx = torch.randperm(len(t.x_train), generator=step_generator(t.seed, 0))[:cfg.batch_size]
    xb = t.x_train[idx].float() / 255
    times["gather"] = clock() - started
    started = clock()
    xb = augment(xb, step_generator(t.seed + 1, step), cfg.augment, cfg.augment_strength)
    xb = ((xb - cfg.normalisation.mean) / cfg.normalisation.std).contiguous(memory_format=t.fmt)
    times["augment"] = clock() - started
    started = clock()
    t.model.train()
    loss = F.cross_entropy(t.train_model(xb).float(), t.y_train[idx], label_smoothing=cfg.label_smoothing)
    t.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    t.optimizer.step()
    times["model"] = clock() - started
    started = clock()
    t.step(step)
    times["step"] = clock() - started
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=16, help="classifier.batch_size (conf/base: 16)")
    parser.add_argument("--width", type=int, default=16, help="classifier.model.width (conf/base: 16)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: process CPU time (use with --threads 1 on a shared machine)")
    args = parser.parse_args()
    global clock
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    cases = {size: trainer(size, args.batch, args.width) for size in (64, 256)}
    if args.threads:  # after the trainers: the first select_device sets the thread count
        torch.set_num_threads(args.threads)
    samples: dict[int, list[dict[str, float]]] = {key: [] for key in cases}
    for round_ in range(args.repeats + 2):
        for key, t in cases.items():
            result = parts(t, round_)
            if round_ >= 2:
                samples[key].append(result)
    print(f"classifier step, batch {args.batch}, width {args.width}, fp32, {args.repeats} rounds "
          f"(median ms, {args.clock} clock)")
    print(f"{'input':>6} {'gather':>8} {'augment':>8} {'model':>8} {'step':>8} {'step/64px':>10}")
    base = statistics.median(s["step"] for s in samples[64])
    for size, rows in samples.items():
        med = {k: statistics.median(r[k] for r in rows) * 1e3 for k in rows[0]}
        print(f"{size:>4}px {med['gather']:8.1f} {med['augment']:8.1f} {med['model']:8.1f} "
              f"{med['step']:8.1f} {med['step'] / 1e3 / base:9.2f}x")
    print(f"machine: {cpu_model()}, {usable_cores()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}")


if __name__ == "__main__":
    main()
