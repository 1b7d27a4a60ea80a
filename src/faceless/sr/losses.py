"""SR losses: small registered terms, combined from YAML as a weighted list per training stage.

Configuration (``conf/base/parameters_srgan.yml``)::

    pretrain_losses: [{type: mse, weight: 1.0}]                        # stage 1: the generator alone
    gan_losses: [{type: mse, weight: 1.0}, {type: gan, weight: 1.0e-3}]  # stage 2: the generator's loss
    # the paper's perceptual loss: {type: vgg54, weight: 1.0, weights: path/to/vgg19.pth}
    # a recogniser's features (srgan_id): {type: identity, weight: 0.1, layers: [body, embedding], distance: l1}

Each entry is ``type`` (a registered name), ``weight`` and the term's own options (the fields of
its ``Options`` dataclass, all required). The total is ``sum(weight * term)`` in list order, so
``[{mse, 1.0}, {gan, 1e-3}]`` computes exactly ``mse + 1e-3 * gan`` (``1.0 * x == x`` in floats).

The term interface
------------------
A term is an ``nn.Module`` subclass of :class:`LossTerm` registered by name::

    @register("my_term")
    class MyTerm(LossTerm):
        @dataclass(frozen=True)
        class Options:            # optional; its fields are the YAML keys besides type/weight
            layer: str

        def __init__(self, options: MyTerm.Options, param: str) -> None: ...
        def forward(self, sr, hr, ctx: LossContext) -> torch.Tensor: ...   # a float32 scalar

``sr`` is the generator's output as float32 NCHW (not clamped), ``hr`` the float32 target in
[0, 1]; ``ctx`` (:class:`LossContext`) gives what some terms need beyond the pair: ``ctx.lr`` (the
generator's input) and ``ctx.sr_logits`` (the discriminator's logits of ``sr``, computed once, on
demand, with the discriminator frozen) and ``ctx.recogniser_features(images, layers)`` (a frozen
recogniser's feature maps). A term that reads ``sr_logits`` sets ``uses_discriminator = True``; it
may only appear in ``gan_losses``. A term that reads the recogniser sets ``uses_recogniser = True``:
the trainer then builds one (``srgan.recogniser``, :mod:`faceless.sr.identity`). ``param`` is the
term's parameter path (``srgan.gan_losses[2]``) for error messages. The trainer never names a term:
a new loss is one class and its ``@register`` line (``identity`` below is one).

Every term's value is reported as ``loss_<type>`` (``loss_<type>_<position>`` when a type appears
twice in one list). The discriminator's own loss stays :func:`adversarial_d_loss`.

No pretrained network is ever downloaded: ``vgg54`` reads a local torchvision VGG19 state_dict.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError
from faceless.utils.registry import registrar

#: ImageNet statistics torchvision's VGG19 was trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: The paper rescales VGG feature maps by 1/12.75 so the VGG loss is on the scale of pixel MSE.
SRGAN_FEATURE_SCALE = 1.0 / 12.75

#: The keys every loss entry has; the rest are the term's options.
ENTRY_KEYS = ("type", "weight")


# ----------------------------------------------------------------------------------------------
# The interface: context, base class, registry
# ----------------------------------------------------------------------------------------------
#: A recogniser's feature extractor: (images in [0, 1], layer names) -> the feature maps at those layers.
FeatureFn = Callable[[torch.Tensor, Sequence[str]], list[torch.Tensor]]


class LossContext:
    """What a term may need besides ``(sr, hr)``: the generator's input and, on demand, the
    discriminator's logits of the generator's output (one forward pass, shared by all terms)."""

    def __init__(self, lr: torch.Tensor, sr_raw: torch.Tensor,
                 discriminator: Callable[[torch.Tensor], torch.Tensor] | None,
                 recogniser: FeatureFn | None = None) -> None:
        self.lr = lr
        self._sr_raw = sr_raw  # the generator's output as it came out (its autocast dtype)
        self._discriminator = discriminator
        self._recogniser = recogniser
        self._sr_logits: torch.Tensor | None = None

    def recogniser_features(self, images: torch.Tensor, layers: Sequence[str]) -> list[torch.Tensor]:
        """The recogniser's feature maps of ``images`` (float NCHW in [0, 1]) at ``layers``, in order."""
        if self._recogniser is None:
            raise RuntimeError("no recogniser in this training")  # the trainer builds one for identity terms
        return self._recogniser(images, layers)

    @property
    def sr_logits(self) -> torch.Tensor:
        """float32 discriminator logits of the generator's output."""
        if self._discriminator is None:
            raise RuntimeError("no discriminator in this training stage")  # load_config prevents it
        if self._sr_logits is None:
            self._sr_logits = self._discriminator(self._sr_raw).float()
        return self._sr_logits


@dataclass(frozen=True)
class NoOptions:
    """A term without options: its YAML entry is only ``type`` and ``weight``."""


class LossTerm(nn.Module):
    """One loss term; see the module docstring for the interface."""

    name: ClassVar[str] = ""            # set by @register
    Options: ClassVar[type] = NoOptions
    uses_discriminator: ClassVar[bool] = False
    uses_recogniser: ClassVar[bool] = False

    def __init__(self, options: Any, param: str) -> None:
        super().__init__()

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        raise NotImplementedError


#: Every loss term by its YAML ``type``.
LOSS_TERMS: dict[str, type[LossTerm]] = {}


def register(name: str) -> Callable[[type[LossTerm]], type[LossTerm]]:
    """Class decorator: make a :class:`LossTerm` available as ``type: <name>``."""
    return registrar(LOSS_TERMS, name, "name", "loss term")


# ----------------------------------------------------------------------------------------------
# Parsing and combining
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LossSpec:
    """One checked entry of a loss list."""

    type: str
    weight: float
    options: Any     # an instance of the term's Options dataclass
    param: str       # its parameter path, for messages
    metric: str      # the name its value is reported under


def parse_loss_specs(entries: Sequence[Any], param: str, discriminator: bool,
                     allow_empty: bool = False) -> list[LossSpec]:
    """Check a YAML loss list (``param`` names it) and return its entries; one ConfigError line
    for an unknown type or option, a missing weight, a discriminator term where there is none.
    ``allow_empty``: a list of extra terms (``srgan.identity.*``), which may be empty."""
    if not isinstance(entries, (list, tuple)):
        raise ConfigError(f"{param} must be a list of loss terms, got {entries!r}")
    if not entries and not allow_empty:
        raise ConfigError(f"{param} must list at least one loss term, e.g. [{{type: mse, weight: 1.0}}]")
    checked = []
    for position, entry in enumerate(entries):
        name = f"{param}[{position}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{name} must be a mapping like {{type: mse, weight: 1.0}}, got {entry!r}")
        for key in ENTRY_KEYS:
            if key not in entry:
                raise ConfigError(f"missing parameter {name}.{key}")
        kind = entry["type"]
        if kind not in LOSS_TERMS:
            raise ConfigError(f"{name}.type must be one of {' | '.join(sorted(LOSS_TERMS))}, got {kind!r}")
        weight = entry["weight"]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ConfigError(f"{name}.weight must be a number, got {weight!r}")
        cls = LOSS_TERMS[kind]
        if cls.uses_discriminator and not discriminator:
            raise ConfigError(f"{name}: a {kind} term needs the discriminator, which this stage does not train")
        options = {k: v for k, v in entry.items() if k not in ENTRY_KEYS}
        if cls.Options is NoOptions and options:
            raise ConfigError(f"unknown parameter {name}.{sorted(options)[0]}; a {kind} term takes only "
                              "type and weight")
        checked.append((kind, float(weight), from_params(cls.Options, options, name), name))
    kinds = [kind for kind, *_ in checked]
    return [LossSpec(kind, weight, options, name,
                     metric=f"loss_{kind}" if kinds.count(kind) == 1 else f"loss_{kind}_{position}")
            for position, (kind, weight, options, name) in enumerate(checked)]


class WeightedLoss(nn.Module):
    """``sum(weight * term(sr, hr, ctx))`` over a checked loss list, in list order."""

    def __init__(self, entries: Sequence[Any], param: str, discriminator: bool) -> None:
        super().__init__()
        self.specs = parse_loss_specs(entries, param, discriminator)
        self.terms = nn.ModuleList(LOSS_TERMS[s.type](s.options, s.param) for s in self.specs)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor,
                ctx: LossContext) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(the weighted total, each term's unweighted value by metric name, detached)."""
        total: torch.Tensor | None = None
        values = {}
        for spec, term in zip(self.specs, self.terms):
            value = term(sr, hr, ctx)
            values[spec.metric] = value.detach()
            weighted = spec.weight * value
            total = weighted if total is None else total + weighted
        assert total is not None  # parse_loss_specs refuses an empty list
        return total, values


# ----------------------------------------------------------------------------------------------
# Terms
# ----------------------------------------------------------------------------------------------
@register("mse")
class MSETerm(LossTerm):
    """Mean squared pixel error, in float32."""

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        return F.mse_loss(sr.float(), hr.float())


@register("l1")
class L1Term(LossTerm):
    """Mean absolute pixel error, in float32."""

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        return F.l1_loss(sr.float(), hr.float())


@register("gan")
class AdversarialTerm(LossTerm):
    """The non-saturating generator loss on the discriminator's logits of ``sr``: -log D(G(x))."""

    uses_discriminator = True

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        return adversarial_g_loss(ctx.sr_logits)


@register("vgg54")
class VGG54Term(LossTerm):
    """The paper's perceptual loss: MSE of VGG19 relu5_4 feature maps (a local weights file)."""

    @dataclass(frozen=True)
    class Options:
        weights: str   # a torch.save-d torchvision vgg19 state_dict (features.* used)

    def __init__(self, options: VGG54Term.Options, param: str) -> None:
        super().__init__(options, param)
        self.loss = VGGContentLoss(options.weights, layer="relu5_4", param=f"{param}.weights")

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        return self.loss(sr, hr)


@register("identity")
class IdentityTerm(LossTerm):
    """The task-driven (identity) loss: the distance between a recogniser's features of ``sr`` and of
    the target (the HR truth, or the frame itself under self pairs), averaged over ``layers``
    (SR4IR's task-driven perceptual loss; Kim et al., CVPR 2024).

    The recogniser comes from the trainer (``srgan.recogniser``): frozen during the generator's
    step, so the gradient reaches the generator only. The target's features take no gradient.
    ``layers`` are the recogniser's module names (``body``, ``body.7``, ``stem``) or ``embedding``
    (the pooled features the last linear layer reads) or ``logits``; ``distance``: ``l1`` (SR4IR),
    ``mse``, or ``cosine`` (1 - cosine similarity of each frame's flattened features)."""

    uses_recogniser = True

    @dataclass(frozen=True)
    class Options:
        layers: list[str]
        distance: Literal["l1", "mse", "cosine"]

    def __init__(self, options: IdentityTerm.Options, param: str) -> None:
        super().__init__(options, param)
        if not options.layers:
            raise ConfigError(f"{param}.layers must name at least one recogniser layer, e.g. [body, embedding]")
        self.layers = list(options.layers)
        self.distance = options.distance

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        sr_features = ctx.recogniser_features(sr, self.layers)
        with torch.no_grad():
            hr_features = ctx.recogniser_features(hr, self.layers)
        distances = [feature_distance(a.float(), b.float(), self.distance) for a, b in zip(sr_features, hr_features)]
        return torch.stack(distances).mean()


def feature_distance(a: torch.Tensor, b: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean distance between two batches of feature maps (N, ...): l1, mse, or 1 - cosine per frame."""
    if kind == "l1":
        return F.l1_loss(a, b)
    if kind == "mse":
        return F.mse_loss(a, b)
    return (1 - F.cosine_similarity(a.flatten(1), b.flatten(1), dim=1, eps=1e-8)).mean()


# ----------------------------------------------------------------------------------------------
# Adversarial losses on logits (the discriminator has no sigmoid)
# ----------------------------------------------------------------------------------------------
def adversarial_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log D(G(x)), i.e. BCE of fake logits against 'real'."""
    fake_logits = fake_logits.float()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def adversarial_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss: BCE(real, 1) + BCE(fake, 0), each averaged over the batch.

    The sum, not the mean, of the two terms (as in Goodfellow et al.); with both logits at 0
    it is 2 log 2.
    """
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


# ----------------------------------------------------------------------------------------------
# VGG feature loss
# ----------------------------------------------------------------------------------------------
def _vgg19_features_on_meta() -> nn.Sequential:
    # Built on the meta device: no 140M-parameter random init (2 s on CPU) just to be overwritten.
    # torchvision is imported here, not at the top: only the vgg54 term needs it (it costs ~1 s).
    with torch.device("meta"):
        import torchvision

        return torchvision.models.vgg19(weights=None).features


def _vgg19_layer_index(layer: str) -> int:
    """Index in ``vgg19().features`` of a layer named like ``relu5_4`` or ``conv2_2``."""
    block, position = 1, 0
    for index, module in enumerate(_vgg19_features_on_meta()):
        if isinstance(module, nn.Conv2d):
            position += 1
            name = f"conv{block}_{position}"
        elif isinstance(module, nn.ReLU):
            name = f"relu{block}_{position}"
        else:  # MaxPool2d ends a block
            name = f"pool{block}"
            block, position = block + 1, 0
        if name == layer:
            return index
    raise ConfigError(f"VGG layer must be named like relu5_4 or relu2_2, got {layer!r}")


def _layer_number(key: str) -> int:
    head = key.split(".")[0]
    return int(head) if head.isdigit() else -1 << 30  # unknown keys: let strict loading flag them


class VGGContentLoss(nn.Module):
    """MSE between frozen VGG19 feature maps of ``sr`` and ``hr`` (the paper's VGG54 loss).

    ``weights_path`` is a ``torch.save``-d state_dict of ``torchvision.models.vgg19``; only the
    ``features.*`` entries up to ``layer`` are used, so a features-only file works too. Inputs
    are images in [0, 1]; they are normalised with ImageNet mean/std inside. Feature maps are
    multiplied by ``feature_scale`` (1/12.75, as in the paper) before the MSE, so the loss is on
    the scale of a pixel MSE. ``param`` names the weights file's parameter in error messages.
    """

    def __init__(self, weights_path: str | Path, layer: str, param: str,
                 feature_scale: float = SRGAN_FEATURE_SCALE) -> None:
        super().__init__()
        path = Path(weights_path)
        if not path.is_file():
            raise ConfigError(f"{param}: no VGG19 weights file at {str(path)!r}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unreadable file is a config error
            raise ConfigError(f"{param}: cannot load {str(path)!r} as a state_dict: {error}") from error
        if not isinstance(state, dict):
            raise ConfigError(f"{param}: {str(path)!r} does not hold a state_dict")

        last = _vgg19_layer_index(layer)
        features = _vgg19_features_on_meta()[: last + 1]
        prefix = "features."
        wanted = {key[len(prefix):]: value for key, value in state.items()
                  if key.startswith(prefix) and _layer_number(key[len(prefix):]) <= last}
        try:
            # assign=True replaces the meta tensors with the loaded ones.
            features.load_state_dict(wanted, strict=True, assign=True)
        except RuntimeError as error:
            raise ConfigError(f"{param}: {str(path)!r} is not a torchvision vgg19 state_dict: {error}") from error
        for module in features:
            if isinstance(module, nn.ReLU):
                module.inplace = False  # keep autograd simple; the memory saved is small
        features.requires_grad_(False)
        self.features = features.float().eval()
        self.layer = layer
        self.feature_scale = feature_scale
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> VGGContentLoss:
        super().train(mode)
        self.features.eval()  # frozen: never in training mode
        return self

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        # float32 in: the frozen weights are float32 (autocast, if active, still applies).
        x = (x.float() - self.mean) / self.std
        return self.features(x) * self.feature_scale

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self._features(hr)
        return F.mse_loss(self._features(sr).float(), target.float())
