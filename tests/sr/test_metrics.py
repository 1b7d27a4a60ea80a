"""Y-channel PSNR / SSIM: closed forms, the border crop, and agreement with torchmetrics."""

from __future__ import annotations

import math

import pytest
import torch

from faceless.sr.metrics import MAX_PSNR, evaluate_sr, measure_geometry, psnr_y, rgb_to_y, ssim_y

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


def torchmetrics_ssim(sr: torch.Tensor, hr: torch.Tensor, border: int, window: int) -> torch.Tensor:
    """Per-image SSIM on Y by torchmetrics after a ``border`` crop, averaged only where the ``window``
    fits (torchmetrics 1.9 reflect-pads and averages the whole map; Wang et al.'s reference code,
    BasicSR's and ssim_y average the valid positions), sigma 1.5 x window / 11."""
    structural_similarity = pytest.importorskip(
        "torchmetrics.functional.image"
    ).structural_similarity_index_measure
    sr_y, hr_y = rgb_to_y(sr), rgb_to_y(hr)
    if border:
        sr_y, hr_y = sr_y[..., border:-border, border:-border], hr_y[..., border:-border, border:-border]
    _, ssim_map = structural_similarity(sr_y, hr_y, data_range=1.0, reduction="none", return_full_image=True,
                                        kernel_size=window, sigma=1.5 * window / 11)
    half = window // 2
    return ssim_map[..., half:-half, half:-half].flatten(1).mean(dim=1)


def test_ssim_matches_torchmetrics_map_over_the_valid_window_positions():
    torch.manual_seed(1)
    hr = torch.rand(3, 3, 30, 26)
    sr = (hr + 0.1 * torch.randn_like(hr)).clamp(0, 1)
    assert torch.allclose(ssim_y(sr, hr, border=4), torchmetrics_ssim(sr, hr, border=4, window=11), atol=1e-5)


def test_mismatched_inputs_and_a_negative_border_raise():
    with pytest.raises(ValueError, match="differ"):
        psnr_y(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17), border=4)
    with pytest.raises(ValueError, match="border"):
        psnr_y(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), border=-1)


# ----------------------------------------------------------------------------------------------
# Small images: the border shrinks first, then the SSIM window; under 3 px SSIM is not computable
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("h", "w", "border", "used", "window"), [
    (32, 32, 4, 4, 11),   # the convention: nothing changes
    (19, 19, 4, 4, 11),   # exactly fits
    (16, 16, 4, 2, 11),   # the border gives way first
    (12, 13, 4, 0, 11),
    (8, 8, 4, 0, 7),      # 2x2 -> 8x8 self pairs of 8 px frames: no border, a 7 px window
    (10, 25, 4, 0, 9),    # the shorter side decides; an even side takes the odd window below it
    (4, 4, 4, 0, 3),
    (2, 2, 4, 0, None),   # not computable
    (32, 32, 0, 0, 11),
])
def test_measure_geometry_shrinks_the_border_then_the_window(h, w, border, used, window):
    geometry = measure_geometry(h, w, border)
    assert (geometry.border, geometry.ssim_window) == (used, window)
    if window is None:
        assert geometry.ssim_sigma is None and "not computable" in geometry.note
    else:
        assert geometry.ssim_sigma == pytest.approx(1.5 * window / 11)
        assert (geometry.note is None) == (used == border and window == 11)


def test_psnr_on_an_8px_image_uses_every_pixel():
    # A uniform offset d: MSE = (d * 219/255)^2 over every pixel, whatever the border.
    hr = torch.full((2, 3, 8, 8), 0.5)
    sr = hr + 0.1
    expected = -10 * math.log10((0.1 * GREY_TO_Y) ** 2)
    assert torch.allclose(psnr_y(sr, hr, border=4), torch.full((2,), expected), atol=1e-3)
    # the border shrank to 0: an error on the outermost ring counts
    ring = hr.clone()
    ring[..., 0, :] = 1.0
    assert (psnr_y(ring, hr, border=4) < 40).all()


def test_ssim_on_an_8px_image_matches_torchmetrics_with_the_shrunk_window():
    torch.manual_seed(2)
    hr = torch.rand(3, 3, 8, 8)
    sr = (hr + 0.1 * torch.randn_like(hr)).clamp(0, 1)
    # No border and a 7 px window on 8 px images (measure_geometry).
    assert torch.allclose(ssim_y(sr, hr, border=4), torchmetrics_ssim(sr, hr, border=0, window=7), atol=1e-5)
    assert torch.allclose(ssim_y(hr, hr.clone(), border=4), torch.ones(3), atol=1e-5)


def test_ssim_under_3px_is_nan_and_psnr_still_a_number():
    x = torch.rand(2, 3, 2, 2)
    assert torch.isnan(ssim_y(x, x.clone(), border=4)).all()
    assert torch.isfinite(psnr_y(x, (x + 0.05).clamp(0, 1), border=4)).all()


def test_evaluate_sr_measures_2px_frames_upscaled_to_8px():
    torch.manual_seed(3)
    hr = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    lr = torch.randint(0, 256, (5, 3, 2, 2), dtype=torch.uint8)
    result = evaluate_sr(None, lr, hr, 4, torch.device("cpu"), None, border=4, batch=2)
    assert math.isfinite(result["psnr"]) and -1 <= result["ssim"] <= 1
