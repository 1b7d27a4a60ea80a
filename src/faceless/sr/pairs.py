"""SR training pairs: LR -> HR from uint8 NHWC frames, and random aligned training crops.

Pairs are the source's truth (``lr_<side>`` -> ``hr_<side>``) where it has one, else
self-supervised: the frames themselves are the HR side and their 4x antialiased downscales the LR
side (``srgan.pairs: auto | truth | self``).

Self pairs of frames whose side is not a multiple of the scale: the frame is first mod-cropped, as
BasicSR's ``mod_crop`` does (its top-left ``h - h % scale`` rows and ``w - w % scale`` columns are
kept), then downscaled: a 25 px frame gives a 24 px HR side and a 6 px LR side. Training crops
(``srgan.crop`` LR px) shrink to the LR frames where these are smaller (:func:`training_crop`).
"""
from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from faceless.inference import DOWNSCALE_CHUNK, to_nchw_uint8
from faceless.utils.errors import ConfigError, choice

logger = logging.getLogger(__name__)

PAIRS = ("auto", "truth", "self")  # other people's pairs are truth pairs of their own arrays


def downscale(hr_u8: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic downscale by ``scale`` (uint8 NCHW in, uint8 out): the self-supervised LR side."""
    out = []
    for b in range(0, len(hr_u8), DOWNSCALE_CHUNK):
        x = hr_u8[b:b + DOWNSCALE_CHUNK].float() / 255
        y = F.interpolate(x, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
        out.append((y.clamp(0, 1) * 255).round().to(torch.uint8))
    return torch.cat(out) if out else hr_u8.new_zeros((0, hr_u8.shape[1], 0, 0))


def mod_crop(frames: torch.Tensor, scale: int) -> torch.Tensor:
    """The top-left ``h - h % scale`` x ``w - w % scale`` pixels of (..., H, W) frames (BasicSR's
    ``mod_crop``): a side that downscales ``scale`` x exactly."""
    h, w = frames.shape[-2:]
    return frames[..., :h - h % scale, :w - w % scale]


def training_crop(crop: int, lr: torch.Tensor) -> int:
    """The LR crop side training and the recogniser's centre crops use: ``crop``, or the LR frames'
    smaller side where that is less."""
    return min(crop, *lr.shape[-2:])


def make_pairs(lr: np.ndarray, hr: np.ndarray | None, pairs: str, scale: int,
               side: str) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(LR uint8 NCHW, HR uint8 NCHW, which kind of pairs: truth | self) for one side of the split."""
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
    frames = to_nchw_uint8(lr)
    if min(frames.shape[-2:]) < scale:
        raise ConfigError(f"srgan.pairs=self: frames of {tuple(frames.shape[-2:])} px are too small to downscale "
                          f"{scale}x")
    hr_t = mod_crop(frames, scale)
    if hr_t.shape[-2:] != frames.shape[-2:] and side == "train":
        logger.info("self pairs: the %s px frames are mod-cropped to their top-left %s px (a multiple of "
                    "srgan.scale=%d), then downscaled", tuple(frames.shape[-2:]), tuple(hr_t.shape[-2:]), scale)
    return downscale(hr_t, scale), hr_t, "self"


def random_batch(lr: torch.Tensor, hr: torch.Tensor, batch: int, crop: int, scale: int,
                 gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random aligned crops (``crop`` LR px) with random horizontal flips, as floats in [0, 1]."""
    lr_b, hr_b, _ = random_crops(lr, hr, batch, crop, scale, gen)
    return lr_b, hr_b


def random_crops(lr: torch.Tensor, hr: torch.Tensor, batch: int, crop: int, scale: int,
                 gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`random_batch` and the index of the frame each crop comes from (for its label)."""
    n, _, h, w = lr.shape
    crop = training_crop(crop, lr)
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
    return torch.stack(lr_b).float() / 255, torch.stack(hr_b).float() / 255, idx
