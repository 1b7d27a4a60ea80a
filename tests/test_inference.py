"""Tests for faceless.inference's upscaling: upscale_cached (the content-keyed, resumable cache),
upscale_key, UpscaleConfig and the digests its key is made of.

Everything runs on the CPU with a tiny generator (8 channels, 1 block) on 8x8 frames.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from faceless import inference
from faceless.inference import UpscaleConfig, upscale_cached, upscale_key
from faceless.models.generator import LEGACY_LAYOUT, SRResNet
from faceless.training.tracker import MemoryTracker
from faceless.utils.config import from_params
from faceless.utils.digest import array_digest, weights_digest
from faceless.utils.errors import ConfigError

from .conftest import base_params, bicubic_reference, generator_reference, logger_messages

LOGGER = "faceless.inference"
SIDE = 8
FACTOR = 4


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def cache_log(logger_records):
    """Records of the engine's logger, whatever propagation another test's logging config left."""
    return logger_records(LOGGER)


def messages(caplog) -> list[str]:
    """The engine's messages, once each."""
    return logger_messages(caplog, LOGGER)


# helpers -------------------------------------------------------------------------------------
def frames(n: int = 20, side: int = SIDE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def generator_file(seed: int = 0, trained: bool = True, **overrides) -> dict:
    """A tiny generator as the srgan stage saves it: config + state_dict.

    ``trained`` gives the (otherwise zero) tail random weights, so the output is not bicubic.
    """
    torch.manual_seed(seed)
    model = SRResNet(**{"channels": 8, "blocks": 1, "scale": FACTOR, "bicubic_skip": True, **LEGACY_LAYOUT, **overrides})
    if trained:
        with torch.no_grad():
            torch.nn.init.normal_(model.tail.weight, std=0.02)
            torch.nn.init.normal_(model.tail.bias, std=0.05)
    return {"config": model.config(), "state_dict": {k: v.clone() for k, v in model.state_dict().items()}}


def config(cache_dir: Path, **overrides) -> UpscaleConfig:
    """``params:upscaling`` from conf/base, made tiny and CPU-only, as a typed config."""
    settings = {"batch_size": 2, "shard_size": 4, "device": "cpu", "precision": "fp32",
                "cache_dir": str(cache_dir), **overrides}
    return from_params(UpscaleConfig, base_params("upscaling", **settings), "upscaling")


def cached(cache_dir: Path, lr: np.ndarray, generator: dict | None = None, name: str = "srgan_train",
           tracker=None, factor: int | None = None, **overrides) -> tuple[np.ndarray, dict]:
    return upscale_cached(lr, generator, config(cache_dir, **overrides), name, tracker, factor=factor)


def cache_file(cache_dir: Path, name: str = "srgan_train") -> Path:
    return cache_dir / f"{name}.npy"


def partial_paths(cache_dir: Path, name: str = "srgan_train") -> tuple[Path, Path]:
    return cache_dir / f"{name}.partial.npy", cache_dir / f"{name}.partial.json"


def meta(cache_dir: Path, name: str = "srgan_train") -> dict:
    return json.loads((cache_dir / f"{name}.meta.json").read_text())


def clean_output(tmp_path: Path, lr: np.ndarray, generator: dict | None = None, **overrides) -> np.ndarray:
    """The output of an uninterrupted run in a cache of its own."""
    out, _ = cached(tmp_path / "clean", lr, generator, **overrides)
    return np.array(out)


class Interrupted(Exception):
    """Stands for a kill (Ctrl-C, preemption) in the middle of a run."""


def interrupt_at_frame(monkeypatch, stop_frame: int) -> None:
    """Make the upscale raise as the batch ending at ``stop_frame`` finishes: its frames are in the
    partial file, but it is not recorded (as a kill between the write and the progress record)."""
    real_stream = inference._stream_upscale

    def stream(lr, generator, factor, out, batches, device, dtype, on_batch):
        def callback(start, stop):
            if stop == stop_frame:
                raise Interrupted(f"killed at frame {stop_frame}")
            on_batch(start, stop)

        return real_stream(lr, generator, factor, out, batches, device, dtype, callback)

    monkeypatch.setattr(inference, "_stream_upscale", stream)


def interrupt_generator_at_call(monkeypatch, call: int) -> list[int]:
    """Make SRResNet.forward raise on its ``call``-th call (1-based); returns the call counter."""
    real_forward = SRResNet.forward
    calls = [0]

    def forward(self, x):
        calls[0] += 1
        if calls[0] == call:
            raise Interrupted(f"killed in forward call {call}")
        return real_forward(self, x)

    monkeypatch.setattr(SRResNet, "forward", forward)
    return calls


def count_forward_calls(monkeypatch) -> list[int]:
    real_forward = SRResNet.forward
    calls = [0]

    def forward(self, x):
        calls[0] += 1
        return real_forward(self, x)

    monkeypatch.setattr(SRResNet, "forward", forward)
    return calls


def record_batches(monkeypatch) -> list[tuple[int, int]]:
    """The (start, stop) of every batch the upscale computes."""
    real_stream = inference._stream_upscale
    seen: list[tuple[int, int]] = []

    def stream(lr, generator, factor, out, batches, device, dtype, on_batch):
        seen.extend(batches)
        return real_stream(lr, generator, factor, out, batches, device, dtype, on_batch)

    monkeypatch.setattr(inference, "_stream_upscale", stream)
    return seen


# digests and keys ----------------------------------------------------------------------------
def test_array_digest_follows_content_shape_and_dtype():
    data = frames(3)
    assert array_digest(data) == array_digest(data.copy())
    assert array_digest(np.asfortranarray(data)) == array_digest(data)  # layout does not matter
    changed = data.copy()
    changed[1, 2, 3, 0] ^= 1
    assert array_digest(changed) != array_digest(data)
    assert array_digest(data.reshape(3, SIDE * SIDE, 1, 3)) != array_digest(data)  # same bytes, other shape
    assert array_digest(data.view(np.int8)) != array_digest(data)  # same bytes, other dtype
    assert array_digest(np.zeros((0, SIDE, SIDE, 3), np.uint8)) != array_digest(np.zeros((0, 4, 4, 3), np.uint8))


def test_array_digest_of_a_memmap_equals_that_of_the_array(tmp_path):
    data = frames(5)
    np.save(tmp_path / "lr.npy", data)
    assert array_digest(np.load(tmp_path / "lr.npy", mmap_mode="r")) == array_digest(data)


def test_weights_digest_follows_every_weight_and_the_config():
    generator = generator_file()
    assert weights_digest(None) == "none"
    assert weights_digest(generator) == weights_digest(generator_file())  # same seed, same weights
    changed = generator_file()
    changed["state_dict"]["head.0.weight"][0, 0, 0, 0] += 1e-3
    assert weights_digest(changed) != weights_digest(generator)
    reconfigured = generator_file()
    reconfigured["config"] = {**reconfigured["config"], "bicubic_skip": False}
    assert weights_digest(reconfigured) != weights_digest(generator)


def test_key_changes_with_factor_method_input_weights_and_precision():
    lr = frames(4)
    generator = generator_file()
    base = upscale_key(lr, generator, FACTOR, "fp32")
    assert upscale_key(lr.copy(), generator_file(), FACTOR, "fp32") == base  # equal content, other objects
    assert upscale_key(lr, generator, 2, "fp32") != base
    assert upscale_key(lr, generator, FACTOR, "bfloat16") != base  # bf16 outputs differ slightly
    assert upscale_key(lr, None, FACTOR, "fp32") != base
    assert upscale_key(lr, None, 2, "fp32") != upscale_key(lr, None, FACTOR, "fp32")
    assert upscale_key(lr, None, 1, "fp32") != upscale_key(lr, None, FACTOR, "fp32")  # copy, not bicubic


def test_batch_and_shard_size_are_how_not_what(tmp_path):
    """Neither is in the key: a rerun with others is a hit."""
    lr = frames(6)
    generator = generator_file()
    cached(tmp_path, lr, generator, batch_size=2, shard_size=4)
    _, stats = cached(tmp_path, lr, generator, batch_size=3, shard_size=7)
    assert stats["cache"] == "hit"


def test_batches_cover_the_frames_once_and_never_cross_a_shard(tmp_path, monkeypatch):
    seen = record_batches(monkeypatch)
    cached(tmp_path, frames(10), None, batch_size=3, shard_size=4)
    assert seen == [(0, 3), (3, 4), (4, 7), (7, 8), (8, 10)]
    seen.clear()
    cached(tmp_path, frames(8, seed=1), None, batch_size=4, shard_size=4)
    assert seen == [(0, 4), (4, 8)]
    seen.clear()
    cached(tmp_path, frames(3, seed=2), None, batch_size=8, shard_size=512)
    assert seen == [(0, 3)]


# config --------------------------------------------------------------------------------------
def test_batch_size_per_device_type_or_one_number(tmp_path):
    per_device = config(tmp_path, batch_size={"cuda": 256, "mps": 16, "cpu": 3})
    assert per_device.batch_size_on(torch.device("cpu")) == 3
    assert per_device.batch_size_on(torch.device("cuda")) == 256
    assert per_device.batch_size_on(torch.device("mps")) == 16
    one = config(tmp_path, batch_size=5)
    assert one.batch_size_on(torch.device("cpu")) == one.batch_size_on(torch.device("cuda")) == 5


def test_conf_batch_size_is_per_device():
    conf = from_params(UpscaleConfig, base_params("upscaling"), "upscaling")
    assert conf.factor == 4
    assert conf.batch_size_on(torch.device("cuda")) == 256 and conf.batch_size_on(torch.device("cpu")) == 8


def test_batch_size_per_device_is_used(tmp_path, monkeypatch):
    seen = record_batches(monkeypatch)
    cached(tmp_path, frames(6), None, batch_size={"cuda": 256, "mps": 8, "cpu": 3}, shard_size=512)
    assert seen == [(0, 3), (3, 6)]


@pytest.mark.parametrize("batch_size", [0, -3, {"cuda": 256, "cpu": 0}, {"cuda": 256, "cpu": "8"},
                                        {"cuda": 256}, {"cuda": 256, "cpu": 8, "gpu": 8}],
                         ids=["zero", "negative", "cpu-zero", "cpu-string", "no-cpu", "unknown-device"])
def test_bad_batch_size_is_one_config_error_before_any_work(tmp_path, monkeypatch, batch_size):
    def no_stream(*args, **kwargs):
        raise AssertionError("a config error must come before any work")

    monkeypatch.setattr(inference, "_stream_upscale", no_stream)
    with pytest.raises(ConfigError, match=r"upscaling\.batch_size") as error:
        cached(tmp_path, frames(2), None, batch_size=batch_size)
    assert "\n" not in str(error.value)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


@pytest.mark.parametrize("key", ["factor", "shard_size"])
def test_factor_or_shard_size_below_one_is_one_config_error(tmp_path, key):
    with pytest.raises(ConfigError, match=rf"^upscaling\.{key} must be >= 1, got 0$"):
        config(tmp_path, **{key: 0})


def test_an_unknown_key_in_params_upscaling_is_one_config_error_naming_it(tmp_path):
    params = base_params("upscaling", cache_dir=str(tmp_path))
    params["shard_sise"] = 4
    with pytest.raises(ConfigError, match=r"upscaling\.shard_sise") as error:
        from_params(UpscaleConfig, params, "upscaling")
    assert "\n" not in str(error.value)


def test_a_missing_key_in_params_upscaling_is_one_config_error_naming_it():
    params = base_params("upscaling")
    del params["cache_dir"]
    with pytest.raises(ConfigError, match=r"upscaling\.cache_dir") as error:
        from_params(UpscaleConfig, params, "upscaling")
    assert "\n" not in str(error.value)


# outputs -------------------------------------------------------------------------------------
def test_bicubic_output_is_a_uint8_memmap_equal_to_torch_bicubic(tmp_path):
    lr = frames(10)
    out, stats = cached(tmp_path, lr, None, name="bicubic_train", batch_size=3, shard_size=4)

    assert isinstance(out, np.memmap) and Path(out.filename) == cache_file(tmp_path, "bicubic_train")
    assert out.shape == (10, SIDE * FACTOR, SIDE * FACTOR, 3) and out.dtype == np.uint8
    assert np.array_equal(out, bicubic_reference(lr))
    assert out.min() == 0 and out.max() == 255  # random input overshoots: clamped, not wrapped
    with pytest.raises(ValueError):
        out[0, 0, 0, 0] = 1  # read-only map
    assert stats["cache"] == "miss" and stats["images"] == 10 and stats["precision"] == "fp32"
    record = meta(tmp_path, "bicubic_train")
    assert record["key"] == upscale_key(lr, None, FACTOR, "fp32") and record["complete"] is True
    assert record["shape"] == [10, SIDE * FACTOR, SIDE * FACTOR, 3]


def test_bicubic_at_another_factor(tmp_path):
    lr = frames(3)
    out, _ = cached(tmp_path, lr, None, name="bicubic_x2", factor=2)
    assert out.shape == (3, 2 * SIDE, 2 * SIDE, 3)
    assert np.array_equal(out, bicubic_reference(lr, factor=2))


def test_factor_one_passes_the_frames_as_they_are(tmp_path):
    lr = frames(5)
    out, _ = cached(tmp_path, lr, None, name="predict_lr", factor=1)
    assert np.array_equal(out, lr)


def test_sr_output_equals_the_generators_own_fp32_forward(tmp_path):
    lr = frames(6)
    generator = generator_file()
    out, _ = cached(tmp_path, lr, generator)

    assert isinstance(out, np.memmap)
    assert out.shape == (6, SIDE * FACTOR, SIDE * FACTOR, 3) and out.dtype == np.uint8
    assert np.array_equal(out, generator_reference(lr, generator))
    assert not np.array_equal(out, bicubic_reference(lr))  # the random tail does change the output


def test_untrained_bicubic_skip_generator_equals_bicubic(tmp_path):
    lr = frames(6)
    out, _ = cached(tmp_path, lr, generator_file(trained=False))
    assert np.array_equal(out, bicubic_reference(lr))


@pytest.mark.parametrize("bias, value", [(5.0, 255), (-5.0, 0)])
def test_generator_output_is_clamped_not_wrapped(tmp_path, bias, value):
    generator = generator_file(trained=False, bicubic_skip=False)
    generator["state_dict"]["tail.bias"].fill_(bias)
    out, _ = cached(tmp_path, frames(2), generator)
    assert (np.asarray(out) == value).all()


@pytest.mark.parametrize("scale", [2, 8])
def test_generator_of_another_scale_than_the_factor_is_a_config_error(tmp_path, scale):
    torch.manual_seed(0)
    model = SRResNet(channels=8, blocks=1, scale=scale, bicubic_skip=True, **LEGACY_LAYOUT)
    generator = {"config": model.config(), "state_dict": model.state_dict()}
    with pytest.raises(ConfigError, match=r"upscaling\.factor"):
        cached(tmp_path, frames(2), generator)


def test_memmap_input_gives_the_same_output(tmp_path):
    lr = frames(6)
    np.save(tmp_path / "lr.npy", lr)
    mapped = np.load(tmp_path / "lr.npy", mmap_mode="r")
    out, _ = cached(tmp_path / "cache", mapped, None)
    assert np.array_equal(out, bicubic_reference(lr))


def test_an_empty_split_gives_an_empty_output(tmp_path):
    empty = np.zeros((0, SIDE, SIDE, 3), np.uint8)
    out, stats = cached(tmp_path, empty, generator_file(), name="srgan_val")
    assert stats["cache"] == "miss" and out.shape == (0, SIDE * FACTOR, SIDE * FACTOR, 3)
    assert cache_file(tmp_path, "srgan_val").is_file()
    again, stats = cached(tmp_path, np.zeros((0, SIDE, SIDE, 3), np.uint8), generator_file(), name="srgan_val")
    assert stats["cache"] == "hit" and again.shape == (0, SIDE * FACTOR, SIDE * FACTOR, 3)


def test_the_cost_goes_to_the_tracker(tmp_path):
    tracker = MemoryTracker()
    lr = frames(4)
    cached(tmp_path, lr, None, name="bicubic_val", tracker=tracker)
    cached(tmp_path, lr, None, name="bicubic_val", tracker=tracker)
    assert tracker.history["cache_hit"] == [(0, 0.0), (0, 1.0)]
    assert tracker.history["images"] == [(0, 4), (0, 4)]


# cache ---------------------------------------------------------------------------------------
def test_identical_second_run_is_a_cache_hit(tmp_path, cache_log):
    lr = frames(8)
    first, stats = cached(tmp_path, lr, generator_file())
    target = cache_file(tmp_path)
    mtime = target.stat().st_mtime_ns
    before = np.array(first)
    assert stats["cache"] == "miss"
    cache_log.clear()

    second, stats = cached(tmp_path, lr.copy(), generator_file())  # equal content, new objects

    assert stats["cache"] == "hit"
    assert any("cache hit" in message for message in messages(cache_log))
    assert target.stat().st_mtime_ns == mtime
    assert np.array_equal(second, before)


def test_a_hit_computes_nothing(tmp_path, monkeypatch):
    lr = frames(4)
    generator = generator_file()
    cached(tmp_path, lr, generator)

    def no_work(*args, **kwargs):
        raise AssertionError("a cache hit must not compute")

    monkeypatch.setattr(inference, "_stream_upscale", no_work)
    monkeypatch.setattr(inference, "load_generator", no_work)
    _, stats = cached(tmp_path, lr, generator)
    assert stats["cache"] == "hit"


@pytest.mark.parametrize("damage", ["truncated", "grown"])
def test_a_damaged_cache_entry_is_reported_and_rebuilt(tmp_path, cache_log, damage):
    lr = frames(4)
    out, _ = cached(tmp_path, lr, None, name="bicubic_train")
    del out  # no map of the file is held while it is damaged
    target = cache_file(tmp_path, "bicubic_train")
    with open(target, "r+b") as handle:
        if damage == "truncated":
            handle.truncate(target.stat().st_size - 100)
        else:
            handle.seek(0, 2)
            handle.write(b"\0" * 100)
    cache_log.clear()

    out, stats = cached(tmp_path, lr, None, name="bicubic_train")

    assert stats["cache"] == "miss" and stats["images"] == 4
    damaged = [m for m in messages(cache_log) if "is damaged" in m]
    assert len(damaged) == 1 and "bicubic_train" in damaged[0]
    assert np.array_equal(out, bicubic_reference(lr))
    _, stats = cached(tmp_path, lr, None, name="bicubic_train")
    assert stats["cache"] == "hit"


def test_changing_one_weight_is_a_miss_and_recomputes(tmp_path, cache_log):
    lr = frames(6)
    old, _ = cached(tmp_path, lr, generator_file())
    old = np.array(old)
    cache_log.clear()

    changed = generator_file()
    changed["state_dict"]["tail.bias"][0] += 0.25  # one number of the weights
    out, stats = cached(tmp_path, lr, changed)

    assert stats["cache"] == "miss"
    assert not any("cache hit" in message for message in messages(cache_log))
    assert any("cache miss" in message for message in messages(cache_log))
    assert meta(tmp_path)["key"] == upscale_key(lr, changed, FACTOR, "fp32")
    assert np.array_equal(out, generator_reference(lr, changed))
    assert not np.array_equal(out, old)


def test_changing_one_input_pixel_is_a_miss(tmp_path):
    lr = frames(6)
    cached(tmp_path, lr, None, name="bicubic_train")

    changed = lr.copy()
    changed[3, 4, 5, 1] = 255 - changed[3, 4, 5, 1]
    out, stats = cached(tmp_path, changed, None, name="bicubic_train")

    assert stats["cache"] == "miss"
    assert np.array_equal(out, bicubic_reference(changed))


def test_changing_the_factor_is_a_different_key_and_a_miss(tmp_path):
    lr = frames(4)
    cached(tmp_path, lr, None, name="bicubic_train", factor=4)
    out, stats = cached(tmp_path, lr, None, name="bicubic_train", factor=2)
    assert stats["cache"] == "miss"
    assert out.shape == (4, 2 * SIDE, 2 * SIDE, 3)
    assert meta(tmp_path, "bicubic_train")["factor"] == 2


def test_the_output_exists_only_once_complete(tmp_path, monkeypatch):
    lr = frames(20)
    with monkeypatch.context() as patch:
        interrupt_at_frame(patch, 12)  # as the 3rd shard ends
        with pytest.raises(Interrupted):
            cached(tmp_path, lr, None)
    partial_npy, partial_json = partial_paths(tmp_path)
    assert partial_npy.is_file() and partial_json.is_file()
    assert not cache_file(tmp_path).exists()  # a partial file is never served as done
    assert not (tmp_path / "srgan_train.meta.json").exists()

    cached(tmp_path, lr, None)
    assert cache_file(tmp_path).is_file() and meta(tmp_path)["complete"] is True


# interruption and resume ---------------------------------------------------------------------
@pytest.mark.parametrize("where", ["batch_callback", "generator"])
def test_interrupted_run_resumes_and_matches_a_clean_run(tmp_path, monkeypatch, cache_log, where):
    lr = frames(20)
    generator = generator_file()
    clean = clean_output(tmp_path, lr, generator)  # batch 2, shard 4: 5 shards of 2 batches
    cache_dir = tmp_path / "run"
    partial_npy, partial_json = partial_paths(cache_dir)

    with monkeypatch.context() as patch:
        if where == "batch_callback":
            interrupt_at_frame(patch, 12)  # raises as the 3rd shard ends
        else:
            interrupt_generator_at_call(patch, 5)  # raises in the 3rd shard's first batch
        with pytest.raises(Interrupted):
            cached(cache_dir, lr, generator)

    assert not cache_file(cache_dir).exists()
    assert partial_npy.is_file() and partial_json.is_file()
    progress = json.loads(partial_json.read_text())
    assert progress["frames_done"] == 8 and progress["key"] == upscale_key(lr, generator, FACTOR, "fp32")
    assert np.array_equal(np.load(partial_npy, mmap_mode="r")[:8], clean[:8])  # done shards are on disk
    cache_log.clear()

    calls = count_forward_calls(monkeypatch)
    out, stats = cached(cache_dir, lr, generator)

    assert any("resuming at shard 2" in message for message in messages(cache_log))
    assert calls[0] == 6  # only the 12 remaining frames, in batches of 2
    assert stats["cache"] == "miss" and stats["resumed_from_shard"] == 2
    assert stats["images"] == 12
    assert np.array_equal(out, clean)
    assert not partial_npy.exists() and not partial_json.exists()
    assert meta(cache_dir)["complete"] is True


def test_interruption_keeps_the_old_complete_output(tmp_path, monkeypatch, cache_log):
    old_lr, new_lr = frames(20, seed=1), frames(20, seed=2)
    clean_new = clean_output(tmp_path, new_lr, None)
    cache_dir = tmp_path / "run"
    cached(cache_dir, old_lr, None)
    partial_npy, partial_json = partial_paths(cache_dir)

    with monkeypatch.context() as patch:
        interrupt_at_frame(patch, 12)
        with pytest.raises(Interrupted):
            cached(cache_dir, new_lr, None)

    # The old output, untouched and still vouched for.
    assert np.array_equal(np.load(cache_file(cache_dir), mmap_mode="r"), bicubic_reference(old_lr))
    assert meta(cache_dir)["key"] == upscale_key(old_lr, None, FACTOR, "fp32")
    assert json.loads(partial_json.read_text())["frames_done"] == 8
    _, stats = cached(cache_dir, old_lr, None)
    assert stats["cache"] == "hit"
    cache_log.clear()

    out, stats = cached(cache_dir, new_lr, None)
    assert any("resuming at shard 2" in message for message in messages(cache_log))
    assert np.array_equal(out, clean_new)
    assert meta(cache_dir)["key"] == upscale_key(new_lr, None, FACTOR, "fp32")
    assert not partial_npy.exists() and not partial_json.exists()


def test_partial_file_of_another_key_is_discarded(tmp_path, monkeypatch, cache_log):
    lr_a, lr_b = frames(20, seed=1), frames(20, seed=2)
    partial_npy, partial_json = partial_paths(tmp_path)
    with monkeypatch.context() as patch:
        interrupt_at_frame(patch, 12)
        with pytest.raises(Interrupted):
            cached(tmp_path, lr_a, None)
    assert partial_npy.is_file() and partial_json.is_file()
    cache_log.clear()

    out, stats = cached(tmp_path, lr_b, None)

    assert not any("resuming" in message for message in messages(cache_log))
    assert stats["resumed_from_shard"] == 0 and stats["images"] == 20
    assert np.array_equal(out, bicubic_reference(lr_b))
    assert not partial_npy.exists() and not partial_json.exists()


def test_partial_file_without_progress_starts_over(tmp_path, monkeypatch):
    """Killed before the first shard was recorded: nothing to resume, nothing trusted."""
    lr = frames(20)
    partial_npy, partial_json = partial_paths(tmp_path)
    with monkeypatch.context() as patch:
        interrupt_at_frame(patch, 4)  # as the 1st shard ends
        with pytest.raises(Interrupted):
            cached(tmp_path, lr, None)
    assert partial_npy.is_file() and not partial_json.exists()

    out, stats = cached(tmp_path, lr, None)
    assert stats["resumed_from_shard"] == 0 and stats["images"] == 20
    assert np.array_equal(out, bicubic_reference(lr))


@pytest.mark.parametrize("new_shard_size", [8, 3])
def test_resume_after_the_shard_size_changed_matches_a_clean_run(tmp_path, monkeypatch, new_shard_size):
    """shard_size is not part of the key, so a rerun may use another one (--params upscaling.shard_size).

    Progress counts frames, not shards: resuming "at shard 2" of 8-frame shards would skip frames
    8..15 although only frames 0..7 (two 4-frame shards) were done.
    """
    lr = frames(20)
    with monkeypatch.context() as patch:
        interrupt_at_frame(patch, 12)
        with pytest.raises(Interrupted):
            cached(tmp_path, lr, None, shard_size=4)

    out, stats = cached(tmp_path, lr, None, shard_size=new_shard_size)
    assert stats["images"] == 20 - (8 // new_shard_size) * new_shard_size  # from the last boundary <= 8
    out = np.asarray(out)
    wrong = [i for i in range(len(lr)) if not np.array_equal(out[i], bicubic_reference(lr[i:i + 1])[0])]
    assert wrong == []


def test_crash_between_rename_and_meta_write_never_serves_the_wrong_output(tmp_path, monkeypatch):
    """A failure after the new file replaced the old one but before its meta was written (disk full,
    kill) must not leave the OLD key marked complete beside the NEW content."""
    lr_a, lr_b = frames(4, seed=1), frames(4, seed=2)
    cached(tmp_path, lr_a, None, name="bicubic_train")

    real_write = inference.write_json

    def failing_write(path, data):
        if path.name.endswith(".meta.json"):
            raise OSError("No space left on device")
        real_write(path, data)

    with monkeypatch.context() as patch:
        patch.setattr(inference, "write_json", failing_write)
        with pytest.raises(OSError, match="No space left"):
            cached(tmp_path, lr_b, None, name="bicubic_train")

    out, stats = cached(tmp_path, lr_a, None, name="bicubic_train")
    served_a = bool(np.array_equal(out, bicubic_reference(lr_a)))
    served_b = bool(np.array_equal(out, bicubic_reference(lr_b)))
    assert (stats["cache"], served_a, served_b) == ("miss", True, False)


# sharded over several processes (here: every rank's part run in this process, rank by rank) ---
def ranks_runner(world: int, order: list[int] | None = None, only: set[int] | None = None):
    """A ShardRunner that plays ``world`` processes in this one: each rank's part (in ``order``; only
    the ranks in ``only``), then the frames summed, as the job's all-reduce does."""
    def run(job, lr, generator, config_, plan, tracker):
        assert job is inference.upscale_shards
        frames = 0
        for rank in order or range(world):
            if only is None or rank in only:
                frames += inference.upscale_part(lr, generator, config_, plan, rank, world)[0]
        return {"frames": frames, "seconds": 1.0, "processes": world}
    return run


@pytest.mark.parametrize("world,order", [(2, [1, 0]), (3, [2, 0, 1]), (8, None)])
@pytest.mark.parametrize("with_generator", [True, False])
def test_sharded_output_is_byte_identical_to_one_process(tmp_path, world, order, with_generator):
    lr = frames(20)  # 5 shards of 4 frames, batches of 2
    generator = generator_file() if with_generator else None
    clean = clean_output(tmp_path, lr, generator)
    out, stats = upscale_cached(lr, generator, config(tmp_path / "sharded"), "srgan_train",
                                runner=ranks_runner(world, order))
    assert np.asarray(out).tobytes() == clean.tobytes()
    assert stats["cache"] == "miss" and stats["images"] == 20 and stats["processes"] == world
    assert meta(tmp_path / "sharded")["key"] == meta(tmp_path / "clean")["key"]  # the key ignores the world
    _, again = cached(tmp_path / "sharded", lr, generator)  # one process: a hit on the sharded entry
    assert again["cache"] == "hit"


def test_each_rank_computes_its_own_contiguous_shards(tmp_path, monkeypatch):
    seen = record_batches(monkeypatch)
    lr = frames(20)
    cached_plan = {}

    def runner(job, lr_, generator, config_, plan, tracker):
        per_rank = []
        for rank in range(3):
            seen.clear()
            inference.upscale_part(lr_, generator, config_, plan, rank, 3)
            per_rank.append(list(seen))
        cached_plan["batches"] = per_rank
        return {"frames": 20, "seconds": 1.0, "processes": 3}

    upscale_cached(lr, None, config(tmp_path), "srgan_train", runner=runner)
    # 5 shards over 3 ranks: 2, 2, 1 shards, contiguous, in rank order; batches never cross a shard.
    assert cached_plan["batches"] == [[(0, 2), (2, 4), (4, 6), (6, 8)], [(8, 10), (10, 12), (12, 14), (14, 16)],
                                      [(16, 18), (18, 20)]]


def test_the_entry_is_finished_only_when_every_shard_is(tmp_path, monkeypatch, cache_log):
    lr = frames(20)
    generator = generator_file()
    clean = clean_output(tmp_path, lr, generator)
    cache_dir = tmp_path / "run"
    partial_npy, partial_json = partial_paths(cache_dir)
    with pytest.raises(RuntimeError, match=r"computed 9 of the 20 frames"):  # rank 0 of 3 alone: 3 of 7 shards
        upscale_cached(lr, generator, config(cache_dir, shard_size=3), "srgan_train", runner=ranks_runner(3, only={0}))
    assert not cache_file(cache_dir).exists() and not (cache_dir / "srgan_train.meta.json").exists()
    # Rank 0 recorded its shards (a prefix of the output, as one process does); other ranks' are not.
    assert json.loads(partial_json.read_text())["frames_done"] == 9
    cache_log.clear()

    calls = count_forward_calls(monkeypatch)
    out, stats = upscale_cached(lr, generator, config(cache_dir, shard_size=3), "srgan_train", runner=ranks_runner(2))
    assert any("resuming at shard 3" in message for message in messages(cache_log))
    assert stats["resumed_from_shard"] == 3 and stats["images"] == 11
    assert calls[0] == 7  # shards 9-12, 12-15 | 15-18, 18-20 in batches of 2: 2 + 2 | 2 + 1
    assert np.asarray(out).tobytes() == clean.tobytes()
    assert not partial_npy.exists() and not partial_json.exists()


def test_an_interrupted_one_process_run_resumes_sharded(tmp_path, monkeypatch):
    lr = frames(20)
    clean = clean_output(tmp_path, lr, None)
    cache_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        interrupt_at_frame(patch, 12)
        with pytest.raises(Interrupted):
            cached(cache_dir, lr, None)
    out, stats = upscale_cached(lr, None, config(cache_dir), "srgan_train", runner=ranks_runner(2, [1, 0]))
    assert stats["resumed_from_shard"] == 2 and stats["images"] == 12
    assert np.asarray(out).tobytes() == clean.tobytes()


def test_an_empty_split_launches_nothing(tmp_path):
    def runner(*args, **kwargs):
        raise AssertionError("launched for no shard")

    out, stats = upscale_cached(np.zeros((0, SIDE, SIDE, 3), np.uint8), None, config(tmp_path), "bicubic_val",
                                runner=runner)
    assert stats["images"] == 0 and out.shape == (0, SIDE * FACTOR, SIDE * FACTOR, 3)
    assert meta(tmp_path, "bicubic_val")["complete"] is True


def test_a_rank_computing_at_another_precision_is_one_config_error(tmp_path):
    lr = frames(4)
    generator = generator_file()

    def runner(job, lr_, generator_, config_, plan, tracker):
        other = inference.ShardPlan(**{**plan.__dict__, "precision": "bfloat16"})
        return inference.upscale_part(lr_, generator_, config_, other, 1, 2)

    with pytest.raises(ConfigError, match=r"upscaling\.precision=fp32 means fp32 on rank 1's cpu but bfloat16"):
        upscale_cached(lr, generator, config(tmp_path), "srgan_train", runner=runner)


def test_frames_file_writes_exactly_the_frames_it_is_given(tmp_path):
    """Each rank's writes touch only its frames' bytes (not whole pages, as a memory map would)."""
    path = tmp_path / "out.npy"
    shape = (5, 3, 3, 3)  # 27-byte frames: every frame boundary falls inside a page
    filled = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    filled[:] = 0xAB
    del filled
    ranks = [inference.FramesFile(path, shape), inference.FramesFile(path, shape)]
    data = frames(5, side=3)
    ranks[1][3:4] = data[3:4]
    ranks[0][1:3] = data[1:3]
    assert np.array_equal(ranks[0][2], data[2]) and np.array_equal(ranks[1][3], data[3])
    for rank in ranks:
        rank.flush()
        rank.close()
    out = np.load(path, mmap_mode="r")
    assert np.array_equal(out[1:4], data[1:4])
    assert (out[0] == 0xAB).all() and (out[4] == 0xAB).all()
    with pytest.raises(RuntimeError, match=r"holds uint8 \(5, 3, 3, 3\), expected uint8 \(5, 6, 6, 3\)"):
        inference.FramesFile(path, (5, 6, 6, 3))
