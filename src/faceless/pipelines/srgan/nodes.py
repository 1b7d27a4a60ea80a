"""SRGAN training on the training side only: pixel-loss pretraining, then adversarial training.

Training pairs are LR -> HR where the source has truth (``hr_train``), else self-supervised: the
training frames themselves are the HR side and their 4x antialiased downscales the LR side
(``srgan.pairs: auto | truth | self``). Validation (PSNR/SSIM on Y, 4-pixel border crop, against
bicubic) uses the validation side, never the test side.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any

# Figures are built with the object API, not pyplot: no global backend switch on import (a
# notebook that imports the pipelines keeps its inline plots), no open-figure registry to leak.
from matplotlib.figure import Figure
import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from faceless.config import ConfigError, choice
from faceless.data.digest import array_digest
from faceless.models.discriminator import SRGANDiscriminator
from faceless.models.generator import SRResNet
from faceless.training.device import autocast, autocast_dtype, memory_format, select_device
from faceless.training.losses import (
    PixelLoss,
    adversarial_d_loss,
    adversarial_g_loss,
    build_content_loss,
)
from faceless.training.loop import LoopConfig, read_weights_file, run_loop, step_generator
from faceless.training.metrics import psnr_y, ssim_y

logger = logging.getLogger(__name__)

PAIRS = ("auto", "truth", "self")


# ----------------------------------------------------------------------------------------------
# Data: uint8 NHWC arrays -> float NCHW batches
# ----------------------------------------------------------------------------------------------
def to_nchw_uint8(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous()


def downscale(hr_u8: torch.Tensor, scale: int, batch: int = 256) -> torch.Tensor:
    """4x antialiased bicubic downscale (uint8 in, uint8 out): the self-supervised LR side."""
    out = []
    for b in range(0, len(hr_u8), batch):
        x = hr_u8[b:b + batch].float() / 255
        y = F.interpolate(x, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
        out.append((y.clamp(0, 1) * 255).round().to(torch.uint8))
    return torch.cat(out) if out else hr_u8.new_zeros((0, hr_u8.shape[1], 0, 0))


def make_pairs(lr: np.ndarray, hr: np.ndarray, pairs: str, scale: int, side: str) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(LR uint8 NCHW, HR uint8 NCHW, which kind of pairs) for one side of the split."""
    pairs = choice(pairs, "srgan.pairs", PAIRS)
    has_truth = hr is not None and hr.size > 0
    if pairs == "truth" and not has_truth:
        raise ConfigError(f"srgan.pairs=truth but hr_{side} is empty: this source has no high-resolution truth")
    if pairs == "truth" or (pairs == "auto" and has_truth):
        lr_t, hr_t = to_nchw_uint8(lr), to_nchw_uint8(hr)
        if hr_t.shape[-2:] != (lr_t.shape[-2] * scale, lr_t.shape[-1] * scale):
            raise ConfigError(
                f"srgan.scale={scale} does not match the data: lr_{side} is {tuple(lr_t.shape[-2:])}, "
                f"hr_{side} is {tuple(hr_t.shape[-2:])}"
            )
        return lr_t, hr_t, "truth"
    hr_t = to_nchw_uint8(lr)
    if min(hr_t.shape[-2:]) < scale:
        raise ConfigError(f"srgan.pairs=self: frames of {tuple(hr_t.shape[-2:])} px are too small to downscale {scale}x")
    return downscale(hr_t, scale), hr_t, "self"


def random_batch(lr: torch.Tensor, hr: torch.Tensor, batch: int, crop: int, scale: int,
                 gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random aligned crops (``crop`` LR px) with random horizontal flips, as floats in [0, 1]."""
    n, _, h, w = lr.shape
    crop = min(crop, h, w)
    idx = torch.randint(0, n, (batch,), generator=gen)
    tops = torch.randint(0, h - crop + 1, (batch,), generator=gen)
    lefts = torch.randint(0, w - crop + 1, (batch,), generator=gen)
    flips = torch.rand(batch, generator=gen) < 0.5
    lr_b, hr_b = [], []
    for i, t, l, f in zip(idx.tolist(), tops.tolist(), lefts.tolist(), flips.tolist()):
        lp = lr[i, :, t:t + crop, l:l + crop]
        hp = hr[i, :, t * scale:(t + crop) * scale, l * scale:(l + crop) * scale]
        if f:
            lp, hp = lp.flip(-1), hp.flip(-1)
        lr_b.append(lp)
        hr_b.append(hp)
    return torch.stack(lr_b).float() / 255, torch.stack(hr_b).float() / 255


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------
@torch.inference_mode()
def upscale_batches(generator: torch.nn.Module | None, lr_u8: torch.Tensor, scale: int, device: torch.device,
                    dtype: torch.dtype | None, batch: int = 32):
    """Yield (start index, SR float32 NCHW in [0, 1] on CPU); ``generator=None`` is bicubic."""
    fmt = memory_format(device, dtype)
    for b in range(0, len(lr_u8), batch):
        x = (lr_u8[b:b + batch].to(device).float() / 255).contiguous(memory_format=fmt)
        if generator is None:
            y = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
        else:
            with autocast(device, dtype):
                y = generator(x)
        yield b, y.float().clamp(0, 1).cpu()


def evaluate_sr(generator: torch.nn.Module | None, lr_u8: torch.Tensor, hr_u8: torch.Tensor, scale: int,
                device: torch.device, dtype: torch.dtype | None, border: int = 4) -> dict[str, float]:
    """Mean PSNR and SSIM (Y channel, ``border`` px cropped) of an upscaler on a set of pairs."""
    psnrs, ssims = [], []
    for b, sr in upscale_batches(generator, lr_u8, scale, device, dtype):
        hr = hr_u8[b:b + len(sr)].float() / 255
        psnrs.append(psnr_y(sr, hr, border=border))
        ssims.append(ssim_y(sr, hr, border=border))
    return {"psnr": float(torch.cat(psnrs).mean()), "ssim": float(torch.cat(ssims).mean())}


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------
def _data_fingerprint(*tensors: torch.Tensor) -> list[str]:
    """Content hashes of the training data, so a checkpoint is only resumed on the same data."""
    return [array_digest(t.numpy()) for t in tensors]


def _generator_from_params(params: dict[str, Any], scale: int) -> SRResNet:
    g = params.get("generator", {})
    return SRResNet(channels=int(g.get("channels", 64)), blocks=int(g.get("blocks", 16)), scale=scale,
                    bicubic_skip=bool(g.get("bicubic_skip", True)))


def _load_init_weights(generator: SRResNet, path: str) -> None:
    """Start from a local generator file in the ``sr_generator`` format (fine-tuning)."""
    generator.load_state_dict(read_weights_file(path, "srgan.init_weights"))
    logger.info("srgan: generator initialised from %s", path)


def train_srgan(lr_train: np.ndarray, hr_train: np.ndarray, lr_val: np.ndarray, hr_val: np.ndarray,
                params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train the generator (stage 1: pixel loss; stage 2: content + adversarial) and export the EMA
    weights with the config that rebuilds the module; plus the report of what happened."""
    scale = int(params.get("scale", 4))
    seed = int(params.get("seed", 0))
    torch.manual_seed(seed)
    device = select_device(params.get("device", "auto"))
    dtype = autocast_dtype(device, params.get("precision", "auto"))
    fmt = memory_format(device, dtype)

    lr_tr, hr_tr, pair_kind = make_pairs(lr_train, hr_train, params.get("pairs", "auto"), scale, "train")
    if len(lr_val):
        lr_va, hr_va, _ = make_pairs(lr_val, hr_val, pair_kind, scale, "val")
    else:  # no validation side: evaluate on a slice of training pairs, and say so
        logger.warning("srgan: no validation frames; evaluating on training pairs (optimistic)")
        lr_va, hr_va = lr_tr[:64], hr_tr[:64]
    max_val = int(params.get("val_frames", 0) or 0)
    if max_val:
        lr_va, hr_va = lr_va[:max_val], hr_va[:max_val]
    logger.info("srgan: %d %s training pairs %s -> %s, %d validation pairs", len(lr_tr), pair_kind,
                tuple(lr_tr.shape[-2:]), tuple(hr_tr.shape[-2:]), len(lr_va))
    data_on_device = device.type != "cpu"
    if data_on_device:  # data resident on the accelerator: no host->device copy per step
        lr_tr, hr_tr = lr_tr.to(device), hr_tr.to(device)

    generator = _generator_from_params(params, scale)
    if params.get("init_weights"):
        _load_init_weights(generator, params["init_weights"])
    generator = generator.to(device, memory_format=fmt)
    discriminator = SRGANDiscriminator(channels=int(params.get("discriminator", {}).get("channels", 64)))
    discriminator = discriminator.to(device, memory_format=fmt)
    ema = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(float(params.get("ema_decay", 0.999))),
                        use_buffers=True)

    pretrain_steps, gan_steps = int(params.get("pretrain_steps", 1000)), int(params.get("gan_steps", 0))
    betas = (0.9, 0.999)
    opt_g = torch.optim.Adam(generator.parameters(), lr=float(params.get("lr_pretrain", 1e-4)), betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=float(params.get("lr_gan", 1e-4)), betas=betas)
    pixel_loss = PixelLoss(params.get("pretrain_loss", "mse")).to(device)
    content_loss = build_content_loss(params.get("content_loss", "pixel"), params.get("vgg19_weights")).to(device)
    adv_weight = float(params.get("adversarial_weight", 1e-3))
    batch, crop = int(params.get("batch_size", 16)), int(params.get("crop", 24))
    train_g = torch.compile(generator) if params.get("compile") else generator
    train_d = torch.compile(discriminator) if params.get("compile") else discriminator

    def set_lr(step: int) -> None:
        if step < pretrain_steps:
            lr = float(params.get("lr_pretrain", 1e-4))
        else:  # the paper: 1e-4, then 1e-5 for the second half of adversarial training
            lr = float(params.get("lr_gan", 1e-4))
            if step - pretrain_steps >= gan_steps // 2:
                lr *= float(params.get("lr_gan_decay", 0.1))
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["lr"] = lr

    def step_fn(step: int) -> dict[str, float]:
        set_lr(step)
        gen = step_generator(seed, step)
        lr_b, hr_b = random_batch(lr_tr, hr_tr, batch, crop, scale, gen)
        if not data_on_device:
            lr_b, hr_b = lr_b.to(device), hr_b.to(device)
        lr_b, hr_b = lr_b.contiguous(memory_format=fmt), hr_b.contiguous(memory_format=fmt)
        generator.train()
        if step < pretrain_steps:
            with autocast(device, dtype):
                loss = pixel_loss(train_g(lr_b).float(), hr_b)
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            ema.update_parameters(generator)
            return {"loss_pixel": loss.item()}
        # Stage 2, alternating: one discriminator update, then one generator update.
        discriminator.train()
        with autocast(device, dtype):
            fake = train_g(lr_b)
            d_loss = adversarial_d_loss(train_d(hr_b).float(), train_d(fake.detach()).float())
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        with autocast(device, dtype):
            content = content_loss(fake.float(), hr_b)
            adv = adversarial_g_loss(train_d(fake).float())
            g_loss = content + adv_weight * adv
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        ema.update_parameters(generator)
        return {"loss_content": content.item(), "loss_adversarial": adv.item(), "loss_d": d_loss.item()}

    bicubic = evaluate_sr(None, lr_va, hr_va, scale, device, None)

    def eval_fn(step: int) -> dict[str, float]:
        ema.module.eval()
        sr = evaluate_sr(ema.module, lr_va, hr_va, scale, device, dtype)
        return {"val_psnr": sr["psnr"], "val_ssim": sr["ssim"], "val_psnr_bicubic": bicubic["psnr"],
                "val_ssim_bicubic": bicubic["ssim"], "val_psnr_gain": sr["psnr"] - bicubic["psnr"]}

    def get_state() -> dict[str, Any]:
        return {"generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
                "ema": ema.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict()}

    def set_state(state: dict[str, Any]) -> None:
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        ema.load_state_dict(state["ema"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])

    loop_params = {k: v for k, v in params.items() if k not in ("resume", "checkpoint_dir", "eval_every",
                                                                 "checkpoint_every", "device", "compile")}
    cfg = LoopConfig(
        steps=pretrain_steps + gan_steps,
        eval_every=int(params.get("eval_every", 200)),
        checkpoint_every=int(params.get("checkpoint_every", 200)),
        checkpoint_dir=params.get("checkpoint_dir"),
        resume=bool(params.get("resume", True)),
        desc="srgan",
        metric_prefix="srgan.",
        fingerprint={"params": loop_params, "data": _data_fingerprint(lr_tr.cpu(), hr_tr.cpu())},
    )
    t0 = time.perf_counter()
    history = run_loop(cfg, step_fn, get_state, set_state, eval_fn)
    final = history["eval"][-1]
    steps_run = history["steps_run"]
    report = {
        "pairs": pair_kind,
        "device": str(device),
        "precision": str(dtype).replace("torch.", "") if dtype else "fp32",
        "train_pairs": len(lr_tr),
        "val_pairs": len(lr_va),
        "lr_size": list(lr_tr.shape[-2:]),
        "hr_size": list(hr_tr.shape[-2:]),
        "steps": {"pretrain": pretrain_steps, "gan": gan_steps, "run_now": steps_run,
                  "resumed_from": history["resumed_from"]},
        "seconds": round(time.perf_counter() - t0, 2),
        "train_images_per_s": round(steps_run * batch / history["seconds"], 2) if steps_run else None,
        "val": {k: round(v, 4) for k, v in final.items() if k != "step"},
        "history": history["eval"],
        "generator": generator.config(),
        "params": {k: v for k, v in params.items() if k != "checkpoint_dir"},
    }
    logger.info("srgan: validation PSNR %.2f dB (bicubic %.2f dB, gain %+.2f dB), SSIM %.4f (bicubic %.4f)",
                final["val_psnr"], final["val_psnr_bicubic"], final["val_psnr_gain"], final["val_ssim"],
                final["val_ssim_bicubic"])
    weights = {k: v.detach().cpu() for k, v in ema.module.state_dict().items()}
    return {"config": generator.config(), "state_dict": weights}, report


def load_generator(sr_generator: dict[str, Any]) -> SRResNet:
    """Rebuild the exported generator (eval mode, on the CPU)."""
    model = SRResNet.from_config(sr_generator["config"])
    model.load_state_dict(sr_generator["state_dict"])
    return model.eval()


def plot_sr_samples(sr_generator: dict[str, Any], lr_val: np.ndarray, hr_val: np.ndarray,
                    params: dict[str, Any]) -> Figure:
    """A grid of validation frames: LR (nearest) | bicubic | SR | HR truth (when there is one)."""
    scale = int(params.get("scale", 4))
    count = min(int(params.get("sample_count", 4)), len(lr_val))
    if count == 0:
        fig = Figure(figsize=(4, 1))
        fig.text(0.5, 0.5, "no validation frames", ha="center")
        return fig
    picks = np.linspace(0, len(lr_val) - 1, count).round().astype(int)
    lr = to_nchw_uint8(lr_val[picks])
    has_truth = hr_val is not None and hr_val.size > 0
    generator = load_generator(sr_generator)
    device = torch.device("cpu")
    (_, bic), = list(upscale_batches(None, lr, scale, device, None))
    (_, sr), = list(upscale_batches(generator, lr, scale, device, None))
    nearest = F.interpolate(lr.float() / 255, scale_factor=scale, mode="nearest")
    columns = [("LR (nearest)", nearest), ("bicubic", bic), ("SRGAN", sr)]
    if has_truth:
        columns.append(("HR truth", to_nchw_uint8(hr_val[picks]).float() / 255))
    fig = Figure(figsize=(2.4 * len(columns), 2.4 * count))
    axes = fig.subplots(count, len(columns), squeeze=False)
    for row in range(count):
        for col, (title, images) in enumerate(columns):
            ax = axes[row][col]
            ax.imshow(images[row].permute(1, 2, 0).clamp(0, 1).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title)
    fig.tight_layout()
    return fig


def sr_metrics(sr_report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The final validation numbers for the MLflow run (the catalog prefixes ``srgan.final.``)."""
    return {k: {"value": float(v), "step": 0} for k, v in sr_report["val"].items()
            if isinstance(v, (int, float)) and math.isfinite(v)}
