"""Tests for faceless.data.upscale_cache: UpscaleJob, CachedUpscaleDataset and the digests.

Everything runs on the CPU with a tiny generator (8 channels, 1 block) on 8x8 frames.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from kedro.io import DatasetError

from faceless.data import upscale_cache
from faceless.data.upscale_cache import CachedUpscaleDataset, UpscaleJob, array_digest, weights_digest
from faceless.models.generator import SRResNet

from ..conftest import logger_messages, bicubic_reference, generator_reference

LOGGER = "faceless.data.upscale_cache"
SIDE = 8
FACTOR = 4


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def cache_log(logger_records):
    """Records of the cache's logger, whatever propagation another test's logging config left."""
    return logger_records(LOGGER)


def messages(caplog) -> list[str]:
    """The cache's messages, once each."""
    return logger_messages(caplog, LOGGER)


# helpers -------------------------------------------------------------------------------------
def frames(n: int = 20, side: int = SIDE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def generator_file(seed: int = 0, trained: bool = True, **overrides) -> dict:
    """A tiny generator as the srgan stage saves it: config + state_dict.

    ``trained`` gives the (otherwise zero) tail random weights, so the output is not bicubic.
    """
    torch.manual_seed(seed)
    model = SRResNet(channels=8, blocks=1, scale=FACTOR, **overrides)
    if trained:
        with torch.no_grad():
            torch.nn.init.normal_(model.tail.weight, std=0.02)
            torch.nn.init.normal_(model.tail.bias, std=0.05)
    return {"config": model.config(), "state_dict": {k: v.clone() for k, v in model.state_dict().items()}}


def job(lr: np.ndarray, generator: dict | None = None, **kwargs) -> UpscaleJob:
    settings = {"factor": FACTOR, "batch_size": 2, "shard_size": 4, "device": "cpu", "precision": "fp32"}
    settings.update(kwargs)
    return UpscaleJob(lr=lr, sr_generator=generator, **settings)


def dataset(folder: Path, name: str = "sr_train") -> CachedUpscaleDataset:
    return CachedUpscaleDataset(filepath=str(folder / "07_model_output" / f"{name}.npy"))


def partial_paths(ds: CachedUpscaleDataset) -> tuple[Path, Path]:
    final = Path(ds._describe()["filepath"])
    return final.with_name(final.stem + ".partial.npy"), final.with_name(final.stem + ".partial.json")


def meta(ds: CachedUpscaleDataset) -> dict:
    final = Path(ds._describe()["filepath"])
    return json.loads(final.with_name(final.stem + ".meta.json").read_text())


def clean_output(tmp_path: Path, make_job) -> np.ndarray:
    """The output of an uninterrupted run in a folder of its own."""
    ds = dataset(tmp_path / "clean")
    ds.save(make_job())
    return np.array(ds.load())


class Interrupted(Exception):
    """Stands for a kill (Ctrl-C, preemption) in the middle of a run."""


def interrupt_after_shards(monkeypatch, shards: int) -> None:
    """Make UpscaleJob.run raise when shard number ``shards`` (0-based) finishes, before it is recorded."""
    real_run = UpscaleJob.run

    def run(self, out, first_shard, on_shard_done):
        def callback(index):
            if index == shards:
                raise Interrupted(f"killed after {shards} shards")
            on_shard_done(index)

        return real_run(self, out, first_shard, callback)

    monkeypatch.setattr(UpscaleJob, "run", run)


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


# digests -------------------------------------------------------------------------------------
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


def test_job_key_changes_with_factor_method_input_and_weights():
    lr = frames(4)
    generator = generator_file()
    base = job(lr, generator).key()
    assert job(lr.copy(), generator_file()).key() == base  # equal content, other objects
    assert job(lr, generator, batch_size=3, shard_size=7).key() == base  # how, not what
    assert job(lr, generator, factor=2).key() != base
    assert job(lr, None).key() != base
    assert job(lr, None, factor=2).key() != job(lr, None).key()


def test_shards_cover_the_frames_once():
    assert job(frames(10), shard_size=4).shards() == [(0, 4), (4, 8), (8, 10)]
    assert job(frames(8), shard_size=4).shards() == [(0, 4), (4, 8)]
    assert job(frames(3), shard_size=512).shards() == [(0, 3)]


# outputs -------------------------------------------------------------------------------------
def test_bicubic_output_is_a_uint8_memmap_equal_to_torch_bicubic(tmp_path):
    lr = frames(10)
    ds = dataset(tmp_path, "bicubic_train")
    upscale = job(lr, None, batch_size=3, shard_size=4)
    assert upscale.method == "bicubic"
    assert upscale.output_shape == (10, SIDE * FACTOR, SIDE * FACTOR, 3)

    ds.save(upscale)
    out = ds.load()

    assert isinstance(out, np.memmap)
    assert out.shape == (10, SIDE * FACTOR, SIDE * FACTOR, 3) and out.dtype == np.uint8
    assert np.array_equal(out, bicubic_reference(lr))
    assert out.min() == 0 and out.max() == 255  # random input overshoots: clamped, not wrapped
    with pytest.raises(ValueError):
        out[0, 0, 0, 0] = 1  # read-only map
    assert upscale.stats["cache"] == "miss" and upscale.stats["images"] == 10
    assert meta(ds)["key"] == upscale.key() and meta(ds)["complete"] is True
    assert meta(ds)["shape"] == [10, SIDE * FACTOR, SIDE * FACTOR, 3]


def test_bicubic_at_another_factor(tmp_path):
    lr = frames(3)
    ds = dataset(tmp_path, "bicubic_x2")
    ds.save(job(lr, None, factor=2))
    assert ds.load().shape == (3, 2 * SIDE, 2 * SIDE, 3)
    assert np.array_equal(ds.load(), bicubic_reference(lr, factor=2))


def test_sr_output_equals_the_generators_own_fp32_forward(tmp_path):
    lr = frames(6)
    generator = generator_file()
    ds = dataset(tmp_path)
    upscale = job(lr, generator)
    assert upscale.method == "srgan"

    ds.save(upscale)
    out = ds.load()

    assert isinstance(out, np.memmap)
    assert out.shape == (6, SIDE * FACTOR, SIDE * FACTOR, 3) and out.dtype == np.uint8
    assert np.array_equal(out, generator_reference(lr, generator))
    assert not np.array_equal(out, bicubic_reference(lr))  # the random tail does change the output


def test_untrained_bicubic_skip_generator_equals_bicubic(tmp_path):
    lr = frames(6)
    ds = dataset(tmp_path)
    ds.save(job(lr, generator_file(trained=False)))
    assert np.array_equal(ds.load(), bicubic_reference(lr))


@pytest.mark.parametrize("bias, value", [(5.0, 255), (-5.0, 0)])
def test_generator_output_is_clamped_not_wrapped(tmp_path, bias, value):
    generator = generator_file(trained=False, bicubic_skip=False)
    generator["state_dict"]["tail.bias"].fill_(bias)
    ds = dataset(tmp_path)
    ds.save(job(frames(2), generator))
    assert (np.asarray(ds.load()) == value).all()


def test_memmap_input_gives_the_same_output(tmp_path):
    lr = frames(6)
    np.save(tmp_path / "lr.npy", lr)
    mapped = np.load(tmp_path / "lr.npy", mmap_mode="r")
    ds = dataset(tmp_path)
    ds.save(job(mapped, None))
    assert np.array_equal(ds.load(), bicubic_reference(lr))


def test_an_empty_split_gives_an_empty_output(tmp_path):
    ds = dataset(tmp_path, "sr_val")
    upscale = job(np.zeros((0, SIDE, SIDE, 3), np.uint8), generator_file())
    ds.save(upscale)
    assert ds.exists() and ds.load().shape == (0, SIDE * FACTOR, SIDE * FACTOR, 3)
    again = job(np.zeros((0, SIDE, SIDE, 3), np.uint8), generator_file())
    ds.save(again)
    assert again.stats["cache"] == "hit"


# cache ---------------------------------------------------------------------------------------
def test_identical_second_save_is_a_cache_hit(tmp_path, cache_log):
    lr = frames(8)
    generator = generator_file()
    ds = dataset(tmp_path)
    first = job(lr, generator)
    ds.save(first)
    target = Path(ds._describe()["filepath"])
    mtime = target.stat().st_mtime_ns
    before = np.array(ds.load())
    assert first.stats["cache"] == "miss"
    cache_log.clear()

    second = job(lr.copy(), generator_file())  # equal content, new objects
    ds.save(second)

    assert second.stats["cache"] == "hit"
    assert any("cache hit" in message for message in messages(cache_log))
    assert target.stat().st_mtime_ns == mtime
    assert np.array_equal(ds.load(), before)


def test_a_hit_computes_nothing(tmp_path, monkeypatch):
    lr = frames(4)
    ds = dataset(tmp_path)
    ds.save(job(lr, None))

    def no_run(*args, **kwargs):
        raise AssertionError("a cache hit must not compute")

    monkeypatch.setattr(UpscaleJob, "run", no_run)
    hit = job(lr, None)
    ds.save(hit)
    assert hit.stats["cache"] == "hit"


def test_changing_one_weight_is_a_miss_and_recomputes(tmp_path, cache_log):
    lr = frames(6)
    generator = generator_file()
    ds = dataset(tmp_path)
    ds.save(job(lr, generator))
    old = np.array(ds.load())
    cache_log.clear()

    changed = generator_file()
    changed["state_dict"]["tail.bias"][0] += 0.25  # one number of the weights
    upscale = job(lr, changed)
    ds.save(upscale)

    assert upscale.stats["cache"] == "miss"
    assert not any("cache hit" in message for message in messages(cache_log))
    assert any("cache miss" in message for message in messages(cache_log))
    assert meta(ds)["key"] == upscale.key()
    assert np.array_equal(ds.load(), generator_reference(lr, changed))
    assert not np.array_equal(ds.load(), old)


def test_changing_one_input_pixel_is_a_miss(tmp_path):
    lr = frames(6)
    ds = dataset(tmp_path, "bicubic_train")
    ds.save(job(lr, None))

    changed = lr.copy()
    changed[3, 4, 5, 1] = 255 - changed[3, 4, 5, 1]
    upscale = job(changed, None)
    ds.save(upscale)

    assert upscale.stats["cache"] == "miss"
    assert np.array_equal(ds.load(), bicubic_reference(changed))


def test_changing_the_factor_is_a_different_key_and_a_miss(tmp_path):
    lr = frames(4)
    ds = dataset(tmp_path, "bicubic_train")
    x4 = job(lr, None, factor=4)
    x2 = job(lr, None, factor=2)
    assert x4.key() != x2.key()
    ds.save(x4)
    ds.save(x2)
    assert x2.stats["cache"] == "miss"
    assert ds.load().shape == (4, 2 * SIDE, 2 * SIDE, 3)
    assert meta(ds)["factor"] == 2


def test_exists_only_once_complete(tmp_path, monkeypatch):
    lr = frames(20)
    ds = dataset(tmp_path)
    assert not ds.exists()

    with monkeypatch.context() as patch:
        interrupt_after_shards(patch, 2)
        with pytest.raises(DatasetError):
            ds.save(job(lr, None))
    partial_npy, partial_json = partial_paths(ds)
    assert partial_npy.is_file() and partial_json.is_file()
    assert not ds.exists()  # a partial file is never served as done

    ds.save(job(lr, None))
    assert ds.exists()


# interruption and resume ---------------------------------------------------------------------
@pytest.mark.parametrize("where", ["shard_callback", "generator"])
def test_interrupted_run_resumes_and_matches_a_clean_run(tmp_path, monkeypatch, cache_log, where):
    lr = frames(20)
    generator = generator_file()
    make = lambda: job(lr, generator, batch_size=2, shard_size=4)  # noqa: E731  5 shards of 2 batches
    clean = clean_output(tmp_path, make)
    ds = dataset(tmp_path / "run")
    final = Path(ds._describe()["filepath"])
    partial_npy, partial_json = partial_paths(ds)

    with monkeypatch.context() as patch:
        if where == "shard_callback":
            interrupt_after_shards(patch, 2)  # raises as the 3rd shard ends
        else:
            interrupt_generator_at_call(patch, 5)  # raises in the 3rd shard's first batch
        with pytest.raises(DatasetError) as failure:
            ds.save(make())
    assert isinstance(failure.value.__cause__, Interrupted)

    assert not final.exists()
    assert partial_npy.is_file() and partial_json.is_file()
    progress = json.loads(partial_json.read_text())
    assert progress["shards_done"] == 2 and progress["key"] == make().key()
    assert np.array_equal(np.load(partial_npy, mmap_mode="r")[:8], clean[:8])  # done shards are on disk
    cache_log.clear()

    calls = count_forward_calls(monkeypatch)
    rerun = make()
    ds.save(rerun)

    assert any("resuming at shard 2" in message for message in messages(cache_log))
    assert calls[0] == 6  # only the 12 remaining frames, in batches of 2
    assert rerun.stats["cache"] == "miss" and rerun.stats["resumed_from_shard"] == 2
    assert rerun.stats["images"] == 12
    assert np.array_equal(ds.load(), clean)
    assert not partial_npy.exists() and not partial_json.exists()
    assert ds.exists()


def test_interruption_keeps_the_old_complete_output(tmp_path, monkeypatch, cache_log):
    old_lr, new_lr = frames(20, seed=1), frames(20, seed=2)
    make_new = lambda: job(new_lr, None)  # noqa: E731
    clean_new = clean_output(tmp_path, make_new)
    ds = dataset(tmp_path / "run", "bicubic_train")
    old = job(old_lr, None)
    ds.save(old)
    partial_npy, partial_json = partial_paths(ds)

    with monkeypatch.context() as patch:
        interrupt_after_shards(patch, 2)
        with pytest.raises(DatasetError):
            ds.save(make_new())

    assert np.array_equal(ds.load(), bicubic_reference(old_lr))  # the old output, untouched
    assert meta(ds)["key"] == old.key()
    assert json.loads(partial_json.read_text())["shards_done"] == 2
    cache_log.clear()

    ds.save(make_new())
    assert any("resuming at shard 2" in message for message in messages(cache_log))
    assert np.array_equal(ds.load(), clean_new)
    assert meta(ds)["key"] == make_new().key()
    assert not partial_npy.exists() and not partial_json.exists()


def test_partial_file_of_another_key_is_discarded(tmp_path, monkeypatch, cache_log):
    lr_a, lr_b = frames(20, seed=1), frames(20, seed=2)
    ds = dataset(tmp_path, "bicubic_train")
    partial_npy, partial_json = partial_paths(ds)
    with monkeypatch.context() as patch:
        interrupt_after_shards(patch, 2)
        with pytest.raises(DatasetError):
            ds.save(job(lr_a, None))
    assert partial_npy.is_file() and partial_json.is_file()
    cache_log.clear()

    other = job(lr_b, None)
    ds.save(other)

    assert not any("resuming" in message for message in messages(cache_log))
    assert other.stats["resumed_from_shard"] == 0 and other.stats["images"] == 20
    assert np.array_equal(ds.load(), bicubic_reference(lr_b))
    assert not partial_npy.exists() and not partial_json.exists()


def test_partial_file_without_progress_starts_over(tmp_path, monkeypatch):
    """Killed before the first shard was recorded: nothing to resume, nothing trusted."""
    lr = frames(20)
    ds = dataset(tmp_path, "bicubic_train")
    partial_npy, partial_json = partial_paths(ds)
    with monkeypatch.context() as patch:
        interrupt_after_shards(patch, 0)
        with pytest.raises(DatasetError):
            ds.save(job(lr, None))
    assert partial_npy.is_file() and not partial_json.exists()

    upscale = job(lr, None)
    ds.save(upscale)
    assert upscale.stats["resumed_from_shard"] == 0
    assert np.array_equal(ds.load(), bicubic_reference(lr))


def test_resume_after_the_shard_size_changed_matches_a_clean_run(tmp_path, monkeypatch):
    """shard_size is not part of the key, so a rerun may use another one (e.g. --params upscaling.shard_size).

    The progress file counts shards, not frames: resuming "at shard 2" of 8-frame shards skips
    frames 8..15 although only frames 0..7 (two 4-frame shards) were done.
    """
    lr = frames(20)
    ds = dataset(tmp_path, "bicubic_train")
    with monkeypatch.context() as patch:
        interrupt_after_shards(patch, 2)
        with pytest.raises(DatasetError):
            ds.save(job(lr, None, shard_size=4))

    ds.save(job(lr, None, shard_size=8))
    out = np.asarray(ds.load())
    wrong = [i for i in range(len(lr)) if not np.array_equal(out[i], bicubic_reference(lr[i:i + 1])[0])]
    assert wrong == []


def test_crash_between_rename_and_meta_write_never_serves_the_wrong_output(tmp_path, monkeypatch):
    """A failure after the new file replaced the old one but before its meta was written (disk full,
    kill) must not leave the OLD key marked complete beside the NEW content."""
    lr_a, lr_b = frames(4, seed=1), frames(4, seed=2)
    ds = dataset(tmp_path, "bicubic_train")
    ds.save(job(lr_a, None))

    real_write = upscale_cache._write_json

    def failing_write(path, data):
        if path.name.endswith(".meta.json"):
            raise OSError("No space left on device")
        real_write(path, data)

    with monkeypatch.context() as patch:
        patch.setattr(upscale_cache, "_write_json", failing_write)
        with pytest.raises(DatasetError):
            ds.save(job(lr_b, None))

    again = job(lr_a, None)
    ds.save(again)
    served_a = bool(np.array_equal(ds.load(), bicubic_reference(lr_a)))
    served_b = bool(np.array_equal(ds.load(), bicubic_reference(lr_b)))
    assert (again.stats["cache"], served_a, served_b) == ("miss", True, False)
