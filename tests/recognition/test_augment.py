"""augment: per-sample, deterministic per generator, ranges from ``classifier.augment``."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from faceless.recognition.augment import augment
from faceless.recognition.config import AugmentConfig, ClassifierConfig
from faceless.utils.config import from_params

from ..conftest import base_params

SIZE = 16
RANGES = from_params(ClassifierConfig, base_params("classifier"), "classifier").augment
NONE = AugmentConfig(flip=0.0, scale=0.0, translate=0.0, gain=0.0, tint=0.0, contrast=0.0, saturation=0.0)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def image(n: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def test_conf_base_ranges_are_todays_recipe():
    assert dataclasses.asdict(RANGES) == {"flip": 0.5, "scale": 0.15, "translate": 0.1, "gain": 0.3, "tint": 0.1,
                                          "contrast": 0.2, "saturation": 0.3}


def test_augment_keeps_shape_and_range():
    x = image(6)
    out = augment(x, torch.Generator().manual_seed(1), RANGES, 1.0)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, x)
    # extremes stay in range too
    for const in (0.0, 1.0):
        y = augment(torch.full((4, 3, 8, 8), const), torch.Generator().manual_seed(2), RANGES, 1.0)
        assert y.min() >= 0 and y.max() <= 1


def test_augment_is_deterministic_for_a_generator_seed():
    x = image(4)
    a = augment(x, torch.Generator().manual_seed(5), RANGES, 0.5)
    b = augment(x, torch.Generator().manual_seed(5), RANGES, 0.5)
    c = augment(x, torch.Generator().manual_seed(6), RANGES, 0.5)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_augment_differs_per_sample():
    out = augment(image().repeat(2, 1, 1, 1), torch.Generator().manual_seed(3), RANGES, 1.0)
    assert not torch.allclose(out[0], out[1], atol=1e-3)


def test_zero_ranges_leave_the_image_as_it_is():
    x = image(3)
    out = augment(x, torch.Generator().manual_seed(4), NONE, 1.0)
    assert torch.allclose(out, x, atol=1e-5)


def test_zero_strength_leaves_only_the_flips():
    x = image(8)
    out = augment(x, torch.Generator().manual_seed(4), RANGES, 0.0)
    flipped = [torch.allclose(o, i.flip(-1), atol=1e-5) for o, i in zip(out, x)]
    kept = [torch.allclose(o, i, atol=1e-5) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert any(flipped) and any(kept)


def test_flip_probability_one_mirrors_every_image():
    x = image(3)
    out = augment(x, torch.Generator().manual_seed(4), dataclasses.replace(NONE, flip=1.0), 1.0)
    assert torch.allclose(out, x.flip(-1), atol=1e-5)


def test_a_colour_range_changes_colour_only():
    """Gain alone scales each image's pixels by one factor within 1 +- gain."""
    x = image(4) * 0.5  # headroom: no clamping
    out = augment(x, torch.Generator().manual_seed(4), dataclasses.replace(NONE, gain=0.3), 1.0)
    gain = (out.sum((1, 2, 3)) / x.sum((1, 2, 3))).view(-1, 1, 1, 1)
    assert torch.allclose(out, x * gain, atol=1e-5)
    assert ((gain >= 0.7) & (gain <= 1.3)).all()
    assert not torch.allclose(gain, torch.ones_like(gain), atol=1e-3)
