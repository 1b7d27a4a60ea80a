"""PSNR and SSIM on the luma (Y) channel with a border crop, as SR papers report them; and
:func:`evaluate_sr`, their means for an upscaler on a set of pairs.

Conventions (the usual ones from the SRCNN / SRGAN / BasicSR evaluation code):

- Y is ITU-R BT.601 luma as MATLAB's ``rgb2ycbcr`` computes it, in [16/255, 235/255].
- ``border`` pixels are cropped from every edge first (the scale factor, 4, by convention),
  because the upscaler has no context there.
- Small images (:func:`measure_geometry`, one rule for every place PSNR/SSIM are measured): the
  border shrinks first, as far as 0, so that the 11 px SSIM window fits; below 11 px the window
  shrinks to the largest odd side the image allows (its Gaussian's sigma scaled alike, 1.5 x
  window / 11); under 3 px SSIM is not computable (NaN, with the reason). PSNR needs one pixel.
- Images are compared as floats in [0, 1]; no quantisation to 8 bits. Callers clamp.
- Everything is computed in float32, whatever the input dtype (bf16 PSNRs are meaningless).
- Values are per image, shape (N,); average them yourself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from faceless.inference import upscale_batches

#: BT.601 luma coefficients for RGB in [0, 1], scaled to 8-bit, as in MATLAB's rgb2ycbcr.
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0

#: PSNR of identical images: the MSE is clamped here, so the PSNR is finite (100 dB).
MIN_MSE = 1e-10
MAX_PSNR = 10.0 * float(torch.log10(torch.tensor(1.0 / MIN_MSE)))

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
#: The smallest SSIM window (odd): below it a "local" statistic is one pixel, not a structure.
MIN_SSIM_WINDOW = 3
_SSIM_C1 = 0.01**2  # (K1 * data_range)^2 with data_range 1
_SSIM_C2 = 0.03**2


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 1, H, W) float32 luma in [16/255, 235/255]."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"rgb_to_y expects (N, 3, H, W) RGB, got shape {tuple(x.shape)}")
    x = x.float()
    weights = torch.tensor(_Y_WEIGHTS, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return ((x * weights).sum(dim=1, keepdim=True) + _Y_OFFSET) / 255.0


@dataclass(frozen=True)
class Geometry:
    """How PSNR/SSIM measure images of one size: the border cropped, the SSIM window (None: SSIM
    not computable) and its sigma, and a note saying what differs from the asked border and the
    11 px window (None when nothing does)."""

    border: int
    ssim_window: int | None
    ssim_sigma: float | None
    note: str | None

    def as_dict(self) -> dict[str, object]:
        return {"border": self.border, "ssim_window": self.ssim_window, "ssim_sigma": self.ssim_sigma,
                "note": self.note}


def measure_geometry(h: int, w: int, border: int) -> Geometry:
    """The border and SSIM window used on ``h`` x ``w`` images when ``border`` is asked (module
    docstring): the border shrinks first so the 11 px window fits, then the window shrinks (odd,
    at least 3 px, else SSIM is not computable)."""
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    side = min(h, w)
    used = min(border, max(0, (side - SSIM_WINDOW) // 2))
    left = side - 2 * used
    window = min(SSIM_WINDOW, left if left % 2 else left - 1)
    if window < MIN_SSIM_WINDOW:
        return Geometry(used, None, None, f"SSIM not computable on {h}x{w} px images (needs {MIN_SSIM_WINDOW} px); "
                                          f"PSNR with a {used} px border")
    sigma = SSIM_SIGMA * window / SSIM_WINDOW
    note = None
    if used != border or window != SSIM_WINDOW:
        note = (f"{h}x{w} px images: border {used} px (asked {border}), SSIM window {window} px "
                f"(sigma {sigma:.2f}; standard {SSIM_WINDOW} px, {SSIM_SIGMA})")
    return Geometry(used, window, sigma, note)


def _y_cropped(
    sr: torch.Tensor, hr: torch.Tensor, border: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Y of both after the border :func:`measure_geometry` gives for ``border`` at their size."""
    if sr.shape != hr.shape:
        raise ValueError(f"sr and hr shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    border = measure_geometry(*sr.shape[-2:], border).border
    sr_y, hr_y = rgb_to_y(sr), rgb_to_y(hr)
    if border:
        sr_y = sr_y[..., border:-border, border:-border]
        hr_y = hr_y[..., border:-border, border:-border]
    return sr_y, hr_y


def psnr_y(sr: torch.Tensor, hr: torch.Tensor, *, border: int) -> torch.Tensor:
    """Per-image PSNR in dB on Y after a ``border`` crop (shrunk on small images:
    :func:`measure_geometry`), data range 1; shape (N,).

    The MSE is clamped at ``MIN_MSE`` so identical images give ``MAX_PSNR`` (100 dB), not inf:
    means over a test set stay finite.
    """
    sr_y, hr_y = _y_cropped(sr, hr, border)
    mse = (sr_y - hr_y).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(1.0 / mse.clamp_min(MIN_MSE))


def _gaussian_window(size: int, sigma: float, device: torch.device) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).view(1, 1, size, size)


def ssim_y(sr: torch.Tensor, hr: torch.Tensor, *, border: int) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004) on Y after a ``border`` crop; shape (N,).

    11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1, 'valid' filtering
    (no padding), mean of the SSIM map. On small images the border, then the window shrink
    (:func:`measure_geometry`); under 3 px it is not computable: NaN.
    """
    geometry = measure_geometry(*sr.shape[-2:], border)
    sr_y, hr_y = _y_cropped(sr, hr, border)
    if geometry.ssim_window is None:
        return torch.full((sr.shape[0],), float("nan"))
    window = _gaussian_window(geometry.ssim_window, geometry.ssim_sigma, sr_y.device)
    # One conv over the five stacked maps computes every local statistic at once.
    stacked = torch.cat([sr_y, hr_y, sr_y * sr_y, hr_y * hr_y, sr_y * hr_y], dim=0)
    mu_x, mu_y, xx, yy, xy = F.conv2d(stacked, window).chunk(5, dim=0)
    var_x = (xx - mu_x * mu_x).clamp_min(0.0)  # rounding can make flat patches slightly < 0
    var_y = (yy - mu_y * mu_y).clamp_min(0.0)
    cov = xy - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + _SSIM_C1) * (2 * cov + _SSIM_C2)) / (
        (mu_x * mu_x + mu_y * mu_y + _SSIM_C1) * (var_x + var_y + _SSIM_C2)
    )
    return ssim_map.flatten(1).mean(dim=1)


def evaluate_sr(generator: torch.nn.Module | None, lr_u8: torch.Tensor, hr_u8: torch.Tensor, scale: int,
                device: torch.device, dtype: torch.dtype | None, border: int, batch: int) -> dict[str, float]:
    """Mean PSNR and SSIM (Y channel, ``border`` px cropped) of an upscaler (``None``: bicubic) on
    uint8 NCHW pairs, upscaled ``batch`` frames at a time."""
    psnrs, ssims = [], []
    for start, sr in upscale_batches(generator, lr_u8, scale, device, dtype, batch):
        hr = hr_u8[start:start + len(sr)].float() / 255
        psnrs.append(psnr_y(sr, hr, border=border))
        ssims.append(ssim_y(sr, hr, border=border))
    return {"psnr": float(torch.cat(psnrs).mean()), "ssim": float(torch.cat(ssims).mean())}
