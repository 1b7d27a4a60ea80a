"""SRGAN nodes and wiring: each generator variant of conf's ``variants`` is one namespace; the srgan
variant's training is the engine's run, srgan_self the same recipe on self pairs (or a skip), an
import variant a file as it is; plots, metrics, the generator file's dataset.

The engine itself (pairs, batches, losses, training, resume) is tested in ``tests/sr``."""
from __future__ import annotations

import copy
import math
from collections import OrderedDict

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from kedro.io import DatasetError
from matplotlib.figure import Figure

from faceless.data.datasets import TorchWeightsDataset
from faceless.inference import load_generator
from faceless.pipeline_registry import build_pipelines
from faceless.pipelines.srgan.nodes import import_generator, plot_sr_samples, train_generator_variant
from faceless.pipelines.srgan.pipeline import create_pipeline
from faceless.sr.config import load_config, variant_config
from faceless.sr.trainer import SRTrainer, train_generator
from faceless.training.tracker import MemoryTracker
from faceless.utils.config import to_params
from faceless.utils.errors import ConfigError
from faceless.variants import variant_specs

from ..conftest import assert_state_equal, base_params
from ..models.pretrained_files import krasserm_layers, write_krasserm_h5
from ..sr.helpers import EMPTY_HR, LR_SIZE, frame_data, tiny_params

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def variants(**overrides) -> dict:
    """``params:variants`` as conf/base declares them, with ``overrides`` (``srgan_self__enabled=True``)."""
    return base_params("variants", **overrides)


def train_srgan(lr_train, hr_train, lr_val, hr_val, params):
    """The srgan variant's node, as the srgan.srgan.train node calls it."""
    return train_generator_variant(lr_train, hr_train, lr_val, hr_val, params, variants(), "srgan")


def train_srgan_self(lr_train, hr_train, lr_val, hr_val, params, variant_params=None):
    """The srgan_self variant's node (switched on: off in conf/base)."""
    return train_generator_variant(lr_train, hr_train, lr_val, hr_val, params,
                                   variant_params or variants(srgan_self__enabled=True), "srgan_self")


def import_srgan_pretrained(lr_val, hr_val, params, path):
    """The srgan_pretrained variant's node with ``import: path``."""
    return import_generator(lr_val, hr_val, params, variants(srgan_pretrained__import=str(path)), "srgan_pretrained")


def pipeline_parameters(**overrides) -> dict:
    """What build_pipelines reads of a run's parameters: conf/base's variants (with ``overrides``) and predict."""
    return {"variants": variants(**overrides), "predict": base_params("predict")}


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


SELF_LR_PX = 32  # self pairs 8 -> 32 px: big enough for PSNR/SSIM (11 px window + 2 x 4 px border)


def frames_with_truth(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(32 px frames, their 128 px truth), uint8 NHWC: smooth random truth, frames by area downscale."""
    base = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    hr = torch.nn.functional.interpolate(base, size=(4 * SELF_LR_PX,) * 2, mode="bicubic", align_corners=False)
    hr_u8 = (hr.clamp(0, 1) * 255).round().to(torch.uint8)
    lr = torch.nn.functional.interpolate(hr_u8.float(), scale_factor=0.25, mode="area")
    lr_u8 = lr.round().clamp(0, 255).to(torch.uint8)
    return lr_u8.permute(0, 2, 3, 1).contiguous().numpy(), hr_u8.permute(0, 2, 3, 1).contiguous().numpy()


@pytest.fixture(scope="module")
def self_data():
    lr_train, hr_train = frames_with_truth(12, seed=1)
    lr_val, hr_val = frames_with_truth(3, seed=2)
    return {"lr_train": lr_train, "hr_train": hr_train, "lr_val": lr_val, "hr_val": hr_val}


@pytest.fixture(scope="module")
def trained_self(self_data, tmp_path_factory):
    """One tiny run of train_srgan_self on a source with truth (switched on: off in conf/base)."""
    params = tiny_params(tmp_path_factory.mktemp("srgan_self_ckpt"))
    d = self_data
    sr_generator, report = train_srgan_self(d["lr_train"], d["hr_train"], d["lr_val"], d["hr_val"],
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


def test_pipeline_is_one_srgan_namespace_per_generator_variant_with_the_dataset_names_users_type():
    specs = variant_specs(variants())  # conf/base: of the generators, only srgan is on
    pipeline = create_pipeline(variants={n: s for n, s in specs.items() if s.enabled})
    assert {n.name for n in pipeline.nodes} == {"srgan.srgan.train", "srgan.srgan.plot_samples"}
    assert pipeline.inputs() == {"lr_train", "hr_train", "lr_val", "hr_val", "params:srgan", "params:variants"}
    assert pipeline.all_outputs() == {"sr_generator_srgan", "sr_report_srgan", "sr_samples_srgan"}
    assert {n.namespace for n in pipeline.nodes} == {"srgan.srgan"}


def test_pipeline_with_every_generator_variant_on_reads_what_each_needs_and_nothing_of_the_test_side(tmp_path):
    specs = variant_specs(variants(srgan_other__enabled=True, srgan_self__enabled=True, srgan_id__enabled=True,
                                   srgan_pretrained__import=str(tmp_path / "g.pth")))
    pipeline = create_pipeline(variants={n: s for n, s in specs.items() if s.enabled})
    generators = ("srgan", "srgan_other", "srgan_self", "srgan_id", "srgan_pretrained")
    trained = {f"srgan.{v}.train" for v in generators if v != "srgan_pretrained"}
    assert {n.name for n in pipeline.nodes} == {*trained, "srgan.srgan_pretrained.import",
                                                *(f"srgan.{v}.plot_samples" for v in generators)}
    assert pipeline.all_outputs() == {f"{kind}_{v}" for v in generators for kind in ("sr_generator", "sr_report", "sr_samples")}
    by_name = {n.name: n for n in pipeline.nodes}
    # srgan_other learns other people's pairs; only the identity variant reads the people's labels.
    assert by_name["srgan.srgan_other.train"].inputs[:2] == ["lr_other", "hr_other"]
    assert {"train_index", "val_index"} <= set(by_name["srgan.srgan_id.train"].inputs)
    assert not {"train_index", "val_index"} & set(by_name["srgan.srgan.train"].inputs)
    assert set(by_name["srgan.srgan_pretrained.import"].inputs) == {"lr_val", "hr_val", "params:srgan",
                                                                    "params:variants"}
    assert pipeline.inputs() == {"lr_train", "hr_train", "lr_val", "hr_val", "lr_other", "hr_other", "train_index",
                                 "val_index", "params:srgan", "params:variants"}
    # Nothing of the test side reaches an SR training (nor srgan_id's recogniser); validation only measures.
    assert not {name for name in pipeline.inputs() if "test" in name}


@pytest.mark.parametrize(("overrides", "variant", "node"), [
    ({"srgan_self__enabled": True}, "srgan_self", "train"),
    ({"srgan_id__enabled": True}, "srgan_id", "train"),
    ({"srgan_other__enabled": True}, "srgan_other", "train"),
    ({"srgan_pretrained__import": "g.pth"}, "srgan_pretrained", "import"),
])
def test_a_variant_that_is_off_has_no_node_and_switched_on_has_its_own(overrides, variant, node):
    """Off (conf/base): nothing is computed for it; one switch (enabled, or naming the file) adds its nodes."""
    off = build_pipelines(pipeline_parameters())["full"]
    assert not [n.name for n in off.nodes if f".{variant}." in n.name or n.name.endswith(f".{variant}")]
    assert not {f"sr_generator_{variant}", f"{variant}_train"} & off.all_outputs()
    on = build_pipelines(pipeline_parameters(**overrides))["full"]
    names = {n.name for n in on.nodes}
    assert {f"srgan.{variant}.{node}", f"upscaling.{variant}.upscale_train", f"classifier.{variant}.train",
            f"evaluation.{variant}.evaluate"} <= names
    assert {n.name for n in off.nodes} < names


# ----------------------------------------------------------------------------------------------
# train_srgan_self: the real-world path (self pairs) next to the truth-trained generator
# ----------------------------------------------------------------------------------------------
def test_srgan_self_trains_on_self_pairs_with_the_same_settings_otherwise(trained_self, trained):
    report = trained_self["report"]
    assert report["pairs"] == "self" and report["params"]["pairs"] == "self"
    assert trained["report"]["pairs"] == "truth"
    # self pairs: the 32 px training frames downscaled 4x -> the frames
    assert report["lr_size"] == [SELF_LR_PX // 4] * 2 and report["hr_size"] == [SELF_LR_PX] * 2
    assert report["train_pairs"] == 12 and report["val_pairs"] == 3
    assert report["steps"] == {"pretrain": 6, "gan": 4, "run_now": 10, "resumed_from": 0}
    given = to_params(variant_config(trained_self["params"], variant_specs(variants())["srgan"]))
    assert {k for k in report["params"] if report["params"][k] != given[k]} == {"pairs"}
    assert trained_self["sr_generator"]["config"] == trained["sr_generator"]["config"]


def test_srgan_self_is_the_srgan_run_on_the_same_frames_without_truth(trained_self, self_data, tmp_path):
    """Exactly what the srgan node trains on a source without truth (its own checkpoints aside)."""
    params = {**trained_self["params"], "checkpoint_dir": str(tmp_path)}
    d = self_data
    without_truth, report = train_srgan(d["lr_train"], EMPTY_HR, d["lr_val"], EMPTY_HR, params)
    assert report["pairs"] == "self"
    assert_state_equal(trained_self["sr_generator"]["state_dict"], without_truth["state_dict"])
    assert trained_self["report"]["val"] == report["val"]


def test_srgan_self_is_also_measured_on_the_truth_it_is_used_for(trained_self, self_data):
    """val is on self pairs (all a source without truth has); val_truth: 32 px frames -> their 128 px truth."""
    truth = trained_self["report"]["val_truth"]
    assert set(truth) == set(trained_self["report"]["val"])
    assert all(math.isfinite(v) for v in truth.values())
    assert truth != trained_self["report"]["val"]
    # The bicubic baseline on the truth pairs is the truth-trained run's own baseline.
    d = self_data
    assert truth["val_psnr_bicubic"] == pytest.approx(
        SRTrainer.from_arrays(load_config(trained_self["params"]), d["lr_train"], d["hr_train"],
                              d["lr_val"], d["hr_val"]).evaluate()["val_psnr_bicubic"], abs=1e-4)


def test_srgan_self_reports_under_its_own_metric_names(self_data, tmp_path):
    tracker = MemoryTracker()
    d = self_data
    spec = variant_specs(variants(srgan_self__enabled=True))["srgan_self"]
    train_generator(variant_config(tiny_params(tmp_path), spec), d["lr_train"], d["hr_train"], d["lr_val"], d["hr_val"],
                    tracker, name="srgan_self")
    assert tracker.history and all(name.startswith("srgan/srgan_self/") for name in tracker.history)
    assert "srgan/srgan_self/val_psnr" in tracker.history and "srgan/srgan_self/truth_val_psnr" in tracker.history


@pytest.mark.parametrize(("frames", "hr", "variant", "says"), [
    ("32px", "none", "srgan_self",
     "srgan_self runs where the source has high-resolution truth (requires: truth): this one has none"),
    ("2px", "truth", "srgan_self", "the 2 px frames are smaller than srgan.scale=4: no self pairs"),
    # srgan (pairs: auto) on a source without truth trains on self pairs, which 2 px frames cannot make
    ("2px", "none", "srgan", "the 2 px frames are smaller than srgan.scale=4: no self pairs"),
    ("32px", "none", "srgan_truth",
     "srgan_truth trains on truth pairs (pairs: truth): the source has no high-resolution truth"),
])
def test_a_generator_variant_is_skipped_with_a_reason_where_it_would_be_srgan_again_or_cannot_be_measured(
        data, self_data, tmp_path, frames, hr, variant, says):
    d = self_data if frames == "32px" else {  # 2 px frames with 8 px truth
        "lr_train": np.ascontiguousarray(data["lr_train"][:, ::4, ::4]), "hr_train": data["lr_train"],
        "lr_val": np.ascontiguousarray(data["lr_val"][:, ::4, ::4]), "hr_val": data["lr_val"]}
    params = tiny_params(tmp_path / "ckpt")
    declared = {**variants(srgan_self__enabled=True),
                "srgan_truth": {"enabled": True, "input": "generator", "pairs": "truth"}}
    hr_train, hr_val = (d["hr_train"], d["hr_val"]) if hr == "truth" else (EMPTY_HR, EMPTY_HR)
    generator, report = train_generator_variant(d["lr_train"], hr_train, d["lr_val"], hr_val, params, declared,
                                                variant)
    assert generator == {"skipped": says}
    assert report == {"variant": variant, "skipped": says}
    assert not (tmp_path / "ckpt").exists()  # no training, no checkpoint


def test_8px_frames_train_and_are_measured_on_2px_self_pairs(data, tmp_path):
    """srgan on self pairs of 8 px frames (2 -> 8 px): the crop and the metrics adapt, nothing raises."""
    _, report = train_srgan(data["lr_train"], EMPTY_HR, data["lr_val"], EMPTY_HR,
                            tiny_params(tmp_path / "ckpt", crop=24, pretrain_steps=2, gan_steps=1, eval_every=0))
    assert report["pairs"] == "self" and report["crop"] == {"asked": 24, "used": 2}
    assert report["measure"]["border"] == 0 and report["measure"]["ssim_window"] == 7
    assert all(math.isfinite(v) for v in report["val"].values())


def test_srgan_self_checks_its_parameters_even_when_skipped(data, tmp_path):
    """No truth here (srgan_self would be skipped): a bad recipe still fails, in one line."""
    params = tiny_params(tmp_path / "ckpt", gan_losses=[{"type": "mse", "weight": 1.0, "scale": 2}])
    with pytest.raises(ConfigError, match=r"srgan\.gan_losses\[0\]\.scale") as error:
        train_srgan_self(data["lr_train"], EMPTY_HR, data["lr_val"], EMPTY_HR, params)
    assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match=r"^variants\.srgan_self\.enabled must be true \| false \| auto"):
        train_srgan_self(data["lr_train"], EMPTY_HR, data["lr_val"], EMPTY_HR, tiny_params(tmp_path / "ckpt"),
                         variants(srgan_self__enabled="yes"))
    assert not (tmp_path / "ckpt").exists()


def test_the_two_trainings_keep_their_checkpoints_apart(self_data, tmp_path):
    """One checkpoint_dir in params: each variant's checkpoints in its own folder of it (srgan/,
    srgan_self/); each rerun resumes from its own finished checkpoint (neither overwrote the other's)."""
    params = tiny_params(tmp_path)
    d = self_data
    frames = (d["lr_train"], d["hr_train"], d["lr_val"], d["hr_val"])
    first, _ = train_srgan(*frames, copy.deepcopy(params))
    first_self, _ = train_srgan_self(*frames, copy.deepcopy(params))
    truth_ckpt, self_ckpt = tmp_path / "srgan" / "last.pt", tmp_path / "srgan_self" / "last.pt"
    assert truth_ckpt.is_file() and self_ckpt.is_file()
    fingerprints = [torch.load(path, weights_only=True)["fingerprint"] for path in (truth_ckpt, self_ckpt)]
    assert fingerprints[0] != fingerprints[1]

    again, report = train_srgan(*frames, copy.deepcopy(params))
    again_self, report_self = train_srgan_self(*frames, copy.deepcopy(params))
    assert report["steps"]["run_now"] == 0 and report["steps"]["resumed_from"] == 10
    assert report_self["steps"]["run_now"] == 0 and report_self["steps"]["resumed_from"] == 10
    assert_state_equal(again["state_dict"], first["state_dict"])
    assert_state_equal(again_self["state_dict"], first_self["state_dict"])


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
    with pytest.raises(DatasetError, match="holds objects other than tensors and plain values"):
        TorchWeightsDataset(str(path)).load()
    assert not marker.exists()
    # the payload is live: a plain pickle load would have run it
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_torch_weights_dataset_refuses_dict_subclasses(tmp_path):
    path = tmp_path / "fancy.pt"
    torch.save({"config": FancyDict(a=1), "state_dict": {"w": torch.zeros(1)}}, path)
    with pytest.raises(DatasetError, match="holds objects other than tensors and plain values"):
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
# plot_sr_samples
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


# ----------------------------------------------------------------------------------------------
# import_generator: srgan_pretrained, a generator pretrained elsewhere used as it is
# ----------------------------------------------------------------------------------------------
def test_srgan_pretrained_is_on_exactly_when_its_file_is_named(tmp_path):
    """enabled: auto: conf/base names no file, so the variant is off and has no node; naming one is the switch."""
    assert not variant_specs(variants())["srgan_pretrained"].enabled
    assert "srgan.srgan_pretrained.import" not in {n.name for n in build_pipelines(pipeline_parameters())["srgan"].nodes}
    path = str(tmp_path / "g.pth")
    spec = variant_specs(variants(srgan_pretrained__import=path))["srgan_pretrained"]
    assert spec.enabled and spec.imports and spec.import_file == path
    srgan = build_pipelines(pipeline_parameters(srgan_pretrained__import=path))["srgan"]
    assert "srgan.srgan_pretrained.import" in {n.name for n in srgan.nodes}


def test_srgan_pretrained_imports_the_named_file_and_saves_as_an_sr_generator(data, tmp_path):
    path = write_krasserm_h5(tmp_path / "gan_generator.h5", krasserm_layers(channels=4, blocks=1, seed=0))
    generator, report = import_srgan_pretrained(data["lr_val"], data["hr_val"], tiny_params(tmp_path), path)
    assert generator["config"]["arch"] == "krasserm_srresnet" and report["source"]["file"] == str(path)
    assert report["variant"] == "srgan_pretrained" and report["trained_here"] is False
    dataset = TorchWeightsDataset(str(tmp_path / "sr_generator_srgan_pretrained.pt"))
    dataset.save(generator)
    lr = torch.from_numpy(data["lr_val"]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        assert torch.equal(load_generator(dataset.load())(lr), load_generator(generator)(lr))


def test_srgan_pretrained_with_a_file_that_does_not_match_is_one_line(data, tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("not a model")
    match = r"^variants\.srgan_pretrained\.import: '.*notes\.h5' is not a generator file"
    with pytest.raises(ConfigError, match=match) as error:
        import_srgan_pretrained(data["lr_val"], data["hr_val"], tiny_params(tmp_path), path)
    assert "\n" not in str(error.value)
