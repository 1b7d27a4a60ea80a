"""Networks register by decorator; a backbone takes its own options from conf, every key checked."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn

from faceless.models import BACKBONES, DISCRIMINATORS, GENERATORS, BackboneConfig, build_model, register
from faceless.models.classifier import FrameClassifier
from faceless.models.discriminator import SRGANDiscriminator
from faceless.models.generator import SRResNet
from faceless.models.krasserm_srresnet import KrassermSRResNet
from faceless.models.msrresnet import MSRResNet
from faceless.models.registry import LEGACY_ARCH, REGISTRIES
from faceless.utils.errors import ConfigError

CLASSIFIER_MODEL = {"arch": "small_cnn", "width": 4, "depth": 2, "dropout": 0.0, "base_size": 16}


def test_every_network_is_in_its_kind_by_the_name_its_decorator_gives():
    assert GENERATORS == {"srresnet": SRResNet, "krasserm_srresnet": KrassermSRResNet, "msrresnet": MSRResNet}
    assert DISCRIMINATORS == {"srgan_vgg": SRGANDiscriminator}
    assert BACKBONES == {"small_cnn": FrameClassifier}
    assert all(cls.arch == name for registry in REGISTRIES.values() for name, cls in registry.items())
    assert all(arch in REGISTRIES[kind] for kind, arch in LEGACY_ARCH.items())


def test_a_name_registered_twice_is_refused():
    with pytest.raises(ValueError, match="small_cnn"):
        register("backbone", "small_cnn")(type("Other", (nn.Module,), {}))


@pytest.fixture
def tiny_backbone():
    """A backbone added as a new file would add it: one decorated class, its Options its conf keys."""

    @register("backbone", "tiny_linear")
    class TinyLinear(nn.Module):
        @dataclass(frozen=True)
        class Options:
            hidden: int

        def __init__(self, num_classes: int, *, input_size: int, hidden: int) -> None:
            super().__init__()
            self._config = {"num_classes": num_classes, "input_size": input_size, "hidden": hidden}
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * input_size * input_size, hidden),
                                     nn.Linear(hidden, num_classes))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def config(self) -> dict[str, Any]:
            return {"arch": self.arch, **self._config}

        @classmethod
        def from_config(cls, config: dict[str, Any]) -> TinyLinear:
            return cls(**{k: v for k, v in config.items() if k != "arch"})

    yield TinyLinear
    del BACKBONES["tiny_linear"]


def test_a_registered_backbone_is_built_from_its_own_conf_keys(tiny_backbone):
    config = BackboneConfig.from_params({"arch": "tiny_linear", "hidden": 7}, "classifier.model")
    assert config.params() == {"arch": "tiny_linear", "hidden": 7} and config.hidden == 7
    model = build_model("backbone", config.model_config(num_classes=3, input_size=4))
    assert type(model) is tiny_backbone and model.net[1].out_features == 7
    assert model(torch.rand(2, 3, 4, 4)).shape == (2, 3)
    with pytest.raises(ConfigError, match=r"^unknown parameter classifier\.model\.width;"):
        BackboneConfig.from_params({"arch": "tiny_linear", "hidden": 7, "width": 4}, "classifier.model")


def test_small_cnn_options_pass_through_to_its_constructor():
    config = BackboneConfig.from_params(CLASSIFIER_MODEL, "srgan.recogniser.model")
    model = build_model("backbone", config.model_config(num_classes=3, input_size=64))
    assert model.config() == {**CLASSIFIER_MODEL, "num_classes": 3, "input_size": 64, "in_channels": 3}
    assert model.stem[0].stride == (4, 4)  # 64 px brought to base_size 16


@pytest.mark.parametrize("params, message", [
    ({**CLASSIFIER_MODEL, "widht": 4}, r"^unknown parameter classifier\.model\.widht;"),
    ({k: v for k, v in CLASSIFIER_MODEL.items() if k != "base_size"}, r"missing parameter classifier\.model\.base_size"),
    ({**CLASSIFIER_MODEL, "depth": 0}, r"^classifier\.model\.depth must be >= 1, got 0$"),
    ({**CLASSIFIER_MODEL, "arch": "resnet9"}, r"^classifier\.model\.arch must be one of small_cnn, got 'resnet9'$"),
    ({k: v for k, v in CLASSIFIER_MODEL.items() if k != "arch"}, r"missing parameter classifier\.model\.arch"),
])
def test_a_wrong_backbone_key_is_one_line_naming_it(params, message):
    with pytest.raises(ConfigError, match=message):
        BackboneConfig.from_params(params, "classifier.model")
