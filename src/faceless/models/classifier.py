"""The identity classifier: a small VGG-style CNN with global pooling, for any input size.

Why not a torchvision ResNet: at this data size (hundreds of frames per split, trained from
scratch on two CPU cores in about a minute per variant) a ResNet-18 has ~11M parameters and
memorises the training videos; a four-stage CNN of width 32 learns the persistent traits and
trains several times faster. Width and depth are parameters, so a GPU run can go bigger.

The stem adapts the input to a common working resolution: it strides by ``input_size / base``
(``stem_stride: auto``), so 256 px variants (bicubic, SR, truth) see all their pixels through a
wide first kernel and then cost the same as 64 px ones. Every variant thus trains the same
network body with the same recipe; only the stem's stride and kernel follow the input size.
Inputs at or below ``base`` (8 px frames, their 32 px upscales) keep stride 1. Each stage's 2x2
max-pool rounds up (``ceil_mode``): an odd map keeps its last row and column, and a map that has
shrunk to 1 px stays 1 px, so any input from 1 px up and any depth runs (a 64 or 256 px input,
whose maps stay even, pools exactly as before).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from faceless.models.registry import register
from faceless.utils.errors import check_at_least


def stem_geometry(input_size: int, base_size: int) -> tuple[int, int]:
    """(kernel, stride) of the stem for square inputs of ``input_size`` px."""
    stride = max(1, round(input_size / base_size))
    kernel = 3 if stride == 1 else 2 * stride - 1 + 2  # covers each stride cell plus a border
    return kernel, stride


@register("backbone", "small_cnn")
class FrameClassifier(nn.Module):
    """Stem (stride by input size), ``depth`` conv-BN-ReLU-pool stages, global mean pool, linear head."""

    @dataclass(frozen=True)
    class Options:
        """Its keys in conf (``classifier.model``, ``srgan.recogniser.model``) besides ``arch``."""

        width: int       # channels after the stem, doubled at each stage
        depth: int       # conv-BN-ReLU-pool stages
        dropout: float   # before the linear head
        base_size: int   # the working resolution the stem brings every input to (px)

        def check(self, param: str) -> None:
            check_at_least(self, ("width", "depth", "base_size"), 1, param)

    def __init__(self, num_classes: int, *, input_size: int, width: int, depth: int, dropout: float,
                 base_size: int, in_channels: int = 3):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self._config = {"num_classes": num_classes, "input_size": input_size, "width": width, "depth": depth,
                        "dropout": dropout, "base_size": base_size, "in_channels": in_channels}
        kernel, stride = stem_geometry(input_size, base_size)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(width), nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        channels = width
        for _ in range(depth):
            layers += [nn.Conv2d(channels, channels * 2, 3, padding=1, bias=False), nn.BatchNorm2d(channels * 2),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True)]
            channels *= 2
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The frame embedding the head reads: the body's features, globally mean-pooled (N, channels)."""
        return self.body(self.stem(x)).mean((2, 3))

    @property
    def embed_dim(self) -> int:
        """The width of :meth:`embed`'s rows: the last stage's channels."""
        return self.head[-1].in_features

    def config(self) -> dict[str, Any]:
        return {"arch": self.arch, **self._config}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FrameClassifier:
        return cls(**{k: v for k, v in config.items() if k != "arch"})
