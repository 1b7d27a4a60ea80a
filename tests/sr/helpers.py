"""Small SR test data: smooth synthetic frames (8x8 LR, 32x32 HR) and tiny ``params:srgan``."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..conftest import base_params

SCALE = 4
HR_SIZE = 32
LR_SIZE = HR_SIZE // SCALE
EMPTY_HR = np.zeros((0, 0, 0, 3), dtype=np.uint8)


def smooth_frames(n: int, seed: int, detail: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(LR uint8 NHWC 8x8, HR uint8 NHWC 32x32): random-but-smooth HR (``detail`` x ``detail``
    random values upsampled bicubically), LR by area downscale."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, detail, detail, generator=gen)
    hr = F.interpolate(base, size=(HR_SIZE, HR_SIZE), mode="bicubic", align_corners=False).clamp(0, 1)
    hr_u8 = (hr * 255).round().to(torch.uint8)
    lr = F.interpolate(hr_u8.float() / 255, scale_factor=1 / SCALE, mode="area")
    lr_u8 = (lr * 255).round().clamp(0, 255).to(torch.uint8)

    def nhwc(t: torch.Tensor) -> np.ndarray:
        return t.permute(0, 2, 3, 1).contiguous().numpy()

    return nhwc(lr_u8), nhwc(hr_u8)


def tiny_params(checkpoint_dir, **overrides) -> dict:
    """``params:srgan`` from conf/base with a tiny generator and discriminator and 6 + 4 steps."""
    params = base_params(
        "srgan", generator__blocks=1, generator__channels=8, discriminator__channels=8, pretrain_steps=6,
        gan_steps=4, eval_every=5, checkpoint_every=5, checkpoint_dir=str(checkpoint_dir), device="cpu",
        precision="fp32", batch_size=4, crop=8, val_frames=0,
    )
    params.update(overrides)
    return params


def frame_data() -> dict[str, np.ndarray]:
    """12 training and 3 validation frames with truth."""
    lr_train, hr_train = smooth_frames(12, seed=1)
    lr_val, hr_val = smooth_frames(3, seed=2)
    return {"lr_train": lr_train, "hr_train": hr_train, "lr_val": lr_val, "hr_val": hr_val}
