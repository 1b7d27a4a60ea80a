"""The classifier recipe as a trainer: one object holds the model, optimiser, schedule and the
weights kept so far; :func:`faceless.training.loop.run_loop` drives it.

The recipe is the same for every input variant (network body, optimiser, one-cycle schedule,
augmentation, epochs, which epoch is kept: ``classifier.selection``); only the backbone's stem
follows the input size. Every step draws its batch order, augmentation and dropout from
generators seeded by the step, so a resumed run continues exactly as an uninterrupted one.
:func:`train_seeds` runs the recipe once per seed of ``classifier.seeds`` (repeats).

Data-parallel (inside a process group, :mod:`faceless.training.parallel`): every rank draws the same
global batch, JPEG re-encoding and augmentation and keeps its chunk of them (each frame augmented as
in one process), the model is in DDP with its BatchNorm synchronised over the ranks, each rank's
loss is its chunk's sum over the global batch size (times the world size: DDP averages), and the
reported loss is the global batch's mean. Dropout masks are drawn per rank, so they differ from one
process's. Rank 0 measures the validation side and every rank keeps the epoch its numbers select.
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

from faceless.data.people import class_names
from faceless.inference import frame_log_probs, precision_name, to_nchw_uint8
from faceless.models import build_model
from faceless.recognition.augment import augment, jpeg_reencode
from faceless.recognition.config import ClassifierConfig
from faceless.recognition.metrics import accuracy_summary
from faceless.training.device import autocast, autocast_dtype, memory_format, select_device
from faceless.training.loop import (SEED_MODULUS, LoopConfig, fingerprint_of, read_weights_file, run_loop, step_generator,
                                    step_seed)
from faceless.training.parallel import (all_reduce_mean, convert_sync_batchnorm, describe, main_only, rank, shard,
                                        world_size, wrap_ddp)
from faceless.training.tracker import Tracker, metric_prefix
from faceless.utils.config import to_params
from faceless.utils.digest import array_digest
from faceless.utils.errors import ConfigError

logger = logging.getLogger(__name__)

#: Parameters that do not change what is trained: a checkpoint stays valid across them.
NOT_FINGERPRINTED = ("resume", "checkpoint_dir", "variants", "device", "compile", "seeds", "distributed")


class ClassifierTrainer:
    """Train ``cfg``'s recipe on one variant's frames (uint8 N,H,W,3) with their index rows, with
    ``seed`` (one of ``cfg.seeds``) behind the initial weights and every random draw.

    ``step(step)`` runs one optimisation step; ``evaluate(step)`` measures the validation side and
    keeps the weights ``cfg.selection`` prefers; ``state_dict()``/``load_state_dict()`` are what a
    checkpoint holds; ``train(tracker)`` runs the whole schedule through the shared loop.
    """

    def __init__(self, cfg: ClassifierConfig, variant: str, train_x: np.ndarray, train_index: pd.DataFrame,
                 val_x: np.ndarray, val_index: pd.DataFrame, seed: int) -> None:
        if len(train_x) != len(train_index) or len(val_x) != len(val_index):
            raise ConfigError(f"classifier {variant}: arrays and indexes disagree in length "
                              f"({len(train_x)} vs {len(train_index)}, {len(val_x)} vs {len(val_index)})")
        self.cfg, self.variant, self.seed = cfg, variant, seed
        self.train_x, self.val_x, self.train_index, self.val_index = train_x, val_x, train_index, val_index
        # Seeded first: the model's initial weights are the global generator's next draws.
        torch.manual_seed(seed)
        self.device = select_device(cfg.device)
        self.dtype = autocast_dtype(self.device, cfg.precision)
        self.fmt = memory_format(self.device)
        self.num_classes = int(max(train_index["label"].max(),
                                   val_index["label"].max() if len(val_index) else 0)) + 1
        self.x_train, self.y_train = to_nchw_uint8(train_x), _labels(train_index)
        self.x_val, self.y_val = to_nchw_uint8(val_x), _labels(val_index)
        if self.device.type != "cpu":  # resident on the accelerator: the whole split is small next to its memory
            self.x_train, self.y_train = self.x_train.to(self.device), self.y_train.to(self.device)
        self.model = build_model("backbone", cfg.model.model_config(self.num_classes, int(train_x.shape[1])))
        if cfg.init_weights:
            _load_init_weights(self.model, cfg.init_weights)
        self.model = self.model.to(self.device, memory_format=self.fmt)
        self.parallel = world_size() > 1
        if self.parallel:
            if cfg.batch_size < world_size():
                raise ConfigError(f"classifier.batch_size={cfg.batch_size} is smaller than the {world_size()} "
                                  "processes of classifier.distributed: each needs at least one frame a step")
            self.model = convert_sync_batchnorm(self.model, self.device)
        train_model = wrap_ddp(self.model, self.device)
        self.train_model = torch.compile(train_model) if cfg.compile else train_model
        self.steps_per_epoch = max(1, math.ceil(len(self.x_train) / cfg.batch_size))
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(self.optimizer, max_lr=cfg.lr,
                                                             total_steps=self.total_steps,
                                                             pct_start=cfg.one_cycle_pct_start)
        # The weights selection keeps, their score and their (0-based) epoch.
        self.kept_state = copy.deepcopy(self.model.state_dict())
        self.kept_score, self.kept_epoch = -math.inf, 0

    # ------------------------------------------------------------------------------------------
    def step(self, step: int) -> dict[str, float]:
        """One optimisation step on the batch of ``step``. In a process group this rank takes its chunk
        of the global batch (the JPEG and augmentation draws made for the whole batch), its loss is the
        chunk's sum / the global batch size x the world size, so that DDP's average is the global
        mean's gradient; a chunk may be empty (a last batch smaller than the world) and still takes
        part in every collective. In one process the chunk is the batch and the loss its mean."""
        cfg = self.cfg
        epoch, within = divmod(step, self.steps_per_epoch)
        order = torch.randperm(len(self.x_train), generator=step_generator(self.seed, epoch))
        idx = order[within * cfg.batch_size:(within + 1) * cfg.batch_size]
        total, part = len(idx), shard(len(idx))
        # Dropout draws from the global generator: seeded per step too, so a resumed run continues
        # exactly as an uninterrupted one would; each rank its own stream (the same one would give
        # aligned frames of the ranks one mask).
        dropout = step_seed(self.seed + 2, step)
        torch.manual_seed((dropout * 4_099 + rank()) % SEED_MODULUS if self.parallel else dropout)
        local = idx[part]
        xb_u8 = self.x_train[local.to(self.x_train.device)]
        # The JPEG control draws from a stream of its own: switching it on leaves the batches and
        # the other augmentation draws as they were, so runs with and without it are paired.
        xb_u8 = jpeg_reencode(xb_u8, step_generator(self.seed + 3, step), cfg.jpeg_augment, total, part)
        xb = augment(xb_u8.float() / 255, step_generator(self.seed + 1, step), cfg.augment, cfg.augment_strength,
                     total, part)
        xb = ((xb - cfg.normalisation.mean) / cfg.normalisation.std).to(self.device).contiguous(memory_format=self.fmt)
        yb = self.y_train[local.to(self.y_train.device)].to(self.device)
        self.model.train()
        with autocast(self.device, self.dtype):
            loss = F.cross_entropy(self.train_model(xb).float(), yb, label_smoothing=cfg.label_smoothing,
                                   reduction="sum" if self.parallel else "mean")
        self.optimizer.zero_grad(set_to_none=True)
        (loss * (world_size() / total) if self.parallel else loss).backward()
        self.optimizer.step()
        self.scheduler.step()
        if not self.parallel:
            return {"loss": loss.item()}
        return all_reduce_mean({"loss": loss.item() / max(1, len(local))}, len(local))

    def evaluate(self, step: int) -> dict[str, float]:
        """Validation metrics (``val_*``) after ``step`` steps; keeps the weights if selection prefers them."""
        if len(self.x_val) == 0:
            return {}
        # Data-parallel: rank 0 measures, every rank selects by the same numbers.
        summary = main_only(self.validation_summary)
        if self.cfg.selection == "best_val":
            # Sequence accuracy first, frame accuracy and NLL break ties.
            score = summary["sequence_top1"] + 1e-3 * summary["frame_top1"] - 1e-6 * summary["nll"]
        else:  # "last": the latest epoch always wins; validation is still measured and logged
            score = float(step)
        if score > self.kept_score:
            self.kept_state = copy.deepcopy(self.model.state_dict())
            self.kept_score, self.kept_epoch = score, step // self.steps_per_epoch - 1
        return {f"val_{k}": v for k, v in summary.items()}

    def validation_summary(self) -> dict[str, float]:
        # Validation monitors the frames as they are; test-time flips are evaluation's choice.
        log_probs = frame_log_probs(self.model, self.x_val, self.normalisation, self.device, self.dtype,
                                    self.cfg.val_batch_size, flip_tta=False)
        return accuracy_summary(log_probs, self.y_val, self.val_index)

    @property
    def normalisation(self) -> dict[str, float]:
        return {"mean": self.cfg.normalisation.mean, "std": self.cfg.normalisation.std}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.optimizer.state_dict(),
                "sched": self.scheduler.state_dict(), "best_state": self.kept_state,
                "best_score": torch.tensor(self.kept_score, dtype=torch.float64),
                "best_epoch": torch.tensor(self.kept_epoch)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["opt"])
        self.scheduler.load_state_dict(state["sched"])
        self.kept_state = state["best_state"]
        self.kept_score, self.kept_epoch = float(state["best_score"]), int(state["best_epoch"])

    # ------------------------------------------------------------------------------------------
    def loop_config(self) -> LoopConfig:
        cfg, variant = self.cfg, self.variant
        params = {k: v for k, v in to_params(cfg).items() if k not in NOT_FINGERPRINTED} | {"seed": self.seed}
        # Checkpoints live by seed, whatever its place in the list (reordering or trimming
        # classifier.seeds resumes each seed's own run); the first seed keeps a single run's metric names.
        repeat = "" if self.seed == cfg.seeds[0] else f"seed_{self.seed}"
        return LoopConfig(
            steps=self.total_steps, eval_every=self.steps_per_epoch * cfg.eval_every_epochs,
            checkpoint_every=self.steps_per_epoch * cfg.checkpoint_every_epochs,
            checkpoint_dir=f"{cfg.checkpoint_dir}/{variant}/seed_{self.seed}" if cfg.checkpoint_dir else None,
            resume=cfg.resume, desc=" ".join(filter(None, ("classifier", variant, repeat))),
            log_every=self.steps_per_epoch,
            metric_prefix=metric_prefix("classifier", variant, repeat),
            # Content hashes: an SR variant recomputed by a new generator has the same shape.
            fingerprint={"params": params, "variant": variant,
                         "data": [array_digest(self.train_x), array_digest(self.val_x),
                                  fingerprint_of(self.train_index["label"].tolist())]},
        )

    def train(self, tracker: Tracker | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The whole schedule (resuming from a matching checkpoint); returns the saved classifier
        (the weights ``selection`` kept) and the training report."""
        has_val = len(self.x_val) > 0
        history = run_loop(self.loop_config(), self.step, self.state_dict, self.load_state_dict,
                           self.evaluate if has_val else None, tracker=tracker)
        if not has_val:
            self.kept_state, self.kept_epoch = copy.deepcopy(self.model.state_dict()), self.cfg.epochs - 1
        saved = {"variant": self.variant, "config": self.model.config(),
                 "state_dict": {k: v.detach().cpu() for k, v in self.kept_state.items()},
                 "normalisation": self.normalisation,
                 "class_names": class_names(self.num_classes, self.train_index, self.val_index)}
        report = {
            "variant": self.variant,
            "device": str(self.device),
            "precision": precision_name(self.dtype),
            "input_size": list(self.train_x.shape[1:3]),
            "train_frames": len(self.x_train),
            "val_frames": len(self.x_val),
            "epochs": self.cfg.epochs,
            "selection": self.cfg.selection,
            "distributed": describe(self.cfg.batch_size),
            "best_epoch": int(self.kept_epoch) + 1,
            "seconds": round(history["seconds"], 2),
            "resumed_from_step": history["resumed_from"],
            "history": history["eval"],
            "train_loss": history["train"],
            "config": self.model.config(),
        }
        logger.info("classifier %s: kept epoch %d of %d (selection: %s; %.1f s)", self.variant, report["best_epoch"],
                    self.cfg.epochs, self.cfg.selection, history["seconds"])
        return saved, report


def train_seeds(cfg: ClassifierConfig, variant: str, train_x: np.ndarray, train_index: pd.DataFrame,
                val_x: np.ndarray, val_index: pd.DataFrame, tracker: Tracker | None = None
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recipe once per seed of ``cfg.seeds`` (repeats), each run exactly a single run with that seed.

    The saved classifier and the report are the first seed's, under the keys a single run has (what
    predict and the curves read), plus ``seed`` and ``repeats``: the other seeds' weights
    (``{seed, state_dict}``) and training reports; the report also lists ``seeds``.
    """
    saved: dict[str, Any] = {}
    report: dict[str, Any] = {}
    for seed in cfg.seeds:
        run_saved, run_report = ClassifierTrainer(cfg, variant, train_x, train_index, val_x, val_index,
                                                  seed).train(tracker)
        if not saved:
            saved = {**run_saved, "seed": seed, "repeats": []}
            report = {**run_report, "seed": seed, "seeds": list(cfg.seeds), "repeats": []}
        else:
            saved["repeats"].append({"seed": seed, "state_dict": run_saved["state_dict"]})
            report["repeats"].append({**run_report, "seed": seed})
    return saved, report


def _labels(index: pd.DataFrame) -> torch.Tensor:
    return torch.tensor(index["label"].to_numpy(), dtype=torch.long)  # a copy: the index may be read-only


def _load_init_weights(model: torch.nn.Module, path: str) -> None:
    state = read_weights_file(path, "classifier.init_weights")
    # A head for another number of people is dropped; the rest initialises the body.
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    logger.info("classifier: %d of %d tensors initialised from %s", len(usable), len(own), path)
