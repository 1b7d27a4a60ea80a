"""SRGAN nodes and wiring: train_srgan is the engine's run, plots, metrics, the generator file's dataset.

The engine itself (pairs, batches, losses, training, resume) is tested in ``tests/sr``."""
from __future__ import annotations

import copy
from collections import OrderedDict

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from kedro.io import DatasetError
from matplotlib.figure import Figure

from faceless.data.datasets import TorchWeightsDataset
from faceless.inference import load_generator
from faceless.pipelines.srgan.nodes import plot_sr_samples, sr_metrics, train_srgan
from faceless.pipelines.srgan.pipeline import create_pipeline
from faceless.sr.config import load_config
from faceless.sr.trainer import SRTrainer
from faceless.utils.errors import ConfigError

from ..conftest import assert_state_equal
from ..sr.helpers import EMPTY_HR, LR_SIZE, frame_data, tiny_params

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    return frame_data()


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """One tiny run of the node, shared by the tests that only read its results."""
    params = tiny_params(tmp_path_factory.mktemp("srgan_ckpt"))
    sr_generator, report = train_srgan(data["lr_train"], data["hr_train"], data["lr_val"], data["hr_val"],
                                       copy.deepcopy(params))
    return {"params": params, "sr_generator": sr_generator, "report": report}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ----------------------------------------------------------------------------------------------
# train_srgan and the pipeline
# ----------------------------------------------------------------------------------------------
def test_train_srgan_is_the_engines_run(trained, data, tmp_path):
    params = {**trained["params"], "checkpoint_dir": str(tmp_path)}
    expected, report = SRTrainer.from_arrays(load_config(params), data["lr_train"], data["hr_train"],
                                             data["lr_val"], data["hr_val"]).train()
    assert trained["sr_generator"]["config"] == expected["config"]
    assert_state_equal(trained["sr_generator"]["state_dict"], expected["state_dict"])
    assert trained["report"]["val"] == report["val"]
    assert trained["report"]["steps"] == {"pretrain": 6, "gan": 4, "run_now": 10, "resumed_from": 0}


def test_train_srgan_with_a_bad_parameter_fails_before_any_work(data, tmp_path):
    params = tiny_params(tmp_path / "ckpt", gan_losses=[{"type": "mse", "weight": 1.0, "scale": 2}])
    with pytest.raises(ConfigError, match=r"srgan\.gan_losses\[0\]\.scale"):
        train_srgan(data["lr_train"], data["hr_train"], data["lr_val"], data["hr_val"], params)
    assert not (tmp_path / "ckpt").exists()


def test_pipeline_is_the_srgan_namespace_with_the_dataset_names_users_type():
    pipeline = create_pipeline()
    assert {n.name for n in pipeline.nodes} == {"srgan.train_srgan", "srgan.plot_sr_samples", "srgan.sr_metrics"}
    assert pipeline.inputs() == {"lr_train", "hr_train", "lr_val", "hr_val", "params:srgan"}
    assert pipeline.all_outputs() == {"sr_generator", "sr_report", "sr_samples", "sr_final_metrics"}
    assert {n.namespace for n in pipeline.nodes} == {"srgan"}


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
    with pytest.raises(DatasetError, match="[Ww]eights only load failed"):
        TorchWeightsDataset(str(path)).load()
    assert not marker.exists()
    # the payload is live: a plain pickle load would have run it
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_torch_weights_dataset_refuses_dict_subclasses(tmp_path):
    path = tmp_path / "fancy.pt"
    torch.save({"config": FancyDict(a=1), "state_dict": {"w": torch.zeros(1)}}, path)
    with pytest.raises(DatasetError, match="[Ww]eights only load failed"):
        TorchWeightsDataset(str(path)).load()


def test_torch_weights_dataset_crash_while_saving_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "g.pt"
    dataset = TorchWeightsDataset(str(path))
    dataset.save({"w": torch.ones(3)})
    before = path.read_bytes()

    def crashing_save(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(DatasetError, match="disk full"):  # kedro wraps the OSError
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


def _shown(ax) -> np.ndarray:
    (image,) = ax.get_images()
    return np.asarray(image.get_array())


def test_plot_sr_samples_with_truth_has_four_columns_of_the_right_images(trained, data):
    fig = plot_sr_samples(trained["sr_generator"], data["lr_val"], data["hr_val"], trained["params"])
    assert isinstance(fig, Figure)
    assert _grid_shape(fig) == (3, 4)
    assert len(fig.axes) == 12
    assert [ax.get_title() for ax in fig.axes[:4]] == ["LR (nearest)", "bicubic", "SRGAN", "HR truth"]
    # row 0: the first validation frame; the truth column is that frame's HR image
    np.testing.assert_allclose(_shown(fig.axes[3]), data["hr_val"][0] / 255, atol=1e-6)
    # the SR column is the exported generator's output on that frame
    lr = torch.from_numpy(data["lr_val"][:1]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        sr = load_generator(trained["sr_generator"])(lr).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(_shown(fig.axes[2]), sr, atol=1e-6)


def test_plot_sr_samples_without_truth_has_three_columns(trained, data):
    params = {**trained["params"], "sample_count": 2}
    fig = plot_sr_samples(trained["sr_generator"], data["lr_val"], EMPTY_HR, params)
    assert isinstance(fig, Figure)
    assert _grid_shape(fig) == (2, 3)
    assert "HR truth" not in [ax.get_title() for ax in fig.axes]


def test_plot_sr_samples_without_frames_is_a_placeholder(trained):
    empty = np.zeros((0, LR_SIZE, LR_SIZE, 3), dtype=np.uint8)
    fig = plot_sr_samples(trained["sr_generator"], empty, EMPTY_HR, trained["params"])
    assert isinstance(fig, Figure)
    assert not fig.axes
    assert [t.get_text() for t in fig.texts] == ["no validation frames"]


def test_sr_metrics_shape(trained):
    metrics = sr_metrics(trained["report"])
    assert set(metrics) == set(trained["report"]["val"])
    for entry in metrics.values():
        assert set(entry) == {"value", "step"}
        assert isinstance(entry["value"], float) and entry["step"] == 0


def test_sr_metrics_drops_non_finite_values():
    metrics = sr_metrics({"val": {"val_psnr": 30, "val_ssim": float("nan"), "note": "x"}})
    assert metrics == {"val_psnr": {"value": 30.0, "step": 0}}
