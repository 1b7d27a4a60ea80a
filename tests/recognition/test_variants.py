"""The variants: their order and arrays, why one is skipped, and the clean64 frames."""
from __future__ import annotations

import numpy as np
import pytest

from faceless.recognition import variants
from faceless.recognition.variants import clean_lowres, no_frames

from ..conftest import base_params

EMPTY = np.zeros((0, 0, 0, 3), dtype=np.uint8)


def area_reference(hr: np.ndarray, factor: int) -> np.ndarray:
    """An independent 4x area downscale: the exact mean of each factor x factor block (float64),
    rounded half to even."""
    n, h, w, c = hr.shape
    blocks = hr.astype(np.float64).reshape(n, h // factor, factor, w // factor, factor, c)
    return np.round(blocks.mean(axis=(2, 4))).astype(np.uint8)


# the variants ---------------------------------------------------------------------------------
def test_conf_base_runs_the_four_inputs_and_the_envs_switch_entries_on():
    """The CPU budget's default: lr, bicubic, srgan and hr, in table order; `--env controls` switches
    srgan_self and clean64 on, `--env seed` srgan_id too; each env only switches entries."""
    import yaml

    from faceless.variants import enabled_specs, variant_specs

    from ..conftest import PROJECT_ROOT

    declared = base_params("variants")
    assert list(enabled_specs(declared)) == ["lr", "bicubic", "srgan", "hr"]
    assert list(variant_specs(declared))[:3] == ["lr", "bicubic", "srgan"] and list(variant_specs(declared))[-1] == "hr"
    for env, switched in (("controls", {"srgan_self", "clean64"}), ("seed", {"srgan_self", "srgan_id", "clean64"})):
        changes = yaml.safe_load((PROJECT_ROOT / "conf" / env / "parameters.yml").read_text())["variants"]
        assert changes == {name: {"enabled": True} for name in switched}


def test_the_conf_documents_the_practical_sr_question():
    """srgan_other (SR learnt on other people) is declared, with its pairs source, and compared with lr."""
    from faceless.variants import variant_specs

    other = variant_specs(base_params("variants"))["srgan_other"]
    assert other.pairs == "other" and other.trains_generator
    assert ["srgan_other", "lr"] in base_params("evaluation")["comparisons"]


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
