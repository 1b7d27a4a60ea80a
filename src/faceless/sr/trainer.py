"""SR training: pixel-loss pretraining of the generator (SRResNet), then adversarial training (SRGAN).

:class:`SRTrainer` holds the generator, the discriminator, the generator's EMA (used for evaluation
and export), both Adam optimisers and the two weighted losses (:mod:`faceless.sr.losses`). One
:meth:`SRTrainer.step` is one optimisation step:

* stage 1 (``step < pretrain_steps``): the generator on ``pretrain_losses``;
* stage 2: one discriminator update (:func:`~faceless.sr.losses.adversarial_d_loss` on real and
  detached generated crops), then one generator update on ``gan_losses`` with the discriminator
  frozen (``requires_grad_(False)``: no gradients are computed for its weights; its BatchNorm
  statistics still update, as they always did).

Each step draws its crops from a generator seeded by ``(seed, step)``, so a resumed run sees the
batches an uninterrupted one would. :meth:`SRTrainer.train` runs the steps through the shared
:func:`~faceless.training.loop.run_loop` (progress, evaluation, checkpoints, resume) and returns
the exported generator and the report. Validation (PSNR/SSIM on Y against bicubic) uses the
validation side, never the test side. No Kedro, no MLflow: numbers go to the tracker passed in.
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from faceless.inference import precision_name
from faceless.models import build_model
from faceless.sr.config import STAGE, SRConfig, smallest_measurable_px, self_variant_config
from faceless.sr.losses import LossContext, WeightedLoss, adversarial_d_loss
from faceless.sr.metrics import SSIM_WINDOW, evaluate_sr
from faceless.sr.pairs import make_pairs, random_batch
from faceless.sr.pretrained import initial_generator
from faceless.training.device import autocast, autocast_dtype, memory_format, select_device
from faceless.training.loop import LoopConfig, run_loop, step_generator
from faceless.training.tracker import NullTracker, Tracker
from faceless.utils.config import to_params
from faceless.utils.digest import array_digest
from faceless.utils.errors import ConfigError

logger = logging.getLogger(__name__)

#: The name of the self-supervised training's logs and metrics, and of its variant.
SELF_NAME = "srgan_self"

#: Training pairs evaluated on when there is no validation side (and said so: optimistic).
FALLBACK_VAL_PAIRS = 64

#: Parameters that do not change the trained weights: a checkpoint resumes across changes to them.
NOT_FINGERPRINTED = ("resume", "checkpoint_dir", "eval_every", "checkpoint_every", "device", "compile",
                     "val_frames", "eval_batch_size", "eval_border", "sample_count", "self_variant",
                     "pretrained_weights")


@dataclass(frozen=True)
class SRData:
    """uint8 NCHW pairs for training and validation, and which kind they are (truth | self)."""

    lr_train: torch.Tensor
    hr_train: torch.Tensor
    lr_val: torch.Tensor
    hr_val: torch.Tensor
    pairs: str


def training_pairs(config: SRConfig, lr_train: np.ndarray, hr_train: np.ndarray | None, lr_val: np.ndarray,
                   hr_val: np.ndarray | None, name: str = STAGE) -> SRData:
    """The training and validation pairs of the split's frames (uint8 NHWC arrays); ``name`` labels the log."""
    lr_tr, hr_tr, kind = make_pairs(lr_train, hr_train, config.pairs, config.scale, "train")
    if len(lr_val):
        lr_va, hr_va, _ = make_pairs(lr_val, hr_val, kind, config.scale, "val")
    else:
        logger.warning("%s: no validation frames; evaluating on training pairs (optimistic)", name)
        lr_va, hr_va = lr_tr[:FALLBACK_VAL_PAIRS], hr_tr[:FALLBACK_VAL_PAIRS]
    lr_va, hr_va = validation_subset(config, lr_va, hr_va)
    if min(hr_va.shape[-2:]) < smallest_measurable_px(config):  # found now, not after the training
        raise ConfigError(f"srgan.eval_border={config.eval_border}: the {kind} pairs' {tuple(hr_va.shape[-2:])} px "
                          f"validation frames are too small for PSNR/SSIM (need {smallest_measurable_px(config)} px: "
                          f"{SSIM_WINDOW} px SSIM window + 2 x border) ({name})")
    logger.info("%s: %d %s training pairs %s -> %s, %d validation pairs", name, len(lr_tr), kind,
                tuple(lr_tr.shape[-2:]), tuple(hr_tr.shape[-2:]), len(lr_va))
    return SRData(lr_tr, hr_tr, lr_va, hr_va, kind)


def validation_subset(config: SRConfig, lr: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``val_frames`` validation pairs (all when 0)."""
    if config.val_frames:
        return lr[:config.val_frames], hr[:config.val_frames]
    return lr, hr


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
    progress bar and metrics (``srgan``, ``srgan_self``: two trainings in one run stay apart)."""

    def __init__(self, config: SRConfig, data: SRData, name: str = STAGE) -> None:
        self.config, self.data, self.name = config, data, name
        torch.manual_seed(config.seed)  # the models' initial weights
        self.device = select_device(config.device)
        self.dtype = autocast_dtype(self.device, config.precision)
        self.fmt = memory_format(self.device, self.dtype)
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
        self.ema = AveragedModel(self.generator, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay),
                                 use_buffers=True)
        betas = (config.adam_betas[0], config.adam_betas[1])
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_pretrain, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_gan, betas=betas)
        self.pretrain_loss = WeightedLoss(config.pretrain_losses, f"{STAGE}.pretrain_losses",
                                          discriminator=False).to(self.device)
        self.gan_loss = WeightedLoss(config.gan_losses, f"{STAGE}.gan_losses", discriminator=True).to(self.device)
        self.train_g = torch.compile(self.generator) if config.compile else self.generator
        self.train_d = torch.compile(self.discriminator) if config.compile else self.discriminator
        self._bicubic: dict[str, float] | None = None

    @classmethod
    def from_arrays(cls, config: SRConfig, lr_train: np.ndarray, hr_train: np.ndarray | None,
                    lr_val: np.ndarray, hr_val: np.ndarray | None, name: str = STAGE) -> SRTrainer:
        """A trainer on the split's uint8 NHWC frames (see :func:`training_pairs`)."""
        return cls(config, training_pairs(config, lr_train, hr_train, lr_val, hr_val, name), name)

    @property
    def total_steps(self) -> int:
        return self.config.pretrain_steps + self.config.gan_steps

    # ------------------------------------------------------------------------------------------
    # One step
    # ------------------------------------------------------------------------------------------
    def learning_rate(self, step: int) -> float:
        """lr_pretrain in stage 1; lr_gan in stage 2, times lr_gan_decay for its second half (the
        paper: 1e-4, then 1e-5)."""
        cfg = self.config
        if step < cfg.pretrain_steps:
            return cfg.lr_pretrain
        lr = cfg.lr_gan
        if step - cfg.pretrain_steps >= cfg.gan_steps // 2:
            lr *= cfg.lr_gan_decay
        return lr

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``step``'s (LR, HR) float crops on the device, the same whenever that step runs."""
        cfg = self.config
        lr_b, hr_b = random_batch(self.lr_train, self.hr_train, cfg.batch_size, cfg.crop, cfg.scale,
                                  step_generator(cfg.seed, step))
        if not self.data_on_device:
            lr_b, hr_b = lr_b.to(self.device), hr_b.to(self.device)
        return lr_b.contiguous(memory_format=self.fmt), hr_b.contiguous(memory_format=self.fmt)

    def step(self, step: int) -> dict[str, float]:
        """One optimisation step (stage 1 or 2 by ``step``); returns each loss term's value."""
        lr = self.learning_rate(step)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        lr_b, hr_b = self.batch(step)
        if step < self.config.pretrain_steps:
            return self.pretrain_step(lr_b, hr_b)
        return self.adversarial_step(lr_b, hr_b)

    def pretrain_step(self, lr_b: torch.Tensor, hr_b: torch.Tensor) -> dict[str, float]:
        """Stage 1: one generator update on the pretraining losses."""
        self.generator.train()
        with autocast(self.device, self.dtype):
            sr = self.train_g(lr_b)
            loss, terms = self.pretrain_loss(sr.float(), hr_b, LossContext(lr_b, sr, None))
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        self.ema.update_parameters(self.generator)
        return {name: value.item() for name, value in terms.items()}

    def adversarial_step(self, lr_b: torch.Tensor, hr_b: torch.Tensor) -> dict[str, float]:
        """Stage 2: one discriminator update, then one generator update with the discriminator frozen."""
        self.generator.train()
        self.discriminator.train()
        with autocast(self.device, self.dtype):
            sr = self.train_g(lr_b)
            d_loss = adversarial_d_loss(self.train_d(hr_b).float(), self.train_d(sr.detach()).float())
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        with frozen(self.discriminator):
            with autocast(self.device, self.dtype):
                g_loss, terms = self.gan_loss(sr.float(), hr_b, LossContext(lr_b, sr, self.train_d))
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
        self.opt_g.step()
        self.ema.update_parameters(self.generator)
        return {**{name: value.item() for name, value in terms.items()}, "loss_d": d_loss.item()}

    # ------------------------------------------------------------------------------------------
    # Evaluation, state, export
    # ------------------------------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """PSNR/SSIM of the EMA generator and of bicubic on the validation pairs."""
        cfg, data = self.config, self.data
        if self._bicubic is None:  # the baseline does not change: computed once
            self._bicubic = evaluate_sr(None, data.lr_val, data.hr_val, cfg.scale, self.device, None,
                                        cfg.eval_border, cfg.eval_batch_size)
        return self.evaluate_on(data.lr_val, data.hr_val, self._bicubic)

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
        return {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                "ema": self.ema.state_dict(), "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])

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
        return LoopConfig(steps=self.total_steps, eval_every=cfg.eval_every, checkpoint_every=cfg.checkpoint_every,
                          checkpoint_dir=cfg.checkpoint_dir, resume=cfg.resume, desc=self.name,
                          metric_prefix=f"{self.name}.", fingerprint={"params": params, "data": data})

    def train(self, tracker: Tracker | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Run (or resume) every step; returns (the exported generator, the report)."""
        started = time.perf_counter()
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
            "train_images_per_s": round(steps_run * cfg.batch_size / history["seconds"], 2) if steps_run else None,
            "val": {k: round(v, 4) for k, v in final.items() if k != "step"},
            "history": history["eval"],
            "generator": self.generator.config(),
            "params": {k: v for k, v in to_params(cfg).items() if k != "checkpoint_dir"},
        }


def train_self_supervised(config: SRConfig, lr_train: np.ndarray, lr_val: np.ndarray, hr_val: np.ndarray | None,
                          tracker: Tracker | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``srgan_self``: the generator trained exactly as on a source without truth (the training
    frames downscaled 4x -> the frames; validated on the validation frames so), with ``config``'s
    settings otherwise and its own checkpoints (:func:`~faceless.sr.config.self_variant_config`).

    Where the validation side has truth, the report's ``val_truth`` also measures the generator on
    the job it is used for: the 64 px frames -> their 256 px truth, one octave above its training.
    """
    self_config = self_variant_config(config)
    trainer = SRTrainer.from_arrays(self_config, lr_train, None, lr_val, None, name=SELF_NAME)
    generator, report = trainer.train(tracker)
    if hr_val is not None and hr_val.size and len(lr_val):
        lr_va, hr_va, _ = make_pairs(lr_val, hr_val, "truth", config.scale, "val")
        truth = trainer.evaluate_on(*validation_subset(config, lr_va, hr_va))
        report["val_truth"] = {k: round(v, 4) for k, v in truth.items()}
        (tracker or NullTracker()).log_metrics({f"{SELF_NAME}.truth.{k}": v for k, v in truth.items()},
                                               trainer.total_steps)
        logger.info("%s: on the truth validation pairs PSNR %.2f dB (bicubic %.2f dB, gain %+.2f dB)", SELF_NAME,
                    truth["val_psnr"], truth["val_psnr_bicubic"], truth["val_psnr_gain"])
    return generator, report
