"""Typed ``params:classifier`` and ``params:evaluation``; conf/base holds every value.

Built with :func:`faceless.utils.config.from_params`: an unknown, missing or mistyped key is one
:class:`~faceless.utils.errors.ConfigError` line naming it (``classifier.model.width``), before any work.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from faceless.models import BackboneConfig
from faceless.utils.errors import ConfigError, check_at_least

#: Random streams one classifier run draws from, seeded seed, seed + 1, ...: repeats keep this far apart.
SEED_STREAMS = 4

Device = Literal["auto", "cuda", "mps", "cpu"]
Precision = Literal["auto", "bf16", "fp32"]


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
class JpegAugmentConfig:
    """The JPEG control: per training sample, with ``probability``, the frame is re-encoded as a
    JPEG at a quality drawn uniformly from ``quality`` [low, high] (PIL's scale), so no variant can
    lean on each video's compression fingerprint. ``probability`` 0 leaves every frame as it is."""

    probability: float
    quality: list[int]

    def __post_init__(self) -> None:
        if not 0 <= self.probability <= 1:
            raise ConfigError(f"classifier.jpeg_augment.probability must be in [0, 1], got {self.probability}")
        if len(self.quality) != 2 or not 1 <= self.quality[0] <= self.quality[1] <= 100:
            raise ConfigError("classifier.jpeg_augment.quality must be [low, high] with 1 <= low <= high <= 100, "
                              f"got {self.quality!r}")


@dataclass(frozen=True)
class NormalisationConfig:
    """Pixel statistics that centre the inputs, fixed so every variant is treated alike; saved in
    the classifier file, and read back from it by evaluation and predict."""

    mean: float
    std: float


@dataclass(frozen=True)
class ClassifierConfig:
    model: BackboneConfig    # arch and the backbone's own options (faceless.models.BACKBONES[arch].Options)
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    one_cycle_pct_start: float
    label_smoothing: float
    selection: Literal["last", "best_val"]
    augment_strength: float
    augment: AugmentConfig
    jpeg_augment: JpegAugmentConfig
    normalisation: NormalisationConfig
    val_batch_size: int
    eval_every_epochs: int   # validation every this many epochs (0: only after the last)
    seeds: list[int]         # one training per seed, same recipe; the first is the one predict uses
    device: Device
    precision: Precision
    compile: bool
    checkpoint_dir: str | None
    checkpoint_every_epochs: int
    resume: bool
    init_weights: str | None
    # How many processes train (faceless.distributed.DistributedConfig, read by the node): not the result.
    distributed: dict[str, Any]

    def __post_init__(self) -> None:
        check_at_least(self, ("epochs", "batch_size", "val_batch_size"), 1, "classifier")
        check_at_least(self, ("eval_every_epochs", "checkpoint_every_epochs"), 0, "classifier")  # 0: off
        if self.normalisation.std <= 0:
            raise ConfigError(f"classifier.normalisation.std must be positive, got {self.normalisation.std}")
        # A run draws from the streams seed .. seed + 3 (batch order, augmentation, dropout, JPEG):
        # repeats closer than that would share streams.
        spaced = all(abs(a - b) >= SEED_STREAMS for i, a in enumerate(self.seeds) for b in self.seeds[:i])
        if not self.seeds or not spaced:
            raise ConfigError(f"classifier.seeds must be a non-empty list of seeds at least {SEED_STREAMS} apart "
                              f"(e.g. [0, 10, 20]), got {self.seeds}")


@dataclass(frozen=True)
class BootstrapConfig:
    """The cluster bootstrap over test videos (and seeds) behind every interval."""

    samples: int
    confidence: float
    seed: int
    # How the interval is read off the redraws (faceless.recognition.stats.INTERVAL_METHODS): t_se
    # (t over the bootstrap SE; the simulation test checks its coverage) or percentile.
    interval: Literal["t_se", "percentile"]


@dataclass(frozen=True)
class EvaluationConfig:
    device: Device
    precision: Precision
    batch_size: int
    flip_tta: bool                   # score each frame as the mean log-probability of it and its mirror
    bootstrap: BootstrapConfig
    permutations: int                # random sign patterns of the paired test beyond its exact range
    comparisons: list[list[str]]     # [variant, baseline] pairs whose paired difference is reported
    # More pairs of the family, run only when pooling.method is a learned pooling: their names may be
    # pooled rows (``lr:attention``, faceless.variants.pooled_name).
    pooling_comparisons: list[list[str]]

    def __post_init__(self) -> None:
        check_at_least(self, ("batch_size", "permutations"), 1, "evaluation")
        check_at_least(self.bootstrap, ("samples",), 1, "evaluation.bootstrap")
        if not 0 < self.bootstrap.confidence < 1:
            raise ConfigError("evaluation.bootstrap.confidence must be between 0 and 1 (0.95: a 95 % interval), "
                              f"got {self.bootstrap.confidence}")
        # The names are checked against `variants` up front (hooks).
        for key in ("comparisons", "pooling_comparisons"):
            for i, pair in enumerate(getattr(self, key)):
                if len(pair) != 2 or pair[0] == pair[1]:
                    raise ConfigError(f"evaluation.{key}[{i}] must be [variant, baseline], two different "
                                      f"variants; got {pair}")
