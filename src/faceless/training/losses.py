"""Generator and discriminator losses for SRResNet / SRGAN training.

Content losses (what the generator's output must match): pixel MSE or L1, or the paper's
VGG54 loss, MSE between VGG19 relu5_4 feature maps. No pretrained VGG can be downloaded here,
so ``VGGContentLoss`` loads a local torchvision-format state_dict named by the user
(``srgan.vgg19_weights``). Adversarial losses are the standard non-saturating GAN losses on
logits (the discriminator has no sigmoid).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from faceless.config import ConfigError

CONTENT_LOSSES = ("pixel", "l1", "vgg54")

#: ImageNet statistics torchvision's VGG19 was trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: The paper rescales VGG feature maps by 1/12.75 so the VGG loss is on the scale of pixel MSE.
SRGAN_FEATURE_SCALE = 1.0 / 12.75


class PixelLoss(nn.Module):
    """Mean squared (``kind="mse"``) or absolute (``kind="l1"``) pixel error, in float32."""

    def __init__(self, kind: str = "mse") -> None:
        super().__init__()
        if kind not in ("mse", "l1"):
            raise ConfigError(f"PixelLoss kind must be one of mse | l1, got {kind!r}")
        self.kind = kind

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        sr, hr = sr.float(), hr.float()
        return F.mse_loss(sr, hr) if self.kind == "mse" else F.l1_loss(sr, hr)


def _vgg19_layer_index(layer: str) -> int:
    """Index in ``vgg19().features`` of a layer named like ``relu5_4`` or ``conv2_2``."""
    features = _vgg19_features_on_meta()
    block, position = 1, 0
    for index, module in enumerate(features):
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


def _vgg19_features_on_meta() -> nn.Sequential:
    # Built on the meta device: no 140M-parameter random init (2 s on CPU) just to be overwritten.
    with torch.device("meta"):
        import torchvision  # only the vgg54 loss needs it

        return torchvision.models.vgg19(weights=None).features


class VGGContentLoss(nn.Module):
    """MSE between frozen VGG19 feature maps of ``sr`` and ``hr`` (the paper's VGG54 loss).

    ``weights_path`` is a ``torch.save``-d state_dict of ``torchvision.models.vgg19``; only the
    ``features.*`` entries up to ``layer`` are used, so a features-only file works too. Inputs
    are images in [0, 1]; they are normalised with ImageNet mean/std inside. Feature maps are
    multiplied by ``feature_scale`` (default 1/12.75, as in the paper) before the MSE, so the
    loss is on the scale of a pixel MSE; pass 1.0 for the raw feature MSE.
    """

    def __init__(
        self,
        weights_path: str | Path,
        layer: str = "relu5_4",
        feature_scale: float = SRGAN_FEATURE_SCALE,
    ) -> None:
        super().__init__()
        path = Path(weights_path)
        if not path.is_file():
            raise ConfigError(f"srgan.vgg19_weights: no VGG19 weights file at {str(path)!r}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unreadable file is a config error
            raise ConfigError(
                f"srgan.vgg19_weights: cannot load {str(path)!r} as a state_dict: {error}"
            ) from error
        if not isinstance(state, dict):
            raise ConfigError(f"srgan.vgg19_weights: {str(path)!r} does not hold a state_dict")

        last = _vgg19_layer_index(layer)
        features = _vgg19_features_on_meta()[: last + 1]
        prefix = "features."
        wanted = {
            key[len(prefix) :]: value
            for key, value in state.items()
            if key.startswith(prefix) and _layer_number(key[len(prefix) :]) <= last
        }
        try:
            # assign=True replaces the meta tensors with the loaded ones.
            features.load_state_dict(wanted, strict=True, assign=True)
        except RuntimeError as error:
            raise ConfigError(
                f"srgan.vgg19_weights: {str(path)!r} is not a torchvision vgg19 state_dict: {error}"
            ) from error
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


def build_content_loss(name: str, vgg19_weights: str | Path | None) -> nn.Module:
    """The content loss named by ``srgan.content_loss``: pixel (MSE), l1 or vgg54."""
    if name not in CONTENT_LOSSES:
        listed = " | ".join(CONTENT_LOSSES)
        raise ConfigError(f"srgan.content_loss must be one of {listed}, got {name!r}")
    if name == "pixel":
        return PixelLoss("mse")
    if name == "l1":
        return PixelLoss("l1")
    if not vgg19_weights:
        raise ConfigError(
            "srgan.vgg19_weights must name a local torchvision vgg19 state_dict file "
            "when srgan.content_loss is vgg54 (none can be downloaded here)"
        )
    return VGGContentLoss(vgg19_weights, layer="relu5_4")


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
