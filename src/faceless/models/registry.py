"""The registries of networks by kind, filled by decorator, and a backbone's typed options.

A network is one class in one file, registered where it is defined::

    @register("backbone", "my_cnn")
    class MyCNN(nn.Module):
        @dataclass(frozen=True)
        class Options:          # backbones: its fields are the YAML keys besides ``arch``
            width: int
            def check(self, param: str) -> None: ...       # optional: ranges, ConfigError naming param.<key>

        def __init__(self, num_classes: int, *, input_size: int, width: int) -> None: ...
        def config(self) -> dict[str, Any]: ...            # {"arch", constructor arguments}: saved with the weights
        @classmethod
        def from_config(cls, config: dict[str, Any]) -> MyCNN: ...

``@register`` sets the class's ``arch`` (the name saved files carry) and adds it to its kind's dict:
:data:`GENERATORS`, :data:`DISCRIMINATORS`, :data:`BACKBONES` or :data:`AGGREGATORS` (sequence
pooling heads over a backbone's frame embeddings). Nothing else names a network:
``faceless.models.build_model`` finds it by ``arch``, a config names it by ``arch`` (checked
against these dicts), and a backbone's options in conf pass through to its constructor
(:class:`BackboneConfig`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError, choice
from faceless.utils.registry import registrar

T = TypeVar("T", bound=type[nn.Module])

GENERATORS: dict[str, type[nn.Module]] = {}
DISCRIMINATORS: dict[str, type[nn.Module]] = {}
BACKBONES: dict[str, type[nn.Module]] = {}
AGGREGATORS: dict[str, type[nn.Module]] = {}
REGISTRIES: dict[str, dict[str, type[nn.Module]]] = {"generator": GENERATORS, "discriminator": DISCRIMINATORS,
                                                      "backbone": BACKBONES, "aggregator": AGGREGATORS}
#: The arch of a file saved before configs carried ``arch``: the project's first network of each kind.
LEGACY_ARCH = {"generator": "srresnet", "discriminator": "srgan_vgg", "backbone": "small_cnn",
               "aggregator": "nan_attention"}


def register(kind: str, name: str) -> Callable[[T], T]:
    """Class decorator: make a network available as ``arch: <name>`` of ``kind``."""
    return registrar(REGISTRIES[kind], name, "arch", f"{kind} arch")


def arch_of(kind: str, config: Mapping[str, Any]) -> str:
    """The ``arch`` a saved config names (:data:`LEGACY_ARCH` for files saved before configs carried one)."""
    return str(config.get("arch", LEGACY_ARCH[kind]))


@dataclass(frozen=True)
class BackboneConfig:
    """A backbone from conf: ``arch`` (a name in :data:`BACKBONES`) and the other keys, its ``Options``
    (all required; an unknown one is one ConfigError line naming it). Its fields read as attributes
    (``config.width``); :meth:`params` is the conf mapping back."""

    arch: str
    options: dict[str, Any]

    @classmethod
    def from_params(cls, params: Any, name: str) -> BackboneConfig:
        if not isinstance(params, Mapping):
            raise ConfigError(f"{name} must be a mapping of parameters, got {type(params).__name__}")
        if "arch" not in params:
            raise ConfigError(f"missing parameter {name}.arch (conf/base/parameters_*.yml holds every default)")
        arch = choice(params["arch"], f"{name}.arch", BACKBONES)
        options = from_params(BACKBONES[arch].Options, {k: v for k, v in params.items() if k != "arch"}, name)
        if hasattr(options, "check"):
            options.check(name)  # its ranges, named by where they came from
        return cls(arch, dataclasses.asdict(options))

    def __getattr__(self, key: str) -> Any:
        options = self.__dict__.get("options", {})
        if key in options:
            return options[key]
        raise AttributeError(key)

    def params(self) -> dict[str, Any]:
        return {"arch": self.arch, **self.options}

    def model_config(self, num_classes: int, input_size: int) -> dict[str, Any]:
        """What ``build_model("backbone", ...)`` takes for ``num_classes`` people and ``input_size`` px frames."""
        return {"arch": self.arch, "num_classes": num_classes, "input_size": input_size, **self.options}
