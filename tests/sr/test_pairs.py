"""SR pairs (truth or self-supervised) and random aligned training crops."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from faceless.sr.identity import centre_crops
from faceless.sr.pairs import downscale, make_pairs, mod_crop, random_batch, training_crop
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


@pytest.mark.parametrize(("h", "w", "kept"), [(25, 25, (24, 24)), (13, 30, (12, 28)), (8, 8, (8, 8)),
                                              (97, 31, (96, 28))])
def test_self_pairs_mod_crop_the_frames_to_a_multiple_of_the_scale(h, w, kept):
    frames = np.random.default_rng(0).integers(0, 256, (3, h, w, 3), dtype=np.uint8)
    lr, hr, kind = make_pairs(frames, None, "self", SCALE, "train")
    assert kind == "self" and hr.shape[-2:] == kept and lr.shape[-2:] == (kept[0] // SCALE, kept[1] // SCALE)
    # the top-left rows and columns are kept (BasicSR's mod_crop), and the LR side is their downscale
    top_left = torch.from_numpy(frames).permute(0, 3, 1, 2)[..., :kept[0], :kept[1]]
    assert torch.equal(hr, top_left)
    assert torch.equal(lr, downscale(top_left, SCALE))


def test_mod_crop_keeps_a_multiple_of_the_scale_untouched():
    frames = torch.arange(2 * 3 * 8 * 12, dtype=torch.float32).view(2, 3, 8, 12)
    assert torch.equal(mod_crop(frames, 4), frames)
    assert mod_crop(frames, 3).shape[-2:] == (6, 12)


def test_the_training_crop_shrinks_to_small_lr_frames():
    assert training_crop(24, torch.zeros(1, 3, 2, 2)) == 2
    assert training_crop(24, torch.zeros(1, 3, 6, 31)) == 6
    assert training_crop(24, torch.zeros(1, 3, 64, 64)) == 24
    lr = torch.randint(0, 256, (4, 3, 2, 2), dtype=torch.uint8)
    hr = lr.repeat_interleave(SCALE, dim=-2).repeat_interleave(SCALE, dim=-1)
    lr_b, hr_b = random_batch(lr, hr, 6, 24, SCALE, torch.Generator().manual_seed(0))
    assert lr_b.shape == (6, 3, 2, 2) and hr_b.shape == (6, 3, 8, 8)
    lr_c, hr_c = centre_crops(lr, hr, 24, SCALE)  # the recogniser's validation crops
    assert lr_c.shape == (4, 3, 2, 2) and hr_c.shape == (4, 3, 8, 8)


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


def test_downscale_in_chunks_equals_one_frame_at_a_time(data, monkeypatch):
    """The self-pairs downscale runs DOWNSCALE_CHUNK frames at a time (one constant, faceless.inference's):
    any chunking gives each frame's own downscale, the last chunk short included."""
    from faceless import inference
    from faceless.sr import pairs

    assert pairs.DOWNSCALE_CHUNK is inference.DOWNSCALE_CHUNK
    hr = torch.from_numpy(data["hr_train"]).permute(0, 3, 1, 2).contiguous()  # 12 frames
    monkeypatch.setattr(pairs, "DOWNSCALE_CHUNK", 5)
    chunked = downscale(hr, SCALE)
    alone = torch.cat([downscale(hr[i:i + 1], SCALE) for i in range(len(hr))])
    assert chunked.shape == (12, 3, HR_SIZE // SCALE, HR_SIZE // SCALE) and torch.equal(chunked, alone)
    assert downscale(hr[:0], SCALE).shape[0] == 0
