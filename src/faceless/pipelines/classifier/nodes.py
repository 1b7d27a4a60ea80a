"""Train the same classifier recipe on each input variant: lr, bicubic, srgan, hr.

The recipe is identical for every variant (network body, optimiser, schedule, augmentation,
epochs, which epoch is kept: ``classifier.selection``); only the stem's
stride follows the input size (see ``faceless.models.classifier``). Variants not listed in
``classifier.variants``, or without data (``hr`` where the source has no truth), are skipped and
say so, so the pipeline's shape never depends on the data.
"""
from __future__ import annotations

import copy
import logging
import math
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from faceless.config import ConfigError, choice
from faceless.data.digest import array_digest
from faceless.models.classifier import FrameClassifier
from faceless.training.classification_metrics import aggregate_sequences, sequence_ids
from faceless.training.device import autocast, autocast_dtype, memory_format, select_device
from faceless.training.loop import LoopConfig, fingerprint_of, read_weights_file, run_loop, step_generator

logger = logging.getLogger(__name__)

VARIANTS = ("lr", "bicubic", "srgan", "hr")
#: Pixel statistics used to centre inputs (fixed, so every variant is treated alike).
MEAN, STD = 0.5, 0.25


def skipped(variant: str, reason: str) -> tuple[dict[str, Any], dict[str, Any]]:
    logger.info("classifier %s: skipped (%s)", variant, reason)
    return {"variant": variant, "skipped": reason}, {"variant": variant, "skipped": reason}


def variant_skip_reason(variant: str, train_x: np.ndarray, params: dict[str, Any]) -> str | None:
    wanted = params.get("variants", list(VARIANTS))
    unknown = set(wanted) - set(VARIANTS)
    if unknown:
        raise ConfigError(f"classifier.variants has unknown names {sorted(unknown)}; choose from {list(VARIANTS)}")
    if variant not in wanted:
        return "not in classifier.variants"
    if train_x is None or train_x.size == 0:
        return "no data for this variant (hr needs a source with high-resolution truth)"
    return None


# ----------------------------------------------------------------------------------------------
# Data and augmentation
# ----------------------------------------------------------------------------------------------
def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> uint8 (N, 3, H, W), read once from the memory map."""
    return torch.from_numpy(np.array(frames)).permute(0, 3, 1, 2).contiguous()


def normalise(x_u8: torch.Tensor) -> torch.Tensor:
    return (x_u8.float() / 255 - MEAN) / STD


def augment(x: torch.Tensor, gen: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """Per-sample random flip, scale/translate, and colour (gain, tint, contrast, saturation).

    Ours, vectorised over the batch, rather than torchvision.transforms.v2: those draw one set of
    random parameters per call, so per-sample randomness would need a Python loop per image
    (several times slower on two CPU cores at 256 px). ``x`` is float in [0, 1], NCHW.
    """
    n = x.shape[0]
    dev = x.device

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return (torch.rand(*shape, generator=gen) * (hi - lo) + lo).to(dev)

    s = strength
    flip = (torch.rand(n, generator=gen) < 0.5).to(dev)
    scale = uniform(1 - 0.15 * s, 1 + 0.15 * s, n)
    tx, ty = uniform(-0.1 * s, 0.1 * s, n), uniform(-0.1 * s, 0.1 * s, n)
    sign = torch.where(flip, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0] = sign / scale
    theta[:, 1, 1] = 1 / scale
    theta[:, 0, 2], theta[:, 1, 2] = tx, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="reflection", align_corners=False)
    gain = uniform(1 - 0.3 * s, 1 + 0.3 * s, n, 1, 1, 1)
    tint = uniform(1 - 0.1 * s, 1 + 0.1 * s, n, 3, 1, 1)
    contrast = uniform(1 - 0.2 * s, 1 + 0.2 * s, n, 1, 1, 1)
    saturation = uniform(1 - 0.3 * s, 1 + 0.3 * s, n, 1, 1, 1)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean
    grey = x.mean(1, keepdim=True)
    x = (x - grey) * saturation + grey
    return (x * gain * tint).clamp(0, 1)


@torch.inference_mode()
def predict_log_probs(model: torch.nn.Module, x_u8: torch.Tensor, device: torch.device,
                      dtype: torch.dtype | None, batch: int = 128) -> torch.Tensor:
    """Log-probabilities (N, classes) on the CPU, in float32."""
    model.eval()
    fmt = memory_format(device, dtype)
    out = []
    for b in range(0, len(x_u8), batch):
        xb = normalise(x_u8[b:b + batch].to(device)).contiguous(memory_format=fmt)
        with autocast(device, dtype):
            out.append(F.log_softmax(model(xb).float(), dim=1).cpu())
    return torch.cat(out) if out else torch.zeros(0, model.config()["num_classes"])


def accuracy_summary(log_probs: torch.Tensor, labels: torch.Tensor, index: pd.DataFrame) -> dict[str, float]:
    """Frame and sequence top-1 and the mean NLL: what model selection looks at."""
    seq_scores, seq_labels = aggregate_sequences(log_probs, sequence_ids(index), labels)
    return {
        "frame_top1": float((log_probs.argmax(1) == labels).float().mean()),
        "sequence_top1": float((seq_scores.argmax(1) == seq_labels).float().mean()),
        "nll": float(F.nll_loss(log_probs, labels)),
    }


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------
def train_classifier(train_x: np.ndarray, train_index: pd.DataFrame, val_x: np.ndarray, val_index: pd.DataFrame,
                     params: dict[str, Any], variant: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train the recipe on one variant; returns the best-on-validation weights and a report."""
    reason = variant_skip_reason(variant, train_x, params)
    if reason:
        return skipped(variant, reason)
    if len(train_x) != len(train_index) or len(val_x) != len(val_index):
        raise ConfigError(f"classifier {variant}: arrays and indexes disagree in length "
                          f"({len(train_x)} vs {len(train_index)}, {len(val_x)} vs {len(val_index)})")
    seed = int(params.get("seed", 0))
    torch.manual_seed(seed)
    device = select_device(params.get("device", "auto"))
    dtype = autocast_dtype(device, params.get("precision", "auto"))
    fmt = memory_format(device, dtype)
    num_classes = int(max(train_index["label"].max(), val_index["label"].max() if len(val_index) else 0)) + 1
    x_tr, y_tr = to_tensor(train_x), torch.as_tensor(train_index["label"].to_numpy(), dtype=torch.long)
    x_va, y_va = to_tensor(val_x), torch.as_tensor(val_index["label"].to_numpy(), dtype=torch.long)
    if device.type != "cpu":  # resident on the accelerator: the whole split is small next to its memory
        x_tr, y_tr = x_tr.to(device), y_tr.to(device)

    model_params = params.get("model", {})
    model = FrameClassifier(num_classes, input_size=int(train_x.shape[1]), width=int(model_params.get("width", 32)),
                            depth=int(model_params.get("depth", 3)),
                            dropout=float(model_params.get("dropout", 0.3)))
    if params.get("init_weights"):
        _load_init_weights(model, params["init_weights"])
    model = model.to(device, memory_format=fmt)
    train_model = torch.compile(model) if params.get("compile") else model

    epochs, batch = int(params.get("epochs", 20)), int(params.get("batch_size", 32))
    steps_per_epoch = max(1, math.ceil(len(x_tr) / batch))
    total = epochs * steps_per_epoch
    opt = torch.optim.AdamW(model.parameters(), lr=float(params.get("lr", 3e-3)),
                            weight_decay=float(params.get("weight_decay", 5e-4)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=float(params.get("lr", 3e-3)), total_steps=total,
                                                pct_start=0.2)
    smoothing = float(params.get("label_smoothing", 0.1))
    selection = choice(params.get("selection", "last"), "classifier.selection", ("last", "best_val"))
    strength = float(params.get("augment_strength", 1.0))
    best: dict[str, Any] = {"score": -math.inf, "state": copy.deepcopy(model.state_dict()), "epoch": 0}

    def step_fn(step: int) -> dict[str, float]:
        epoch, within = divmod(step, steps_per_epoch)
        order = torch.randperm(len(x_tr), generator=step_generator(seed, epoch))
        idx = order[within * batch:(within + 1) * batch]
        gen = step_generator(seed + 1, step)
        # Dropout draws from the global generator: seed it per step too, so a resumed run
        # continues exactly as an uninterrupted one would.
        torch.manual_seed(((seed + 2) * 1_000_003 + step) % (2**63 - 1))
        xb = augment(x_tr[idx.to(x_tr.device)].float() / 255, gen, strength)
        xb = ((xb - MEAN) / STD).to(device).contiguous(memory_format=fmt)
        yb = y_tr[idx.to(y_tr.device)].to(device)
        model.train()
        with autocast(device, dtype):
            loss = F.cross_entropy(train_model(xb).float(), yb, label_smoothing=smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss.item()}

    def eval_fn(step: int) -> dict[str, float]:
        if len(x_va) == 0:
            return {}
        summary = accuracy_summary(predict_log_probs(model, x_va, device, dtype), y_va, val_index)
        if selection == "best_val":
            # Sequence accuracy first, frame accuracy and NLL break ties.
            score = summary["sequence_top1"] + 1e-3 * summary["frame_top1"] - 1e-6 * summary["nll"]
        else:  # "last": the latest epoch always wins; validation is still measured and logged
            score = float(step)
        if score > best["score"]:
            best.update(score=score, state=copy.deepcopy(model.state_dict()), epoch=step // steps_per_epoch - 1)
        return {f"val_{k}": v for k, v in summary.items()}

    def get_state() -> dict[str, Any]:
        return {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "best_state": best["state"], "best_score": torch.tensor(best["score"], dtype=torch.float64),
                "best_epoch": torch.tensor(best["epoch"])}

    def set_state(state: dict[str, Any]) -> None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        best.update(state=state["best_state"], score=float(state["best_score"]), epoch=int(state["best_epoch"]))

    checkpoint_dir = params.get("checkpoint_dir")
    cfg = LoopConfig(
        steps=total, eval_every=steps_per_epoch,
        checkpoint_every=steps_per_epoch * int(params.get("checkpoint_every_epochs", 1)),
        checkpoint_dir=f"{checkpoint_dir}/{variant}" if checkpoint_dir else None,
        resume=bool(params.get("resume", True)), desc=f"classifier {variant}", log_every=steps_per_epoch,
        metric_prefix=f"classifier.{variant}.",
        fingerprint={"params": {k: v for k, v in params.items() if k not in ("resume", "checkpoint_dir", "variants",
                                                                             "device", "compile")},
                     # Content hashes: an SR variant recomputed by a new generator has the same shape.
                     "variant": variant, "data": [array_digest(train_x), array_digest(val_x),
                                                  fingerprint_of(train_index["label"].tolist())]},
    )
    history = run_loop(cfg, step_fn, get_state, set_state, eval_fn if len(x_va) else None)
    if not len(x_va):
        best.update(state=copy.deepcopy(model.state_dict()), epoch=epochs - 1)
    weights = {k: v.detach().cpu() for k, v in best["state"].items()}
    report = {
        "variant": variant,
        "device": str(device),
        "precision": str(dtype).replace("torch.", "") if dtype else "fp32",
        "input_size": list(train_x.shape[1:3]),
        "train_frames": len(x_tr),
        "val_frames": len(x_va),
        "epochs": epochs,
        "selection": selection,
        "best_epoch": int(best["epoch"]) + 1,
        "seconds": round(history["seconds"], 2),
        "resumed_from_step": history["resumed_from"],
        "history": history["eval"],
        "train_loss": history["train"],
        "config": model.config(),
    }
    logger.info("classifier %s: kept epoch %d of %d (selection: %s; %.1f s)", variant, report["best_epoch"], epochs,
                selection, history["seconds"])
    return {"variant": variant, "config": model.config(), "state_dict": weights,
            "normalisation": {"mean": MEAN, "std": STD},
            "class_names": class_names(num_classes, train_index, val_index)}, report


def class_names(num_classes: int, *indexes: pd.DataFrame) -> list[str]:
    """Who each output is: the person's name per label (the number where an index has no names),
    so a saved classifier answers in names without the data it was trained on."""
    names = [str(label) for label in range(num_classes)]
    for index in indexes:
        column = index["person_name"] if "person_name" in index else index["person"]
        for label, name in zip(index["label"].astype(int), column.astype(str)):
            names[label] = name
    return names


def _load_init_weights(model: FrameClassifier, path: str) -> None:
    state = read_weights_file(path, "classifier.init_weights")
    # A head for another number of people is dropped; the rest initialises the body.
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    logger.info("classifier: %d of %d tensors initialised from %s", len(usable), len(own), path)


def load_classifier(saved: dict[str, Any]) -> FrameClassifier:
    model = FrameClassifier.from_config(saved["config"])
    model.load_state_dict(saved["state_dict"])
    return model.eval()
