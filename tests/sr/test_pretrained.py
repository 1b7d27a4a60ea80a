"""Generators pretrained elsewhere in SR: fine-tuning from them (srgan.init_weights, a variant's
``init``) and an import variant's file used as it is (srgan_pretrained: ``variants.<name>.import``)."""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch

from faceless.models import load_model
from faceless.models.pretrained import read_generator_file
from faceless.sr.config import load_config, variant_config
from faceless.sr.pretrained import import_pretrained
from faceless.sr.trainer import SRTrainer
from faceless.training.tracker import MemoryTracker
from faceless.utils.errors import ConfigError
from faceless.variants import variant_specs

from ..conftest import assert_state_equal, base_params
from ..models.pretrained_files import basicsr_state, krasserm_layers, write_basicsr_pth, write_krasserm_h5
from .helpers import EMPTY_HR, tiny_params

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A krasserm .h5 and a BasicSR .pth, both x4, of sizes other than tiny_params' generator (8 ch, 1 block)."""
    folder = tmp_path_factory.mktemp("pretrained")
    return {"h5": write_krasserm_h5(folder / "gan_generator.h5", krasserm_layers(channels=4, blocks=2, seed=0)),
            "pth": write_basicsr_pth(folder / "MSRResNet_x4.pth", basicsr_state(channels=4, blocks=2, scale=4, seed=0))}


def trainer(data, params) -> SRTrainer:
    return SRTrainer.from_arrays(load_config(params), data["lr_train"], data["hr_train"], data["lr_val"],
                                 data["hr_val"])


# ----------------------------------------------------------------------------------------------
# Fine-tuning: srgan.init_weights
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, arch", [("h5", "krasserm_srresnet"), ("pth", "msrresnet")])
def test_fine_tuning_starts_from_the_file_with_its_architecture(files, data, tmp_path, kind, arch, caplog):
    params = tiny_params(tmp_path / "ckpt", init_weights=str(files[kind]), pretrain_steps=0, gan_steps=0)
    with caplog.at_level(logging.INFO, logger="faceless.sr.pretrained"):
        sr_generator, report = trainer(data, params).train()
    imported = read_generator_file(files[kind], "x").saved
    # zero steps: the exported (EMA) generator is the file's, in its own architecture and size
    assert sr_generator["config"] == imported["config"] and sr_generator["config"]["arch"] == arch
    assert sr_generator["config"]["channels"] == 4 and sr_generator["config"]["blocks"] == 2
    assert_state_equal(sr_generator["state_dict"], imported["state_dict"])
    assert report["generator"]["arch"] == arch
    assert any(f"fine-tuning the {arch} generator" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kind", ["h5", "pth"])
def test_fine_tuning_from_a_pretrained_file_trains_it(files, data, tmp_path, kind):
    params = tiny_params(tmp_path / "ckpt", init_weights=str(files[kind]), pretrain_steps=3, gan_steps=2,
                         eval_every=5, checkpoint_every=0)
    start = read_generator_file(files[kind], "x").saved["state_dict"]
    sr_generator, report = trainer(data, params).train()
    after = sr_generator["state_dict"]
    changed = [k for k, v in start.items() if v.is_floating_point() and not torch.equal(v, after[k])]
    assert changed and all(torch.isfinite(v).all() for v in sr_generator["state_dict"].values())
    assert report["steps"]["run_now"] == 5
    model = load_model("generator", sr_generator)
    with torch.no_grad():
        assert model(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)


def test_fine_tuning_from_a_generator_of_another_scale_is_one_line(data, tmp_path):
    path = write_basicsr_pth(tmp_path / "MSRResNet_x2.pth", basicsr_state(4, 1, scale=2, seed=0))
    with pytest.raises(ConfigError, match=r"^srgan\.init_weights: the msrresnet generator in .* upscales 2x, "
                                          r"but srgan\.scale=4$"):
        trainer(data, tiny_params(tmp_path / "ckpt", init_weights=str(path)))


def test_a_variants_init_file_is_where_its_training_starts(files, data, tmp_path):
    """``init: <file>`` in a generator variant's block: srgan's recipe fine-tuned from that file."""
    declared = {"srgan_ft": {"enabled": True, "input": "generator", "init": str(files["pth"])}}
    config = variant_config(tiny_params(tmp_path / "ckpt", pretrain_steps=0, gan_steps=0),
                            variant_specs(declared)["srgan_ft"])
    assert config.init_weights == str(files["pth"]) and config.checkpoint_dir == f"{tmp_path / 'ckpt'}/srgan_ft"
    sr_generator, report = SRTrainer.from_arrays(config, data["lr_train"], data["hr_train"], data["lr_val"],
                                                 data["hr_val"], name="srgan_ft").train()
    imported = read_generator_file(files["pth"], "x").saved
    assert sr_generator["config"] == imported["config"] and report["generator"]["arch"] == "msrresnet"
    assert_state_equal(sr_generator["state_dict"], imported["state_dict"])


# ----------------------------------------------------------------------------------------------
# srgan_pretrained: an import variant's file, used as it is
# ----------------------------------------------------------------------------------------------
def test_srgan_pretrained_is_on_exactly_when_a_file_is_named():
    """enabled: auto (conf/base): off while ``import`` is null, on once it names a file."""
    assert not variant_specs(base_params("variants"))["srgan_pretrained"].enabled
    spec = variant_specs(base_params("variants", srgan_pretrained__import="g.h5"))["srgan_pretrained"]
    assert spec.enabled and spec.imports and not spec.trains_generator and spec.import_file == "g.h5"


@pytest.mark.parametrize("kind", ["h5", "pth"])
def test_the_imported_generator_is_the_file_as_it_is_measured_on_validation(files, data, tmp_path, kind):
    tracker = MemoryTracker()
    config = load_config(tiny_params(tmp_path))
    sr_generator, report = import_pretrained(config, str(files[kind]), data["lr_val"], data["hr_val"], tracker)
    imported = read_generator_file(files[kind], "x")
    assert sr_generator["config"] == imported.saved["config"]
    assert_state_equal(sr_generator["state_dict"], imported.saved["state_dict"])
    assert report["source"]["format"] == imported.source["format"] and report["trained_here"] is False
    assert report["variant"] == "srgan_pretrained"
    assert report["pairs"] == "truth" and report["val_pairs"] == len(data["lr_val"])
    val = report["val"]
    assert val["val_psnr_gain"] == pytest.approx(val["val_psnr"] - val["val_psnr_bicubic"], abs=1e-3)
    assert 0 < val["val_psnr"] < 100 and val["val_psnr"] != val["val_psnr_bicubic"]
    assert tracker.history["srgan/srgan_pretrained/val_psnr"][0][1] == pytest.approx(val["val_psnr"], abs=1e-4)


def test_an_import_variant_reports_and_logs_under_its_own_name(files, data, tmp_path):
    tracker = MemoryTracker()
    _, report = import_pretrained(load_config(tiny_params(tmp_path)), str(files["h5"]), data["lr_val"],
                                  data["hr_val"], tracker, name="krasserm")
    assert report["variant"] == "krasserm"
    assert tracker.history and all(metric.startswith("srgan/krasserm/") for metric in tracker.history)


def test_without_truth_it_is_measured_on_self_pairs_or_says_why_not(files, data, tmp_path):
    config = load_config(tiny_params(tmp_path))
    path = str(files["pth"])
    _, report = import_pretrained(config, path, data["lr_val"], EMPTY_HR)
    # 8 px frames downscaled 4x are 2 px, measured at 8 px with no border and a 7 px SSIM window
    assert report["pairs"] == "self" and report["measure"]["ssim_window"] == 7 and report["measure"]["border"] == 0
    assert all(math.isfinite(v) for v in report["val"].values())
    # frames too small to downscale: said so, the import still done
    _, report = import_pretrained(config, path, np.ascontiguousarray(data["lr_val"][:, ::4, ::4]), EMPTY_HR)
    assert report["val"] is None and "too small" in report["val_skipped"]


def test_a_pretrained_file_of_another_scale_is_one_line_naming_the_variants_import(data, tmp_path):
    path = write_basicsr_pth(tmp_path / "MSRResNet_x3.pth", basicsr_state(4, 1, scale=3, seed=0))
    config = load_config(tiny_params(tmp_path))
    with pytest.raises(ConfigError, match=r"^variants\.srgan_pretrained\.import: .* upscales 3x, "
                                          r"but srgan\.scale=4$"):
        import_pretrained(config, str(path), data["lr_val"], data["hr_val"])
