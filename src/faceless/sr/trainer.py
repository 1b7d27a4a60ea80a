"""SR training: pixel-loss pretraining of the generator (SRResNet), then adversarial training (SRGAN).

:class:`SRTrainer` holds the generator, the discriminator, the generator's EMA (used for evaluation
and export), both Adam optimisers and the two weighted losses (:mod:`faceless.sr.losses`). One
:meth:`SRTrainer.step` is one optimisation step:

* stage 1 (``step < pretrain_steps``): the generator on ``pretrain_losses``;
* stage 2: one discriminator update (:func:`~faceless.sr.losses.adversarial_d_loss` on real and
  detached generated crops), then one generator update on ``gan_losses`` with the discriminator
  frozen (``requires_grad_(False)``: no gradients are computed for its weights; its BatchNorm
  statistics still update, as they always did).

Where a loss list names an ``identity`` term (``srgan_id``: :func:`train_identity_variant`), the
trainer also holds a recogniser (:mod:`faceless.sr.identity`): trained on the training targets
before the first step (:meth:`SRTrainer.pretrain_recogniser`), frozen (no gradients, eval mode)
during every generator step, and with ``update: alternate`` trained one step between generator
steps on SR, HR and mixed crops (:meth:`SRTrainer.recogniser_step`).

Each step draws its crops from a generator seeded by ``(seed, step)``, so a resumed run sees the
batches an uninterrupted one would. :meth:`SRTrainer.train` runs the steps through the shared
:func:`~faceless.training.loop.run_loop` (progress, evaluation, checkpoints, resume) and returns
the exported generator and the report. Validation (PSNR/SSIM on Y against bicubic) uses the
validation side, never the test side. No Kedro, no MLflow: numbers go to the tracker passed in.

Data-parallel (inside a process group, :mod:`faceless.training.parallel`): every rank draws that same
global batch and trains on its chunk; the generator and the discriminator are in DDP with their
BatchNorm synchronised over the ranks, each rank's losses weighted so that the averaged gradient is
the global batch's, and the reported losses averaged over the ranks; in the generator's adversarial
step the frozen discriminator is called outside its DDP wrapper (nothing of it to synchronise; its
synchronised BatchNorm still passes the gradient to every rank's generator). The EMA follows the
synchronised generator on every rank; rank 0 evaluates (the others wait) and writes checkpoints.
A recogniser trained in the stage (``srgan_id``) is not data-parallel: the trainer refuses it in a
process group.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from faceless.inference import precision_name, upscale
from faceless.models import build_model
from faceless.sr.config import STAGE, SRConfig, uses_recogniser
from faceless.sr.identity import MIX_STREAM, PRETRAIN_STREAM, Recogniser, centre_crops, mixed_crops
from faceless.sr.losses import LossContext, WeightedLoss, adversarial_d_loss
from faceless.sr.metrics import Geometry, evaluate_sr, measure_geometry
from faceless.sr.pairs import make_pairs, random_crops, training_crop
from faceless.sr.pretrained import initial_generator
from faceless.training.device import autocast, autocast_dtype, memory_format, select_device
from faceless.training.loop import LoopConfig, fingerprint_of, run_loop, step_generator
from faceless.training.parallel import (all_reduce_mean, convert_sync_batchnorm, describe, loss_weight, main_only,
                                        shard, world_size, wrap_ddp)
from faceless.training.tracker import NullTracker, Tracker, metric_name, metric_prefix
from faceless.utils.config import to_params
from faceless.utils.digest import array_digest
from faceless.utils.errors import ConfigError

logger = logging.getLogger(__name__)

#: Parameters that do not change the trained weights: a checkpoint resumes across changes to them.
NOT_FINGERPRINTED = ("resume", "checkpoint_dir", "eval_every", "checkpoint_every", "device", "compile",
                     "val_frames", "fallback_val_pairs", "eval_batch_size", "eval_border", "sample_count",
                     "log_every",
                     # the processes it runs in: the trained result is the same (within float rounding)
                     "distributed",
                     # an identity variant's own lists already hold its identity terms, and the
                     # recogniser's settings count only for a training that has one (loop_config)
                     "identity", "recogniser")


@dataclass(frozen=True)
class SRData:
    """uint8 NCHW pairs for training and validation, which kind they are (truth | self), the LR crop
    side training uses (``srgan.crop``, or less on small frames) and how PSNR/SSIM measure them."""

    lr_train: torch.Tensor
    hr_train: torch.Tensor
    lr_val: torch.Tensor
    hr_val: torch.Tensor
    pairs: str
    crop: int
    geometry: Geometry


def training_pairs(config: SRConfig, lr_train: np.ndarray, hr_train: np.ndarray | None, lr_val: np.ndarray,
                   hr_val: np.ndarray | None, name: str = STAGE, val_pairs: str | None = None) -> SRData:
    """The training and validation pairs of the split's frames (uint8 NHWC arrays); ``name`` labels the
    log. Validation pairs are of the training pairs' kind, or ``val_pairs`` where given."""
    lr_tr, hr_tr, kind = make_pairs(lr_train, hr_train, config.pairs, config.scale, "train")
    if len(lr_val):
        lr_va, hr_va, _ = make_pairs(lr_val, hr_val, val_pairs or kind, config.scale, "val")
    else:
        logger.warning("%s: no validation frames; evaluating on training pairs (optimistic)", name)
        lr_va, hr_va = lr_tr[:config.fallback_val_pairs], hr_tr[:config.fallback_val_pairs]
    lr_va, hr_va = validation_subset(config, lr_va, hr_va)
    logger.info("%s: %d %s training pairs %s -> %s, %d validation pairs", name, len(lr_tr), kind,
                tuple(lr_tr.shape[-2:]), tuple(hr_tr.shape[-2:]), len(lr_va))
    crop = training_crop(config.crop, lr_tr)
    if crop != config.crop:
        logger.info("%s: training crops of %d LR px (srgan.crop=%d is larger than the %s px LR frames)", name, crop,
                    config.crop, tuple(lr_tr.shape[-2:]))
    geometry = measure_geometry(*hr_va.shape[-2:], config.eval_border)
    if geometry.note:
        logger.info("%s: PSNR/SSIM on %s", name, geometry.note)
    return SRData(lr_tr, hr_tr, lr_va, hr_va, kind, crop, geometry)


def validation_subset(config: SRConfig, lr: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``val_frames`` validation pairs (all when 0)."""
    if config.val_frames:
        return lr[:config.val_frames], hr[:config.val_frames]
    return lr, hr


def rounded(values: dict[str, float]) -> dict[str, float | None]:
    """Report numbers to 4 decimals; one not computable (NaN: SSIM on images under 3 px) as None."""
    return {k: round(v, 4) if math.isfinite(v) else None for k, v in values.items()}


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """``module``'s parameters take no gradient inside the block; their flags are restored after."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(module.parameters(), flags):
            parameter.requires_grad_(flag)


class SRTrainer:
    """The SR training state and its steps; see the module docstring. ``name`` labels its logs,
    progress bar and metrics (``srgan``, ``srgan_self``, ``srgan_id``: trainings in one run stay apart).

    Where a loss list names a term that reads a recogniser (``identity``), the trainer holds one
    (:class:`~faceless.sr.identity.Recogniser`), built from ``srgan.recogniser``; ``labels`` are the
    training pairs' people (int per pair, in their order), which a recogniser trained here needs, and
    ``val_labels`` the validation pairs', which only measure it.
    """

    def __init__(self, config: SRConfig, data: SRData, name: str = STAGE, labels: np.ndarray | None = None,
                 val_labels: np.ndarray | None = None) -> None:
        self.config, self.data, self.name = config, data, name
        torch.manual_seed(config.seed)  # the models' initial weights
        self.device = select_device(config.device)
        self.dtype = autocast_dtype(self.device, config.precision)
        self.fmt = memory_format(self.device)
        # Data resident on an accelerator: no host->device copy per step.
        self.data_on_device = self.device.type != "cpu"
        self.lr_train, self.hr_train = data.lr_train, data.hr_train
        if self.data_on_device:
            self.lr_train, self.hr_train = self.lr_train.to(self.device), self.hr_train.to(self.device)

        # Fine-tuning (init_weights): the generator in that file, which may be pretrained elsewhere.
        generator = initial_generator(config, name)
        self.generator = generator.to(self.device, memory_format=self.fmt)
        discriminator = build_model("discriminator", config.discriminator_config())
        self.discriminator = discriminator.to(self.device, memory_format=self.fmt)
        # Data-parallel: this rank's share of every global batch, and the factor on its mean losses.
        self.parallel = world_size() > 1
        self.part = shard(config.batch_size)
        self.local_batch = self.part.stop - self.part.start
        if self.parallel:
            if config.batch_size < world_size():
                raise ConfigError(f"{STAGE}.batch_size={config.batch_size} is smaller than the {world_size()} "
                                  f"processes of {STAGE}.distributed: each needs at least one crop a step")
            self.generator = convert_sync_batchnorm(self.generator, self.device)
            self.discriminator = convert_sync_batchnorm(self.discriminator, self.device)
        self.weight = loss_weight(self.local_batch, config.batch_size)
        self.ema = AveragedModel(self.generator, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay),
                                 use_buffers=True)
        betas = (config.adam_betas[0], config.adam_betas[1])
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_pretrain, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_gan, betas=betas)
        self.pretrain_loss = WeightedLoss(config.pretrain_losses, f"{STAGE}.pretrain_losses",
                                          discriminator=False).to(self.device)
        self.gan_loss = WeightedLoss(config.gan_losses, f"{STAGE}.gan_losses", discriminator=True).to(self.device)
        train_g, train_d = wrap_ddp(self.generator, self.device), wrap_ddp(self.discriminator, self.device)
        self.train_g = torch.compile(train_g) if config.compile else train_g
        self.train_d = torch.compile(train_d) if config.compile else train_d
        # The generator step's frozen discriminator: outside DDP, which has nothing of it to synchronise.
        self.frozen_d = self.train_d
        if self.parallel:
            self.frozen_d = torch.compile(self.discriminator) if config.compile else self.discriminator
        self._bicubic: dict[str, float] | None = None
        # Copies: the labels may come from a read-only index or memory map.
        self.labels = None if labels is None else torch.tensor(np.array(labels), dtype=torch.long)
        self.val_labels = None if val_labels is None else torch.tensor(np.array(val_labels), dtype=torch.long)
        if self.labels is not None and len(self.labels) != len(data.lr_train):
            raise ValueError(f"{name}: {len(self.labels)} labels for {len(data.lr_train)} training pairs")
        self.recogniser: Recogniser | None = None
        self.recogniser_history: dict[str, Any] | None = None
        if uses_recogniser(config):
            rec = config.recogniser
            if self.parallel and (rec.steps or rec.update == "alternate"):
                raise ConfigError(f"{STAGE}.distributed: a recogniser trained in the SR stage "
                                  f"({STAGE}.recogniser.steps={rec.steps}, update={rec.update}) is not data-parallel; "
                                  f"set {STAGE}.distributed.nproc=1, or use a recogniser file with steps: 0 and "
                                  "update: frozen")
            if self.labels is None and rec.source == "file" and (rec.steps or rec.update == "alternate"):
                raise ConfigError(f"{STAGE}.recogniser: steps={rec.steps} and update={rec.update} train the recogniser "
                                  f"file on the training frames' labels, which {name}'s training has not (only "
                                  "srgan_id's has): set steps: 0 and update: frozen to use it as it is")
            self.recogniser = Recogniser(config.recogniser, self.labels, int(data.hr_train.shape[-1]), self.device,
                                         self.dtype, self.fmt)
            for loss in (self.pretrain_loss, self.gan_loss):
                for spec, term in zip(loss.specs, loss.terms):
                    if term.uses_recogniser:
                        self.recogniser.check_layers(term.layers, f"{spec.param}.layers")

    @classmethod
    def from_arrays(cls, config: SRConfig, lr_train: np.ndarray, hr_train: np.ndarray | None,
                    lr_val: np.ndarray, hr_val: np.ndarray | None, name: str = STAGE,
                    labels: np.ndarray | None = None, val_labels: np.ndarray | None = None,
                    val_pairs: str | None = None) -> SRTrainer:
        """A trainer on the split's uint8 NHWC frames (see :func:`training_pairs`); ``labels`` /
        ``val_labels``: each frame's person, for a recogniser (the validation pairs are the first
        ``val_frames`` of the validation side, so are their labels)."""
        data = training_pairs(config, lr_train, hr_train, lr_val, hr_val, name, val_pairs)
        if val_labels is not None:
            val_labels = np.asarray(val_labels)[:len(data.lr_val)] if len(lr_val) else None  # none: fallback pairs
        return cls(config, data, name, labels, val_labels)

    @property
    def total_steps(self) -> int:
        return self.config.pretrain_steps + self.config.gan_steps

    # ------------------------------------------------------------------------------------------
    # One step
    # ------------------------------------------------------------------------------------------
    def learning_rate(self, step: int) -> float:
        """lr_pretrain in stage 1 (constant, or decayed along a half cosine to lr_pretrain x
        lr_pretrain_floor at its last step); lr_gan in stage 2, times lr_gan_decay for its second
        half (the paper: 1e-4, then 1e-5)."""
        cfg = self.config
        if step < cfg.pretrain_steps:
            if cfg.lr_pretrain_schedule == "constant" or cfg.pretrain_steps < 2:
                return cfg.lr_pretrain
            progress = step / (cfg.pretrain_steps - 1)
            floor = cfg.lr_pretrain_floor
            return cfg.lr_pretrain * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
        lr = cfg.lr_gan
        if step - cfg.pretrain_steps >= cfg.gan_steps // 2:
            lr *= cfg.lr_gan_decay
        return lr

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``step``'s (LR, HR) float crops on the device, the same whenever that step runs."""
        lr_b, hr_b, _ = self.indexed_batch(step)
        return lr_b, hr_b

    def indexed_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`batch` and the training pair each crop comes from."""
        cfg = self.config
        lr_b, hr_b, idx = random_crops(self.lr_train, self.hr_train, cfg.batch_size, cfg.crop, cfg.scale,
                                       step_generator(cfg.seed, step))
        if self.parallel:  # the global batch's crops were drawn; this rank trains on its chunk
            lr_b, hr_b, idx = lr_b[self.part], hr_b[self.part], idx[self.part]
        if not self.data_on_device:
            lr_b, hr_b = lr_b.to(self.device), hr_b.to(self.device)
        return lr_b.contiguous(memory_format=self.fmt), hr_b.contiguous(memory_format=self.fmt), idx

    def step(self, step: int) -> dict[str, float]:
        """One optimisation step (stage 1 or 2 by ``step``); returns each loss term's value."""
        lr = self.learning_rate(step)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        lr_b, hr_b, idx = self.indexed_batch(step)
        if step < self.config.pretrain_steps:
            losses = self.pretrain_step(lr_b, hr_b)
        else:
            losses = self.adversarial_step(lr_b, hr_b)
        rec = self.config.recogniser
        if self.recogniser is not None and rec.update == "alternate" and (step + 1) % rec.update_every == 0:
            losses["loss_recogniser"] = self.recogniser_step(step, lr_b, hr_b, idx)
        return losses

    def _features(self, images: torch.Tensor, layers) -> list[torch.Tensor]:
        assert self.recogniser is not None
        return self.recogniser.features(images, layers)

    def context(self, lr_b: torch.Tensor, sr: torch.Tensor, discriminator) -> LossContext:
        """What the loss terms may read: the input, the discriminator (stage 2), the frozen recogniser."""
        return LossContext(lr_b, sr, discriminator, self._features if self.recogniser is not None else None)

    def recogniser_step(self, step: int, lr_b: torch.Tensor, hr_b: torch.Tensor, idx: torch.Tensor) -> float:
        """SR4IR's second phase: one recogniser step on the updated generator's SR crops (no gradient
        to the generator), the HR crops, and the two mixed cell by cell; the same labels for all three."""
        assert self.recogniser is not None and self.labels is not None
        with torch.no_grad(), autocast(self.device, self.dtype):
            sr = self.train_g(lr_b).float().clamp(0, 1)
        mixed = mixed_crops(sr, hr_b, self.config.recogniser.mix_grid,
                            step_generator(self.config.seed + MIX_STREAM, step))
        return self.recogniser.update([sr, hr_b, mixed], self.labels[idx].to(self.device))

    def pretrain_step(self, lr_b: torch.Tensor, hr_b: torch.Tensor) -> dict[str, float]:
        """Stage 1: one generator update on the pretraining losses."""
        self.generator.train()
        with autocast(self.device, self.dtype):
            sr = self.train_g(lr_b)
            loss, terms = self.pretrain_loss(sr.float(), hr_b, self.context(lr_b, sr, None))
        self.opt_g.zero_grad(set_to_none=True)
        self.backward(loss)
        self.opt_g.step()
        self.ema.update_parameters(self.generator)
        return self.reported({name: value.item() for name, value in terms.items()})

    def adversarial_step(self, lr_b: torch.Tensor, hr_b: torch.Tensor) -> dict[str, float]:
        """Stage 2: one discriminator update, then one generator update with the discriminator frozen."""
        self.generator.train()
        self.discriminator.train()
        with autocast(self.device, self.dtype):
            sr = self.train_g(lr_b)
            d_loss = adversarial_d_loss(self.train_d(hr_b).float(), self.train_d(sr.detach()).float())
        self.opt_d.zero_grad(set_to_none=True)
        self.backward(d_loss)
        self.opt_d.step()
        with frozen(self.discriminator):
            with autocast(self.device, self.dtype):
                g_loss, terms = self.gan_loss(sr.float(), hr_b, self.context(lr_b, sr, self.frozen_d))
            self.opt_g.zero_grad(set_to_none=True)
            self.backward(g_loss)
        self.opt_g.step()
        self.ema.update_parameters(self.generator)
        return self.reported({**{name: value.item() for name, value in terms.items()}, "loss_d": d_loss.item()})

    def backward(self, loss: torch.Tensor) -> None:
        """``loss`` (this rank's batch mean) backward; data-parallel, weighted so that DDP's average of
        the ranks' gradients is the global batch's."""
        (loss * self.weight if self.parallel else loss).backward()

    def reported(self, losses: dict[str, float]) -> dict[str, float]:
        """The global batch's mean losses: this rank's, averaged over the ranks by their batch shares."""
        return all_reduce_mean(losses, self.local_batch) if self.parallel else losses

    # ------------------------------------------------------------------------------------------
    # Evaluation, state, export
    # ------------------------------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """PSNR/SSIM of the EMA generator and of bicubic on the validation pairs (data-parallel: measured
        by rank 0, the same numbers on every rank)."""
        return main_only(self.evaluate_here)

    def evaluate_here(self) -> dict[str, float]:
        cfg, data = self.config, self.data
        if self._bicubic is None:  # the baseline does not change: computed once
            self._bicubic = evaluate_sr(None, data.lr_val, data.hr_val, cfg.scale, self.device, None,
                                        cfg.eval_border, cfg.eval_batch_size)
        metrics = self.evaluate_on(data.lr_val, data.hr_val, self._bicubic)
        if self.recogniser is not None and self.val_labels is not None:
            metrics.update(self.evaluate_recogniser())
        return metrics

    @torch.no_grad()
    def evaluate_recogniser(self) -> dict[str, float]:
        """The recogniser's frame top-1 on the validation pairs' centre crops (monitoring only: the
        validation side never trains it): on the HR crops, on the EMA generator's SR of the LR crops
        and on their bicubic upscales. SR above bicubic: the generator restores who it is."""
        assert self.recogniser is not None and self.val_labels is not None
        cfg = self.config
        lr_c, hr_c = centre_crops(self.data.lr_val, self.data.hr_val, cfg.crop, cfg.scale)
        generator = self.ema.module.eval()
        sr_c, bicubic_c = [], []
        for start in range(0, len(lr_c), cfg.eval_batch_size):
            x = lr_c[start:start + cfg.eval_batch_size].to(self.device).contiguous(memory_format=self.fmt)
            sr_c.append(upscale(generator, x, cfg.scale, self.device, self.dtype).clamp(0, 1).cpu())
            bicubic_c.append(upscale(None, x.float(), cfg.scale, self.device, None).clamp(0, 1).cpu())
        top1 = self.recogniser.top1
        return {"val_recogniser_top1_hr": top1(hr_c, self.val_labels, cfg.eval_batch_size),
                "val_recogniser_top1_sr": top1(torch.cat(sr_c), self.val_labels, cfg.eval_batch_size),
                "val_recogniser_top1_bicubic": top1(torch.cat(bicubic_c), self.val_labels, cfg.eval_batch_size)}

    def evaluate_on(self, lr_u8: torch.Tensor, hr_u8: torch.Tensor,
                    bicubic: dict[str, float] | None = None) -> dict[str, float]:
        """PSNR/SSIM of the EMA generator and of bicubic (``bicubic``: already measured) on uint8
        NCHW pairs."""
        cfg = self.config
        if bicubic is None:
            bicubic = evaluate_sr(None, lr_u8, hr_u8, cfg.scale, self.device, None, cfg.eval_border,
                                  cfg.eval_batch_size)
        self.ema.module.eval()
        sr = evaluate_sr(self.ema.module, lr_u8, hr_u8, cfg.scale, self.device, self.dtype,
                         cfg.eval_border, cfg.eval_batch_size)
        return {"val_psnr": sr["psnr"], "val_ssim": sr["ssim"], "val_psnr_bicubic": bicubic["psnr"],
                "val_ssim_bicubic": bicubic["ssim"], "val_psnr_gain": sr["psnr"] - bicubic["psnr"]}

    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs (the step's batches need no RNG state: see :meth:`batch`)."""
        state = {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                 "ema": self.ema.state_dict(), "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict()}
        if self.recogniser is not None:
            state["recogniser"] = self.recogniser.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.recogniser is not None:
            self.recogniser.load_state_dict(state["recogniser"])

    def export(self) -> dict[str, Any]:
        """The ``sr_generator`` file: the EMA weights (CPU) and the config that rebuilds the module."""
        weights = {k: v.detach().cpu() for k, v in self.ema.module.state_dict().items()}
        return {"config": self.generator.config(), "state_dict": weights}

    # ------------------------------------------------------------------------------------------
    # The whole run
    # ------------------------------------------------------------------------------------------
    def loop_config(self) -> LoopConfig:
        cfg = self.config
        params = {k: v for k, v in to_params(cfg).items() if k not in NOT_FINGERPRINTED}
        # Content hashes of the training data: a checkpoint only resumes on the same data.
        data = [array_digest(t.cpu().numpy()) for t in (self.lr_train, self.hr_train)]
        if self.recogniser is not None:  # its settings, its source file and the labels it learns
            params["recogniser"] = to_params(cfg.recogniser)
            data.append(self.recogniser_fingerprint())
        return LoopConfig(steps=self.total_steps, eval_every=cfg.eval_every, checkpoint_every=cfg.checkpoint_every,
                          checkpoint_dir=cfg.checkpoint_dir, resume=cfg.resume, log_every=cfg.log_every, desc=self.name,
                          metric_prefix=metric_prefix(STAGE, self.name), fingerprint={"params": params, "data": data})

    def train(self, tracker: Tracker | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Run (or resume) every step; returns (the exported generator, the report)."""
        started = time.perf_counter()
        if self.recogniser is not None:
            self.pretrain_recogniser(tracker)
        history = run_loop(self.loop_config(), self.step, self.state_dict, self.load_state_dict,
                           lambda _step: self.evaluate(), tracker)
        report = self.report(history, time.perf_counter() - started)
        final = history["eval"][-1]
        logger.info("%s: validation PSNR %.2f dB (bicubic %.2f dB, gain %+.2f dB), SSIM %.4f (bicubic %.4f)",
                    self.name, final["val_psnr"], final["val_psnr_bicubic"], final["val_psnr_gain"], final["val_ssim"],
                    final["val_ssim_bicubic"])
        return self.export(), report

    def report(self, history: dict[str, Any], seconds: float) -> dict[str, Any]:
        """What happened: data, device, steps, speed, final and past validation numbers, params."""
        cfg, data = self.config, self.data
        final = history["eval"][-1]
        steps_run = history["steps_run"]
        return {
            "pairs": data.pairs,
            "device": str(self.device),
            "precision": precision_name(self.dtype),
            "train_pairs": len(data.lr_train),
            "val_pairs": len(data.lr_val),
            "lr_size": list(data.lr_train.shape[-2:]),
            "hr_size": list(data.hr_train.shape[-2:]),
            "steps": {"pretrain": cfg.pretrain_steps, "gan": cfg.gan_steps, "run_now": steps_run,
                      "resumed_from": history["resumed_from"]},
            "seconds": round(seconds, 2),
            "distributed": describe(cfg.batch_size),
            "train_images_per_s": round(steps_run * cfg.batch_size / history["seconds"], 2) if steps_run else None,
            "crop": {"asked": cfg.crop, "used": data.crop},
            "measure": data.geometry.as_dict(),
            "val": rounded({k: v for k, v in final.items() if k != "step"}),
            "history": history["eval"],
            "generator": self.generator.config(),
            "params": {k: v for k, v in to_params(cfg).items() if k != "checkpoint_dir"},
            **({"recogniser": self.recogniser_report()} if self.recogniser is not None else {}),
        }

    # ------------------------------------------------------------------------------------------
    # The recogniser (identity terms)
    # ------------------------------------------------------------------------------------------
    def recogniser_fingerprint(self) -> str:
        rec = self.config.recogniser
        source: Any = None
        if rec.source == "file" and rec.file:
            stat = Path(rec.file).stat()
            source = [rec.file, stat.st_size, stat.st_mtime_ns]
        labels = None if self.labels is None else self.labels.tolist()
        return fingerprint_of({"file": source, "labels": labels})

    def pretrain_recogniser(self, tracker: Tracker | None = None) -> None:
        """``srgan.recogniser.steps`` steps on random crops of the training targets (the HR truth, or the
        frames under self pairs) with their people's labels, before the generator's first step; its own
        checkpoints (``<checkpoint_dir>/recogniser``), so a rerun resumes or skips it. Nothing of the
        validation side trains it; its top-1 there is measured at the end (monitoring)."""
        assert self.recogniser is not None
        cfg, rec = self.config, self.config.recogniser
        if rec.steps == 0:
            return
        assert self.labels is not None  # __init__ refused a recogniser to train without them
        recogniser, labels = self.recogniser, self.labels

        def step(index: int) -> dict[str, float]:
            _, hr_b, idx = random_crops(self.lr_train, self.hr_train, rec.batch_size, cfg.crop, cfg.scale,
                                        step_generator(cfg.seed + PRETRAIN_STREAM, index))
            hr_b = hr_b.to(self.device).contiguous(memory_format=self.fmt)
            return {"loss": recogniser.update([hr_b], labels[idx].to(self.device))}

        def evaluate(_step: int) -> dict[str, float]:
            lr_c, hr_c = centre_crops(self.data.lr_val, self.data.hr_val, cfg.crop, cfg.scale)
            return {"val_top1_hr": recogniser.top1(hr_c, self.val_labels, cfg.eval_batch_size)}

        loop = LoopConfig(
            steps=rec.steps, eval_every=0, checkpoint_every=cfg.checkpoint_every,
            checkpoint_dir=f"{cfg.checkpoint_dir}/recogniser" if cfg.checkpoint_dir else None, resume=cfg.resume,
            log_every=cfg.log_every,
            desc=f"{self.name} recogniser", metric_prefix=metric_prefix(STAGE, self.name, "recogniser"),
            fingerprint={"recogniser": to_params(rec), "crop": cfg.crop, "scale": cfg.scale, "seed": cfg.seed,
                         "data": [array_digest(self.hr_train.cpu().numpy()), self.recogniser_fingerprint()]})
        self.recogniser_history = run_loop(loop, step, recogniser.state_dict, recogniser.load_state_dict,
                                           evaluate if self.val_labels is not None else None, tracker)
        final = (self.recogniser_history["eval"] or [{}])[-1]
        logger.info("%s: recogniser trained %d steps on the training targets' crops%s", self.name, rec.steps,
                    f"; validation top-1 {final['val_top1_hr']:.3f}" if "val_top1_hr" in final else "")

    def recogniser_report(self) -> dict[str, Any]:
        assert self.recogniser is not None
        report = self.recogniser.describe()
        history = self.recogniser_history
        if history is not None:
            report["pretrain"] = {"seconds": round(history["seconds"], 2), "resumed_from": history["resumed_from"],
                                  "final_loss": history["train"][-1]["loss"] if history["train"] else None,
                                  "val": (history["eval"] or [{}])[-1]}
        return report


def train_generator(config: SRConfig, lr_train: np.ndarray, hr_train: np.ndarray | None, lr_val: np.ndarray,
                    hr_val: np.ndarray | None, tracker: Tracker | None = None, name: str = STAGE,
                    train_labels: np.ndarray | None = None, val_labels: np.ndarray | None = None,
                    other_people: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """A generator variant trained on ``config``'s pairs (:func:`~faceless.sr.config.variant_config`);
    returns (the exported generator, the report); ``name`` labels its logs and metrics.

    Self pairs (``config.pairs == "self"``: the training frames downscaled 4x -> the frames, as on data
    without truth): where the validation side has truth, the report's ``val_truth`` also measures the
    generator on the job it is used for, the 64 px frames -> their 256 px truth, one octave above its
    training. A recogniser-reading loss (identity terms) gets ``train_labels`` (``val_labels`` only
    measure it). ``other_people``: ``lr_train``/``hr_train`` are other people's pairs, and validation
    pairs are the validation side's truth where it has one, else its self pairs.
    """
    self_pairs = config.pairs == "self"
    val_pairs = "auto" if other_people else None
    trainer = SRTrainer.from_arrays(config, lr_train, None if self_pairs else hr_train, lr_val,
                                    None if self_pairs else hr_val, name=name, labels=train_labels,
                                    val_labels=val_labels, val_pairs=val_pairs)
    generator, report = trainer.train(tracker)
    if other_people:
        report["trained_on"] = "other people's high-resolution frames"
    if self_pairs and hr_val is not None and hr_val.size and len(lr_val):
        lr_va, hr_va, _ = make_pairs(lr_val, hr_val, "truth", config.scale, "val")
        truth = main_only(lambda: trainer.evaluate_on(*validation_subset(config, lr_va, hr_va)))
        report["val_truth"] = rounded(truth)
        report["measure_truth"] = measure_geometry(*hr_va.shape[-2:], config.eval_border).as_dict()
        (tracker or NullTracker()).log_metrics({metric_name(STAGE, name, f"truth_{k}"): v for k, v in truth.items()},
                                               trainer.total_steps)
        logger.info("%s: on the truth validation pairs PSNR %.2f dB (bicubic %.2f dB, gain %+.2f dB)", name,
                    truth["val_psnr"], truth["val_psnr_bicubic"], truth["val_psnr_gain"])
    return generator, report
