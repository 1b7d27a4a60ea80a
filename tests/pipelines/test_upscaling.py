"""The upscaling stage: its nodes (the work happens there, through the cache), publishing their
output by a hard link, the clean64 frames, a skipped generator's empty arrays, and the pipeline built from
conf's variants (one namespace per variant whose input is made here) run on a tiny catalog."""
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
from faceless.pipelines import context
from faceless.pipeline_registry import build_pipelines, register_pipelines
from faceless.pipelines.upscaling.nodes import downscale_truth, upscale_bicubic, upscale_with_generator
from faceless.utils.errors import ConfigError
from tests.gloo import other_machine

from ..conftest import base_params, bicubic_reference, generator_reference, logger_messages
from ..models.pretrained_files import basicsr_state, write_basicsr_pth
from ..models.test_pretrained import msrresnet_reference

LOGGER = "faceless.inference"
SIDES = ("train", "val", "test")
SIDE, FACTOR = 8, 4
COUNTS = {"train": 7, "val": 3, "test": 2}
#: The variants whose input goes through the upscaling cache (clean64 is a plain downscale: no cache).
GENERATORS = ("srgan", "srgan_self", "srgan_id", "srgan_pretrained")
CACHED = {f"{variant}_{side}" for variant in (*GENERATORS, "bicubic") for side in SIDES}
OUTPUTS = CACHED | {f"clean64_{side}" for side in SIDES}
SKIPPED = {"skipped": "srgan_self runs where the source has high-resolution truth (requires: truth): this one has none"}
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
    sr = upscale_with_generator(lr, generator, params(tmp_path, batch_size=5, shard_size=9), name="srgan_val")
    assert isinstance(sr, np.memmap) and Path(sr.filename) == tmp_path / "srgan_val.npy"
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
        upscale_with_generator(frames(2), generator_file(scale=scale), params(tmp_path, factor=4), name="srgan_val")


def test_generator_matching_another_factor_is_accepted(tmp_path):
    out = upscale_with_generator(frames(2), generator_file(scale=2), params(tmp_path, factor=2), name="srgan_val")
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
            upscale_with_generator(bad, generator_file(), params(tmp_path), name="srgan_val")
        else:
            upscale_bicubic(bad, params(tmp_path), name="bicubic_val")


def test_a_skipped_generator_gives_no_frames_and_computes_nothing(tmp_path):
    out = upscale_with_generator(frames(3), SKIPPED, params(tmp_path / "cache"), name="srgan_self_train")
    assert out.shape == (0, SIDE * FACTOR, SIDE * FACTOR, 3) and out.dtype == np.uint8
    assert not (tmp_path / "cache").exists()


def area_reference(hr: np.ndarray, factor: int) -> np.ndarray:
    """Independently: the exact mean of each factor x factor block, rounded half to even."""
    n, h, w, c = hr.shape
    blocks = hr.astype(np.float64).reshape(n, h // factor, factor, w // factor, factor, c)
    return np.round(blocks.mean(axis=(2, 4))).astype(np.uint8)


def test_clean64_is_the_truth_area_downscaled_by_the_factor(tmp_path):
    hr = frames(4, seed=3, side=SIDE * FACTOR)
    out = downscale_truth(hr, params(tmp_path / "cache"), name="clean64_train")
    assert out.shape == (4, SIDE, SIDE, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, area_reference(hr, FACTOR))
    half = downscale_truth(hr, params(tmp_path / "cache", factor=2), name="clean64_train")
    np.testing.assert_array_equal(half, area_reference(hr, 2))
    assert not (tmp_path / "cache").exists()  # nothing cached: a downscale is cheap


def test_clean64_without_truth_is_empty(tmp_path):
    out = downscale_truth(EMPTY, params(tmp_path), name="clean64_train")
    assert out.shape == (0, 0, 0, 3) and out.dtype == np.uint8


def test_clean64_checks_its_parameters():
    with pytest.raises(ConfigError, match=r"missing parameter upscaling\."):
        downscale_truth(frames(1, side=SIDE * FACTOR), {}, name="clean64_train")


# the node's output, published by the catalog's dataset ---------------------------------------
def test_the_published_output_is_a_hard_link_of_the_cache_file(tmp_path, cache_log):
    lr = frames(5)
    generator = generator_file()
    cache, published = tmp_path / "cache" / "srgan_train.npy", tmp_path / "07_model_output" / "srgan_train.npy"
    dataset = NpyArrayDataset(filepath=str(published))

    dataset.save(upscale_with_generator(lr, generator, params(cache.parent), name="srgan_train"))

    assert published.stat().st_ino == cache.stat().st_ino and cache.stat().st_nlink == 2
    loaded = dataset.load()
    assert isinstance(loaded, np.memmap) and np.array_equal(loaded, generator_reference(lr, generator))
    assert sorted(p.name for p in published.parent.iterdir()) == ["srgan_train.npy"]  # no temporary left
    cache_log.clear()

    # A rerun of node and save: a cache hit that keeps the published file as it was.
    mtime = published.stat().st_mtime_ns
    dataset.save(upscale_with_generator(lr.copy(), generator_file(), params(cache.parent), name="srgan_train"))
    assert any("srgan_train: cache hit" in message for message in messages(cache_log))
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


# the pipeline built from conf's variants --------------------------------------------------------
def upscaling_pipeline(**overrides):
    """The upscaling pipeline build_pipelines makes of conf/base's variants with ``overrides``."""
    parameters = {"variants": base_params("variants", **overrides), "predict": base_params("predict")}
    return build_pipelines(parameters)["upscaling"]


#: Every variant whose input this stage makes, switched on (conf/base runs srgan and bicubic alone).
ALL_ON = {"srgan_self__enabled": True, "srgan_id__enabled": True, "clean64__enabled": True,
          "srgan_pretrained__import": "MSRResNet_x4.pth"}


def test_pipeline_wiring_is_one_namespace_per_variant_that_is_on():
    upscaling = upscaling_pipeline(**ALL_ON)
    assert upscaling.inputs() == {"lr_train", "lr_val", "lr_test", "hr_train", "hr_val", "hr_test",
                                  *(f"sr_generator_{v}" for v in GENERATORS), "params:upscaling"}
    assert upscaling.outputs() == OUTPUTS
    assert {node.name for node in upscaling.nodes} == (
        {f"upscaling.{v}.upscale_{side}" for v in (*GENERATORS, "bicubic") for side in SIDES}
        | {f"upscaling.clean64.downscale_{side}" for side in SIDES})
    assert {node.namespace for node in upscaling.nodes} == {f"upscaling.{v}" for v in (*GENERATORS, "bicubic",
                                                                                       "clean64")}
    assert upscaling.nodes[0].inputs  # partials keep a usable signature
    by_name = {node.name: node for node in upscaling.nodes}
    assert by_name["upscaling.srgan_self.upscale_val"].inputs == ["lr_val", "sr_generator_srgan_self",
                                                                  "params:upscaling"]
    assert by_name["upscaling.srgan_id.upscale_test"].inputs == ["lr_test", "sr_generator_srgan_id", "params:upscaling"]
    assert by_name["upscaling.srgan_pretrained.upscale_test"].inputs == ["lr_test", "sr_generator_srgan_pretrained",
                                                                         "params:upscaling"]
    assert by_name["upscaling.bicubic.upscale_train"].inputs == ["lr_train", "params:upscaling"]
    assert by_name["upscaling.clean64.downscale_test"].inputs == ["hr_test", "params:upscaling"]


def test_a_variant_that_is_off_or_not_made_here_has_no_upscaling_node(monkeypatch):
    """conf/base: srgan and bicubic (lr and hr are the frames and the truth as they are; the controls are off)."""
    expected = {f"{v}_{side}" for v in ("srgan", "bicubic") for side in SIDES}
    assert upscaling_pipeline().outputs() == expected
    assert upscaling_pipeline(bicubic__enabled=False).outputs() == {f"srgan_{side}" for side in SIDES}
    # the registry without a Kedro context reads conf/base
    monkeypatch.setattr(context, "_ACTIVE", {})
    assert register_pipelines()["upscaling"].outputs() == expected


def make_catalog(folder: Path, cache_dir: Path, lr: dict[str, np.ndarray], hr: dict[str, np.ndarray],
                 generators: dict[str, dict]) -> DataCatalog:
    """``<variant>_<side>`` as conf/base/catalog.yml's pattern declares them: NpyArrayDataset files;
    ``sr_generator_<variant>`` for each of ``generators``."""
    catalog = DataCatalog()
    for side in SIDES:
        catalog[f"lr_{side}"] = lr[side]
        catalog[f"hr_{side}"] = hr[side]
        for variant in (*generators, "bicubic", "clean64"):
            catalog[f"{variant}_{side}"] = NpyArrayDataset(filepath=str(folder / f"{variant}_{side}.npy"))
    for variant, generator in generators.items():
        catalog[f"sr_generator_{variant}"] = generator
    catalog["params:upscaling"] = params(cache_dir)
    return catalog


def test_pipeline_slice_writes_every_output(tmp_path, cache_log):
    lr = {side: frames(COUNTS[side], seed=i) for i, side in enumerate(SIDES)}
    hr = {side: frames(COUNTS[side], seed=10 + i, side=SIDE * FACTOR) for i, side in enumerate(SIDES)}
    # srgan_pretrained's: BasicSR's MSRResNet, imported from a .pth as the srgan stage does
    state = basicsr_state(channels=8, blocks=1, scale=FACTOR, seed=2)
    pth = write_basicsr_pth(tmp_path / "MSRResNet_x4.pth", state)
    generators = {"srgan": generator_file(), "srgan_self": generator_file(seed=1), "srgan_id": generator_file(seed=2),
                  "srgan_pretrained": read_generator_file(pth, "variants.srgan_pretrained.import").saved}
    folder, cache_dir = tmp_path / "07_model_output", tmp_path / "07_model_output" / "upscale_cache"
    upscaling = upscaling_pipeline(**{**ALL_ON, "srgan_pretrained__import": str(pth)})

    catalog = make_catalog(folder, cache_dir, lr, hr, generators)
    free = SequentialRunner().run(upscaling, catalog)

    # kedro 1.x hands back the pipeline's outputs as datasets
    assert set(free) == OUTPUTS
    assert all(free[name] is catalog[name] for name in free)
    for side in SIDES:
        for variant in (*GENERATORS, "bicubic"):
            name = f"{variant}_{side}"
            dataset = catalog[name]
            assert dataset.exists()
            out = dataset.load()
            assert isinstance(out, np.memmap)
            assert out.shape == (COUNTS[side], SIDE * FACTOR, SIDE * FACTOR, 3) and out.dtype == np.uint8
            assert (folder / f"{name}.npy").stat().st_ino == (cache_dir / f"{name}.npy").stat().st_ino
        assert np.array_equal(catalog[f"bicubic_{side}"].load(), bicubic_reference(lr[side]))
        assert np.array_equal(catalog[f"srgan_{side}"].load(), generator_reference(lr[side], generators["srgan"]))
        # srgan_self's frames: its own generator, its own cache entry
        assert np.array_equal(catalog[f"srgan_self_{side}"].load(),
                              generator_reference(lr[side], generators["srgan_self"]))
        assert not np.array_equal(catalog[f"srgan_self_{side}"].load(), catalog[f"srgan_{side}"].load())
        assert np.array_equal(catalog[f"srgan_id_{side}"].load(), generator_reference(lr[side], generators["srgan_id"]))
        # srgan_pretrained's: BasicSR's MSRResNet as the functional reference computes it (to rounding)
        x = torch.from_numpy(lr[side]).permute(0, 3, 1, 2).float() / 255
        expected = (msrresnet_reference(state, x, FACTOR).clamp(0, 1) * 255).round().permute(0, 2, 3, 1).numpy()
        assert np.abs(catalog[f"srgan_pretrained_{side}"].load().astype(float) - expected).max() <= 1
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
    SequentialRunner().run(upscaling, make_catalog(folder, cache_dir, lr, hr, generators))
    hits = [m for m in messages(cache_log) if "cache hit" in m]
    assert {m.split(":")[0] for m in hits} == CACHED and len(hits) == len(CACHED)
    assert not any("cache miss" in m for m in messages(cache_log))
    assert {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in folder.glob("*.npy")
            if path.stem in CACHED} == cached_files


def test_pipeline_slice_without_truth_passes_the_skips_on(tmp_path):
    """A source without truth, the controls on (``--env controls``): srgan_self was skipped and there is
    no truth to downscale; their outputs are empty files (the classifier stage reports each as skipped
    with its reason), the rest as always. srgan_id and srgan_pretrained are off: nothing of theirs."""
    lr = {side: frames(COUNTS[side], seed=i) for i, side in enumerate(SIDES)}
    folder = tmp_path / "07_model_output"
    upscaling = upscaling_pipeline(srgan_self__enabled=True, clean64__enabled=True)
    assert not {f"{v}_{side}" for v in ("srgan_id", "srgan_pretrained") for side in SIDES} & upscaling.all_outputs()
    catalog = make_catalog(folder, folder / "upscale_cache", lr, {side: EMPTY for side in SIDES},
                           {"srgan": generator_file(), "srgan_self": SKIPPED})
    SequentialRunner().run(upscaling, catalog)
    for side in SIDES:
        assert catalog[f"srgan_self_{side}"].load().shape == (0, SIDE * FACTOR, SIDE * FACTOR, 3)
        assert catalog[f"clean64_{side}"].load().shape == (0, 0, 0, 3)
        assert catalog[f"srgan_{side}"].load().shape == (COUNTS[side], SIDE * FACTOR, SIDE * FACTOR, 3)
        assert catalog[f"bicubic_{side}"].load().shape == (COUNTS[side], SIDE * FACTOR, SIDE * FACTOR, 3)
    assert not (folder / "upscale_cache" / "srgan_self_train.npy").exists()
    assert not list(folder.glob("srgan_id_*")) and not list(folder.glob("srgan_pretrained_*"))


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
    for name, node, args in (("srgan_train", upscale_with_generator, (lr, generator)),
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
                                         name="srgan_train")
    one = upscale_with_generator(lr, generator, params(tmp_path / "one", shard_size=3), name="srgan_train")
    assert_as_one_process_wrote(sharded, one, exact=False)
    assert json.loads((tmp_path / "two" / "srgan_train.meta.json").read_text())["processes"] == 2
