"""Typed ``params:classifier`` and ``params:evaluation``; conf/base holds every value.

Built with :func:`faceless.utils.config.from_params`: an unknown, missing or mistyped key is one
:class:`~faceless.utils.errors.ConfigError` line naming it (``classifier.model.width``), before any work.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from faceless.models import BACKBONES
from faceless.recognition.variants import Variant
from faceless.utils.errors import ConfigError

Device = Literal["auto", "cuda", "mps", "cpu"]
Precision = Literal["auto", "bf16", "fp32"]


@dataclass(frozen=True)
class BackboneConfig:
    """The network: a backbone of ``faceless.models.BACKBONES`` by name, and its size."""

    arch: str
    width: int
    depth: int
    dropout: float

    def __post_init__(self) -> None:
        if self.arch not in BACKBONES:
            raise ConfigError(f"classifier.model.arch must be one of {' | '.join(BACKBONES)}, got {self.arch!r}")


@dataclass(frozen=True)
class AugmentConfig:
    """Per-sample augmentation at ``augment_strength`` 1: ``flip`` is a probability; the others
    are half-widths of uniform ranges around 1 (``scale``, ``gain``, ...) or 0 (``translate``,
    in units of half the image)."""

    flip: float
    scale: float
    translate: float
    gain: float
    tint: float
    contrast: float
    saturation: float


@dataclass(frozen=True)
class NormalisationConfig:
    """Pixel statistics that centre the inputs, fixed so every variant is treated alike; saved in
    the classifier file, and read back from it by evaluation and predict."""

    mean: float
    std: float


@dataclass(frozen=True)
class ClassifierConfig:
    variants: list[Variant]
    model: BackboneConfig
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    one_cycle_pct_start: float
    label_smoothing: float
    selection: Literal["last", "best_val"]
    augment_strength: float
    augment: AugmentConfig
    normalisation: NormalisationConfig
    val_batch_size: int
    seed: int
    device: Device
    precision: Precision
    compile: bool
    checkpoint_dir: str | None
    checkpoint_every_epochs: int
    resume: bool
    init_weights: str | None

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "val_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"classifier.{name} must be at least 1, got {getattr(self, name)}")
        if self.checkpoint_every_epochs < 0:  # 0: no checkpoints
            raise ConfigError("classifier.checkpoint_every_epochs must be 0 or more, "
                              f"got {self.checkpoint_every_epochs}")
        if self.normalisation.std <= 0:
            raise ConfigError(f"classifier.normalisation.std must be positive, got {self.normalisation.std}")


@dataclass(frozen=True)
class EvaluationConfig:
    device: Device
    precision: Precision
    batch_size: int

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"evaluation.batch_size must be at least 1, got {self.batch_size}")
