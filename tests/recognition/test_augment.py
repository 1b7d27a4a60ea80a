"""augment: per-sample, deterministic per generator, ranges from ``classifier.augment``; and the
JPEG control (jpeg_reencode, ``classifier.jpeg_augment``), in the trainer's step."""
from __future__ import annotations

import copy
import dataclasses
import io

import numpy as np
import pytest
import torch
from PIL import Image

from faceless.recognition import trainer as trainer_module
from faceless.recognition.augment import augment, jpeg_reencode
from faceless.recognition.config import AugmentConfig, ClassifierConfig, JpegAugmentConfig
from faceless.recognition.trainer import ClassifierTrainer
from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError

from ..conftest import base_params
from .toy import tiny_params, toy_sides

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


# ----------------------------------------------------------------------------------------------
# The JPEG control
# ----------------------------------------------------------------------------------------------
def frames_u8(n: int = 6, seed: int = 0, size: int = SIZE) -> torch.Tensor:
    """uint8 NCHW frames with smooth structure and noise (what JPEG visibly changes)."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.interpolate(torch.rand(n, 3, 4, 4, generator=gen), size=(size, size),
                                           mode="bilinear", align_corners=False)
    noisy = base + 0.1 * torch.rand(n, 3, size, size, generator=gen)
    return (noisy.clamp(0, 1) * 255).round().to(torch.uint8)


def pil_jpeg(frame_chw: torch.Tensor, quality: int) -> torch.Tensor:
    """An independent JPEG round trip of one uint8 CHW frame through PIL at ``quality``."""
    buffer = io.BytesIO()
    Image.fromarray(frame_chw.permute(1, 2, 0).numpy()).save(buffer, format="JPEG", quality=quality)
    return torch.from_numpy(np.array(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))).permute(2, 0, 1)


def jpeg(probability: float, low: int = 30, high: int = 90) -> JpegAugmentConfig:
    return JpegAugmentConfig(probability=probability, quality=[low, high])


def test_conf_base_jpeg_control_is_off():
    cfg = from_params(ClassifierConfig, base_params("classifier"), "classifier")
    assert cfg.jpeg_augment == jpeg(0.0, 30, 90)


def test_probability_zero_returns_the_frames_untouched_and_draws_nothing():
    x = frames_u8()
    before = x.clone()
    gen = torch.Generator().manual_seed(3)
    state = gen.get_state()
    out = jpeg_reencode(x, gen, jpeg(0.0))
    assert out is x and torch.equal(x, before)
    assert torch.equal(gen.get_state(), state)  # the step's other draws are as they were


def test_probability_one_reencodes_every_frame_at_a_drawn_quality():
    x = frames_u8()
    before = x.clone()
    out = jpeg_reencode(x, torch.Generator().manual_seed(3), jpeg(1.0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert torch.equal(x, before)  # the input is not changed in place
    assert all(not torch.equal(o, i) for o, i in zip(out, x))
    # The draws: one choice, then one quality, per frame, from the generator in that order.
    gen = torch.Generator().manual_seed(3)
    torch.rand(len(x), generator=gen)
    qualities = torch.randint(30, 91, (len(x),), generator=gen).tolist()
    assert len(set(qualities)) > 1
    for o, i, q in zip(out, x, qualities):
        assert torch.equal(o, pil_jpeg(i, q))


def test_a_fixed_quality_is_a_plain_jpeg_round_trip():
    x = frames_u8(3)
    out = jpeg_reencode(x, torch.Generator().manual_seed(0), jpeg(1.0, 20, 20))
    for o, i in zip(out, x):
        assert torch.equal(o, pil_jpeg(i, 20))


def test_jpeg_control_is_deterministic_for_a_generator_seed():
    x = frames_u8(8)
    a = jpeg_reencode(x, torch.Generator().manual_seed(5), jpeg(0.5, 10, 95))
    b = jpeg_reencode(x, torch.Generator().manual_seed(5), jpeg(0.5, 10, 95))
    c = jpeg_reencode(x, torch.Generator().manual_seed(6), jpeg(0.5, 10, 95))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_a_probability_between_chooses_frames_by_the_generator():
    x = frames_u8(8)
    out = jpeg_reencode(x, torch.Generator().manual_seed(5), jpeg(0.5))
    chosen = (torch.rand(8, generator=torch.Generator().manual_seed(5)) < 0.5).tolist()
    assert 0 < sum(chosen) < 8
    assert [not torch.equal(o, i) for o, i in zip(out, x)] == chosen


@pytest.mark.parametrize(("key", "value", "name"), [
    ("jpeg_augment__probability", 1.5, r"classifier\.jpeg_augment\.probability"),
    ("jpeg_augment__probability", -0.1, r"classifier\.jpeg_augment\.probability"),
    ("jpeg_augment__quality", [90, 30], r"classifier\.jpeg_augment\.quality"),
    ("jpeg_augment__quality", [0, 30], r"classifier\.jpeg_augment\.quality"),
    ("jpeg_augment__quality", [30], r"classifier\.jpeg_augment\.quality"),
    ("jpeg_augment__quality", [30, "high"], r"classifier\.jpeg_augment\.quality"),
])
def test_bad_jpeg_settings_are_one_line_naming_the_parameter(key, value, name):
    with pytest.raises(ConfigError, match=name) as error:
        from_params(ClassifierConfig, base_params("classifier", **{key: value}), "classifier")
    assert "\n" not in str(error.value)


def test_the_trainer_reencodes_its_uint8_batch_before_the_float_augmentation(monkeypatch):
    """What reaches ``augment`` in a training step: the batch as it is at probability 0, and each
    of those very frames JPEG round-tripped at probability 1 (same batch: the control draws from
    a stream of its own)."""
    seen = []

    def recording_augment(x, gen, ranges, strength, *batch_part):
        seen.append(x.clone())
        return x

    monkeypatch.setattr(trainer_module, "augment", recording_augment)
    toy = toy_sides()
    for probability in (0.0, 1.0):
        params = tiny_params(None, jpeg_augment={"probability": probability, "quality": [15, 15]})
        cfg = from_params(ClassifierConfig, copy.deepcopy(params), "classifier")
        trainer = ClassifierTrainer(cfg, "lr", toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                                    seed=cfg.seeds[0])
        trainer.step(0)
    plain, reencoded = ((x * 255).round().to(torch.uint8) for x in seen)
    train_frames = {bytes(frame.numpy()) for frame in torch.from_numpy(toy["train_x"]).permute(0, 3, 1, 2)}
    assert all(bytes(frame.numpy()) in train_frames for frame in plain)  # probability 0: the frames as they are
    for p, r in zip(plain, reencoded):
        assert torch.equal(r, pil_jpeg(p, 15))


def test_the_fused_colour_step_equals_contrast_then_saturation_then_gain_step_by_step():
    from faceless.recognition.augment import _colour

    gen = torch.Generator().manual_seed(3)
    x = torch.rand(5, 3, 12, 9, generator=gen)
    contrast, saturation = (torch.rand(5, 1, 1, 1, generator=gen) + 0.5 for _ in range(2))
    gain = torch.rand(5, 3, 1, 1, generator=gen) + 0.5
    mean = x.mean((1, 2, 3), keepdim=True)
    staged = (x - mean) * contrast + mean
    grey = staged.mean(1, keepdim=True)
    staged = ((staged - grey) * saturation + grey) * gain
    assert torch.allclose(_colour(x, contrast, saturation, gain), staged.clamp(0, 1), atol=1e-6)
    assert (staged > 1).any() or (staged < 0).any()  # the clamp was exercised


@pytest.mark.parametrize("height, width", [(256, 256), (64, 64), (7, 5), (1, 1)])
def test_the_broadcast_sampling_grid_equals_affine_grid(height, width):
    """The warp's grid is built by broadcasting (scale and shift only); it is affine_grid's to a float
    rounding, flips (negative x scale) included."""
    import torch.nn.functional as F

    from faceless.recognition.augment import _scale_shift_grid

    gen = torch.Generator().manual_seed(height * 31 + width)
    n = 6
    sx = (torch.rand(n, generator=gen) + 0.5) * torch.tensor([1.0, -1.0] * 3)
    sy = torch.rand(n, generator=gen) + 0.5
    tx, ty = (torch.rand(n, generator=gen) - 0.5 for _ in range(2))
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, 0, 2], theta[:, 1, 2] = sx, sy, tx, ty
    expected = F.affine_grid(theta, [n, 3, height, width], align_corners=False)
    got = _scale_shift_grid(sx, sy, tx, ty, height, width)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-6, rtol=0)
