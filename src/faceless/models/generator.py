"""SRResNet generator (Ledig et al. 2017, arXiv 1609.04802), optionally residual over bicubic.

Layout, for ``channels`` = C and ``blocks`` = B::

    head:      conv9x9(in -> C) + PReLU
    body:      B x [conv3x3, BN, PReLU, conv3x3, BN, + input]
               conv3x3 + BN, + head output (long skip)
    upsample:  log2(scale) x [conv3x3(C -> 4C), PixelShuffle(2), PReLU]
    tail:      conv9x9(C -> out)

With ``bicubic_skip`` the network predicts only the residual on top of a bicubic upscale of
the input, and the tail starts at zero, so an untrained generator *is* bicubic: pretraining
starts from a sensible baseline instead of from noise.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

SUPPORTED_SCALES = (2, 4, 8)


def _check_scale(scale: int) -> int:
    if scale not in SUPPORTED_SCALES:
        raise ValueError(f"scale must be a power of 2 in {SUPPORTED_SCALES}, got {scale!r}")
    return scale


class ResidualBlock(nn.Module):
    """conv3x3-BN-PReLU-conv3x3-BN with an identity skip (the paper's B residual blocks)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpsampleBlock(nn.Module):
    """conv3x3 to 4C, PixelShuffle(2), PReLU: doubles height and width."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


class SRResNet(nn.Module):
    """SRResNet generator; inputs and outputs in [0, 1] (not clamped here: the caller clamps).

    Works for any input height and width; the output is ``scale`` times larger.
    """

    arch = "srresnet"

    def __init__(
        self,
        *,
        channels: int,
        blocks: int,
        scale: int,
        bicubic_skip: bool,
        in_channels: int = 3,
        out_channels: int = 3,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.channels = channels
        self.blocks = blocks
        self.scale = _check_scale(scale)
        self.bicubic_skip = bicubic_skip
        if bicubic_skip and in_channels != out_channels:
            raise ValueError(
                "bicubic_skip needs in_channels == out_channels, "
                f"got {in_channels} and {out_channels}"
            )

        self.head = nn.Sequential(
            nn.Conv2d(in_channels, channels, 9, padding=4), nn.PReLU(channels)
        )
        self.body = nn.Sequential(*(ResidualBlock(channels) for _ in range(blocks)))
        self.body_tail = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels)
        )
        self.upsample = nn.Sequential(
            *(UpsampleBlock(channels) for _ in range(int(math.log2(scale))))
        )
        self.tail = nn.Conv2d(channels, out_channels, 9, padding=4)
        if bicubic_skip:
            # Zero residual at start: the untrained generator equals bicubic exactly.
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        features = features + self.body_tail(self.body(features))
        residual = self.tail(self.upsample(features))
        if not self.bicubic_skip:
            return residual
        base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return base + residual

    def config(self) -> dict[str, Any]:
        """Constructor arguments as a plain dict (saved next to the weights)."""
        return {
            "arch": self.arch,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "channels": self.channels,
            "blocks": self.blocks,
            "scale": self.scale,
            "bicubic_skip": self.bicubic_skip,
        }

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> SRResNet:
        return cls(**{k: v for k, v in cfg.items() if k != "arch"})


def _conv_flops(h: int, w: int, c_in: int, c_out: int, k: int) -> float:
    """2 * multiply-adds of a same-padded, stride-1 k x k conv on an h x w map."""
    return 2.0 * h * w * c_in * c_out * k * k


def srresnet_flops(
    h: int,
    w: int,
    channels: int,
    blocks: int,
    scale: int,
    in_channels: int = 3,
    out_channels: int = 3,
) -> float:
    """FLOPs (2 x multiply-adds) of the convolutions of one forward pass on an h x w input.

    Counts convolutions only: BN, PReLU, PixelShuffle, biases and the bicubic skip are a few
    per cent at most and are left out, so achieved FLOP/s computed from this is a lower bound.
    """
    _check_scale(scale)
    c = channels
    flops = _conv_flops(h, w, in_channels, c, 9)  # head
    flops += blocks * 2 * _conv_flops(h, w, c, c, 3)  # residual blocks
    flops += _conv_flops(h, w, c, c, 3)  # conv before the long skip
    for _ in range(int(math.log2(scale))):
        flops += _conv_flops(h, w, c, 4 * c, 3)
        h, w = 2 * h, 2 * w
    flops += _conv_flops(h, w, c, out_channels, 9)  # tail, at output resolution
    return flops
