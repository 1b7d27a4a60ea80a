"""The variants: their order and arrays, why one is skipped, and the clean64 frames."""
from __future__ import annotations

import numpy as np
import pytest

from faceless.recognition import variants
from faceless.recognition.variants import (VARIANT_ARRAYS, VARIANTS, clean_lowres, no_frames,
                                           variant_skip_reason)

from ..conftest import base_params

EMPTY = np.zeros((0, 0, 0, 3), dtype=np.uint8)


def area_reference(hr: np.ndarray, factor: int) -> np.ndarray:
    """An independent 4x area downscale: the exact mean of each factor x factor block (float64),
    rounded half to even."""
    n, h, w, c = hr.shape
    blocks = hr.astype(np.float64).reshape(n, h // factor, factor, w // factor, factor, c)
    return np.round(blocks.mean(axis=(2, 4))).astype(np.uint8)


# the variants ---------------------------------------------------------------------------------
def test_variants_in_table_order_with_their_arrays():
    assert VARIANTS == ("lr", "bicubic", "srgan", "srgan_self", "srgan_id", "srgan_pretrained", "clean64", "hr")
    assert VARIANT_ARRAYS == {"lr": "lr", "bicubic": "bicubic", "srgan": "sr", "srgan_self": "sr_self",
                              "srgan_id": "sr_id", "srgan_pretrained": "sr_pretrained", "clean64": "clean64", "hr": "hr"}


def test_conf_base_trains_the_four_inputs_and_conf_controls_every_variant():
    """The CPU budget's default: lr, bicubic, srgan and hr; `--env controls` (and `--env seed`) list
    every variant, in table order, with srgan_self's generator switched on."""
    import yaml

    from ..conftest import PROJECT_ROOT

    assert base_params("classifier")["variants"] == ["lr", "bicubic", "srgan", "hr"]
    assert base_params("srgan")["self_variant"] is False
    controls = yaml.safe_load((PROJECT_ROOT / "conf" / "controls" / "parameters.yml").read_text())
    assert controls["classifier"]["variants"] == list(VARIANTS) and controls["srgan"]["self_variant"] is True
    seed = yaml.safe_load((PROJECT_ROOT / "conf" / "seed" / "parameters.yml").read_text())
    assert seed["classifier"]["variants"] == list(VARIANTS)


def test_a_variant_with_frames_and_asked_for_is_trained():
    assert variant_skip_reason("clean64", list(VARIANTS), np.zeros((2, 4, 4, 3), np.uint8)) is None


def test_a_variant_not_asked_for_is_skipped_whatever_its_data():
    assert variant_skip_reason("srgan_self", ["lr"], np.zeros((2, 4, 4, 3), np.uint8)) == "not in classifier.variants"


@pytest.mark.parametrize(("variant", "says"), [
    ("hr", "needs a source with high-resolution truth"),
    ("clean64", "truth downscaled: it needs a source with truth"),
    ("srgan_self", "on a source without truth srgan already is the self-trained generator"),
    ("srgan_pretrained", "no pretrained generator was imported: srgan.pretrained_weights is null"),
])
def test_a_variant_without_frames_says_why(variant, says):
    reason = variant_skip_reason(variant, list(VARIANTS), EMPTY)
    assert reason.startswith("no data for this variant (") and says in reason
    assert variant_skip_reason(variant, list(VARIANTS), None) == reason


def test_srgan_self_without_frames_points_at_its_report():
    reason = variant_skip_reason("srgan_self", list(VARIANTS), np.zeros((0, 32, 32, 3), np.uint8))
    assert "its generator was not trained, sr_report_self says why" in reason


def test_no_frames_is_empty_and_shaped_like_the_upscaled_input():
    out = no_frames(np.zeros((5, 8, 6, 3), np.uint8), 4)
    assert out.shape == (0, 32, 24, 3) and out.dtype == np.uint8


# clean64 --------------------------------------------------------------------------------------
def test_clean_lowres_of_a_hand_computed_frame():
    # One 8x8 frame, 4x: each output pixel the mean of a 4x4 block.
    hr = np.zeros((1, 8, 8, 3), np.uint8)
    hr[0, :4, :4] = 10                       # mean 10
    hr[0, :4, 4:] = [[0, 255, 0]] * 4        # every green 255: mean (0, 255, 0)
    hr[0, 4:, :4, 0] = [[0, 0, 0, 200]] * 4  # red: 4 of 16 pixels 200 -> 50
    hr[0, 4:, 4:, 2] = np.arange(16).reshape(4, 4) * 2  # blue: mean of 0, 2, .., 30 = 15
    out = clean_lowres(hr, 4)
    assert out.shape == (1, 2, 2, 3) and out.dtype == np.uint8
    assert out[0, 0, 0].tolist() == [10, 10, 10]
    assert out[0, 0, 1].tolist() == [0, 255, 0]
    assert out[0, 1, 0].tolist() == [50, 0, 0]
    assert out[0, 1, 1].tolist() == [0, 0, 15]


def test_clean_lowres_rounds_a_half_to_even():
    hr = np.zeros((1, 4, 4, 3), np.uint8)
    hr[0, 0, 0] = [8, 24, 40]  # block means 0.5, 1.5, 2.5
    assert clean_lowres(hr, 4)[0, 0, 0].tolist() == [0, 2, 2]


def test_clean_lowres_equals_an_independent_area_downscale(monkeypatch):
    hr = np.random.default_rng(0).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    monkeypatch.setattr(variants, "DOWNSCALE_CHUNK", 3)  # several chunks, the last one short
    out = clean_lowres(hr, 4)
    assert out.shape == (7, 8, 8, 3)
    np.testing.assert_array_equal(out, area_reference(hr, 4))


def test_clean_lowres_reads_a_memory_map_without_changing_it(tmp_path):
    hr = np.random.default_rng(1).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    np.save(tmp_path / "hr.npy", hr)
    mapped = np.load(tmp_path / "hr.npy", mmap_mode="r")
    np.testing.assert_array_equal(clean_lowres(mapped, 4), area_reference(hr, 4))
    np.testing.assert_array_equal(mapped, hr)


def test_clean_lowres_of_no_truth_is_empty():
    out = clean_lowres(EMPTY, 4)
    assert out.shape == (0, 0, 0, 3) and out.dtype == np.uint8
