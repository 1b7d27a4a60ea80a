"""The typed config of SR training: ``params:srgan`` as a frozen dataclass.

Every field comes from ``conf/base/parameters_srgan.yml`` (no defaults here); :func:`load_config`
checks every key, the loss lists and the architecture names before any work starts, so a wrong
parameter is one :class:`~faceless.utils.errors.ConfigError` line naming it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any, Literal

from faceless.models import DISCRIMINATORS, GENERATORS, BackboneConfig
from faceless.sr.losses import LOSS_TERMS, parse_loss_specs
from faceless.utils.config import from_params
from faceless.variants import VariantSpec
from faceless.utils.errors import ConfigError, check_at_least, choice

STAGE = "srgan"


@dataclass(frozen=True)
class GeneratorConfig:
    arch: str             # a name in faceless.models.GENERATORS (srresnet)
    blocks: int
    channels: int
    bicubic_skip: bool
    head_kernel: int      # first conv's kernel (the paper: 9)
    tail_kernel: int      # last conv's kernel (the paper: 9)
    upsample: Literal["progressive", "single"]   # the paper's x2 steps | one shuffle at the input resolution


@dataclass(frozen=True)
class DiscriminatorConfig:
    arch: str             # a name in faceless.models.DISCRIMINATORS (srgan_vgg)
    channels: int
    pooled_size: int      # the grid its last map is pooled to before the dense layers


@dataclass(frozen=True)
class RecogniserNormalisation:
    mean: float
    std: float


@dataclass(frozen=True)
class RecogniserConfig:
    """Where the identity terms' recogniser comes from and how it learns (:mod:`faceless.sr.identity`)."""

    source: Literal["train", "file"]   # train: inside the stage on the training targets; file: a classifier file
    file: str | None                   # source: file: a local classifier_<variant>.pt of an earlier run
    model: BackboneConfig              # source: train (a file carries its own): arch and its options
    normalisation: RecogniserNormalisation  # source: train (a file carries its own)
    steps: int                         # training steps on the training targets' crops before the generator's
    batch_size: int
    lr: float
    weight_decay: float
    label_smoothing: float
    update: Literal["frozen", "alternate"]  # alternate: also trained between generator steps (SR4IR)
    update_every: int                  # alternate: one recogniser step every this many generator steps
    mix_grid: int                      # alternate: the SR/HR mixed crops' grid of cells (SR4IR's CQMix: 4)


@dataclass(frozen=True)
class IdentityConfig:
    """srgan_id's terms, appended to srgan's own loss lists of each stage."""

    pretrain_terms: list[dict[str, Any]]
    gan_terms: list[dict[str, Any]]


@dataclass(frozen=True)
class SRConfig:
    pairs: Literal["auto", "truth", "self"]
    identity: IdentityConfig
    recogniser: RecogniserConfig
    scale: int
    generator: GeneratorConfig
    discriminator: DiscriminatorConfig
    pretrain_steps: int
    gan_steps: int
    pretrain_losses: list[dict[str, Any]]   # weighted loss terms of stage 1 (see faceless.sr.losses)
    gan_losses: list[dict[str, Any]]        # weighted loss terms of the generator in stage 2
    lr_pretrain: float
    # constant: lr_pretrain for all of stage 1; cosine: from lr_pretrain down to
    # lr_pretrain x lr_pretrain_floor along a half cosine over stage 1's steps.
    lr_pretrain_schedule: Literal["constant", "cosine"]
    lr_pretrain_floor: float
    lr_gan: float
    lr_gan_decay: float
    adam_betas: list[float]
    batch_size: int
    crop: int
    ema_decay: float
    seed: int
    device: Literal["auto", "cuda", "mps", "cpu"]
    precision: Literal["auto", "bf16", "fp32"]
    compile: bool
    eval_every: int
    eval_batch_size: int
    eval_border: int
    val_frames: int
    fallback_val_pairs: int   # training pairs evaluated on where there is no validation side
    log_every: int            # steps between logged losses
    checkpoint_every: int
    checkpoint_dir: str | None
    resume: bool
    init_weights: str | None
    sample_count: int
    # How many processes train (faceless.distributed.DistributedConfig, read by the node): not the result.
    distributed: dict[str, Any]

    def generator_config(self) -> dict[str, Any]:
        """The constructor arguments ``faceless.models.build_model("generator", ...)`` takes."""
        g = self.generator
        return {"arch": g.arch, "channels": g.channels, "blocks": g.blocks, "scale": self.scale,
                "bicubic_skip": g.bicubic_skip, "head_kernel": g.head_kernel, "tail_kernel": g.tail_kernel,
                "upsample": g.upsample}

    def discriminator_config(self) -> dict[str, Any]:
        d = self.discriminator
        return {"arch": d.arch, "channels": d.channels, "pooled_size": d.pooled_size}


def load_config(params: Any) -> SRConfig:
    """``params:srgan`` -> :class:`SRConfig`, every key and value checked."""
    config = from_params(SRConfig, params, STAGE)
    choice(config.generator.arch, f"{STAGE}.generator.arch", GENERATORS)
    choice(config.discriminator.arch, f"{STAGE}.discriminator.arch", DISCRIMINATORS)
    if len(config.adam_betas) != 2:
        raise ConfigError(f"{STAGE}.adam_betas must be two numbers [beta1, beta2], got {config.adam_betas!r}")
    check_at_least(config, ("pretrain_steps", "gan_steps", "val_frames", "eval_every", "checkpoint_every",
                            "eval_border"), 0, STAGE)
    check_at_least(config, ("batch_size", "crop", "eval_batch_size", "scale", "fallback_val_pairs", "log_every"), 1,
                   STAGE)
    parse_loss_specs(config.pretrain_losses, f"{STAGE}.pretrain_losses", discriminator=False)
    parse_loss_specs(config.gan_losses, f"{STAGE}.gan_losses", discriminator=True)
    parse_loss_specs(config.identity.pretrain_terms, f"{STAGE}.identity.pretrain_terms", discriminator=False,
                     allow_empty=True)
    parse_loss_specs(config.identity.gan_terms, f"{STAGE}.identity.gan_terms", discriminator=True, allow_empty=True)
    _check_recogniser(config.recogniser, f"{STAGE}.recogniser")
    return config


def _check_recogniser(rec: RecogniserConfig, param: str) -> None:
    check_at_least(rec, ("batch_size", "update_every", "mix_grid"), 1, param)
    check_at_least(rec, ("steps",), 0, param)
    if rec.normalisation.std <= 0:
        raise ConfigError(f"{param}.normalisation.std must be positive, got {rec.normalisation.std}")
    if rec.source == "file" and not rec.file:
        raise ConfigError(f"{param}.source=file needs {param}.file: a local classifier file (e.g. "
                          "data/06_models/classifier_hr.pt of an earlier run on the same split)")


def uses_recogniser(config: SRConfig) -> bool:
    """Whether a loss list of ``config`` names a term that reads the recogniser (``identity``)."""
    entries = [*config.pretrain_losses, *config.gan_losses]
    return any(LOSS_TERMS[entry["type"]].uses_recogniser for entry in entries)


def variant_config(params: Mapping[str, Any], spec: VariantSpec) -> SRConfig:
    """The SR config of a generator variant: ``params:srgan`` with the block's ``recipe`` keys replaced
    (nested mappings merged key by key), its ``pairs`` (``other``: truth pairs of other people's
    frames), ``init`` file, ``identity`` terms appended to both loss lists (so srgan_id - srgan is the
    identity terms' effect, every other setting alike), and checkpoints of its own
    (``<checkpoint_dir>/<variant>``: trainings of one project never resume from each other's)."""
    merged = _merged(dict(params or {}), spec.recipe, STAGE)
    # srgan.pairs / srgan.init_weights are every variant's defaults; a block's own pairs and init win.
    if spec.pairs == "other":
        merged["pairs"] = "truth"
    elif spec.pairs != "auto":
        merged["pairs"] = spec.pairs
    if spec.init is not None:
        merged["init_weights"] = spec.init
    config = load_config(merged)
    checkpoint_dir = f"{config.checkpoint_dir}/{spec.name}" if config.checkpoint_dir else None
    config = dataclasses.replace(config, checkpoint_dir=checkpoint_dir)
    if spec.identity:
        if not config.identity.pretrain_terms and not config.identity.gan_terms:
            raise ConfigError(f"variants.{spec.name}.identity: {STAGE}.identity lists no term")
        config = dataclasses.replace(config, pretrain_losses=[*config.pretrain_losses, *config.identity.pretrain_terms],
                                     gan_losses=[*config.gan_losses, *config.identity.gan_terms])
    return config


def _merged(base: dict[str, Any], changes: Mapping[str, Any], where: str) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if key not in base:
            raise ConfigError(f"recipe key {key!r} is not a key of {where} (conf/base/parameters_srgan.yml)")
        nested = isinstance(value, Mapping) and isinstance(base[key], Mapping)
        out[key] = _merged(base[key], value, f"{where}.{key}") if nested else value
    return out


def self_pairs_reason(config: SRConfig, frame_px: int) -> str | None:
    """Why self pairs cannot be made of ``frame_px`` frames (smaller than the scale), or None."""
    if frame_px < config.scale:
        return f"the {frame_px} px frames are smaller than {STAGE}.scale={config.scale}: no self pairs"
    return None
