"""Per-sample augmentation of a batch: flip, scale/translate, and colour (gain, tint, contrast,
saturation), the ranges from ``classifier.augment`` times ``classifier.augment_strength``; and the
JPEG control (:func:`jpeg_reencode`, ``classifier.jpeg_augment``), on the uint8 frames before them.

Ours, vectorised over the batch, rather than torchvision.transforms.v2: those draw one set of
random parameters per call, so per-sample randomness would need a Python loop per image
(several times slower on two CPU cores at 256 px).
"""
from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from faceless.recognition.config import AugmentConfig, JpegAugmentConfig


def augment(x: torch.Tensor, gen: torch.Generator, ranges: AugmentConfig, strength: float,
            batch: int | None = None, rows: slice | None = None) -> torch.Tensor:
    """``x`` float NCHW in [0, 1] -> an augmented copy in [0, 1]; every draw comes from ``gen``
    (on the CPU, in a fixed order), so a step's augmentation is the same whenever it runs.

    ``batch``/``rows``: the draws are made for a batch of ``batch`` frames of which ``x`` holds
    ``rows`` (a data-parallel rank's chunk): each frame gets the augmentation it gets in the whole batch."""
    if x.shape[0] == 0:  # an empty chunk of a batch (affine_grid refuses an empty batch)
        return x.clone()
    n = x.shape[0] if batch is None else batch
    dev = x.device
    part = slice(None) if rows is None else rows

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return (torch.rand(*shape, generator=gen) * (hi - lo) + lo)[part].to(dev)

    s = strength
    flip = (torch.rand(n, generator=gen) < ranges.flip)[part].to(dev)
    scale = uniform(1 - ranges.scale * s, 1 + ranges.scale * s, n)
    tx = uniform(-ranges.translate * s, ranges.translate * s, n)
    ty = uniform(-ranges.translate * s, ranges.translate * s, n)
    sign = torch.where(flip, -1.0, 1.0)
    grid = _scale_shift_grid(sign / scale, 1 / scale, tx, ty, x.shape[2], x.shape[3])
    x = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="reflection", align_corners=False)
    gain = uniform(1 - ranges.gain * s, 1 + ranges.gain * s, n, 1, 1, 1)
    tint = uniform(1 - ranges.tint * s, 1 + ranges.tint * s, n, 3, 1, 1)
    contrast = uniform(1 - ranges.contrast * s, 1 + ranges.contrast * s, n, 1, 1, 1)
    saturation = uniform(1 - ranges.saturation * s, 1 + ranges.saturation * s, n, 1, 1, 1)
    return _colour(x, contrast, saturation, gain * tint)


def _scale_shift_grid(sx: torch.Tensor, sy: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor, height: int,
                      width: int) -> torch.Tensor:
    """``F.affine_grid`` of the per-sample matrices ``[[sx, 0, tx], [0, sy, ty]]`` (align_corners
    False), built by broadcasting: the warp has no rotation or shear, so each output coordinate is
    one multiply-add of its row's or column's base coordinate. affine_grid multiplies every pixel's
    (x, y, 1) by the matrix in a batched matmul of inner size 3, which at 256 px cost as much as the
    sampling itself."""
    n, dev = sx.shape[0], sx.device
    xs = (torch.arange(width, device=dev, dtype=torch.float32) * 2 + 1) / width - 1
    ys = (torch.arange(height, device=dev, dtype=torch.float32) * 2 + 1) / height - 1
    grid = torch.empty(n, height, width, 2, device=dev)
    grid[..., 0] = (sx[:, None] * xs + tx[:, None])[:, None, :]
    grid[..., 1] = (sy[:, None] * ys + ty[:, None])[:, :, None]
    return grid


def _colour(x: torch.Tensor, contrast: torch.Tensor, saturation: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Contrast about each image's mean m, then saturation about each pixel's grey g, then a
    per-channel gain, clamped to [0, 1]: ``(((x - m) c + m - g') s + g') k`` with g' the grey after
    the contrast step, ``(g - m) c + m``. Expanded, it is ``x A + g B + C`` (A = c s k,
    B = c (1 - s) k, C = m (1 - c) k): one fused pass over the pixels instead of six, which at
    256 px was most of the augmentation's time."""
    m = x.mean((1, 2, 3), keepdim=True)
    grey = x.mean(1, keepdim=True)
    a = contrast * saturation * scale
    b = contrast * (1 - saturation) * scale
    c = m * (1 - contrast) * scale
    return torch.addcmul(c, x, a).addcmul_(grey, b).clamp_(0, 1)


def jpeg_reencode(x_u8: torch.Tensor, gen: torch.Generator, config: JpegAugmentConfig, batch: int | None = None,
                  rows: slice | None = None) -> torch.Tensor:
    """``x_u8`` uint8 NCHW -> the same frames, each re-encoded as a JPEG (PIL, in memory, its default
    4:2:0 chroma subsampling) with ``config.probability`` at a quality drawn uniformly from
    ``config.quality`` (both ends included). The draws come from ``gen`` (on the CPU), one choice and
    one quality per frame whether or not it is chosen, so a step's result is the same whenever it
    runs. Probability 0 returns ``x_u8`` itself and draws nothing. ``batch``/``rows``: as in :func:`augment`."""
    n = len(x_u8) if batch is None else batch
    if config.probability <= 0 or n == 0:
        return x_u8
    part = slice(None) if rows is None else rows
    chosen = (torch.rand(n, generator=gen) < config.probability)[part]
    low, high = config.quality
    qualities = torch.randint(low, high + 1, (n,), generator=gen)[part]
    rows = chosen.nonzero().flatten()
    if len(rows) == 0:
        return x_u8
    frames = x_u8[rows.to(x_u8.device)].permute(0, 2, 3, 1).cpu().numpy()
    decoded = np.stack([_jpeg_round_trip(frame, int(qualities[row])) for frame, row in zip(frames, rows.tolist())])
    out = x_u8.clone()
    out[rows.to(x_u8.device)] = torch.from_numpy(decoded).permute(0, 3, 1, 2).to(x_u8.device)
    return out


def _jpeg_round_trip(frame: np.ndarray, quality: int) -> np.ndarray:
    """One uint8 (H, W, 3) frame encoded as JPEG at ``quality`` and decoded again."""
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as image:
        return np.asarray(image.convert("RGB"))
