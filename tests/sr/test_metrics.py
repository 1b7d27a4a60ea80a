"""Y-channel PSNR / SSIM: closed forms, the border crop, and agreement with torchmetrics."""

from __future__ import annotations

import math

import pytest
import torch

from faceless.sr.metrics import MAX_PSNR, psnr_y, rgb_to_y, ssim_y

#: How much Y moves when R, G and B all move by d: (65.481 + 128.553 + 24.966) / 255 = 219/255.
GREY_TO_Y = 219.0 / 255.0


def test_rgb_to_y_of_white_and_black_is_studio_range():
    white = torch.ones(1, 3, 2, 2)
    black = torch.zeros(1, 3, 2, 2)
    assert rgb_to_y(white).shape == (1, 1, 2, 2)
    assert torch.allclose(rgb_to_y(white), torch.full((1, 1, 2, 2), 235 / 255))
    assert torch.allclose(rgb_to_y(black), torch.full((1, 1, 2, 2), 16 / 255))


def test_rgb_to_y_is_float32_for_half_inputs_and_rejects_non_rgb():
    assert rgb_to_y(torch.rand(1, 3, 4, 4, dtype=torch.bfloat16)).dtype == torch.float32
    with pytest.raises(ValueError, match="RGB"):
        rgb_to_y(torch.rand(1, 1, 4, 4))


def test_psnr_of_identical_images_is_the_finite_maximum():
    x = torch.rand(3, 3, 16, 16)
    psnr = psnr_y(x, x.clone(), border=4)
    assert psnr.shape == (3,)
    assert torch.allclose(psnr, torch.full((3,), MAX_PSNR))
    assert MAX_PSNR == pytest.approx(100.0)


@pytest.mark.parametrize("d", [0.01, 0.05, 0.2])
def test_psnr_of_a_constant_grey_offset_matches_the_closed_form(d):
    hr = torch.rand(2, 3, 16, 16) * 0.5
    sr = hr + d
    expected = 10 * math.log10(1.0 / (d * GREY_TO_Y) ** 2)
    assert torch.allclose(psnr_y(sr, hr, border=4), torch.full((2,), expected), atol=1e-3)


def test_psnr_is_per_image():
    hr = torch.rand(2, 3, 16, 16) * 0.5
    sr = hr.clone()
    sr[1] += 0.1
    psnr = psnr_y(sr, hr, border=4)
    assert psnr[0] == pytest.approx(MAX_PSNR)
    assert psnr[1] == pytest.approx(10 * math.log10(1 / (0.1 * GREY_TO_Y) ** 2), abs=1e-3)


def test_border_crop_excludes_errors_in_the_border():
    hr = torch.rand(1, 3, 24, 24)
    sr = hr.clone()
    border = 4
    sr[..., :border, :] = 0.0
    sr[..., -border:, :] = 1.0
    sr[..., :, :border] = 0.5
    sr[..., :, -border:] = 0.0
    assert psnr_y(sr, hr, border=border).item() == pytest.approx(MAX_PSNR)
    assert ssim_y(sr, hr, border=border).item() == pytest.approx(1.0, abs=1e-5)
    assert psnr_y(sr, hr, border=border - 1).item() < 40  # one pixel less and the errors count


def test_float32_whatever_the_input_dtype():
    x = torch.rand(1, 3, 24, 24)
    assert psnr_y(x.bfloat16(), x.bfloat16(), border=4).dtype == torch.float32
    assert ssim_y(x.half(), x.half(), border=4).dtype == torch.float32


def test_ssim_of_identical_images_is_one_and_of_a_negative_is_low():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(ssim_y(x, x.clone(), border=4), torch.ones(2), atol=1e-5)
    assert (ssim_y(1.0 - x, x, border=4) < 0.1).all()


def test_ssim_matches_torchmetrics_map_over_the_valid_window_positions():
    # torchmetrics 1.9 reflect-pads and averages the whole map; Wang et al.'s reference code
    # (and BasicSR's) average only where the 11x11 window fits, which is what ssim_y does.
    structural_similarity = pytest.importorskip(
        "torchmetrics.functional.image"
    ).structural_similarity_index_measure
    torch.manual_seed(1)
    hr = torch.rand(3, 3, 30, 26)
    sr = (hr + 0.1 * torch.randn_like(hr)).clamp(0, 1)
    ours = ssim_y(sr, hr, border=4)
    _, ssim_map = structural_similarity(
        rgb_to_y(sr)[..., 4:-4, 4:-4],
        rgb_to_y(hr)[..., 4:-4, 4:-4],
        data_range=1.0,
        reduction="none",
        return_full_image=True,
    )
    theirs = ssim_map[..., 5:-5, 5:-5].flatten(1).mean(dim=1)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_too_small_or_mismatched_inputs_raise():
    with pytest.raises(ValueError, match="border"):
        psnr_y(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), border=4)
    with pytest.raises(ValueError, match="ssim_y needs"):
        ssim_y(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), border=4)
    with pytest.raises(ValueError, match="differ"):
        psnr_y(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17), border=4)
