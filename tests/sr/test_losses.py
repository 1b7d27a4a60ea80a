"""SR loss terms, their registry and weighted lists; the VGG loss with a local (random-init) weights file."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torchvision
import yaml
from torch import nn

from faceless.utils.errors import ConfigError
from faceless.sr.losses import (
    LOSS_TERMS,
    LossContext,
    LossTerm,
    VGG54Term,
    VGGContentLoss,
    WeightedLoss,
    _vgg19_layer_index,
    adversarial_d_loss,
    adversarial_g_loss,
    parse_loss_specs,
    register,
)

PARAM = "srgan.gan_losses"


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


def no_context() -> LossContext:
    return LossContext(torch.zeros(1), torch.zeros(1), None)


def test_pixel_losses_equal_hand_values():
    sr = torch.zeros(1, 1, 2, 2)
    hr = torch.tensor([[[[0.0, 1.0], [2.0, 1.0]]]])
    mse, l1 = WeightedLoss([{"type": "mse", "weight": 1.0}, {"type": "l1", "weight": 1.0}], PARAM, True).terms
    assert mse(sr, hr, no_context()).item() == pytest.approx(6 / 4)
    assert l1(sr, hr, no_context()).item() == pytest.approx(4 / 4)


def vgg_term(path, param: str = PARAM) -> VGG54Term:
    (term,) = WeightedLoss([{"type": "vgg54", "weight": 1.0, "weights": str(path)}], param, True).terms
    return term


def test_vgg_loss_with_missing_file_raises_config_error_naming_the_parameter(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(ConfigError, match=r"srgan\.gan_losses\[0\]\.weights") as info:
        vgg_term(missing)
    assert str(missing) in str(info.value)
    assert "\n" not in str(info.value)


def test_vgg_loss_with_a_file_that_is_not_vgg19_raises_config_error(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, bad)
    with pytest.raises(ConfigError, match=r"srgan\.gan_losses\[0\]\.weights"):
        vgg_term(bad)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match=r"srgan\.gan_losses\[0\]\.weights"):
        vgg_term(garbage)


def test_vgg_loss_is_zero_for_identical_inputs_and_positive_otherwise(vgg19_weights):
    loss = VGGContentLoss(str(vgg19_weights), layer="relu5_4", param="x.weights")
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
    loss = VGGContentLoss(vgg19_weights, layer="relu5_4", param="x.weights").train()
    assert not loss.features.training


def test_vgg54_term_is_the_relu5_4_feature_loss(vgg19_weights):
    term = vgg_term(vgg19_weights).train()
    assert term.loss.layer == "relu5_4" and not term.loss.features.training
    torch.manual_seed(0)
    sr, hr = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    reference = VGGContentLoss(vgg19_weights, layer="relu5_4", param="x.weights")
    assert torch.equal(term(sr, hr, no_context()), reference(sr, hr))


# ----------------------------------------------------------------------------------------------
# Loss lists from YAML: registry, weights, errors
# ----------------------------------------------------------------------------------------------
def test_the_built_in_terms_are_registered():
    assert {"mse", "l1", "gan", "vgg54"} <= set(LOSS_TERMS)
    assert LOSS_TERMS["gan"].uses_discriminator and not LOSS_TERMS["mse"].uses_discriminator


def test_default_gan_list_is_exactly_content_plus_weighted_adversarial():
    """[mse 1.0, gan 1e-3] computes bit for bit what the seed did: mse + 1e-3 * adversarial."""
    torch.manual_seed(0)
    sr, hr, logits = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8), torch.randn(4, 1)
    loss = WeightedLoss([{"type": "mse", "weight": 1.0}, {"type": "gan", "weight": 1.0e-3}], PARAM, True)
    total, values = loss(sr, hr, LossContext(sr, sr, lambda _x: logits))
    expected = torch.nn.functional.mse_loss(sr, hr) + 1.0e-3 * adversarial_g_loss(logits)
    assert torch.equal(total, expected)
    assert set(values) == {"loss_mse", "loss_gan"}
    assert torch.equal(values["loss_gan"], adversarial_g_loss(logits))


def test_discriminator_logits_are_computed_once_for_all_terms():
    calls = []

    def discriminator(x):
        calls.append(x)
        return torch.zeros(len(x), 1)

    loss = WeightedLoss([{"type": "gan", "weight": 1.0}, {"type": "gan", "weight": 2.0}], PARAM, True)
    sr = torch.rand(2, 3, 4, 4)
    total, values = loss(sr, sr, LossContext(sr, sr, discriminator))
    assert len(calls) == 1
    assert total.item() == pytest.approx(3 * math.log(2))
    assert set(values) == {"loss_gan_0", "loss_gan_1"}  # a repeated type is told apart by position


@pytest.fixture
def custom_term():
    """A term registered by the test, as a new loss (an identity term, say) would be; removed after."""

    @register("mean_brightness")
    class MeanBrightness(LossTerm):
        @dataclass(frozen=True)
        class Options:
            target: float

        def __init__(self, options, param):
            super().__init__(options, param)
            self.target = options.target

        def forward(self, sr, hr, ctx):
            return (sr.float().mean() - self.target).abs()

    yield MeanBrightness
    del LOSS_TERMS["mean_brightness"]


def test_a_registered_custom_term_is_picked_up_from_yaml_and_contributes_weight_times_value(custom_term):
    entries = yaml.safe_load("""
    - {type: mse, weight: 1.0}
    - {type: mean_brightness, weight: 0.5, target: 0.25}
    """)
    loss = WeightedLoss(entries, PARAM, discriminator=False)
    assert isinstance(loss.terms[1], custom_term)
    sr, hr = torch.full((1, 3, 2, 2), 0.75), torch.full((1, 3, 2, 2), 0.5)
    total, values = loss(sr, hr, no_context())
    assert values["loss_mean_brightness"].item() == pytest.approx(0.5)
    assert values["loss_mse"].item() == pytest.approx(0.0625)
    assert total.item() == pytest.approx(0.0625 + 0.5 * 0.5)


@pytest.mark.parametrize(("entries", "message"), [
    ([{"type": "perceptual", "weight": 1.0}], r"srgan\.gan_losses\[0\]\.type must be one of .*'perceptual'"),
    ([{"type": "mse", "weight": 1.0}, {"type": "mse", "weight": 1.0, "reduction": "sum"}],
     r"unknown parameter srgan\.gan_losses\[1\]\.reduction"),
    ([{"type": "vgg54", "weight": 1.0, "weights": "x.pth", "layer": "relu2_2"}],
     r"unknown parameter srgan\.gan_losses\[0\]\.layer"),
    ([{"type": "vgg54", "weight": 1.0}], r"missing parameter srgan\.gan_losses\[0\]\.weights"),
    ([{"type": "mse"}], r"missing parameter srgan\.gan_losses\[0\]\.weight"),
    ([{"type": "mse", "weight": "high"}], r"srgan\.gan_losses\[0\]\.weight must be a number"),
    (["mse"], r"srgan\.gan_losses\[0\] must be a mapping"),
    ([], r"srgan\.gan_losses must list at least one"),
])
def test_a_bad_loss_list_is_one_config_error_line_naming_the_parameter(entries, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_loss_specs(entries, PARAM, discriminator=True)
    assert "\n" not in str(info.value)


def test_the_adversarial_term_is_refused_where_no_discriminator_is_trained():
    with pytest.raises(ConfigError, match=r"srgan\.pretrain_losses\[1\]: a gan term needs the discriminator"):
        parse_loss_specs([{"type": "mse", "weight": 1.0}, {"type": "gan", "weight": 1e-3}],
                         "srgan.pretrain_losses", discriminator=False)


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
