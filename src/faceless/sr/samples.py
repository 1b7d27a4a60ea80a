"""A grid of validation frames: LR (nearest) | bicubic | SR | HR truth (when there is one)."""
from __future__ import annotations

from typing import Any

# Figures are built with the object API, not pyplot: no global backend switch on import (a
# notebook that imports the pipelines keeps its inline plots), no open-figure registry to leak.
from matplotlib.figure import Figure
import numpy as np
import torch
import torch.nn.functional as F

from faceless.inference import load_generator, to_nchw_uint8, upscale_batches


def sample_grid(sr_generator: dict[str, Any], lr_val: np.ndarray, hr_val: np.ndarray | None, scale: int,
                count: int) -> Figure:
    """``count`` evenly spaced validation frames, one per row, upscaled on the CPU in fp32."""
    count = min(count, len(lr_val))
    if count == 0:
        fig = Figure(figsize=(4, 1))
        fig.text(0.5, 0.5, "no validation frames", ha="center")
        return fig
    picks = np.linspace(0, len(lr_val) - 1, count).round().astype(int)
    lr = to_nchw_uint8(lr_val[picks])
    generator = load_generator(sr_generator)
    device = torch.device("cpu")
    (_, bicubic), = upscale_batches(None, lr, scale, device, None, batch=count)
    (_, sr), = upscale_batches(generator, lr, scale, device, None, batch=count)
    nearest = F.interpolate(lr.float() / 255, scale_factor=scale, mode="nearest")
    columns = [("LR (nearest)", nearest), ("bicubic", bicubic), ("SRGAN", sr)]
    if hr_val is not None and hr_val.size > 0:
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
