"""The pooling screen, on the VALIDATION side only: does attention pooling (issue 28) beat mean pooling
of the same classifier, as the demo's frames get worse (``ingestion.demo.frame_corruption``), and
which pooling settings should ``conf/base/parameters_pooling.yml`` hold?

It never loads a test frame: per corruption strength the demo is rendered into a scratch folder,
split and sampled by the sampling stage's own nodes and its train and val frames loaded
(``bench/screen.py``'s ``build_sides``: the test side's index is made by the joint split and dropped
unread). Per strength x variant x classifier seed, the classifier recipe trains as the classifier
node trains it (``train_seeds``, conf/base's ``classifier`` with ``seeds: [seed]``); then per pooling
setting the pooling node's engine (``train_pooling_heads``, conf/base's ``pooling`` with ``method:
attention`` and the grid's values) trains a head on the same training side. Both poolings of that one
classifier score every validation sequence: the head's validation only monitored (``selection:
last``), so nothing here was chosen on the sequences it is scored on, except the grid's choice itself.

Per row: validation sequence top-1 under mean and attention pooling (mean over seeds), their paired
difference with a 95 % t interval over validation videos (seed-averaged per-video differences, as
``bench/screen.py``), and the challenge scores. Runs are appended to ``--results`` (JSON lines) and
reused; classifiers are kept in ``--cache`` between calls.

    OMP_NUM_THREADS=1 nice -n 10 python bench/screen_pooling.py --corruption 0,0.5,1 --variants lr \\
        --seeds 0 --blocks 1,2 --results pooling.jsonl --cache /tmp/screen-cache
    python bench/screen_pooling.py --tiny --corruption 0,1 --seeds 0     # a smoke run
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import screen  # noqa: E402  (bench/screen.py: the demo's train/val sides, conf, paired differences)

from faceless.inference import (frame_embeddings, load_classifier, pool_sequences,  # noqa: E402
                                pool_sequences_attention, sequence_ids, sequence_labels, to_nchw_uint8)
from faceless.recognition.config import ClassifierConfig  # noqa: E402
from faceless.recognition.metrics import truth_ranks  # noqa: E402
from faceless.recognition.pooling import PoolingConfig, train_pooling_heads  # noqa: E402
from faceless.recognition.trainer import train_seeds  # noqa: E402
from faceless.utils.config import from_params  # noqa: E402
from faceless.utils.torchfile import load_torch_file  # noqa: E402

#: The pooling knobs a grid may vary: (command-line name, pooling parameter, type).
KNOBS = (("blocks", "blocks", int), ("steps", "steps", int), ("lr", "lr", float))


def classifier_for(args: argparse.Namespace, sides: dict[str, Any], arrays: tuple[np.ndarray, ...], variant: str,
                   seed: int, strength: float) -> dict[str, Any]:
    """The variant's classifier trained by conf/base's recipe with one seed (cached in --cache)."""
    path = Path(args.cache) / f"classifier-{'tiny' if args.tiny else 'demo'}-c{strength:g}-{variant}-{seed}.pt" \
        if args.cache else None
    if path is not None and path.is_file():
        return load_torch_file(path, "screen cache")
    params = screen.conf_section("classifier")
    params.update(seeds=[seed], checkpoint_dir=None, checkpoint_every_epochs=0, resume=False, device="cpu",
                  init_weights=None)
    params["distributed"] = {**params["distributed"], "nproc": 1}
    if args.tiny:
        params.update(epochs=1, batch_size=8)
        params["model"].update(width=4, depth=1)
    started = time.perf_counter()
    classifier, _ = train_seeds(from_params(ClassifierConfig, params, "classifier"), variant, arrays[0],
                                sides["train_index"], arrays[1], sides["val_index"])
    print(f"  classifier {variant} seed {seed} at corruption {strength:g}: {time.perf_counter() - started:.0f} s",
          flush=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(classifier, path)
    return classifier


def score_poolings(classifier: dict[str, Any], pooling: dict[str, Any], val_x: np.ndarray, sides: dict[str, Any]
                   ) -> dict[str, list[int]]:
    """The truth's rank in each validation sequence (sequence_ids order) under mean and attention pooling."""
    model = load_classifier(classifier)
    embedded, log_probs = frame_embeddings(model, to_nchw_uint8(val_x), classifier["normalisation"],
                                           torch.device("cpu"), None, 128, flip_tta=False)
    ids = sequence_ids(sides["val_index"])
    labels = sequence_labels(ids, torch.tensor(sides["val_index"]["label"].to_numpy(), dtype=torch.long))
    mean, _ = pool_sequences(log_probs, ids)
    attention, _ = pool_sequences_attention(pooling["heads"][0], embedded, ids)
    return {"mean": truth_ranks(mean, labels).int().tolist(),
            "attention": truth_ranks(attention, labels).int().tolist()}


def run_grid(args: argparse.Namespace, grid: dict[str, list], done: dict[tuple, dict]) -> list[dict[str, Any]]:
    runs = []
    for strength in args.corruption:
        sides = screen.build_sides(args, frame_corruption=strength)
        factor = int(screen.conf_section("upscaling")["factor"])
        for variant in args.variants:
            arrays = None
            for seed in args.seeds:
                classifier = None
                for values in itertools.product(*grid.values()):
                    setting = dict(zip(grid, values))
                    key = (strength, variant, seed, *values)
                    if key not in done:
                        arrays = arrays or screen.variant_arrays(sides, variant, factor)
                        classifier = classifier or classifier_for(args, sides, arrays, variant, seed, strength)
                        params = {**screen.conf_section("pooling"), **setting, "method": "attention",
                                  "selection": "last", "device": "cpu"}
                        started = time.perf_counter()
                        pooling, _ = train_pooling_heads(PoolingConfig.from_params(params), classifier, arrays[0],
                                                         sides["train_index"], arrays[1], sides["val_index"])
                        done[key] = {"data": "tiny" if args.tiny else "demo", "corruption": strength,
                                     "variant": variant, "seed": seed, **setting,
                                     "seconds": round(time.perf_counter() - started, 1),
                                     "ranks": score_poolings(classifier, pooling, arrays[1], sides)}
                        if args.results:
                            with open(args.results, "a") as handle:
                                handle.write(json.dumps(done[key]) + "\n")
                    runs.append({**done[key], "videos": screen.sequence_table(sides["val_index"])["video"].tolist()})
    return runs


def summarise(runs: list[dict[str, Any]], grid: dict[str, list]) -> None:
    print("\nvalidation sequence top-1 % under mean and attention pooling of the same classifiers (mean over seeds);")
    print("d: attention - mean, paired on the same sequences and seeds, 95 % t interval over validation videos;")
    print("score: the challenge score (mean / attention).")
    header = (f"{'corr':>4} {'variant':8} " + " ".join(f"{name:>6}" for name in grid)
              + f" {'n':>2} {'mean':>5} {'attn':>5} {'d attn - mean [95% CI]':>24} {'score':>11} {'head s':>6}")
    print(header)
    print("-" * len(header))
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["corruption"], run["variant"], *(run[name] for name in grid)), []).append(run)
    for key, group in sorted(groups.items()):
        ranks = {pool: [np.asarray(run["ranks"][pool]) for run in group] for pool in ("mean", "attention")}
        top1 = {pool: 100 * np.mean([(r == 0).mean() for r in ranks[pool]]) for pool in ranks}
        score = {pool: np.mean([screen.points(r).mean() for r in ranks[pool]]) for pool in ranks}
        diff = screen.paired(ranks["attention"], ranks["mean"], np.asarray(group[0]["videos"]))
        print(f"{key[0]:>4g} {key[1]:8} " + " ".join(f"{v:>6g}" for v in key[2:]) + f" {len(group):>2} "
              f"{top1['mean']:5.1f} {top1['attention']:5.1f} {diff:>24} "
              f"{score['mean']:5.1f}/{score['attention']:5.1f} {np.mean([r['seconds'] for r in group]):6.1f}")


def numbers(text: str, kind: type) -> list:
    return [kind(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> None:
    pooling = screen.conf_section("pooling")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corruption", default="0,1", help="comma list of ingestion.demo.frame_corruption strengths")
    ap.add_argument("--variants", default="lr", help="comma list of lr | bicubic | hr")
    ap.add_argument("--seeds", default="0", help="classifier seeds, comma list")
    for name, key, kind in KNOBS:
        ap.add_argument(f"--{name}", default=str(pooling[key]), help=f"comma list (default: the conf's {key})")
    ap.add_argument("--results", default=None, help="JSON lines file: runs are appended and reused")
    ap.add_argument("--cache", default=None, help="folder caching the rendered sides and trained classifiers")
    ap.add_argument("--tiny", action="store_true", help="a tiny demo and classifier: a smoke run")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: reproducible, leaves cores free)")
    ap.add_argument("--workers", type=int, default=1, help="demo rendering and frame loading workers")
    args = ap.parse_args(argv)
    args.corruption, args.seeds = numbers(args.corruption, float), numbers(args.seeds, int)
    args.variants = [v for v in args.variants.split(",") if v]
    torch.set_num_threads(args.threads)
    grid = {name: numbers(getattr(args, name), kind) for name, _, kind in KNOBS}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} thread(s); "
          f"command: {' '.join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:]))}")
    done: dict[tuple, dict[str, Any]] = {}
    if args.results and Path(args.results).exists():
        for line in Path(args.results).read_text().splitlines():
            run = json.loads(line)
            if run.get("data") == ("tiny" if args.tiny else "demo"):
                done[(run["corruption"], run["variant"], run["seed"], *(run[name] for name in grid))] = run
    summarise(run_grid(args, grid, done), grid)


if __name__ == "__main__":
    main()
