"""Content and adversarial losses; the VGG loss with a local (random-init) weights file."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from faceless.config import ConfigError
from faceless.training.losses import (
    PixelLoss,
    VGGContentLoss,
    _vgg19_layer_index,
    adversarial_d_loss,
    adversarial_g_loss,
    build_content_loss,
)


@pytest.fixture(scope="module")
def vgg19_weights(tmp_path_factory) -> Path:
    """A torchvision-format vgg19 state_dict, random He init, features only.

    The classifier (120M parameters, 500 MB) is left out to keep the test fast; the loss only
    reads ``features.*`` keys. Two extra classifier-like keys check that others are ignored.
    """
    generator = torch.Generator().manual_seed(0)
    with torch.device("meta"):
        reference = torchvision.models.vgg19(weights=None).features.state_dict()
    state = {}
    for key, value in reference.items():
        if key.endswith("weight"):
            fan_in = value.shape[1] * value.shape[2] * value.shape[3]
            tensor = torch.randn(value.shape, generator=generator) * math.sqrt(2.0 / fan_in)
        else:
            tensor = torch.zeros(value.shape)
        state[f"features.{key}"] = tensor
    state["classifier.6.weight"] = torch.zeros(2, 2)
    state["classifier.6.bias"] = torch.zeros(2)
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save(state, path)
    return path


def test_vgg19_layer_names_map_to_torchvision_indices():
    features = torchvision.models.vgg19
    assert _vgg19_layer_index("relu5_4") == 35  # index 36 is the last max-pool
    assert _vgg19_layer_index("relu2_2") == 8
    with torch.device("meta"):
        layers = features(weights=None).features
    assert isinstance(layers[34], nn.Conv2d) and isinstance(layers[35], nn.ReLU)
    assert isinstance(layers[36], nn.MaxPool2d)


def test_pixel_losses_equal_hand_values():
    sr = torch.zeros(1, 1, 2, 2)
    hr = torch.tensor([[[[0.0, 1.0], [2.0, 1.0]]]])
    assert PixelLoss("mse")(sr, hr).item() == pytest.approx(6 / 4)
    assert PixelLoss("l1")(sr, hr).item() == pytest.approx(4 / 4)
    with pytest.raises(ConfigError, match="kind"):
        PixelLoss("huber")


def test_vgg_loss_with_missing_file_raises_config_error_naming_the_parameter(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(ConfigError, match="srgan.vgg19_weights") as info:
        VGGContentLoss(str(missing))
    assert str(missing) in str(info.value)
    assert "\n" not in str(info.value)


def test_vgg_loss_with_a_file_that_is_not_vgg19_raises_config_error(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, bad)
    with pytest.raises(ConfigError, match="srgan.vgg19_weights"):
        VGGContentLoss(bad)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="srgan.vgg19_weights"):
        VGGContentLoss(garbage)


def test_vgg_loss_is_zero_for_identical_inputs_and_positive_otherwise(vgg19_weights):
    loss = VGGContentLoss(str(vgg19_weights))
    assert not any(p.requires_grad for p in loss.parameters())
    torch.manual_seed(0)
    hr = torch.rand(1, 3, 32, 32)
    assert loss(hr.clone(), hr).item() == 0.0
    sr = hr.flip(-1).requires_grad_(True)
    value = loss(sr, hr)
    assert value.item() > 0.0
    value.backward()  # gradients reach the generator's output, not the frozen VGG
    assert sr.grad is not None and sr.grad.abs().sum() > 0


def test_vgg_loss_stays_frozen_in_train_mode(vgg19_weights):
    loss = VGGContentLoss(vgg19_weights).train()
    assert not loss.features.training


def test_build_content_loss_by_name(vgg19_weights):
    assert isinstance(build_content_loss("pixel", None), PixelLoss)
    assert build_content_loss("l1", None).kind == "l1"
    assert isinstance(build_content_loss("vgg54", str(vgg19_weights)), VGGContentLoss)
    with pytest.raises(ConfigError, match="srgan.content_loss"):
        build_content_loss("perceptual", None)
    with pytest.raises(ConfigError, match="srgan.vgg19_weights"):
        build_content_loss("vgg54", None)


def test_adversarial_losses_at_zero_logits_are_log_2():
    zeros = torch.zeros(4, 1)
    assert adversarial_g_loss(zeros).item() == pytest.approx(math.log(2))
    assert adversarial_d_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))


def test_adversarial_losses_match_hand_values():
    real = torch.tensor([[2.0], [-1.0]])
    fake = torch.tensor([[0.5], [-3.0]])

    def softplus(v: float) -> float:
        return math.log1p(math.exp(v))

    # BCE(logit, 1) = softplus(-logit); BCE(logit, 0) = softplus(logit)
    g = (softplus(-0.5) + softplus(3.0)) / 2
    d = (softplus(-2.0) + softplus(1.0)) / 2 + (softplus(0.5) + softplus(-3.0)) / 2
    assert adversarial_g_loss(fake).item() == pytest.approx(g)
    assert adversarial_d_loss(real, fake).item() == pytest.approx(d)
    assert adversarial_g_loss(fake.bfloat16()).dtype == torch.float32
