"""SRGAN discriminator (Ledig et al. 2017): the paper's VGG-style classifier of real vs upscaled.

Eight 3x3 convs, widths C, C, 2C, 2C, 4C, 4C, 8C, 8C, with stride 2 on every second one
(so the map shrinks 16x), LeakyReLU(0.2) throughout and BN on all but the first. The paper
then flattens a fixed 96x96 crop's 6x6x512 map; here an adaptive average pool to
``pooled_size`` x ``pooled_size`` (``srgan.discriminator.pooled_size``: 6, the paper's grid at 96 px) takes its place so
any input size works. Then dense 16C (1024 for C = 64), LeakyReLU(0.2), dense 1. The output is
a logit: use it with ``binary_cross_entropy_with_logits`` (numerically stable, bf16-safe).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from faceless.models.registry import register


def _conv_block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
    ]


@register("discriminator", "srgan_vgg")
class SRGANDiscriminator(nn.Module):
    """Maps (N, in_channels, H, W) images in [0, 1] to (N, 1) real-vs-fake logits."""

    def __init__(self, *, channels: int, pooled_size: int, in_channels: int = 3) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.channels = channels
        self.pooled_size = pooled_size
        c = channels
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, c, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        layers += _conv_block(c, c, stride=2)
        c_in = c
        for width in (2 * c, 4 * c, 8 * c):
            layers += _conv_block(c_in, width, stride=1)
            layers += _conv_block(width, width, stride=2)
            c_in = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(pooled_size)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(8 * c * pooled_size * pooled_size, 16 * c),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(16 * c, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))

    def config(self) -> dict[str, Any]:
        """Constructor arguments as a plain dict (saved next to the weights)."""
        return {
            "arch": self.arch,
            "in_channels": self.in_channels,
            "channels": self.channels,
            "pooled_size": self.pooled_size,
        }

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> SRGANDiscriminator:
        return cls(**{k: v for k, v in cfg.items() if k != "arch"})
