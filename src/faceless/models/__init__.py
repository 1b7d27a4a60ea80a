"""Networks, one ``nn.Module`` per file, found by the ``arch`` name their saved config carries.

A new backbone or generator is a new file plus one line in a registry below; saved files name
their ``arch``, so whatever loads them (inference, predict, fine-tuning) rebuilds the right module.
Files saved before configs carried ``arch`` are read as the first architecture of their kind.
Generators pretrained elsewhere (a krasserm Keras ``.h5``, a BasicSR ``.pth``) are read into the same
``{"config", "state_dict"}`` form by :mod:`faceless.models.pretrained`.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from faceless.models.classifier import FrameClassifier
from faceless.models.discriminator import SRGANDiscriminator
from faceless.models.generator import SRResNet
from faceless.models.krasserm_srresnet import KrassermSRResNet
from faceless.models.msrresnet import MSRResNet
from faceless.utils.errors import ConfigError

# The first is this project's; the others read generators trained elsewhere (faceless.models.pretrained).
GENERATORS: dict[str, type[nn.Module]] = {SRResNet.arch: SRResNet, KrassermSRResNet.arch: KrassermSRResNet,
                                          MSRResNet.arch: MSRResNet}
DISCRIMINATORS: dict[str, type[nn.Module]] = {SRGANDiscriminator.arch: SRGANDiscriminator}
BACKBONES: dict[str, type[nn.Module]] = {FrameClassifier.arch: FrameClassifier}

_REGISTRIES = {"generator": GENERATORS, "discriminator": DISCRIMINATORS, "backbone": BACKBONES}


def build_model(kind: str, config: dict[str, Any]) -> nn.Module:
    """A fresh module of ``kind`` from a config dict holding ``arch`` and its constructor arguments."""
    registry = _REGISTRIES[kind]
    arch = config.get("arch", next(iter(registry)))
    if arch not in registry:
        raise ConfigError(f"unknown {kind} arch {arch!r}; known: {', '.join(registry)}")
    return registry[arch].from_config(config)


def load_model(kind: str, saved: dict[str, Any]) -> nn.Module:
    """The module a saved file (``{"config": ..., "state_dict": ...}``) describes, in eval mode on the CPU."""
    model = build_model(kind, saved["config"])
    model.load_state_dict(saved["state_dict"])
    return model.eval()
