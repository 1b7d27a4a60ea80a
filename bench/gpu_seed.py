"""The seed-scale configuration on one GPU, through the engines, on a generated 100-person tree; and
the distributed path on CUDA. One shot, for a lent GPU machine (H100/H200), in under 8 minutes:

    PYTHONPATH=src python bench/gpu_seed.py                # on the GPU box
    PYTHONPATH=src python bench/gpu_seed.py --dry-run      # here, on the CPU: tiny sizes, ~1 min

The GPU box has PyTorch but not Kedro or MLflow, so this runs what each Kedro node runs, engine by
engine, with ``conf/base`` merged with ``conf/seed`` (key by key, as settings.py's soft merge does):

  a. environment
  b. data: the demo renderer writes an OrCam-layout tree of 100 people x 5 videos x 2 sequences x
     24 frames (64 px JPEG, like OrCam's); the folder scan and the seed's sampling quotas
     (train 24x2x2, val 12x2x1, test 12x2x2 per person, disjoint by video) pick and load the frames
  c. srgan at the seed's models (paper SRResNet, batch 64, fp32/TF32) on self pairs (OrCam has no
     truth), a few hundred steps of each stage: images/s, and the seed's 30k steps extrapolated
  d. upscaling of every split with that generator (the pipeline's cached, streamed path)
  e. the classifier at the seed's recipe (width 64, batch 128) on the srgan (256 px) and lr (64 px)
     frames for a couple of epochs: s/epoch, and the seed's 30 epochs x 5 seeds extrapolated
  f. distributed: the srgan job on 1 process vs 2 processes on this GPU (gloo: NCCL refuses two
     ranks on one GPU), losses compared step by step

Every section has a time budget and is skipped with a note past it; everything is printed as it
finishes and again as one table, and written to ``$OUT/gpu_seed.json`` when ``$OUT`` is set.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from faceless.data import sampling  # noqa: E402
from faceless.data.frame_tree import scan_frame_tree  # noqa: E402
from faceless.data.synthetic import DemoSize, generate_demo  # noqa: E402
from faceless.inference import UpscaleConfig, upscale_cached  # noqa: E402
from faceless.recognition.config import ClassifierConfig  # noqa: E402
from faceless.recognition.trainer import ClassifierTrainer  # noqa: E402
from faceless.sr.config import load_config  # noqa: E402
from faceless.sr.trainer import SRTrainer  # noqa: E402
from faceless.training.tracker import MemoryTracker  # noqa: E402
from faceless.utils.config import from_params  # noqa: E402

ROWS: list[dict[str, Any]] = []


def row(section: str, case: str, **values: Any) -> None:
    entry = {"section": section, "case": case, **values, "t_s": round(time.perf_counter() - T0, 1)}
    ROWS.append(entry)
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
    print(f"[{entry['t_s']:6.1f} s] {section} {case}: {shown}", flush=True)
    out = os.environ.get("OUT")
    if out:
        Path(out, "gpu_seed.json").write_text(json.dumps(ROWS, indent=1, default=str))


def merged(*parts: dict) -> dict:
    result: dict = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                result[key] = merged(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
    return result


def resolve_globals(value: Any, globals_: dict) -> Any:
    if isinstance(value, dict):
        return {k: resolve_globals(v, globals_) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("${globals:") and value.endswith("}"):
        found: Any = globals_
        for key in value[len("${globals:"):-1].split("."):
            found = found[key]
        return copy.deepcopy(found)
    return value


def seed_params() -> dict:
    """conf/base's parameters with conf/seed's merged in key by key."""
    base: dict = {}
    for path in sorted((ROOT / "conf" / "base").glob("parameters_*.yml")):
        base = merged(base, yaml.safe_load(path.read_text()) or {})
    globals_path = ROOT / "conf" / "base" / "globals.yml"
    globals_ = yaml.safe_load(globals_path.read_text()) if globals_path.is_file() else {}
    seed = yaml.safe_load((ROOT / "conf" / "seed" / "parameters.yml").read_text())
    return resolve_globals(merged(base, seed), globals_)


def plan(dry_run: bool) -> dict[str, Any]:
    if dry_run:
        return {"people": 6, "frames": 6, "render_workers": 2, "pretrain": 3, "gan": 2, "epochs": 3,
                "sr_shrink": {"generator": {"blocks": 1, "channels": 8}, "discriminator": {"channels": 8},
                              "batch_size": 4, "val_frames": 8, "recogniser": {"steps": 2}},
                "cls_shrink": {"model": {"width": 8}, "batch_size": 8}, "dist_steps": (3, 2),
                "budgets": {"b": 60, "c": 30, "d": 20, "e": 40, "f": 60}}
    return {"people": 100, "frames": 24, "render_workers": min(16, os.cpu_count() or 1), "pretrain": 300,
            "gan": 100, "epochs": 2, "sr_shrink": {}, "cls_shrink": {}, "dist_steps": (40, 20),
            "budgets": {"b": 120, "c": 90, "d": 40, "e": 150, "f": 120}}


def section(name: str, budget_s: float, fn, *args) -> Any:
    started = time.perf_counter()
    try:
        return fn(*args)
    except Exception as err:  # a section's failure is a row, the others still run
        row(name, "FAILED", error=f"{type(err).__name__}: {err}")
        traceback.print_exc()
        return None
    finally:
        spent = time.perf_counter() - started
        if spent > budget_s:
            print(f"note: section {name} took {spent:.0f} s, over its {budget_s} s budget", flush=True)


def environment() -> None:
    cuda = torch.cuda.is_available()
    row("a", "environment", torch=torch.__version__, device=torch.cuda.get_device_name() if cuda else "cpu",
        cpu_cores=os.cpu_count(), cpu_capability=torch.backends.cpu.get_cpu_capability())


def data(p: dict[str, Any], params: dict, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    size = DemoSize.from_params({"people": p["people"], "lookalike_group_size": 2, "videos_per_person": 5,
                                 "sequences_per_video": 2, "frames_per_sequence": p["frames"], "hr_size": 256,
                                 "scale": 4, "jpeg_quality": [75, 95], "seed": 0})
    generate_demo(work / "tree", size, workers=p["render_workers"], progress=False)
    rendered = time.perf_counter() - started
    # OrCam has no truth: scan the 64 px frames alone (the hr folder is not given).
    index, report = scan_frame_tree(work / "tree" / "lr", validate="header", workers=p["render_workers"],
                                    layout="orcam", sequence_length=None, progress=False)
    config = from_params(sampling.SamplingConfig, params["sampling"], "sampling")
    if p["people"] < 100:  # the dry run's tiny tree: smaller quotas
        config = from_params(sampling.SamplingConfig, merged(params["sampling"], {
            side: {"frames_per_sequence": 3} for side in ("train", "val", "test")}), "sampling")
    split, info = sampling.assign_sides(index, config)
    samples, sample_report = sampling.sample_sides(split, info, config)
    frames = {side: sampling.load_side_frames(samples[side], config.workers)[0] for side in ("train", "val", "test")}
    row("b", "data", rendered_s=round(rendered, 1), scanned=report["frames_kept"], people=report["people"],
        **{f"{side}_frames": len(frames[side]) for side in frames}, frame_px=int(frames["train"].shape[1]),
        total_s=round(time.perf_counter() - started, 1))
    return {"frames": frames, "index": samples}


def srgan(p: dict[str, Any], params: dict, data_: dict[str, Any], work: Path) -> dict[str, Any]:
    sr_params = merged(params["srgan"], {"pretrain_steps": p["pretrain"], "gan_steps": p["gan"],
                                         "eval_every": 0, "checkpoint_every": 0, "resume": False,
                                         "checkpoint_dir": str(work / "srgan_ckpt")}, p["sr_shrink"])
    config = load_config(sr_params)
    frames = data_["frames"]
    trainer = SRTrainer.from_arrays(config, frames["train"], None, frames["val"], None)
    tracker = MemoryTracker()
    started = time.perf_counter()
    generator, report = trainer.train(tracker)
    seconds = time.perf_counter() - started
    steps = p["pretrain"] + p["gan"]
    per_s = report.get("train_images_per_s") or steps * config.batch_size / seconds
    seed_steps = params["srgan"]["pretrain_steps"] + params["srgan"]["gan_steps"]
    row("c", "srgan (seed models, self pairs)", steps=steps, batch=config.batch_size, images_per_s=float(per_s),
        precision=report["precision"], psnr_gain_db=report["val"].get("val_psnr_gain"), seconds=round(seconds, 1),
        seed_steps_extrapolated_min=round(seed_steps * config.batch_size / per_s / 60, 1))
    return generator


def upscaling(params: dict, data_: dict[str, Any], generator: dict[str, Any], work: Path) -> dict[str, np.ndarray]:
    config = from_params(UpscaleConfig, merged(params["upscaling"], {"cache_dir": str(work / "sr_cache")}),
                         "upscaling")
    out = {}
    started = time.perf_counter()
    count = 0
    for side, lr in data_["frames"].items():
        out[side], _ = upscale_cached(lr, generator, config, f"sr_{side}", MemoryTracker())
        count += len(lr)
    seconds = time.perf_counter() - started
    row("d", "upscaling 64 -> 256 (all splits)", frames=count, frames_per_s=count / seconds, seconds=round(seconds, 1))
    return out


def classifier(p: dict[str, Any], params: dict, data_: dict[str, Any], upscaled: dict[str, np.ndarray]) -> None:
    cls_params = merged(params["classifier"], {"epochs": p["epochs"], "eval_every_epochs": p["epochs"],
                                               "checkpoint_every_epochs": 0, "resume": False,
                                               "checkpoint_dir": None}, p["cls_shrink"])
    cfg = from_params(ClassifierConfig, cls_params, "classifier")
    index = data_["index"]
    seed_epochs, seeds = params["classifier"]["epochs"], len(params["classifier"]["seeds"])
    for variant, train_x, val_x in (("srgan", upscaled["train"], upscaled["val"]),
                                    ("lr", data_["frames"]["train"], data_["frames"]["val"])):
        trainer = ClassifierTrainer(cfg, variant, train_x, index["train"], val_x, index["val"], seed=0)
        _, report = trainer.train(MemoryTracker())
        per_epoch = report["seconds"] / p["epochs"]
        final = (report["history"] or [{}])[-1]
        row("e", f"classifier {variant} ({train_x.shape[1]} px)", epochs=p["epochs"], s_per_epoch=per_epoch,
            images_per_s=len(train_x) * p["epochs"] / report["seconds"], precision=report["precision"],
            val_sequence_top1=final.get("val_sequence_top1"),
            seed_recipe_extrapolated_min=round(per_epoch * seed_epochs * seeds / 60, 1))


def distributed(p: dict[str, Any], params: dict, data_: dict[str, Any], work: Path) -> None:
    """The srgan job (what the node launches) on 1 and on 2 processes sharing this GPU."""
    from faceless.distributed import DistributedConfig, launch  # noqa: PLC0415  (optional: issue 15)
    from faceless.sr import trainer as sr_trainer  # noqa: PLC0415

    job = getattr(sr_trainer, "train_generator", None)
    if job is None:
        row("f", "distributed", note="no srgan job function in this tree: skipped")
        return
    pretrain, gan = p["dist_steps"]
    sr_params = merged(params["srgan"], {"pretrain_steps": pretrain, "gan_steps": gan, "eval_every": 0,
                                         "checkpoint_every": 0, "resume": False}, p["sr_shrink"])
    frames = data_["frames"]
    histories = {}
    for nproc in (1, 2):
        sr_params["checkpoint_dir"] = str(work / f"dist_{nproc}")
        dist_config = DistributedConfig(nproc=nproc, backend="gloo", nnodes=1, node_rank=0, master="127.0.0.1:29500",
                                        timeout_s=300)
        tracker = MemoryTracker()
        started = time.perf_counter()
        launch(dist_config, job, load_config(sr_params), frames["train"], None, frames["val"], None,
               tracker=tracker, device="auto")
        seconds = time.perf_counter() - started
        losses = {k: v for k, v in tracker.history.items() if "loss" in k}
        histories[nproc] = losses
        row("f", f"srgan job, {nproc} process(es), gloo", seconds=round(seconds, 1), steps=pretrain + gan,
            logged_series=len(losses))
    deviations = [abs(a[1] - b[1]) / max(abs(a[1]), 1e-12) for name in histories[1]
                  for a, b in zip(histories[1][name], histories[2].get(name, []))]
    row("f", "losses 2 vs 1 process", compared=len(deviations),
        max_rel_deviation=float(max(deviations)) if deviations else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU, to check the script")
    parser.add_argument("--skip", default="", help="sections to skip, e.g. 'f'")
    args = parser.parse_args()
    p = plan(args.dry_run)
    params = seed_params()
    if args.dry_run:
        params["srgan"] = merged(params["srgan"], p["sr_shrink"])
    with tempfile.TemporaryDirectory(prefix="gpu_seed-") as tmp:
        work = Path(tmp)
        section("a", 10, environment)
        data_ = section("b", p["budgets"]["b"], data, p, params, work)
        if data_ is None:
            return 1
        generator = section("c", p["budgets"]["c"], srgan, p, params, data_, work)
        upscaled = section("d", p["budgets"]["d"], upscaling, params, data_, generator, work) if generator else None
        if upscaled is not None:
            section("e", p["budgets"]["e"], classifier, p, params, data_, upscaled)
        if "f" not in args.skip:
            section("f", p["budgets"]["f"], distributed, p, params, data_, work)
    print("\nall rows:")
    for entry in ROWS:
        print(json.dumps(entry, default=str))
    print(f"total {time.perf_counter() - T0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
