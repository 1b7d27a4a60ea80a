"""The SRResNet generator of krasserm/super-resolution (``model/srgan.py``: ``sr_resnet``), in torch.

The public Keras project many users took a DIV2K-pretrained SRGAN from (``gan_generator.h5``,
``pre_generator.h5``). Its generator is the paper's SRResNet, like :class:`SRResNet` without the
bicubic skip, with three differences a faithful port must keep:

* the output goes through ``tanh`` and is read as an image in [-1, 1] (Keras: ``(t + 1) * 127.5``
  on the 0..255 scale; here ``(t + 1) / 2`` on the 0..1 scale this project uses). Its input is the
  image scaled to [0, 1] (Keras: ``x / 255``), which is what this project feeds every generator;
* Keras' BatchNormalization adds ``epsilon = 1e-3`` to the variance (torch's default: 1e-5);
* its pixel shuffle is TensorFlow's ``depth_to_space``, which orders the channels differently from
  ``nn.PixelShuffle``: the reader (:mod:`faceless.models.pretrained`) permutes the upsampling
  convolutions' output channels once, so this module can use ``nn.PixelShuffle`` as it is.

The state_dict names are :class:`SRResNet`'s, so a file of this arch fine-tunes like any other.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from faceless.models.generator import LEGACY_LAYOUT, SRResNet, fixed_layout_arguments
from faceless.models.registry import register

#: Keras' BatchNormalization default, which krasserm's model keeps.
KERAS_BN_EPSILON = 1e-3


@register("generator", "krasserm_srresnet")
class KrassermSRResNet(SRResNet):
    """krasserm's ``sr_resnet``: inputs in [0, 1], outputs in [0, 1] (``tanh`` mapped from [-1, 1])."""

    def __init__(self, *, channels: int, blocks: int, scale: int, in_channels: int = 3,
                 out_channels: int = 3) -> None:
        super().__init__(channels=channels, blocks=blocks, scale=scale, bicubic_skip=False,
                         in_channels=in_channels, out_channels=out_channels, **LEGACY_LAYOUT)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eps = KERAS_BN_EPSILON

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.tanh(super().forward(x)) + 1) / 2

    def config(self) -> dict[str, Any]:
        # Its layout is the paper's, fixed: not part of its config.
        return {k: v for k, v in super().config().items() if k != "bicubic_skip" and k not in LEGACY_LAYOUT}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> KrassermSRResNet:
        return cls(**fixed_layout_arguments(cls, cfg, "has no bicubic skip (its output is a tanh image)"))
