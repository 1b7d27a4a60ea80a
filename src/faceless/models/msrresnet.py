"""BasicSR's MSRResNet ("modified SRResNet", ``basicsr/archs/srresnet_arch.py``), in torch.

The generator of BasicSR's ``MSRResNet_x4`` / ``MSRGAN_x4`` / ``SRResNet`` ``.pth`` files::

    conv_first:  conv3x3(in -> C) + LeakyReLU(0.1)
    body:        B x [conv1 3x3, ReLU, conv2 3x3, + input]           (no BatchNorm)
    upsample:    x4: 2 x [upconv 3x3 (C -> 4C), PixelShuffle(2), LeakyReLU(0.1)]
                 x2 / x3: upconv1 3x3 (C -> s*s*C), PixelShuffle(s), LeakyReLU(0.1)
    conv_hr:     conv3x3 + LeakyReLU(0.1);  conv_last: conv3x3(C -> out)
    output:      + the bilinear upscale of the input

The module and parameter names are BasicSR's (``conv_first``, ``body.N.conv1``, ``upconv1``,
``upconv2``, ``conv_hr``, ``conv_last``), so its state_dicts load as they are. Inputs and outputs
are RGB in [0, 1], as in BasicSR. Fresh weights get BasicSR's initialisation (Kaiming normal x 0.1).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from faceless.models.generator import fixed_layout_arguments
from faceless.models.registry import register

SUPPORTED_SCALES = (2, 3, 4)
LEAKY_SLOPE = 0.1
#: BasicSR's default_init_weights scale for this network.
INIT_SCALE = 0.1


class ResidualBlockNoBN(nn.Module):
    """conv3x3-ReLU-conv3x3 with an identity skip (BasicSR's block of the same name, res_scale 1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


@register("generator", "msrresnet")
class MSRResNet(nn.Module):
    """BasicSR's MSRResNet; see the module docstring."""

    def __init__(self, *, channels: int, blocks: int, scale: int, in_channels: int = 3,
                 out_channels: int = 3) -> None:
        super().__init__()
        if scale not in SUPPORTED_SCALES:
            raise ValueError(f"MSRResNet scale must be one of {SUPPORTED_SCALES}, got {scale!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.channels, self.blocks, self.scale = channels, blocks, scale
        self.conv_first = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.body = nn.Sequential(*(ResidualBlockNoBN(channels) for _ in range(blocks)))
        step = 2 if scale == 4 else scale
        self.upconv1 = nn.Conv2d(channels, channels * step * step, 3, padding=1)
        if scale == 4:
            self.upconv2 = nn.Conv2d(channels, channels * 4, 3, padding=1)
        self.pixel_shuffle = nn.PixelShuffle(step)
        self.conv_hr = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_last = nn.Conv2d(channels, out_channels, 3, padding=1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)
                module.weight.data.mul_(INIT_SCALE)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(F.leaky_relu(self.conv_first(x), LEAKY_SLOPE))
        out = F.leaky_relu(self.pixel_shuffle(self.upconv1(out)), LEAKY_SLOPE)
        if self.scale == 4:
            out = F.leaky_relu(self.pixel_shuffle(self.upconv2(out)), LEAKY_SLOPE)
        out = self.conv_last(F.leaky_relu(self.conv_hr(out), LEAKY_SLOPE))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)

    def config(self) -> dict[str, Any]:
        return {"arch": self.arch, "in_channels": self.in_channels, "out_channels": self.out_channels,
                "channels": self.channels, "blocks": self.blocks, "scale": self.scale}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> MSRResNet:
        return cls(**fixed_layout_arguments(
            cls, cfg, "always adds a bilinear upscale of its input (BasicSR's design), not a bicubic one"))
