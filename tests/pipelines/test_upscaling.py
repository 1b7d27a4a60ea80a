"""The upscaling stage: its nodes' checks, and the registered pipeline run on a tiny catalog."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from faceless.config import ConfigError
from faceless.data.upscale_cache import CachedUpscaleDataset, UpscaleJob
from faceless.models.generator import SRResNet
from faceless.pipeline_registry import register_pipelines
from faceless.pipelines.upscaling.nodes import upscale_bicubic, upscale_with_generator

from ..conftest import logger_messages, bicubic_reference, generator_reference

CONF = Path(__file__).resolve().parents[2] / "conf" / "base"
LOGGER = "faceless.data.upscale_cache"
SIDES = ("train", "val", "test")
SIDE, FACTOR = 8, 4
COUNTS = {"train": 7, "val": 3, "test": 2}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def cache_log(logger_records):
    return logger_records(LOGGER)


def messages(caplog) -> list[str]:
    """The cache's messages, once each."""
    return logger_messages(caplog, LOGGER)


def conf_params() -> dict:
    with open(CONF / "parameters_upscaling.yml") as handle:
        return copy.deepcopy(yaml.safe_load(handle)["upscaling"])


def params(**overrides) -> dict:
    settings = conf_params()
    settings.update(device="cpu", precision="fp32", batch_size=2, shard_size=4)
    settings.update(overrides)
    return settings


def frames(n: int, seed: int = 0, side: int = SIDE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def generator_file(scale: int = FACTOR) -> dict:
    torch.manual_seed(0)
    model = SRResNet(channels=8, blocks=1, scale=scale)
    with torch.no_grad():
        torch.nn.init.normal_(model.tail.weight, std=0.02)
    return {"config": model.config(), "state_dict": model.state_dict()}


# nodes ---------------------------------------------------------------------------------------
def test_conf_names_every_setting_the_nodes_read():
    assert set(conf_params()) >= {"factor", "batch_size", "shard_size", "device", "precision"}
    assert conf_params()["factor"] == 4


def test_nodes_describe_jobs_with_the_params():
    lr = frames(3)
    generator = generator_file()
    sr = upscale_with_generator(lr, generator, params(batch_size=5, shard_size=9), name="sr_val")
    assert isinstance(sr, UpscaleJob)
    assert sr.lr is lr and sr.sr_generator is generator and sr.method == "srgan"
    assert (sr.factor, sr.batch_size, sr.shard_size, sr.device, sr.precision, sr.name) == (
        4, 5, 9, "cpu", "fp32", "sr_val")
    bicubic = upscale_bicubic(lr, params(), name="bicubic_val")
    assert bicubic.sr_generator is None and bicubic.method == "bicubic" and bicubic.name == "bicubic_val"
    assert bicubic.output_shape == (3, SIDE * FACTOR, SIDE * FACTOR, 3)


def test_nodes_default_the_settings_they_are_not_given():
    upscale = upscale_bicubic(frames(1), {})
    # batch_size "auto" is 8 off CUDA (this test machine has no GPU) and 256 on CUDA.
    expected_batch = 256 if torch.cuda.is_available() else 8
    assert (upscale.factor, upscale.batch_size, upscale.shard_size, upscale.device, upscale.precision) == (
        4, expected_batch, 512, "auto", "auto")


@pytest.mark.parametrize("value", [0, -3])
def test_batch_size_below_one_is_a_config_error(value):
    with pytest.raises(ConfigError, match=r"upscaling\.batch_size"):
        upscale_bicubic(frames(1), {"batch_size": value})


@pytest.mark.parametrize("scale", [2, 8])
def test_generator_scale_other_than_the_factor_is_a_config_error(scale):
    with pytest.raises(ConfigError, match=r"upscaling\.factor"):
        upscale_with_generator(frames(2), generator_file(scale=scale), params(factor=4))


def test_generator_matching_another_factor_is_accepted():
    upscale = upscale_with_generator(frames(2), generator_file(scale=2), params(factor=2))
    assert upscale.output_shape == (2, 2 * SIDE, 2 * SIDE, 3)


@pytest.mark.parametrize(
    "bad",
    [
        frames(2).astype(np.float32),                 # not uint8
        frames(2).astype(np.uint16),
        frames(2)[..., 0],                            # (N, H, W)
        frames(2)[0],                                 # one frame, (H, W, 3)
        np.zeros((2, SIDE, SIDE, 4), np.uint8),       # RGBA
        np.zeros((2, 3, SIDE, SIDE), np.uint8),       # channels first
    ],
    ids=["float32", "uint16", "no-channels", "single-frame", "rgba", "channels-first"],
)
@pytest.mark.parametrize("node", ["sr", "bicubic"])
def test_bad_input_is_a_config_error(bad, node):
    with pytest.raises(ConfigError, match="uint8 \\(N, H, W, 3\\)"):
        if node == "sr":
            upscale_with_generator(bad, generator_file(), params())
        else:
            upscale_bicubic(bad, params())


# the registered pipeline ---------------------------------------------------------------------
def test_registered_pipeline_wiring():
    upscaling = register_pipelines()["upscaling"]
    assert upscaling.inputs() == {"lr_train", "lr_val", "lr_test", "sr_generator", "params:upscaling"}
    assert upscaling.outputs() == {f"{kind}_{side}" for kind in ("sr", "bicubic") for side in SIDES}
    assert {node.name for node in upscaling.nodes} == {
        f"upscale_{kind}_{side}" for kind in ("sr", "bicubic") for side in SIDES}
    assert upscaling.nodes[0].inputs  # partials keep a usable signature


def make_catalog(folder: Path, lr: dict[str, np.ndarray], generator: dict) -> DataCatalog:
    catalog = DataCatalog()
    for side in SIDES:
        catalog[f"lr_{side}"] = lr[side]
        for kind in ("sr", "bicubic"):
            catalog[f"{kind}_{side}"] = CachedUpscaleDataset(filepath=str(folder / f"{kind}_{side}.npy"))
    catalog["sr_generator"] = generator
    catalog["params:upscaling"] = params()
    return catalog


def test_pipeline_slice_writes_all_six_outputs(tmp_path, cache_log):
    lr = {side: frames(COUNTS[side], seed=i) for i, side in enumerate(SIDES)}
    generator = generator_file()
    folder = tmp_path / "07_model_output"
    upscaling = register_pipelines()["upscaling"]

    catalog = make_catalog(folder, lr, generator)
    free = SequentialRunner().run(upscaling, catalog)

    # kedro 1.x hands back the pipeline's outputs as datasets
    assert set(free) == {f"{kind}_{side}" for kind in ("sr", "bicubic") for side in SIDES}
    assert all(free[name] is catalog[name] for name in free)
    for side in SIDES:
        for kind in ("sr", "bicubic"):
            dataset = catalog[f"{kind}_{side}"]
            assert dataset.exists()
            out = dataset.load()
            assert isinstance(out, np.memmap)
            assert out.shape == (COUNTS[side], SIDE * FACTOR, SIDE * FACTOR, 3) and out.dtype == np.uint8
        assert np.array_equal(catalog[f"bicubic_{side}"].load(), bicubic_reference(lr[side]))
        assert np.array_equal(catalog[f"sr_{side}"].load(), generator_reference(lr[side], generator))
    assert sorted(path.name for path in folder.iterdir() if not path.name.endswith(".meta.json")) == sorted(
        f"{kind}_{side}.npy" for kind in ("sr", "bicubic") for side in SIDES)  # no partial files left
    misses = [m for m in messages(cache_log) if "cache miss" in m]
    assert {m.split(":")[0] for m in misses} == {f"{kind}_{side}" for kind in ("sr", "bicubic") for side in SIDES}

    # A second run on a fresh catalog over the same files computes nothing.
    cache_log.clear()
    mtimes = {path.name: path.stat().st_mtime_ns for path in folder.glob("*.npy")}
    SequentialRunner().run(upscaling, make_catalog(folder, lr, generator))
    hits = [m for m in messages(cache_log) if "cache hit" in m]
    assert len(hits) == 6
    assert {path.name: path.stat().st_mtime_ns for path in folder.glob("*.npy")} == mtimes
