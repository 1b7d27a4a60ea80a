"""The classifier recipe's screen, on the VALIDATION side only: which epochs, width, augmentation
strength, batch size and selection the conf's defaults should be.

It never loads a test frame. It renders the demo into a scratch folder with the conf's ingestion
parameters (``--tiny`` for a seconds-long smoke run), splits and samples it with the sampling
stage's own nodes (the split is joint, so the test side's *index* exists in memory; it is dropped
unread and its frames are never loaded), loads the train and val frames, and trains the classifier
recipe (:class:`faceless.recognition.trainer.ClassifierTrainer`, exactly as the classifier node does,
``conf/base/parameters_classifier.yml`` with the grid's values put in) on each variant x setting x
seed, measuring the validation side after every epoch.

Per run it reports validation sequence top-1 and challenge score with

* ``last``: the last epoch's weights (what ``selection: last`` keeps; the recipe's honest number);
* ``best_val (same val)``: the epoch ``selection: best_val`` would keep (among the epochs the conf's
  ``eval_every_epochs`` evaluates), scored on the very sequences that chose it: OPTIMISTIC, shown
  only to size the optimism;
* ``best_val (cross)``: the validation side cut in two halves (each video's sequences alternately;
  on the demo each person's one val video gives one sequence to each half): the epoch chosen on one
  half scores the other half, and vice versa; every sequence is scored by weights chosen without
  it. This is the fair comparison with ``last`` (slightly pessimistic: each choice sees half the data).

The table gives the mean over seeds, its SD and SE over seeds (training noise), and the SE over
validation videos of the seed-averaged per-video hit rate (the validation side's sampling noise:
the demo's val side is 16 people x 1 video x 2 sequences = 32 sequences in 16 videos, so one
sequence is 3.1 points and the SE of a 50 % top-1 is about 12 points). Differences against the
``--baseline`` setting are paired (same sequences, same seeds): per-video differences of
seed-averaged hits, mean with a t interval over videos.

Runs are appended to ``--results`` (JSON lines) and reused by a later call with the same
settings, so a long grid can be cut into calls (or resumed) and the table printed again.

    OMP_NUM_THREADS=1 nice -n 10 python bench/screen.py --variants lr,hr --epochs 10,12 \\
        --augment-strength 0.5,1.0 --width 16 --batch-size 16 --seeds 0,10,20
    python bench/screen.py --tiny --variants lr,hr --epochs 2 --seeds 0,10     # a smoke run
"""
from __future__ import annotations

import argparse
import copy
import itertools
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bars in a screen's log

import numpy as np
import pandas as pd
import torch
import yaml

from faceless.inference import frame_log_probs, sequence_ids, to_nchw_uint8, upscale_batches
from faceless.pipelines.ingestion.nodes import prepare_source, scan_frames
from faceless.pipelines.sampling.nodes import load_split_frames, sample_splits, split_frames
from faceless.recognition.config import ClassifierConfig
from faceless.recognition.metrics import challenge_points, sequence_scores, truth_ranks
from faceless.recognition.trainer import ClassifierTrainer
from faceless.utils.config import from_params

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf" / "base"
#: The knobs a grid may vary, as (command-line name, classifier parameter path).
KNOBS = (("epochs", "epochs"), ("width", "model.width"), ("augment_strength", "augment_strength"),
         ("batch_size", "batch_size"))
#: A demo small enough for a smoke run in seconds (32 px truth, 8 px frames).
TINY_DEMO = {"people": 4, "lookalike_group_size": 2, "videos_per_person": [4, 4], "sequences_per_video": [2, 2],
             "frames_per_sequence": [3, 3], "hr_size": 32}


# ----------------------------------------------------------------------------------------------
# conf
def conf_section(stage: str) -> dict[str, Any]:
    """``params:<stage>`` from conf/base, ``${globals:...}`` resolved as Kedro's loader does."""
    params = yaml.safe_load((CONF / f"parameters_{stage}.yml").read_text())[stage]
    glob = yaml.safe_load((CONF / "globals.yml").read_text())

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, str) and value.startswith("${globals:") and value.endswith("}"):
            found = glob
            for key in value[len("${globals:"):-1].split("."):
                found = found[key]
            return found
        return value

    return resolve(params)


def set_path(params: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        params = params[key]
    params[leaf] = value


# ----------------------------------------------------------------------------------------------
# data: train and validation sides only
def build_sides(args: argparse.Namespace, frame_corruption: float | None = None) -> dict[str, Any]:
    """The demo's train and val sides as the sampling stage makes them (frames, HR truth, indexes);
    ``frame_corruption``: the demo's (ingestion.demo.frame_corruption) instead of the conf's."""
    ingestion, sampling = conf_section("ingestion"), conf_section("sampling")
    ingestion.update(source="synthetic", workers=args.workers)
    sampling["workers"] = args.workers
    if args.tiny:
        ingestion["demo"].update(TINY_DEMO)
    if frame_corruption is not None:
        ingestion["demo"]["frame_corruption"] = frame_corruption
    strength = ingestion["demo"]["frame_corruption"]
    name = ("tiny" if args.tiny else "demo") + (f"-corruption{strength:g}" if strength else "")
    cache = Path(args.cache) / name if args.cache else None
    if cache and (cache / "val_index.parquet").exists():
        sides = {name: np.load(cache / f"{name}.npy") for name in ("lr_train", "hr_train", "lr_val", "hr_val")}
        sides.update(train_index=pd.read_parquet(cache / "train_index.parquet"),
                     val_index=pd.read_parquet(cache / "val_index.parquet"))
        print(f"train and val sides from the cache {cache}")
        return sides
    with tempfile.TemporaryDirectory(prefix="screen-") as tmp:
        ingestion["demo"]["root"] = str(Path(tmp) / "demo")
        t0 = time.perf_counter()
        source = prepare_source(ingestion)
        frame_index, _ = scan_frames(source, ingestion)
        split_index, split_info = split_frames(frame_index, sampling)
        # The split is joint (whole videos per person to each side): the test side's index is made
        # with the others, and dropped here unread. No test frame is ever loaded.
        train_index, val_index, _, _ = sample_splits(split_index, split_info, sampling)
        del split_index
        lr_train, hr_train = load_split_frames(train_index, sampling)
        lr_val, hr_val = load_split_frames(val_index, sampling)
        print(f"rendered, split and loaded the train and val sides in {time.perf_counter() - t0:.0f} s")
    sides = {"lr_train": lr_train, "hr_train": hr_train, "lr_val": lr_val, "hr_val": hr_val,
             "train_index": train_index.reset_index(drop=True), "val_index": val_index.reset_index(drop=True)}
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
        for name in ("lr_train", "hr_train", "lr_val", "hr_val"):
            np.save(cache / f"{name}.npy", sides[name])
        for name in ("train_index", "val_index"):
            sides[name].to_parquet(cache / f"{name}.parquet")
    return sides


def bicubic(lr: np.ndarray, factor: int) -> np.ndarray:
    """lr uint8 (N, H, W, 3) upscaled ``factor`` x by bicubic, rounded as the upscaling stage does."""
    out = np.empty((len(lr), lr.shape[1] * factor, lr.shape[2] * factor, 3), dtype=np.uint8)
    for start, y in upscale_batches(None, to_nchw_uint8(lr), factor, torch.device("cpu"), None, 64):
        out[start:start + len(y)] = y.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out


def variant_arrays(sides: dict[str, Any], variant: str, factor: int) -> tuple[np.ndarray, np.ndarray]:
    if variant == "lr":
        return sides["lr_train"], sides["lr_val"]
    if variant == "hr":
        return sides["hr_train"], sides["hr_val"]
    if variant == "bicubic":
        return bicubic(sides["lr_train"], factor), bicubic(sides["lr_val"], factor)
    raise SystemExit(f"screen: variant {variant!r} is not screened here (lr | bicubic | hr)")


# ----------------------------------------------------------------------------------------------
# one run
class ScreenTrainer(ClassifierTrainer):
    """The classifier recipe unchanged; every validation measurement also keeps the per-sequence
    truth ranks and the frame numbers ``selection: best_val`` scores with."""

    def __init__(self, *args: Any, flip_tta: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flip_tta = flip_tta
        self.seq_ids = sequence_ids(self.val_index)
        self.epochs_seen: list[dict[str, Any]] = []

    def evaluate(self, step: int) -> dict[str, float]:
        # Eval mode draws nothing random: measuring every epoch leaves the training as it is.
        log_probs = frame_log_probs(self.model, self.x_val, self.normalisation, self.device, self.dtype,
                                    self.cfg.val_batch_size, flip_tta=False)
        reported = log_probs if not self.flip_tta else frame_log_probs(
            self.model, self.x_val, self.normalisation, self.device, self.dtype, self.cfg.val_batch_size,
            flip_tta=True)
        seq_scores, seq_labels = sequence_scores(reported, self.y_val, self.val_index)
        self.epochs_seen.append({
            "epoch": step // self.steps_per_epoch,
            "rank": truth_ranks(seq_scores, seq_labels).int().tolist(),
            # what best_val's score is made of, per frame (summed over any subset of sequences)
            "frame_hit": (log_probs.argmax(1) == self.y_val).int().tolist(),
            "frame_nll": (-log_probs.gather(1, self.y_val[:, None])[:, 0]).tolist(),
        })
        return super().evaluate(step)


def run_one(base: dict[str, Any], variant: str, setting: dict[str, Any], seed: int, arrays: tuple[np.ndarray, ...],
            sides: dict[str, Any], flip_tta: bool) -> dict[str, Any]:
    params = copy.deepcopy(base)
    for name, path in KNOBS:
        set_path(params, path, setting[name])
    params.update(seeds=[seed], selection="last", eval_every_epochs=1, checkpoint_dir=None,
                  checkpoint_every_epochs=0, resume=False, device="cpu", init_weights=None)
    params["distributed"] = {**params["distributed"], "nproc": 1}
    cfg = from_params(ClassifierConfig, params, "classifier")
    train_x, val_x = arrays
    trainer = ScreenTrainer(cfg, variant, train_x, sides["train_index"], val_x, sides["val_index"], seed,
                            flip_tta=flip_tta)
    t0 = time.perf_counter()
    trainer.train(None)
    return {"variant": variant, **setting, "seed": seed, "seconds": round(time.perf_counter() - t0, 1),
            "threads": torch.get_num_threads(), "precision": str(trainer.dtype), "epochs_seen": trainer.epochs_seen}


# ----------------------------------------------------------------------------------------------
# scoring
def sequence_table(val_index: pd.DataFrame) -> pd.DataFrame:
    """One row per validation sequence (in sequence_ids order): its video, its half, its frames."""
    ids = sequence_ids(val_index)
    frames = pd.DataFrame({"seq": ids, "person": val_index["person"].astype(str).to_numpy(),
                           "video": (val_index["person"].astype(str) + "/" + val_index["video"].astype(str)).to_numpy(),
                           "sequence": val_index["sequence"].astype(str).to_numpy()})
    seqs = frames.drop_duplicates("seq").sort_values("seq").reset_index(drop=True)
    # Halves: each video's sequences alternately, so each half holds (about) every person.
    seqs["half"] = seqs.groupby("video").cumcount() % 2
    seqs["frames"] = [np.flatnonzero(ids == s) for s in seqs["seq"]]
    return seqs


def best_val_epoch(run: dict[str, Any], seqs: pd.DataFrame, mask: np.ndarray, candidates: list[int]) -> int:
    """The epoch ``selection: best_val`` keeps, judged on the sequences in ``mask`` (the trainer's
    score: sequence top-1, then frame top-1 and NLL break ties; the earliest of equals)."""
    frames = np.concatenate(list(seqs.loc[mask, "frames"])) if mask.any() else np.array([], dtype=int)
    best, best_score = None, -math.inf
    for seen in run["epochs_seen"]:
        if seen["epoch"] not in candidates:
            continue
        ranks = np.asarray(seen["rank"])[mask]
        score = (np.mean(ranks == 0) + 1e-3 * np.mean(np.asarray(seen["frame_hit"])[frames])
                 - 1e-6 * np.mean(np.asarray(seen["frame_nll"])[frames]))
        if score > best_score:
            best, best_score = seen["epoch"], score
    return best


def outcomes(run: dict[str, Any], seqs: pd.DataFrame, eval_every: int) -> dict[str, np.ndarray]:
    """Per validation sequence, the truth's rank under each selection."""
    by_epoch = {seen["epoch"]: np.asarray(seen["rank"]) for seen in run["epochs_seen"]}
    last = max(by_epoch)
    # The epochs the pipeline's best_val chooses among: every eval_every-th, and always the last.
    candidates = sorted({e for e in by_epoch if eval_every and e % eval_every == 0} | {last})
    whole = np.ones(len(seqs), dtype=bool)
    cross = np.empty(len(seqs), dtype=int)
    for half in (0, 1):
        chooser = (seqs["half"] == half).to_numpy()
        cross[~chooser] = by_epoch[best_val_epoch(run, seqs, chooser, candidates)][~chooser]
    return {"last": by_epoch[last], "best_val (same val)": by_epoch[best_val_epoch(run, seqs, whole, candidates)],
            "best_val (cross)": cross}


def points(ranks: np.ndarray) -> np.ndarray:
    return challenge_points(torch.as_tensor(ranks)).numpy()


T975 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23, 12: 2.18,
        15: 2.13, 20: 2.09, 30: 2.04}


def t975(df: int) -> float:
    """The t distribution's 97.5 % point (interpolation-free: the nearest tabulated df below)."""
    return T975[max(k for k in T975 if k <= df)] if df >= 1 else float("nan")


def video_se(per_seq: np.ndarray, videos: np.ndarray) -> tuple[float, int]:
    """SE of the mean over videos of the per-video means (the video is the unit), and the video count."""
    per_video = pd.Series(per_seq).groupby(videos).mean().to_numpy()
    n = len(per_video)
    return (float(per_video.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")), n


def paired(ranks: list[np.ndarray], other: list[np.ndarray], videos: np.ndarray) -> str:
    """Top-1 difference (points) of two outcome lists on the same seeds and sequences: the mean over
    videos of the seed-averaged per-video difference, with a 95 % t interval over videos."""
    d = 100 * np.mean([(a == 0).astype(float) - (b == 0).astype(float) for a, b in zip(ranks, other)], axis=0)
    mean = pd.Series(d).groupby(videos).mean().mean()
    se, n = video_se(d, videos)
    half = t975(n - 1) * se
    return f"{mean:+5.1f} [{mean - half:+5.1f},{mean + half:+5.1f}]"


def summarise(runs: list[dict[str, Any]], seqs: pd.DataFrame, eval_every: int, baseline: dict[str, Any],
              selections: list[str]) -> None:
    videos = seqs["video"].to_numpy()
    groups: dict[tuple, dict[int, dict[str, np.ndarray]]] = {}
    for run in runs:
        key = (run["variant"], *(run[name] for name, _ in KNOBS))
        groups.setdefault(key, {})[run["seed"]] = outcomes(run, seqs, eval_every)
    header = (f"{'variant':8} {'ep':>3} {'width':>5} {'aug':>4} {'bs':>3} {'selection':20} {'n':>2} "
              f"{'top1 by seed':24} {'mean':>5} {'sd':>5} {'se(s)':>5} {'se(v)':>5} "
              f"{'score':>5} {'d vs base [95% CI]':>22} {'d vs last [95% CI]':>22}")
    print("\nvalidation sequence top-1 % (and challenge score), per run and over seeds")
    print("  se(s): SE over seeds (training noise); se(v): SE over the validation videos of the seed-averaged")
    print("  hits (the validation side's noise); d vs base: paired difference from the baseline setting on the")
    print("  same seeds and sequences, 95 % t interval over videos; d vs last: this selection minus `last`, same runs.")
    print(f"  Baseline: {baseline}")
    print(header)
    print("-" * len(header))
    for key in sorted(groups, key=lambda k: (k[0], k[1:])):
        by_seed = groups[key]
        variant = key[0]
        setting = dict(zip((name for name, _ in KNOBS), key[1:]))
        base_key = (variant, *(baseline[name] for name, _ in KNOBS))
        for selection in selections:
            seeds = sorted(by_seed)
            hits = np.array([(by_seed[s][selection] == 0).astype(float) for s in seeds])
            top1 = 100 * hits.mean(1)
            score = np.mean([points(by_seed[s][selection]).mean() for s in seeds])
            sd = top1.std(ddof=1) if len(seeds) > 1 else float("nan")
            se_seed = sd / math.sqrt(len(seeds)) if len(seeds) > 1 else float("nan")
            se_val, _ = video_se(100 * hits.mean(0), videos)
            diff = ""
            shared = sorted(set(seeds) & set(groups.get(base_key, {})))
            if base_key != key and shared:
                diff = paired([by_seed[s][selection] for s in shared], [groups[base_key][s][selection] for s in shared],
                              videos)
            vs_last = "" if selection == "last" else paired([by_seed[s][selection] for s in seeds],
                                                           [by_seed[s]["last"] for s in seeds], videos)
            by_seed_txt = " ".join(f"{v:4.1f}" for v in top1)
            print(f"{variant:8} {setting['epochs']:>3} {setting['width']:>5} {setting['augment_strength']:>4} "
                  f"{setting['batch_size']:>3} {selection:20} {len(seeds):>2} {by_seed_txt:24} {top1.mean():5.1f} "
                  f"{sd:5.1f} {se_seed:5.1f} {se_val:5.1f} {score:5.1f} {diff:>22} {vs_last:>22}")
    if not runs:
        print("(no runs)")
        return
    seconds = [r["seconds"] for r in runs]
    print(f"\n{len(runs)} runs, {sum(seconds) / 60:.1f} min of training "
          f"({min(seconds):.0f}-{max(seconds):.0f} s a run)")


# ----------------------------------------------------------------------------------------------
def numbers(text: str, kind: type) -> list:
    return [kind(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> None:
    base = conf_section("classifier")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--variants", default="lr,hr", help="comma list of lr | bicubic | hr")
    ap.add_argument("--epochs", default=str(base["epochs"]), help="comma list (default: the conf's)")
    ap.add_argument("--width", default=str(base["model"]["width"]), help="comma list")
    ap.add_argument("--augment-strength", default=str(base["augment_strength"]), help="comma list")
    ap.add_argument("--batch-size", default=str(base["batch_size"]), help="comma list")
    ap.add_argument("--seeds", default="0,10,20", help="comma list, at least 4 apart")
    ap.add_argument("--baseline", default=None,
                    help="the setting differences are taken from, e.g. epochs=12,width=16,augment_strength=0.5,"
                         "batch_size=16 (default: the conf's values)")
    ap.add_argument("--selections", default="last,best_val (cross),best_val (same val)")
    ap.add_argument("--eval-every", type=int, default=base["eval_every_epochs"],
                    help="best_val chooses among these epochs and the last (default: the conf's eval_every_epochs)")
    ap.add_argument("--results", default=None, help="JSON lines file: runs are appended and reused")
    ap.add_argument("--cache", default=None, help="folder caching the rendered train/val arrays between calls")
    ap.add_argument("--report-only", action="store_true",
                    help="train nothing: the table of the grid's runs already in --results (missing ones listed)")
    ap.add_argument("--tiny", action="store_true", help="a tiny demo (4 people, 32 px truth): a smoke run")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: reproducible, leaves cores free)")
    ap.add_argument("--workers", type=int, default=1, help="demo rendering and frame loading workers")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    grid = {"epochs": numbers(args.epochs, int), "width": numbers(args.width, int),
            "augment_strength": numbers(args.augment_strength, float), "batch_size": numbers(args.batch_size, int)}
    baseline = {"epochs": base["epochs"], "width": base["model"]["width"],
                "augment_strength": float(base["augment_strength"]), "batch_size": base["batch_size"]}
    if args.baseline:
        for item in args.baseline.split(","):
            name, value = item.split("=")
            baseline[name] = float(value) if name == "augment_strength" else int(value)
    seeds = numbers(args.seeds, int)
    variants = [v for v in args.variants.split(",") if v]
    selections = [s.strip() for s in args.selections.split(",")]
    flip_tta = bool(conf_section("evaluation")["flip_tta"])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} thread(s); "
          f"command: {' '.join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:]))}")
    sides = build_sides(args)
    seqs = sequence_table(sides["val_index"])
    print(f"train: {len(sides['train_index'])} frames; validation: {len(sides['val_index'])} frames, "
          f"{len(seqs)} sequences, {seqs['video'].nunique()} videos, {seqs['person'].nunique()} people "
          f"(halves {int((seqs['half'] == 0).sum())} / {int((seqs['half'] == 1).sum())} sequences); "
          f"evaluation.flip_tta={flip_tta}")

    done: dict[tuple, dict[str, Any]] = {}
    results = Path(args.results) if args.results else None
    tag = "tiny" if args.tiny else "demo"
    if results and results.exists():
        for line in results.read_text().splitlines():
            run = json.loads(line)
            if run.get("data") == tag:
                done[(run["variant"], *(run[n] for n, _ in KNOBS), run["seed"])] = run
    runs = []
    for variant in variants:
        arrays = None
        for values in itertools.product(*grid.values()):
            setting = dict(zip(grid, values))
            for seed in seeds:
                key = (variant, *(setting[n] for n, _ in KNOBS), seed)
                if key not in done and args.report_only:
                    print(f"  not in {results}: {variant} {setting} seed {seed}")
                    continue
                if key not in done:
                    arrays = arrays or variant_arrays(sides, variant, int(conf_section("upscaling")["factor"]))
                    run = run_one(base, variant, setting, seed, arrays, sides, flip_tta) | {"data": tag}
                    last = run["epochs_seen"][-1]["rank"]
                    print(f"  {variant} {setting} seed {seed}: last-epoch top-1 "
                          f"{100 * np.mean(np.asarray(last) == 0):.1f} % ({run['seconds']:.0f} s)", flush=True)
                    if results:
                        with results.open("a") as handle:
                            handle.write(json.dumps(run) + "\n")
                    done[key] = run
                runs.append(done[key])
    summarise(runs, seqs, args.eval_every, baseline, selections)


if __name__ == "__main__":
    main()
