"""Networks, one ``nn.Module`` per file, registered by decorator and found by the ``arch`` name
their saved config carries.

A new backbone, generator or discriminator is a new file whose class carries
``@register(kind, name)`` (:mod:`faceless.models.registry`), plus its import below (importing it
is what registers it); saved files name their ``arch``, so whatever loads them (inference, predict,
fine-tuning) rebuilds the right module. Files saved before configs carried ``arch`` are read as
``registry.LEGACY_ARCH``'s. Generators pretrained elsewhere (a krasserm Keras ``.h5``, a BasicSR
``.pth``) are read into the same ``{"config", "state_dict"}`` form by :mod:`faceless.models.pretrained`.
"""
from __future__ import annotations

from typing import Any

from torch import nn

# Importing a network's module registers it: srresnet is this project's generator, the other two
# read generators trained elsewhere (faceless.models.pretrained); aggregation holds the sequence pooling heads.
from faceless.models import (aggregation, classifier, discriminator, generator, krasserm_srresnet,  # noqa: F401
                             msrresnet)
from faceless.models.registry import (AGGREGATORS, BACKBONES, DISCRIMINATORS, GENERATORS, REGISTRIES, BackboneConfig,
                                      arch_of, register)
from faceless.utils.errors import ConfigError

__all__ = ["AGGREGATORS", "BACKBONES", "DISCRIMINATORS", "GENERATORS", "BackboneConfig", "arch_of", "build_model", "load_model",
           "register"]


def build_model(kind: str, config: dict[str, Any]) -> nn.Module:
    """A fresh module of ``kind`` from a config dict holding ``arch`` and its constructor arguments."""
    registry = REGISTRIES[kind]
    arch = arch_of(kind, config)
    if arch not in registry:
        raise ConfigError(f"unknown {kind} arch {arch!r}; known: {', '.join(registry)}")
    return registry[arch].from_config(config)


def load_model(kind: str, saved: dict[str, Any]) -> nn.Module:
    """The module a saved file (``{"config": ..., "state_dict": ...}``) describes, in eval mode on the CPU."""
    model = build_model(kind, saved["config"])
    model.load_state_dict(saved["state_dict"])
    return model.eval()
