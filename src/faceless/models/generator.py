"""SRResNet generator (Ledig et al. 2017, arXiv 1609.04802), optionally residual over bicubic.

Layout, for ``channels`` = C and ``blocks`` = B::

    head:      conv KxK (in -> C) + PReLU                   (K = head_kernel; the paper: 9)
    body:      B x [conv3x3, BN, PReLU, conv3x3, BN, + input]
               conv3x3 + BN, + head output (long skip)
    upsample:  progressive (the paper): log2(scale) x [conv3x3(C -> 4C), PixelShuffle(2), PReLU],
               then the tail conv KxK (C -> out) at the output resolution (K = tail_kernel; paper: 9)
               single (ESPCN, Shi et al. 2016): one conv KxK (C -> out x scale^2) at the input
               resolution, then PixelShuffle(scale): no convolution at the output resolution

Where the FLOPs go (B=6, C=32, 4x, per input pixel): the paper's layout spends 70 % of them at 2x
and 4x the input resolution (the upsampling convs and a 9x9 tail with 3 output channels, which CPUs
run at a tenth of a 3x3 conv's rate); ``single`` with 3x3 kernels costs under a third and runs
several times faster on a CPU (``bench/bench_srgan.py``). BasicSR's MSRResNet uses 3x3 heads and tails.

With ``bicubic_skip`` the network predicts only the residual on top of a bicubic upscale of
the input, and the tail starts at zero, so an untrained generator *is* bicubic: pretraining
starts from a sensible baseline instead of from noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from faceless.models.registry import register
from faceless.utils.errors import ConfigError

SUPPORTED_SCALES = (2, 4, 8)
UPSAMPLERS = ("progressive", "single")
#: The layout of generator files saved before ``head_kernel``, ``tail_kernel`` and ``upsample`` existed.
LEGACY_LAYOUT = {"head_kernel": 9, "tail_kernel": 9, "upsample": "progressive"}


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


@register("generator", "srresnet")
class SRResNet(nn.Module):
    """SRResNet generator; inputs and outputs in [0, 1] (not clamped here: the caller clamps).

    Works for any input height and width; the output is ``scale`` times larger.
    """

    def __init__(
        self,
        *,
        channels: int,
        blocks: int,
        scale: int,
        bicubic_skip: bool,
        head_kernel: int,
        tail_kernel: int,
        upsample: str,
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
        if head_kernel % 2 == 0 or tail_kernel % 2 == 0 or min(head_kernel, tail_kernel) < 1:
            raise ValueError(f"head_kernel and tail_kernel must be odd, got {head_kernel} and {tail_kernel}")
        if upsample not in UPSAMPLERS:
            raise ValueError(f"upsample must be one of {' | '.join(UPSAMPLERS)}, got {upsample!r}")
        self.head_kernel, self.tail_kernel, self.upsample_mode = head_kernel, tail_kernel, upsample
        if bicubic_skip and in_channels != out_channels:
            raise ValueError(
                "bicubic_skip needs in_channels == out_channels, "
                f"got {in_channels} and {out_channels}"
            )

        self.head = nn.Sequential(
            nn.Conv2d(in_channels, channels, head_kernel, padding=head_kernel // 2), nn.PReLU(channels)
        )
        self.body = nn.Sequential(*(ResidualBlock(channels) for _ in range(blocks)))
        self.body_tail = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels)
        )
        if upsample == "progressive":
            self.upsample = nn.Sequential(
                *(UpsampleBlock(channels) for _ in range(int(math.log2(scale))))
            )
            self.tail = nn.Conv2d(channels, out_channels, tail_kernel, padding=tail_kernel // 2)
        else:  # single: the tail predicts scale^2 sub-pixels per input pixel, then one shuffle
            self.upsample = nn.Identity()
            self.tail = nn.Sequential(
                nn.Conv2d(channels, out_channels * scale * scale, tail_kernel, padding=tail_kernel // 2),
                nn.PixelShuffle(scale),
            )
        if bicubic_skip:
            # Zero residual at start: the untrained generator equals bicubic exactly.
            last = self.tail if isinstance(self.tail, nn.Conv2d) else self.tail[0]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

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
            "head_kernel": self.head_kernel,
            "tail_kernel": self.tail_kernel,
            "upsample": self.upsample_mode,
        }

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> SRResNet:
        # Files saved before the head, tail and upsampler were options have the paper's layout.
        cfg = {**LEGACY_LAYOUT, **cfg}
        return cls(**{k: v for k, v in cfg.items() if k != "arch"})


def fixed_layout_arguments(cls: type, cfg: dict[str, Any], no_skip_because: str) -> dict[str, Any]:
    """Constructor arguments of a generator whose layout is fixed by its published architecture
    (imported files: krasserm's sr_resnet, BasicSR's MSRResNet), from a saved config or from
    ``srgan.generator``: the layout options shape ``srresnet`` only and are dropped; a bicubic skip
    it does not have is one ConfigError line saying why (``no_skip_because``)."""
    arguments = {k: v for k, v in cfg.items() if k != "arch" and k not in LEGACY_LAYOUT}
    if arguments.pop("bicubic_skip", False):
        raise ConfigError(f"the {cls.arch} generator {no_skip_because}: set srgan.generator.bicubic_skip=false")
    return arguments


def _conv_flops(h: int, w: int, c_in: int, c_out: int, k: int) -> float:
    """2 * multiply-adds of a same-padded, stride-1 k x k conv on an h x w map."""
    return 2.0 * h * w * c_in * c_out * k * k


def srresnet_flops(h: int, w: int, config: Mapping[str, Any]) -> float:
    """FLOPs (2 x multiply-adds) of the convolutions of one forward pass on an h x w input through
    the generator ``config`` describes (:meth:`SRResNet.config` or ``SRConfig.generator_config()``:
    ``channels``, ``blocks``, ``scale``, ``head_kernel``, ``tail_kernel``, ``upsample``; ``in_channels``
    and ``out_channels`` where they are not the constructor's RGB).

    Counts convolutions only: BN, PReLU, PixelShuffle, biases and the bicubic skip are a few
    per cent at most and are left out, so achieved FLOP/s computed from this is a lower bound.
    """
    scale, c, blocks = _check_scale(config["scale"]), config["channels"], config["blocks"]
    head_kernel, tail_kernel, upsample = config["head_kernel"], config["tail_kernel"], config["upsample"]
    in_channels, out_channels = config.get("in_channels", 3), config.get("out_channels", 3)
    flops = _conv_flops(h, w, in_channels, c, head_kernel)  # head
    flops += blocks * 2 * _conv_flops(h, w, c, c, 3)  # residual blocks
    flops += _conv_flops(h, w, c, c, 3)  # conv before the long skip
    if upsample == "single":
        return flops + _conv_flops(h, w, c, out_channels * scale * scale, tail_kernel)
    for _ in range(int(math.log2(scale))):
        flops += _conv_flops(h, w, c, 4 * c, 3)
        h, w = 2 * h, 2 * w
    flops += _conv_flops(h, w, c, out_channels, tail_kernel)  # tail, at output resolution
    return flops
