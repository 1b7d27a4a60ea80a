"""The frames of input variants the upscaling stage makes without a generator, and empty arrays.

Which variants exist and how each input is made is data (``conf/base/parameters_variants.yml``,
:mod:`faceless.variants`); here are the array helpers the stages share:

* :func:`no_frames`: the empty array of a variant that has no data here (its generator was skipped);
* :func:`clean_lowres`: ``clean64``'s frames, the 256 px truth area-downscaled 4x, never compressed
  (and, on the demo, without the slight blur its 64 px frames get): what clean 64 px frames are
  worth next to JPEG ones.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from faceless.inference import DOWNSCALE_CHUNK

#: The skip reason of a variant that is not asked for (kept for reports of earlier runs: a variant
#: that is off now has no node, so no row).
NOT_ASKED = "not in classifier.variants"


def no_frames(lr: np.ndarray, factor: int) -> np.ndarray:
    """An empty uint8 (0, H, W, 3) array shaped like ``lr`` upscaled ``factor`` x: a variant without data."""
    return np.zeros((0, lr.shape[1] * factor, lr.shape[2] * factor, 3), dtype=np.uint8)


def clean_lowres(hr: np.ndarray, factor: int) -> np.ndarray:
    """uint8 (N, H, W, 3) truth -> uint8 (N, H // factor, W // factor, 3): each output pixel the mean
    of its ``factor`` x ``factor`` block (``F.interpolate(mode="area")``), rounded half to even.

    The mean is taken on the 0..255 scale: a sum of uint8 values divided by a power of two is exact
    in float32, so the result does not depend on the hardware. An empty ``hr`` (no truth) gives an
    empty array.
    """
    if hr.size == 0:
        return np.zeros((0, 0, 0, 3), dtype=np.uint8)
    n, h, w, _ = hr.shape
    size = (h // factor, w // factor)
    out = np.empty((n, *size, 3), dtype=np.uint8)
    for start in range(0, n, DOWNSCALE_CHUNK):
        x = torch.from_numpy(np.array(hr[start:start + DOWNSCALE_CHUNK])).permute(0, 3, 1, 2).float()
        y = F.interpolate(x, size=size, mode="area").round().clamp(0, 255).to(torch.uint8)
        out[start:start + len(x)] = y.permute(0, 2, 3, 1).numpy()
    return out
