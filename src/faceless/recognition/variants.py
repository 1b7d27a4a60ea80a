"""The input variants a classifier is trained on, which arrays feed each, and the ``clean64`` frames.

Defined once here: the classifier, evaluation and predict stages all name variants this way.

* ``lr``: the 64 px frames as they are (JPEG-compressed on the demo, as OrCam's are);
* ``bicubic``, ``srgan``: 4x upscaled, by bicubic and by the generator trained on the source's
  truth pairs (self pairs where it has none);
* ``srgan_self``: 4x by the generator trained on self pairs (the training frames downscaled 4x ->
  the frames), as on data without truth: the real-world path, measured where there is truth;
* ``srgan_id``: 4x by the recognition-aware generator: srgan's recipe plus an identity loss (a
  recogniser's features of SR vs of the target), off unless ``srgan.id_variant``;
* ``srgan_pretrained``: 4x by a generic generator pretrained elsewhere (``srgan.pretrained_weights``:
  krasserm's Keras .h5, BasicSR's .pth), used as it is, never trained on this data: the seed's method;
* ``clean64``: the 256 px truth area-downscaled 4x, never compressed (and, on the demo, without
  the slight blur its 64 px frames get): what clean 64 px frames are worth next to JPEG ones;
* ``hr``: the 256 px truth, the ceiling.
"""
from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F

Variant = Literal["lr", "bicubic", "srgan", "srgan_self", "srgan_id", "srgan_pretrained", "clean64", "hr"]

#: Every variant, in the order tables and plots list them.
VARIANTS: tuple[str, ...] = get_args(Variant)

#: The prefix of the arrays feeding each variant (``<prefix>_train``, ``<prefix>_val``, ``<prefix>_test``).
VARIANT_ARRAYS: dict[str, str] = {"lr": "lr", "bicubic": "bicubic", "srgan": "sr", "srgan_self": "sr_self",
                                  "srgan_id": "sr_id", "srgan_pretrained": "sr_pretrained", "clean64": "clean64",
                                  "hr": "hr"}

#: Why a variant has no frames: the variants that have none on some sources.
NO_DATA_REASONS: dict[str, str] = {
    "hr": "hr needs a source with high-resolution truth",
    "clean64": "clean64 is the high-resolution truth downscaled: it needs a source with truth",
    "srgan_self": "its generator was not trained, sr_report_self says why: e.g. on a source without truth "
                  "srgan already is the self-trained generator",
    "srgan_id": "its generator was not trained, sr_report_id says why: srgan.id_variant is false by default "
                "(the CPU budget)",
    "srgan_pretrained": "no pretrained generator was imported: srgan.pretrained_weights is null "
                        "(sr_report_pretrained says so)",
}

#: Frames downscaled at a time (memory only: every frame is downscaled on its own).
DOWNSCALE_CHUNK = 256


#: The skip reason of a variant that classifier.variants does not list: the printed comparison leaves
#: it out (its CSV row stays), unlike a variant asked for that could not run.
NOT_ASKED = "not in classifier.variants"


def variant_skip_reason(variant: str, wanted: list[str], train_x: np.ndarray | None) -> str | None:
    """Why ``variant`` is not trained (not asked for, or no data), or None when it is."""
    if variant not in wanted:
        return NOT_ASKED
    if train_x is None or train_x.size == 0:
        return f"no data for this variant ({NO_DATA_REASONS.get(variant, 'its arrays are empty')})"
    return None


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
