"""Sequence pooling heads: learned, order-invariant aggregation of a sequence's frames.

Mean pooling (:func:`faceless.inference.pool_sequences`, the mean frame log-probability) treats a
blurred or occluded frame like a clean one. ``method: attention`` trains a NAN-style aggregator
(:class:`faceless.models.aggregation.AttentionAggregator`) on a trained classifier's frame embeddings
(frozen backbone): it weighs each frame by a learned query and classifies the weighted embedding.

Protocol: the head trains on the training side's sequences only (cross-entropy on the sequence's
label); each step draws random sequences and a random subset of each one's frames, so it learns to
weigh frames rather than to memorise sets. The validation side only monitors and selects the step
kept (``selection``); the test side is never seen. Everything is deterministic from ``seed``.

What is saved (:func:`train_pooling_heads`): ``{"method", "variant", "config", "heads"}`` with one
head per classifier seed, ``{"seed", "backbone", "seconds", "config", "state_dict"}`` (``backbone``: the
digest of the weights whose embeddings it reads; ``seconds``: what it cost), plain tensors and dicts for
``torch.load(weights_only=True)``. :func:`faceless.inference.attention_head` finds a seed's head,
:func:`faceless.inference.pool_sequences_attention` applies it (the contract of ``pool_sequences``).
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from faceless.inference import (backbone_digest, frame_embeddings, load_classifier, pad_sequences, pool_sequences,
                                pool_sequences_attention, sequence_ids, sequence_labels, to_nchw_uint8)
from faceless.models.aggregation import AttentionAggregator
from faceless.recognition.metrics import classifier_seeds
from faceless.training.device import autocast_dtype, select_device
from faceless.training.tracker import NullTracker, Tracker, metric_prefix
from faceless.utils.config import from_params, to_params
from faceless.utils.errors import ConfigError, check_at_least

__all__ = ["PoolingConfig", "frame_embeddings", "pool_sequences_attention", "train_attention_pooling",
           "train_pooling_heads"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolingConfig:
    """``params:pooling``: how sequences pool their frames, and the attention head's recipe."""

    method: Literal["mean", "attention"]   # mean: today's mean log-probability; attention: a trained head
    blocks: Literal[1, 2]                  # attention blocks (2: the query adapts to the set, NAN's cascade)
    steps: int                             # optimisation steps (one batch of sequence subsets each)
    lr: float
    weight_decay: float
    batch_sequences: int                   # sequences a step draws (with replacement)
    set_frames: list[int]                  # [min, max] frames drawn from a sequence for one training set
    eval_every_steps: int                  # validation every this many steps (0: only after the last)
    selection: Literal["last", "best_val"]
    seed: int
    device: Literal["auto", "cuda", "mps", "cpu"]   # where the backbone computes the embeddings
    precision: Literal["auto", "bf16", "fp32"]
    frame_batch_size: int                  # frames a backbone forward pass takes

    def __post_init__(self) -> None:
        check_at_least(self, ("steps", "batch_sequences", "frame_batch_size"), 1, "pooling")
        check_at_least(self, ("eval_every_steps", "weight_decay"), 0, "pooling")
        if not self.lr > 0:
            raise ConfigError(f"pooling.lr must be > 0, got {self.lr}")
        if len(self.set_frames) != 2 or not 1 <= self.set_frames[0] <= self.set_frames[1]:
            raise ConfigError(f"pooling.set_frames must be [min, max] with 1 <= min <= max, got {self.set_frames}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None, name: str = "pooling") -> PoolingConfig:
        """From conf; an unknown, missing or mistyped key is one ConfigError (a ValueError) line naming it."""
        return from_params(cls, params, name)


# ----------------------------------------------------------------------------------------------
# Training one head on one backbone's embeddings
# ----------------------------------------------------------------------------------------------
def train_attention_pooling(cfg: PoolingConfig, train_embeddings: torch.Tensor, train_index: pd.DataFrame,
                            val_embeddings: torch.Tensor, val_index: pd.DataFrame, *, num_classes: int,
                            head_init: tuple[torch.Tensor, torch.Tensor] | None = None,
                            tracker: Tracker | None = None, metric_prefix: str = "pooling/"
                            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train an attention head on frame embeddings (N, D) of the training side's sequences (rows of
    ``train_index``: person, video, sequence, label); validation monitors and, with ``selection:
    best_val``, picks the step kept. ``head_init``: the classifier's own linear head (weight, bias) to
    start from (the aggregator then starts as the classifier applied to the mean embedding).

    Returns the head (``{"config", "state_dict"}``, CPU tensors) and a report (history, kept step)."""
    if len(train_embeddings) != len(train_index) or len(val_embeddings) != len(val_index):
        raise ValueError("pooling: embeddings and index rows disagree in length")
    started = time.perf_counter()
    tracker = tracker or NullTracker()
    train_ids = torch.as_tensor(sequence_ids(train_index), dtype=torch.long)
    train_labels = sequence_labels(train_ids.numpy(), _labels(train_index))
    padded, real, _ = pad_sequences(train_embeddings.float(), train_ids)
    lengths = real.sum(1)
    model = _initial_model(cfg, train_embeddings.float(), num_classes, head_init)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # Cosine to zero: the late steps settle instead of jumping between sets.
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / cfg.steps)))
    draws = torch.Generator().manual_seed(cfg.seed)
    val = _validation_side(val_embeddings, val_index)
    kept = {"state": copy.deepcopy(model.state_dict()), "score": -math.inf, "step": 0}
    history, losses = [], []
    for step in range(1, cfg.steps + 1):
        rows, mask = draw_sets(lengths, cfg.batch_sequences, cfg.set_frames, draws)
        model.train()
        logits, _ = model(padded[rows], mask)
        loss = F.cross_entropy(logits, train_labels[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step != cfg.steps and not (cfg.eval_every_steps and step % cfg.eval_every_steps == 0):
            continue
        summary = _validate(model, val) if val is not None else {}
        tracker.log_metrics({f"{metric_prefix}loss": float(np.mean(losses[-50:])),
                             **{f"{metric_prefix}val_{k}": v for k, v in summary.items()}}, step)
        if summary:
            history.append({"step": step, **summary})
            # Sequence accuracy first; the NLL breaks ties. "last": the latest evaluation wins.
            score = summary["sequence_top1"] - 1e-3 * summary["nll"] if cfg.selection == "best_val" else step
            if score > kept["score"]:
                kept = {"state": copy.deepcopy(model.state_dict()), "score": score, "step": step}
    if val is None:
        kept = {"state": copy.deepcopy(model.state_dict()), "score": math.nan, "step": cfg.steps}
    head = {"config": model.config(), "state_dict": {k: v.detach().cpu().clone() for k, v in kept["state"].items()}}
    report = {"steps": cfg.steps, "kept_step": kept["step"], "selection": cfg.selection,
              "train_sequences": int(len(lengths)), "val_sequences": 0 if val is None else int(len(val["labels"])),
              "final_train_loss": float(np.mean(losses[-50:])), "history": history,
              "seconds": round(time.perf_counter() - started, 2)}
    return head, report


def draw_sets(lengths: torch.Tensor, batch: int, set_frames: list[int], draws: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` random sequences (rows of a padded batch whose real lengths are ``lengths``) and, for
    each, a mask of a random subset of its real frames, of a size drawn uniformly from ``set_frames``
    [min, max] (capped by the sequence's length)."""
    rows = torch.randint(len(lengths), (batch,), generator=draws)
    n = lengths[rows]
    most = torch.clamp(n, max=set_frames[1])
    least = torch.clamp(most, max=set_frames[0])
    size = least + (torch.rand(batch, generator=draws) * (most - least + 1)).long().clamp(max=most - least)
    # A random order of each sequence's real frames (padding sorts last); the first ``size`` are the set.
    keys = torch.rand(batch, int(lengths.max()), generator=draws)
    keys[torch.arange(keys.shape[1]).unsqueeze(0) >= n.unsqueeze(1)] = 2.0
    rank = keys.argsort(1).argsort(1)
    return rows, rank < size.unsqueeze(1)


def _initial_model(cfg: PoolingConfig, train_embeddings: torch.Tensor, num_classes: int,
                   head_init: tuple[torch.Tensor, torch.Tensor] | None) -> AttentionAggregator:
    # A private generator state: the head's random start depends on ``seed`` alone, and training a
    # pooling head leaves the caller's global random stream as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = AttentionAggregator(num_classes, embed_dim=train_embeddings.shape[1], blocks=cfg.blocks)
    shift = train_embeddings.mean(0)
    std = train_embeddings.std(0) if len(train_embeddings) > 1 else torch.ones_like(shift)
    # A dead (constant) channel divided by ~0 would blow up on new frames: floor the scale.
    scale = std + 1e-3 * std.mean() + 1e-8
    with torch.no_grad():
        model.set_standardisation(shift, scale)
        if head_init is not None:
            weight, bias = head_init
            if tuple(weight.shape) != (num_classes, train_embeddings.shape[1]):
                raise ValueError(f"pooling: head_init weight {tuple(weight.shape)} does not fit "
                                 f"{num_classes} classes x {train_embeddings.shape[1]} features")
            # logits = W f + b with f = shift + scale * z, in the standardised z the head reads.
            model.head.weight.copy_(weight.float() * scale)
            model.head.bias.copy_(bias.float() + weight.float() @ shift)
    return model


def _validation_side(embeddings: torch.Tensor, index: pd.DataFrame) -> dict[str, Any] | None:
    if len(index) == 0:
        return None
    ids = sequence_ids(index)
    padded, mask, _ = pad_sequences(embeddings.float(), torch.as_tensor(ids, dtype=torch.long))
    return {"padded": padded, "mask": mask, "labels": sequence_labels(ids, _labels(index))}


@torch.no_grad()
def _validate(model: AttentionAggregator, val: dict[str, Any]) -> dict[str, float]:
    model.eval()
    logits, _ = model(val["padded"], val["mask"])
    return {"sequence_top1": float((logits.argmax(1) == val["labels"]).float().mean()),
            "nll": float(F.cross_entropy(logits, val["labels"]))}


def _labels(index: pd.DataFrame) -> torch.Tensor:
    return torch.tensor(index["label"].to_numpy(), dtype=torch.long)


# ----------------------------------------------------------------------------------------------
# One head per seed of a saved classifier
# ----------------------------------------------------------------------------------------------
def train_pooling_heads(cfg: PoolingConfig, classifier: dict[str, Any], train_x: np.ndarray,
                        train_index: pd.DataFrame, val_x: np.ndarray, val_index: pd.DataFrame,
                        tracker: Tracker | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pooling of one variant's saved classifier (``classifier_<variant>``): for ``mean`` nothing
    is trained; for ``attention`` one head per classifier seed, on that seed's embeddings of the
    training frames (uint8 N,H,W,3), validated on the validation frames. Returns the pooling to save
    and a report that sets each seed's validation sequence accuracy beside mean pooling's."""
    variant = classifier.get("variant")
    if cfg.method == "mean":
        return {"method": "mean", "variant": variant, "config": to_params(cfg)}, {"method": "mean", "variant": variant}
    if len(train_x) != len(train_index) or len(val_x) != len(val_index):
        raise ValueError(f"pooling {variant}: frames and index rows disagree in length")
    device = select_device(cfg.device)
    dtype = autocast_dtype(device, cfg.precision)
    num_classes = int(classifier["config"]["num_classes"])
    x_train, x_val = to_nchw_uint8(train_x), to_nchw_uint8(val_x)
    val_ids = sequence_ids(val_index)
    heads, seeds = [], []
    for i, (seed, state_dict) in enumerate(classifier_seeds(classifier)):
        started = time.perf_counter()
        model = load_classifier({**classifier, "state_dict": state_dict}).to(device)
        # The frames as they are: test-time flips are evaluation's choice, as in classifier validation.
        embed = dict(normalisation=classifier["normalisation"], device=device, dtype=dtype,
                     batch=cfg.frame_batch_size, flip_tta=False)
        train_embedded, _ = frame_embeddings(model, x_train, **embed)
        val_embedded, val_log_probs = frame_embeddings(model, x_val, **embed)
        repeat = "" if i == 0 else f"seed_{seed}"
        # Each classifier seed's head draws from a stream of its own (seed + i).
        head, report = train_attention_pooling(
            dataclasses.replace(cfg, seed=cfg.seed + i), train_embedded, train_index, val_embedded, val_index,
            num_classes=num_classes, head_init=_linear_head(model), tracker=tracker,
            metric_prefix=metric_prefix("classifier", variant, repeat, "pooling"))
        # The seed's whole cost (embeddings and training), which the comparison adds to the classifier's.
        report["seconds"] = round(time.perf_counter() - started, 2)
        heads.append({"seed": seed, "backbone": backbone_digest(classifier, state_dict), "seconds": report["seconds"],
                      **head})
        if len(val_index):
            attention, _ = pool_sequences_attention(head, val_embedded, val_ids)
            mean, _ = pool_sequences(val_log_probs, val_ids)
            labels = sequence_labels(val_ids, _labels(val_index))
            report["val_sequence_top1"] = {"attention": float((attention.argmax(1) == labels).float().mean()),
                                           "mean": float((mean.argmax(1) == labels).float().mean())}
        seeds.append({"seed": seed, **report})
        logger.info("pooling %s seed %s: attention head kept step %d of %d; validation sequence top-1 %s", variant,
                    seed, report["kept_step"], cfg.steps, report.get("val_sequence_top1", "n/a"))
    pooling = {"method": "attention", "variant": variant, "config": to_params(cfg), "heads": heads}
    return pooling, {"method": "attention", "variant": variant, "device": str(device), "seeds": seeds}


def _linear_head(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The classifier's last linear layer (weight, bias), if its head ends in one: the aggregator's start."""
    last = model.head[-1] if isinstance(getattr(model, "head", None), torch.nn.Sequential) else None
    if not isinstance(last, torch.nn.Linear):
        return None
    return last.weight.detach().float().cpu(), last.bias.detach().float().cpu()
