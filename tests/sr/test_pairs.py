"""SR pairs (truth or self-supervised) and random aligned training crops."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from faceless.sr.pairs import make_pairs, random_batch
from faceless.utils.errors import ConfigError

from .helpers import EMPTY_HR, HR_SIZE, LR_SIZE, SCALE


# ----------------------------------------------------------------------------------------------
# make_pairs
# ----------------------------------------------------------------------------------------------
def test_make_pairs_auto_with_truth_uses_the_truth(data):
    lr, hr, kind = make_pairs(data["lr_train"], data["hr_train"], "auto", SCALE, "train")
    assert kind == "truth"
    assert lr.dtype == hr.dtype == torch.uint8
    assert lr.shape == (12, 3, LR_SIZE, LR_SIZE)
    assert hr.shape == (12, 3, HR_SIZE, HR_SIZE)
    assert torch.equal(lr, torch.from_numpy(data["lr_train"]).permute(0, 3, 1, 2))
    assert torch.equal(hr, torch.from_numpy(data["hr_train"]).permute(0, 3, 1, 2))


@pytest.mark.parametrize("hr", [EMPTY_HR, None])
def test_make_pairs_auto_without_truth_downscales_the_frames(data, hr):
    frames = data["hr_train"]  # 32x32 frames, no truth beyond them
    lr, hr_t, kind = make_pairs(frames, hr, "auto", SCALE, "train")
    assert kind == "self"
    assert hr_t.shape == (12, 3, HR_SIZE, HR_SIZE)
    assert torch.equal(hr_t, torch.from_numpy(frames).permute(0, 3, 1, 2))
    assert lr.shape == (12, 3, HR_SIZE // 4, HR_SIZE // 4)
    assert lr.dtype == torch.uint8
    # the LR side is the antialiased bicubic downscale of the frames
    expected = F.interpolate(hr_t.float() / 255, scale_factor=1 / SCALE, mode="bicubic", antialias=True,
                             align_corners=False)
    assert torch.equal(lr, (expected.clamp(0, 1) * 255).round().to(torch.uint8))


def test_make_pairs_self_ignores_existing_truth(data):
    lr, hr, kind = make_pairs(data["hr_train"], data["hr_train"], "self", SCALE, "train")
    assert kind == "self"
    assert lr.shape[-2:] == (LR_SIZE, LR_SIZE) and hr.shape[-2:] == (HR_SIZE, HR_SIZE)


def test_make_pairs_truth_without_hr_names_srgan_pairs(data):
    with pytest.raises(ConfigError, match=r"srgan\.pairs"):
        make_pairs(data["lr_train"], EMPTY_HR, "truth", SCALE, "train")


def test_make_pairs_with_a_scale_that_does_not_fit_names_srgan_scale(data):
    with pytest.raises(ConfigError, match=r"srgan\.scale"):
        make_pairs(data["lr_train"], data["hr_train"], "auto", 2, "train")


@pytest.mark.parametrize("bad", ["both", "", "Truth", None])
def test_make_pairs_rejects_an_unknown_value(data, bad):
    with pytest.raises(ConfigError, match=r"srgan\.pairs"):
        make_pairs(data["lr_train"], data["hr_train"], bad, SCALE, "train")


def test_make_pairs_self_with_frames_too_small_is_a_config_error():
    tiny = np.zeros((2, 2, 2, 3), dtype=np.uint8)
    with pytest.raises(ConfigError, match=r"srgan\.pairs=self"):
        make_pairs(tiny, EMPTY_HR, "self", SCALE, "train")


# ----------------------------------------------------------------------------------------------
# random_batch
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def nearest_pairs():
    """Random LR (so any misplaced crop shows) and HR = LR nearest-upsampled 4x (exact alignment)."""
    lr = torch.randint(0, 256, (5, 3, 12, 10), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    hr = lr.repeat_interleave(SCALE, dim=-2).repeat_interleave(SCALE, dim=-1)
    return lr, hr


def test_random_batch_shapes_range_and_alignment(nearest_pairs):
    lr, hr = nearest_pairs
    lr_b, hr_b = random_batch(lr, hr, batch=16, crop=6, scale=SCALE, gen=torch.Generator().manual_seed(0))
    assert lr_b.shape == (16, 3, 6, 6)
    assert hr_b.shape == (16, 3, 24, 24)
    assert lr_b.dtype == hr_b.dtype == torch.float32
    for t in (lr_b, hr_b):
        assert t.min() >= 0 and t.max() <= 1
    assert torch.equal(hr_b, F.interpolate(lr_b, scale_factor=SCALE, mode="nearest"))
    # every LR crop is a (possibly flipped) window of some frame
    frames = lr.float() / 255
    for crop in lr_b:
        found = False
        for frame in frames:
            windows = frame.unfold(1, 6, 1).unfold(2, 6, 1)  # (3, nh, nw, 6, 6)
            for cand in (crop, crop.flip(-1)):
                eq = (windows == cand[:, None, None]).all(dim=-1).all(dim=-1).all(dim=0)
                found = found or bool(eq.any())
        assert found


def test_random_batch_clamps_the_crop_to_the_frame(nearest_pairs):
    lr, hr = nearest_pairs
    lr_b, hr_b = random_batch(lr, hr, batch=2, crop=50, scale=SCALE, gen=torch.Generator().manual_seed(0))
    assert lr_b.shape == (2, 3, 10, 10) and hr_b.shape == (2, 3, 40, 40)


def test_random_batch_is_deterministic_for_a_generator_seed(nearest_pairs):
    lr, hr = nearest_pairs

    def draw(seed):
        return random_batch(lr, hr, batch=8, crop=4, scale=SCALE, gen=torch.Generator().manual_seed(seed))

    a, b, c = draw(11), draw(11), draw(12)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_random_batch_flips_some_crops():
    """Half the crops are mirrored: over many draws both orientations of a frame's crop appear."""
    lr = torch.arange(8, dtype=torch.uint8).repeat(1, 3, 8, 1) * 30  # one frame, a left-to-right ramp
    hr = lr.repeat_interleave(SCALE, dim=-2).repeat_interleave(SCALE, dim=-1)
    lr_b, _ = random_batch(lr, hr, batch=32, crop=8, scale=SCALE, gen=torch.Generator().manual_seed(0))
    increasing = (lr_b[:, 0, 0, 1] > lr_b[:, 0, 0, 0])
    assert 0 < int(increasing.sum()) < 32
