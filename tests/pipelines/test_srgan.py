"""SRGAN nodes: pairs, batches, training with checkpoints/resume, the generator file, plots, metrics."""
from __future__ import annotations

import copy
import logging
import math
import shutil
from collections import OrderedDict

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from faceless.config import ConfigError
from faceless.data.datasets import TorchWeightsDataset
from faceless.models.generator import SRResNet
from faceless.pipelines.srgan import nodes
from faceless.pipelines.srgan.nodes import (
    load_generator,
    make_pairs,
    plot_sr_samples,
    random_batch,
    sr_metrics,
    train_srgan,
)

from ..conftest import assert_state_equal

SCALE = 4
HR_SIZE = 32
LR_SIZE = HR_SIZE // SCALE
EMPTY_HR = np.zeros((0, 0, 0, 3), dtype=np.uint8)


def smooth_frames(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(LR uint8 NHWC 8x8, HR uint8 NHWC 32x32): random-but-smooth HR, LR by area downscale."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 4, 4, generator=gen)
    hr = F.interpolate(base, size=(HR_SIZE, HR_SIZE), mode="bicubic", align_corners=False).clamp(0, 1)
    hr_u8 = (hr * 255).round().to(torch.uint8)
    lr = F.interpolate(hr_u8.float() / 255, scale_factor=1 / SCALE, mode="area")
    lr_u8 = (lr * 255).round().clamp(0, 255).to(torch.uint8)

    def nhwc(t: torch.Tensor) -> np.ndarray:
        return t.permute(0, 2, 3, 1).contiguous().numpy()

    return nhwc(lr_u8), nhwc(hr_u8)


def tiny_params(checkpoint_dir, **overrides) -> dict:
    params = {
        "scale": SCALE,
        "generator": {"blocks": 1, "channels": 8},
        "discriminator": {"channels": 8},
        "pretrain_steps": 6,
        "gan_steps": 4,
        "eval_every": 5,
        "checkpoint_every": 5,
        "checkpoint_dir": str(checkpoint_dir),
        "device": "cpu",
        "precision": "fp32",
        "batch_size": 4,
        "crop": 8,
        "val_frames": 0,
    }
    params.update(overrides)
    return params


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    lr_train, hr_train = smooth_frames(12, seed=1)
    lr_val, hr_val = smooth_frames(3, seed=2)
    return {"lr_train": lr_train, "hr_train": hr_train, "lr_val": lr_val, "hr_val": hr_val}


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """One tiny training run with truth pairs, shared by the tests that only read its results."""
    ckpt = tmp_path_factory.mktemp("srgan_ckpt")
    params = tiny_params(ckpt)
    sr_generator, report = train_srgan(data["lr_train"], data["hr_train"], data["lr_val"], data["hr_val"],
                                       copy.deepcopy(params))
    return {"params": params, "ckpt": ckpt, "sr_generator": sr_generator, "report": report}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


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


def test_random_batch_flips_some_crops(nearest_pairs):
    """Half the crops are mirrored: over many draws both orientations of a frame's crop appear."""
    lr = torch.arange(8, dtype=torch.uint8).repeat(1, 3, 8, 1) * 30  # one frame, a left-to-right ramp
    hr = lr.repeat_interleave(SCALE, dim=-2).repeat_interleave(SCALE, dim=-1)
    lr_b, _ = random_batch(lr, hr, batch=32, crop=8, scale=SCALE, gen=torch.Generator().manual_seed(0))
    increasing = (lr_b[:, 0, 0, 1] > lr_b[:, 0, 0, 0])
    assert 0 < int(increasing.sum()) < 32


# ----------------------------------------------------------------------------------------------
# train_srgan
# ----------------------------------------------------------------------------------------------
def test_train_srgan_exports_a_rebuildable_generator(trained, data):
    sr_generator = trained["sr_generator"]
    assert set(sr_generator) == {"config", "state_dict"}
    assert sr_generator["config"]["blocks"] == 1 and sr_generator["config"]["channels"] == 8
    model = load_generator(sr_generator)
    assert isinstance(model, SRResNet) and not model.training
    lr = torch.from_numpy(data["lr_val"]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        out = model(lr)
    assert out.shape == (3, 3, HR_SIZE, HR_SIZE)
    assert torch.isfinite(out).all()
    for v in sr_generator["state_dict"].values():
        assert v.device.type == "cpu" and not v.requires_grad


def test_train_srgan_report(trained):
    report = trained["report"]
    assert report["pairs"] == "truth"
    assert report["device"] == "cpu" and report["precision"] == "fp32"
    assert report["train_pairs"] == 12 and report["val_pairs"] == 3
    assert report["lr_size"] == [LR_SIZE, LR_SIZE] and report["hr_size"] == [HR_SIZE, HR_SIZE]
    assert report["steps"] == {"pretrain": 6, "gan": 4, "run_now": 10, "resumed_from": 0}
    for key in ("val_psnr", "val_ssim", "val_psnr_bicubic", "val_ssim_bicubic", "val_psnr_gain"):
        assert math.isfinite(report["val"][key]), key
    assert 0 < report["val"]["val_ssim"] <= 1
    assert [h["step"] for h in report["history"]] == [5, 10]
    assert "checkpoint_dir" not in report["params"]
    assert report["train_images_per_s"] > 0


def test_train_srgan_rerun_resumes_at_the_final_step_with_identical_weights(trained, data):
    sr_generator, report = train_srgan(data["lr_train"], data["hr_train"], data["lr_val"], data["hr_val"],
                                       copy.deepcopy(trained["params"]))
    assert report["steps"]["resumed_from"] == 10
    assert report["steps"]["run_now"] == 0
    assert_state_equal(sr_generator["state_dict"], trained["sr_generator"]["state_dict"])
    assert report["val"] == trained["report"]["val"]


def test_train_srgan_resumed_after_a_crash_equals_an_uninterrupted_run(trained, data, tmp_path, monkeypatch):
    params = tiny_params(tmp_path)
    real_random_batch = nodes.random_batch
    calls = {"n": 0}

    def crash_at_step_7(*args, **kwargs):
        if calls["n"] == 7:
            raise RuntimeError("killed")
        calls["n"] += 1
        return real_random_batch(*args, **kwargs)

    monkeypatch.setattr(nodes, "random_batch", crash_at_step_7)
    with pytest.raises(RuntimeError, match="killed"):
        train_srgan(data["lr_train"], data["hr_train"], data["lr_val"], data["hr_val"], copy.deepcopy(params))
    monkeypatch.setattr(nodes, "random_batch", real_random_batch)

    sr_generator, report = train_srgan(data["lr_train"], data["hr_train"], data["lr_val"], data["hr_val"],
                                       copy.deepcopy(params))
    assert report["steps"]["resumed_from"] == 5
    assert report["steps"]["run_now"] == 5
    assert_state_equal(sr_generator["state_dict"], trained["sr_generator"]["state_dict"])


def test_train_srgan_with_other_gan_steps_starts_from_scratch(trained, data, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained["ckpt"], ckpt)
    params = tiny_params(ckpt, gan_steps=2)
    _, report = train_srgan(data["lr_train"], data["hr_train"], data["lr_val"], data["hr_val"], params)
    assert report["steps"] == {"pretrain": 6, "gan": 2, "run_now": 8, "resumed_from": 0}


def test_train_srgan_with_resume_false_starts_from_scratch(trained, data, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained["ckpt"], ckpt)
    params = tiny_params(ckpt, pretrain_steps=2, gan_steps=0, resume=False)
    _, report = train_srgan(data["lr_train"], data["hr_train"], data["lr_val"], data["hr_val"], params)
    assert report["steps"]["resumed_from"] == 0 and report["steps"]["run_now"] == 2


def test_train_srgan_self_pairs_without_truth(data, tmp_path):
    frames_train, frames_val = data["hr_train"], data["hr_val"]  # 32x32 frames, no truth
    params = tiny_params(tmp_path, pairs="self", pretrain_steps=3, gan_steps=2, eval_every=0)
    sr_generator, report = train_srgan(frames_train, EMPTY_HR, frames_val, EMPTY_HR, params)
    assert report["pairs"] == "self"
    assert report["lr_size"] == [HR_SIZE // 4, HR_SIZE // 4] and report["hr_size"] == [HR_SIZE, HR_SIZE]
    assert report["steps"]["run_now"] == 5
    assert math.isfinite(report["val"]["val_psnr"])
    model = load_generator(sr_generator)
    with torch.no_grad():
        out = model(torch.rand(1, 3, HR_SIZE, HR_SIZE))
    assert out.shape == (1, 3, HR_SIZE * 4, HR_SIZE * 4)


def test_train_srgan_auto_pairs_with_empty_truth_self_supervises(data, tmp_path):
    params = tiny_params(tmp_path, pretrain_steps=2, gan_steps=0, eval_every=0)
    _, report = train_srgan(data["hr_train"], EMPTY_HR, data["hr_val"], EMPTY_HR, params)
    assert report["pairs"] == "self"


def test_train_srgan_without_validation_frames_evaluates_on_training_pairs(data, tmp_path, caplog):
    params = tiny_params(tmp_path, pretrain_steps=2, gan_steps=0, eval_every=0)
    empty_lr = np.zeros((0, LR_SIZE, LR_SIZE, 3), dtype=np.uint8)
    caplog.set_level(logging.WARNING, logger="faceless.pipelines.srgan.nodes")
    _, report = train_srgan(data["lr_train"], data["hr_train"], empty_lr, EMPTY_HR, params)
    assert report["val_pairs"] == 12
    assert any("no validation frames" in r.getMessage() for r in caplog.records)
    assert math.isfinite(report["val"]["val_psnr"])


# ----------------------------------------------------------------------------------------------
# init_weights
# ----------------------------------------------------------------------------------------------
def test_init_weights_missing_file_names_the_parameter(data, tmp_path):
    params = tiny_params(tmp_path / "ckpt", init_weights=str(tmp_path / "nope.pt"))
    with pytest.raises(ConfigError, match=r"srgan\.init_weights"):
        train_srgan(data["lr_train"], data["hr_train"], data["lr_val"], data["hr_val"], params)


def test_init_weights_accepts_a_saved_generator_file(trained, data, tmp_path):
    path = tmp_path / "sr_generator.pt"
    TorchWeightsDataset(str(path)).save(trained["sr_generator"])
    # zero steps: the exported (EMA) generator is exactly the initial one
    params = tiny_params(tmp_path / "ckpt", init_weights=str(path), pretrain_steps=0, gan_steps=0)
    sr_generator, report = train_srgan(data["lr_train"], data["hr_train"], data["lr_val"], data["hr_val"], params)
    assert_state_equal(sr_generator["state_dict"], trained["sr_generator"]["state_dict"])
    assert report["val"]["val_psnr"] == pytest.approx(trained["report"]["val"]["val_psnr"], abs=1e-4)


def test_init_weights_accepts_a_bare_state_dict(trained, data, tmp_path):
    path = tmp_path / "bare.pt"
    torch.save(trained["sr_generator"]["state_dict"], path)
    params = tiny_params(tmp_path / "ckpt", init_weights=str(path), pretrain_steps=0, gan_steps=0)
    sr_generator, _ = train_srgan(data["lr_train"], data["hr_train"], data["lr_val"], data["hr_val"], params)
    assert_state_equal(sr_generator["state_dict"], trained["sr_generator"]["state_dict"])


# ----------------------------------------------------------------------------------------------
# TorchWeightsDataset
# ----------------------------------------------------------------------------------------------
MARKER_NAME = "payload-ran"


def _write_marker(path: str) -> dict:
    with open(path, "w") as handle:
        handle.write("code ran during load")
    return {}


class Payload:
    """Unpickling this calls ``_write_marker``: a stand-in for arbitrary code in a model file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (_write_marker, (self.marker,))


class FancyDict(OrderedDict):
    """An innocent-looking OrderedDict subclass: still not a plain weights-only type."""


def test_torch_weights_dataset_round_trip(trained, tmp_path):
    path = tmp_path / "models" / "sr_generator.pt"
    dataset = TorchWeightsDataset(str(path))
    assert not dataset.exists()
    dataset.save(trained["sr_generator"])
    assert dataset.exists()
    assert [p.name for p in path.parent.iterdir()] == ["sr_generator.pt"]
    loaded = TorchWeightsDataset(str(path)).load()
    assert loaded["config"] == trained["sr_generator"]["config"]
    assert_state_equal(loaded["state_dict"], trained["sr_generator"]["state_dict"])
    assert load_generator(loaded).config() == trained["sr_generator"]["config"]


def test_torch_weights_dataset_refuses_pickled_code(tmp_path):
    marker = tmp_path / MARKER_NAME
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": Payload(str(marker))}, path)
    with pytest.raises(Exception) as err:
        TorchWeightsDataset(str(path)).load()
    assert "weights_only" in str(err.value) or "Unsupported" in str(err.value) or "global" in str(err.value)
    assert not marker.exists()
    # the payload is live: a plain pickle load would have run it
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_torch_weights_dataset_refuses_dict_subclasses(tmp_path):
    path = tmp_path / "fancy.pt"
    torch.save({"config": FancyDict(a=1), "state_dict": {"w": torch.zeros(1)}}, path)
    with pytest.raises(Exception):
        TorchWeightsDataset(str(path)).load()


def test_torch_weights_dataset_crash_while_saving_keeps_the_old_file_and_no_temp(trained, tmp_path, monkeypatch):
    path = tmp_path / "g.pt"
    dataset = TorchWeightsDataset(str(path))
    dataset.save({"w": torch.ones(3)})
    before = path.read_bytes()

    def crashing_save(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(Exception, match="disk full"):  # kedro wraps it in a DatasetError
        dataset.save({"w": torch.zeros(3)})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.pt"]


# ----------------------------------------------------------------------------------------------
# plot_sr_samples and sr_metrics
# ----------------------------------------------------------------------------------------------
def _grid_shape(fig) -> tuple[int, int]:
    gs = fig.axes[0].get_subplotspec().get_gridspec()
    return gs.nrows, gs.ncols


def test_plot_sr_samples_with_truth_has_four_columns(trained, data):
    fig = plot_sr_samples(trained["sr_generator"], data["lr_val"], data["hr_val"], {"scale": SCALE})
    assert isinstance(fig, plt.Figure)
    assert _grid_shape(fig) == (3, 4)
    assert len(fig.axes) == 12
    assert [ax.get_title() for ax in fig.axes[:4]] == ["LR (nearest)", "bicubic", "SRGAN", "HR truth"]


def test_plot_sr_samples_without_truth_has_three_columns(trained, data):
    fig = plot_sr_samples(trained["sr_generator"], data["lr_val"], EMPTY_HR, {"scale": SCALE, "sample_count": 2})
    assert isinstance(fig, plt.Figure)
    assert _grid_shape(fig) == (2, 3)
    assert "HR truth" not in [ax.get_title() for ax in fig.axes]


def test_plot_sr_samples_without_frames_is_a_placeholder(trained):
    empty = np.zeros((0, LR_SIZE, LR_SIZE, 3), dtype=np.uint8)
    fig = plot_sr_samples(trained["sr_generator"], empty, EMPTY_HR, {"scale": SCALE})
    assert isinstance(fig, plt.Figure)


def test_sr_metrics_shape(trained):
    metrics = sr_metrics(trained["report"])
    assert set(metrics) == set(trained["report"]["val"])
    for entry in metrics.values():
        assert set(entry) == {"value", "step"}
        assert isinstance(entry["value"], float) and entry["step"] == 0


def test_sr_metrics_drops_non_finite_values():
    metrics = sr_metrics({"val": {"val_psnr": 30, "val_ssim": float("nan"), "note": "x"}})
    assert metrics == {"val_psnr": {"value": 30.0, "step": 0}}
