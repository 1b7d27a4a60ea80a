"""The upscaling stage: its nodes (the work happens there, through the cache), publishing their
output by a hard link, the clean64 frames, srgan_self's and srgan_pretrained's skips, and the registered pipeline run on
a tiny catalog."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from faceless import inference
from faceless.data.datasets import NpyArrayDataset
from faceless.distributed.launch import free_port
from faceless.models.generator import LEGACY_LAYOUT, SRResNet
from faceless.models.pretrained import read_generator_file
from faceless.pipeline_registry import register_pipelines
from faceless.pipelines.upscaling.nodes import make_clean64, upscale_bicubic, upscale_with_generator
from faceless.utils.errors import ConfigError
from tests.gloo import other_machine

from ..conftest import base_params, bicubic_reference, generator_reference, logger_messages
from ..models.pretrained_files import basicsr_state, write_basicsr_pth
from ..models.test_pretrained import msrresnet_reference

LOGGER = "faceless.inference"
SIDES = ("train", "val", "test")
SIDE, FACTOR = 8, 4
COUNTS = {"train": 7, "val": 3, "test": 2}
#: What goes through the upscaling cache (clean64 is a plain downscale: no cache).
CACHED = {f"{kind}_{side}" for kind in ("sr", "sr_self", "sr_id", "sr_pretrained", "bicubic") for side in SIDES}
OUTPUTS = CACHED | {f"clean64_{side}" for side in SIDES}
SKIPPED = {"skipped": "srgan.self_variant is false"}
SKIPPED_ID = {"skipped": "srgan.id_variant is false"}
NOT_IMPORTED = {"skipped": "srgan.pretrained_weights is null"}
EMPTY = np.zeros((0, 0, 0, 3), dtype=np.uint8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def cache_log(logger_records):
    return logger_records(LOGGER)


def messages(caplog) -> list[str]:
    """The cache's messages, once each."""
    return logger_messages(caplog, LOGGER)


def params(cache_dir: Path, **overrides) -> dict:
    """``params:upscaling`` from conf/base, made tiny and CPU-only."""
    settings = {"device": "cpu", "precision": "fp32", "batch_size": 2, "shard_size": 4,
                "cache_dir": str(cache_dir), **overrides}
    return base_params("upscaling", **settings)


def frames(n: int, seed: int = 0, side: int = SIDE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def generator_file(scale: int = FACTOR, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    model = SRResNet(channels=8, blocks=1, scale=scale, bicubic_skip=True, **LEGACY_LAYOUT)
    with torch.no_grad():
        torch.nn.init.normal_(model.tail.weight, std=0.02)
    return {"config": model.config(), "state_dict": model.state_dict()}


# nodes ---------------------------------------------------------------------------------------
def test_conf_names_every_setting_the_nodes_read():
    assert set(base_params("upscaling")) == {"factor", "batch_size", "shard_size", "device", "precision",
                                              "cache_dir", "distributed"}
    assert base_params("upscaling")["factor"] == 4


def test_nodes_upscale_with_the_params(tmp_path):
    lr = frames(3)
    generator = generator_file()
    sr = upscale_with_generator(lr, generator, params(tmp_path, batch_size=5, shard_size=9), name="sr_val")
    assert isinstance(sr, np.memmap) and Path(sr.filename) == tmp_path / "sr_val.npy"
    assert np.array_equal(sr, generator_reference(lr, generator))
    bicubic = upscale_bicubic(lr, params(tmp_path), name="bicubic_val")
    assert isinstance(bicubic, np.memmap) and Path(bicubic.filename) == tmp_path / "bicubic_val.npy"
    assert bicubic.shape == (3, SIDE * FACTOR, SIDE * FACTOR, 3)
    assert np.array_equal(bicubic, bicubic_reference(lr))


def test_nodes_take_no_setting_from_code():
    """conf/ is the only source of defaults: a node given no settings names what is missing."""
    with pytest.raises(ConfigError, match=r"missing parameter upscaling\.") as error:
        upscale_bicubic(frames(1), {}, name="bicubic_val")
    assert "\n" not in str(error.value)


def test_an_unknown_key_in_params_upscaling_is_one_config_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown parameter upscaling\.batchsize") as error:
        upscale_bicubic(frames(1), {**params(tmp_path), "batchsize": 4}, name="bicubic_val")
    assert "\n" not in str(error.value)
    assert not any(tmp_path.iterdir())  # raised before any work


@pytest.mark.parametrize("batch_size", [{"cuda": 256, "mps": 8, "cpu": 3}, 3], ids=["per-device", "one-int"])
def test_batch_size_per_device_type_or_one_int(tmp_path, monkeypatch, batch_size):
    real_stream = inference._stream_upscale
    seen = []

    def stream(lr, generator, factor, out, batches, *args):
        seen.extend(batches)
        return real_stream(lr, generator, factor, out, batches, *args)

    monkeypatch.setattr(inference, "_stream_upscale", stream)
    lr = frames(7)
    out = upscale_bicubic(lr, params(tmp_path, batch_size=batch_size, shard_size=512), name="bicubic_val")
    assert seen == [(0, 3), (3, 6), (6, 7)]  # the cpu entry, or the one number
    assert np.array_equal(out, bicubic_reference(lr))


@pytest.mark.parametrize("value", [0, -3, {"cuda": 256, "cpu": 0}])
def test_batch_size_below_one_is_a_config_error(tmp_path, value):
    with pytest.raises(ConfigError, match=r"upscaling\.batch_size"):
        upscale_bicubic(frames(1), params(tmp_path, batch_size=value), name="bicubic_val")


@pytest.mark.parametrize("scale", [2, 8])
def test_generator_scale_other_than_the_factor_is_a_config_error(tmp_path, scale):
    with pytest.raises(ConfigError, match=r"upscaling\.factor"):
        upscale_with_generator(frames(2), generator_file(scale=scale), params(tmp_path, factor=4), name="sr_val")


def test_generator_matching_another_factor_is_accepted(tmp_path):
    out = upscale_with_generator(frames(2), generator_file(scale=2), params(tmp_path, factor=2), name="sr_val")
    assert out.shape == (2, 2 * SIDE, 2 * SIDE, 3)


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
def test_bad_input_is_a_config_error(tmp_path, bad, node):
    with pytest.raises(ConfigError, match="uint8 \\(N, H, W, 3\\)"):
        if node == "sr":
            upscale_with_generator(bad, generator_file(), params(tmp_path), name="sr_val")
        else:
            upscale_bicubic(bad, params(tmp_path), name="bicubic_val")


def test_a_skipped_generator_gives_no_frames_and_computes_nothing(tmp_path):
    out = upscale_with_generator(frames(3), SKIPPED, params(tmp_path / "cache"), name="sr_self_train")
    assert out.shape == (0, SIDE * FACTOR, SIDE * FACTOR, 3) and out.dtype == np.uint8
    assert not (tmp_path / "cache").exists()


def area_reference(hr: np.ndarray, factor: int) -> np.ndarray:
    """Independently: the exact mean of each factor x factor block, rounded half to even."""
    n, h, w, c = hr.shape
    blocks = hr.astype(np.float64).reshape(n, h // factor, factor, w // factor, factor, c)
    return np.round(blocks.mean(axis=(2, 4))).astype(np.uint8)


def test_clean64_is_the_truth_area_downscaled_by_the_factor(tmp_path):
    hr = frames(4, seed=3, side=SIDE * FACTOR)
    out = make_clean64(hr, params(tmp_path / "cache"), name="clean64_train")
    assert out.shape == (4, SIDE, SIDE, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, area_reference(hr, FACTOR))
    half = make_clean64(hr, params(tmp_path / "cache", factor=2), name="clean64_train")
    np.testing.assert_array_equal(half, area_reference(hr, 2))
    assert not (tmp_path / "cache").exists()  # nothing cached: a downscale is cheap


def test_clean64_without_truth_is_empty(tmp_path):
    out = make_clean64(EMPTY, params(tmp_path), name="clean64_train")
    assert out.shape == (0, 0, 0, 3) and out.dtype == np.uint8


def test_clean64_checks_its_parameters():
    with pytest.raises(ConfigError, match=r"missing parameter upscaling\."):
        make_clean64(frames(1, side=SIDE * FACTOR), {}, name="clean64_train")


# the node's output, published by the catalog's dataset ---------------------------------------
def test_the_published_output_is_a_hard_link_of_the_cache_file(tmp_path, cache_log):
    lr = frames(5)
    generator = generator_file()
    cache, published = tmp_path / "cache" / "sr_train.npy", tmp_path / "07_model_output" / "sr_train.npy"
    dataset = NpyArrayDataset(filepath=str(published))

    dataset.save(upscale_with_generator(lr, generator, params(cache.parent), name="sr_train"))

    assert published.stat().st_ino == cache.stat().st_ino and cache.stat().st_nlink == 2
    loaded = dataset.load()
    assert isinstance(loaded, np.memmap) and np.array_equal(loaded, generator_reference(lr, generator))
    assert sorted(p.name for p in published.parent.iterdir()) == ["sr_train.npy"]  # no temporary left
    cache_log.clear()

    # A rerun of node and save: a cache hit that keeps the published file as it was.
    mtime = published.stat().st_mtime_ns
    dataset.save(upscale_with_generator(lr.copy(), generator_file(), params(cache.parent), name="sr_train"))
    assert any("sr_train: cache hit" in message for message in messages(cache_log))
    assert published.stat().st_ino == cache.stat().st_ino and cache.stat().st_nlink == 2
    assert published.stat().st_mtime_ns == mtime
    assert np.array_equal(dataset.load(), generator_reference(lr, generator))


def test_a_miss_after_publishing_leaves_the_published_file_whole(tmp_path):
    """The cache replaces its entry by a rename, so the old published link keeps the old frames
    until the dataset publishes the new ones."""
    old_lr, new_lr = frames(5, seed=1), frames(5, seed=2)
    published = tmp_path / "out" / "bicubic_train.npy"
    dataset = NpyArrayDataset(filepath=str(published))
    dataset.save(upscale_bicubic(old_lr, params(tmp_path / "cache"), name="bicubic_train"))

    new = upscale_bicubic(new_lr, params(tmp_path / "cache"), name="bicubic_train")
    assert np.array_equal(dataset.load(), bicubic_reference(old_lr))
    dataset.save(new)
    assert np.array_equal(dataset.load(), bicubic_reference(new_lr))
    assert published.stat().st_ino == (tmp_path / "cache" / "bicubic_train.npy").stat().st_ino


# the registered pipeline ---------------------------------------------------------------------
def test_registered_pipeline_wiring():
    upscaling = register_pipelines()["upscaling"]
    assert upscaling.inputs() == {"lr_train", "lr_val", "lr_test", "hr_train", "hr_val", "hr_test", "sr_generator",
                                  "sr_generator_self", "sr_generator_id", "sr_generator_pretrained",
                                  "params:upscaling"}
    assert upscaling.outputs() == OUTPUTS
    assert {node.name for node in upscaling.nodes} == (
        {f"upscaling.upscale_{name}" for name in CACHED} | {f"upscaling.make_clean64_{side}" for side in SIDES})
    assert {node.namespace for node in upscaling.nodes} == {"upscaling"}
    assert upscaling.nodes[0].inputs  # partials keep a usable signature
    by_name = {node.name: node for node in upscaling.nodes}
    assert by_name["upscaling.upscale_sr_self_val"].inputs == ["lr_val", "sr_generator_self", "params:upscaling"]
    assert by_name["upscaling.upscale_sr_id_test"].inputs == ["lr_test", "sr_generator_id", "params:upscaling"]
    assert by_name["upscaling.upscale_sr_pretrained_test"].inputs == ["lr_test", "sr_generator_pretrained",
                                                                      "params:upscaling"]
    assert by_name["upscaling.make_clean64_test"].inputs == ["hr_test", "params:upscaling"]


def make_catalog(folder: Path, cache_dir: Path, lr: dict[str, np.ndarray], generator: dict,
                 hr: dict[str, np.ndarray], generator_self: dict, generator_id: dict,
                 generator_pretrained: dict) -> DataCatalog:
    """sr_* / sr_self_* / sr_id_* / sr_pretrained_* / bicubic_* / clean64_* as conf/base/catalog.yml declares
    them: NpyArrayDataset files."""
    catalog = DataCatalog()
    for side in SIDES:
        catalog[f"lr_{side}"] = lr[side]
        catalog[f"hr_{side}"] = hr[side]
        for kind in ("sr", "sr_self", "sr_id", "sr_pretrained", "bicubic", "clean64"):
            catalog[f"{kind}_{side}"] = NpyArrayDataset(filepath=str(folder / f"{kind}_{side}.npy"))
    catalog["sr_generator"] = generator
    catalog["sr_generator_self"] = generator_self
    catalog["sr_generator_id"] = generator_id
    catalog["sr_generator_pretrained"] = generator_pretrained
    catalog["params:upscaling"] = params(cache_dir)
    return catalog


def test_pipeline_slice_writes_every_output(tmp_path, cache_log):
    lr = {side: frames(COUNTS[side], seed=i) for i, side in enumerate(SIDES)}
    hr = {side: frames(COUNTS[side], seed=10 + i, side=SIDE * FACTOR) for i, side in enumerate(SIDES)}
    generator, generator_self, generator_id = generator_file(), generator_file(seed=1), generator_file(seed=2)
    # srgan_pretrained's: BasicSR's MSRResNet, imported from a .pth as the srgan stage does
    state = basicsr_state(channels=8, blocks=1, scale=FACTOR, seed=2)
    pth = write_basicsr_pth(tmp_path / "MSRResNet_x4.pth", state)
    generator_pretrained = read_generator_file(pth, "srgan.pretrained_weights").saved
    folder, cache_dir = tmp_path / "07_model_output", tmp_path / "07_model_output" / "upscale_cache"
    upscaling = register_pipelines()["upscaling"]

    catalog = make_catalog(folder, cache_dir, lr, generator, hr, generator_self, generator_id, generator_pretrained)
    free = SequentialRunner().run(upscaling, catalog)

    # kedro 1.x hands back the pipeline's outputs as datasets
    assert set(free) == OUTPUTS
    assert all(free[name] is catalog[name] for name in free)
    for side in SIDES:
        for kind in ("sr", "sr_self", "sr_id", "sr_pretrained", "bicubic"):
            name = f"{kind}_{side}"
            dataset = catalog[name]
            assert dataset.exists()
            out = dataset.load()
            assert isinstance(out, np.memmap)
            assert out.shape == (COUNTS[side], SIDE * FACTOR, SIDE * FACTOR, 3) and out.dtype == np.uint8
            assert (folder / f"{name}.npy").stat().st_ino == (cache_dir / f"{name}.npy").stat().st_ino
        assert np.array_equal(catalog[f"bicubic_{side}"].load(), bicubic_reference(lr[side]))
        assert np.array_equal(catalog[f"sr_{side}"].load(), generator_reference(lr[side], generator))
        # srgan_self's frames: its own generator, its own cache entry
        assert np.array_equal(catalog[f"sr_self_{side}"].load(), generator_reference(lr[side], generator_self))
        assert not np.array_equal(catalog[f"sr_self_{side}"].load(), catalog[f"sr_{side}"].load())
        assert np.array_equal(catalog[f"sr_id_{side}"].load(), generator_reference(lr[side], generator_id))
        # srgan_pretrained's: BasicSR's MSRResNet as the functional reference computes it (to rounding)
        x = torch.from_numpy(lr[side]).permute(0, 3, 1, 2).float() / 255
        expected = (msrresnet_reference(state, x, FACTOR).clamp(0, 1) * 255).round().permute(0, 2, 3, 1).numpy()
        assert np.abs(catalog[f"sr_pretrained_{side}"].load().astype(float) - expected).max() <= 1
        assert np.array_equal(catalog[f"clean64_{side}"].load(), area_reference(hr[side], FACTOR))
    assert sorted(path.name for path in folder.iterdir() if path.is_file()) == sorted(
        f"{name}.npy" for name in OUTPUTS)  # no temporary files left
    assert sorted(path.name for path in cache_dir.iterdir() if not path.name.endswith((".meta.json", ".lock"))) == sorted(
        f"{name}.npy" for name in CACHED)  # no partial files left
    misses = [m for m in messages(cache_log) if "cache miss" in m]
    assert {m.split(":")[0] for m in misses} == CACHED

    # A second run on a fresh catalog over the same files computes nothing.
    cache_log.clear()
    cached_files = {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in folder.glob("*.npy")
                    if path.stem in CACHED}
    SequentialRunner().run(upscaling, make_catalog(folder, cache_dir, lr, generator, hr, generator_self, generator_id,
                                                   generator_pretrained))
    hits = [m for m in messages(cache_log) if "cache hit" in m]
    assert {m.split(":")[0] for m in hits} == CACHED and len(hits) == len(CACHED)
    assert not any("cache miss" in m for m in messages(cache_log))
    assert {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in folder.glob("*.npy")
            if path.stem in CACHED} == cached_files


def test_pipeline_slice_without_truth_passes_the_skips_on(tmp_path):
    """A source without truth: srgan_self was skipped and there is no hr (and srgan_id is off); their
    outputs are empty files (the classifier stage reports each as skipped with its reason), the rest as always."""
    lr = {side: frames(COUNTS[side], seed=i) for i, side in enumerate(SIDES)}
    folder = tmp_path / "07_model_output"
    catalog = make_catalog(folder, folder / "upscale_cache", lr, generator_file(), {side: EMPTY for side in SIDES},
                           SKIPPED, SKIPPED_ID, NOT_IMPORTED)
    SequentialRunner().run(register_pipelines()["upscaling"], catalog)
    for side in SIDES:
        assert catalog[f"sr_self_{side}"].load().shape == (0, SIDE * FACTOR, SIDE * FACTOR, 3)
        assert catalog[f"sr_id_{side}"].load().shape == (0, SIDE * FACTOR, SIDE * FACTOR, 3)
        assert catalog[f"sr_pretrained_{side}"].load().shape == (0, SIDE * FACTOR, SIDE * FACTOR, 3)
        assert catalog[f"clean64_{side}"].load().shape == (0, 0, 0, 3)
        assert catalog[f"sr_{side}"].load().shape == (COUNTS[side], SIDE * FACTOR, SIDE * FACTOR, 3)
    assert not (folder / "upscale_cache" / "sr_self_train.npy").exists()


def assert_as_one_process_wrote(sharded: np.ndarray, one: np.ndarray, exact: bool) -> None:
    """Bicubic: byte for byte. SR: equal up to the convolutions' float rounding, which depends on each
    process's thread count (oneDNN's fp32 kernels sum in another order): a value may be 1 off in 8
    bits, rarely (seen: 1 of 640k values, AVX2 fp32, 1 vs 2 threads)."""
    sharded, one = np.asarray(sharded), np.asarray(one)
    assert sharded.shape == one.shape
    if exact:
        assert sharded.tobytes() == one.tobytes()
        return
    off = np.abs(sharded.astype(np.int16) - one.astype(np.int16))
    assert off.max() <= 1 and np.count_nonzero(off) <= max(1, off.size // 10_000)


@pytest.mark.slow
def test_two_processes_write_the_bytes_of_one(tmp_path):
    """``upscaling.distributed.nproc=2``: two gloo workers started by faceless.distributed.launch share
    the shards of one entry; the output equals the one-process output (bicubic byte for byte, SR up to
    float rounding: :func:`assert_as_one_process_wrote`), under the same key."""
    np.save(tmp_path / "lr.npy", frames(22, seed=3))
    lr = np.load(tmp_path / "lr.npy", mmap_mode="r")  # as the catalog loads it: travels by its file
    generator = generator_file()
    two = {**base_params("upscaling")["distributed"], "nproc": 2, "backend": "gloo"}
    for name, node, args in (("sr_train", upscale_with_generator, (lr, generator)),
                             ("bicubic_train", upscale_bicubic, (lr,))):
        one = node(*args, params(tmp_path / "one", shard_size=3), name=name)
        sharded = node(*args, params(tmp_path / "two", shard_size=3, distributed=two), name=name)
        assert_as_one_process_wrote(sharded, one, exact=name.startswith("bicubic"))
        records = [json.loads((tmp_path / run / f"{name}.meta.json").read_text()) for run in ("one", "two")]
        assert records[0]["key"] == records[1]["key"]
        assert (records[0]["processes"], records[1]["processes"]) == (1, 2)
        assert not (tmp_path / "two" / f"{name}.partial.npy").exists()


@pytest.mark.slow
def test_two_machines_on_localhost_write_the_bytes_of_one(tmp_path):
    """``nnodes=2``, one process each: node 0 is the node's launch, node 1 the worker CLI as another
    machine runs it (the job, the input's path and the partial file's reach it through rank 0 and
    the shared folder); the entry equals one process's (:func:`assert_as_one_process_wrote`)."""
    np.save(tmp_path / "lr.npy", frames(13, seed=4))
    lr = np.load(tmp_path / "lr.npy", mmap_mode="r")
    generator = generator_file()
    master = f"127.0.0.1:{free_port()}"
    two = {**base_params("upscaling")["distributed"], "nproc": 1, "nnodes": 2, "master": master,
           "backend": "gloo", "timeout_s": 120}
    with other_machine(master):
        sharded = upscale_with_generator(lr, generator, params(tmp_path / "two", shard_size=3, distributed=two),
                                         name="sr_train")
    one = upscale_with_generator(lr, generator, params(tmp_path / "one", shard_size=3), name="sr_train")
    assert_as_one_process_wrote(sharded, one, exact=False)
    assert json.loads((tmp_path / "two" / "sr_train.meta.json").read_text())["processes"] == 2
