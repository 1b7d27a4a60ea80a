"""What the project writes and reads back (issue 14, items 1 and 4): it never deletes a folder it did
not make; a damaged cache entry, partial file, checkpoint or model file is found before use,
reported in one line and rebuilt, resumed from the previous good one, or refused naming the file;
temporary files of killed writes are swept."""
from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from kedro.io import DatasetError

from faceless.data.datasets import NpyArrayDataset, TorchWeightsDataset
from faceless.data.synthetic import DemoSize, generate_demo
from faceless.hooks import sweep_temporaries, user_error
from faceless.training.loop import CHECKPOINT_NAME, PREVIOUS_NAME, Checkpointer, read_weights_file
from faceless.utils.atomic import OWNED_MARKER, atomic_path, fresh_folder, remove_stale_temporaries
from faceless.utils.errors import ConfigError
from faceless.utils.lock import FileLock, LockBusyError
from faceless.utils.torchfile import DamagedFileError

from .conftest import PROJECT_ROOT
from .test_inference import cache_file, cached, clean_output, frames, interrupt_at_frame, Interrupted, partial_paths

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_DEMO = {"people": 2, "lookalike_group_size": 2, "videos_per_person": 1, "sequences_per_video": 1,
             "frames_per_sequence": 1, "hr_size": 32, "scale": 4, "jpeg_quality": 50, "seed": 0}


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def killed_atomic_write(final: Path, state: Path) -> Path:
    """A process of the project (its records in ``state``) killed inside an atomic write of ``final``:
    its temporary is left."""
    code = ("import os, sys; from faceless.utils.atomic import atomic_path\n"
            "with atomic_path(sys.argv[1]) as t:\n    t.write_bytes(b'half'); print(t.name, flush=True); os._exit(9)")
    env = {**os.environ, "FACELESS_STATE_DIR": str(state),
           "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code, str(final)], env=env, capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    left = final.parent / done.stdout.strip()
    assert left.is_file()
    return left


def dataset_error(dataset) -> DamagedFileError:
    """The user error loading ``dataset`` raises, under Kedro's DatasetError (what the CLI prints)."""
    with pytest.raises(DatasetError) as error:
        dataset.load()
    found = user_error(error.value)
    assert isinstance(found, DamagedFileError), error.value
    return found


def warnings_of(caplog, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno >= logging.WARNING]


# --------------------------------------------------------------------------- folders we replace


def test_the_demo_never_replaces_a_folder_it_did_not_make(tmp_path):
    root = tmp_path / "demo"
    (root / "keep").mkdir(parents=True)
    (root / "keep/notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"^ingestion\.demo\.root: .* was not made by this project") as error:
        generate_demo(root, DemoSize.from_params(TINY_DEMO), workers=1, progress=False)
    assert "\n" not in str(error.value)
    assert (root / "keep/notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # nothing written beside it either


def test_the_demo_replaces_its_own_tree_and_a_foreign_partial_folder_is_refused(tmp_path):
    root = tmp_path / "demo"
    generate_demo(root, DemoSize.from_params(TINY_DEMO), workers=1, progress=False)
    assert (root / OWNED_MARKER).is_file()
    redone = generate_demo(root, DemoSize.from_params({**TINY_DEMO, "seed": 1}), workers=1, progress=False)
    assert redone["generated"] and redone["fingerprint"]["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no .partial, no .old left

    theirs = tmp_path / "demo.partial"
    (theirs / "x").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"demo\.partial' exists and was not made by this project"):
        generate_demo(root, DemoSize.from_params({**TINY_DEMO, "seed": 2}), workers=1, progress=False)
    assert (theirs / "x").is_dir()


def test_a_symlink_in_place_of_the_folder_is_never_replaced(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "data.txt").write_text("mine")
    (tmp_path / "export.partial").symlink_to(target)
    with pytest.raises(ConfigError):
        fresh_folder(tmp_path / "export", "predict.demo_export")
    assert (target / "data.txt").read_text() == "mine"


# --------------------------------------------------------------------------- the upscaling cache


def test_a_cache_entry_zeroed_at_full_size_is_not_served(tmp_path, caplog):
    lr = frames(12)
    expected = clean_output(tmp_path, lr)
    out, _ = cached(tmp_path / "cache", lr)
    del out
    target = cache_file(tmp_path / "cache")
    header = target.read_bytes()[:128]
    target.write_bytes(header + bytes(target.stat().st_size - 128))  # same size, frames all zero
    with caplog.at_level(logging.INFO, "faceless.inference"):
        again, stats = cached(tmp_path / "cache", lr)
    assert stats["cache"] == "miss"
    assert np.array_equal(np.asarray(again), expected)
    damaged = warnings_of(caplog, "faceless.inference")
    assert len(damaged) == 1 and "frames differ" in damaged[0] and "\n" not in damaged[0]


def interrupted_upscale(tmp_path, monkeypatch, lr):
    """An uninterrupted run's output, and the cache folder and partial file of a run of the same
    frames interrupted at frame 10."""
    expected = clean_output(tmp_path, lr)
    cache_dir = tmp_path / "cache"
    with monkeypatch.context() as patch:
        interrupt_at_frame(patch, 10)
        with pytest.raises(Interrupted):
            cached(cache_dir, lr)
    partial, _ = partial_paths(cache_dir)
    return expected, cache_dir, partial


def test_a_truncated_partial_file_is_not_resumed(tmp_path, monkeypatch, caplog):
    lr = frames(12)
    expected, cache_dir, partial = interrupted_upscale(tmp_path, monkeypatch, lr)
    with open(partial, "r+b") as handle:
        handle.truncate(partial.stat().st_size - 64)
    with caplog.at_level(logging.INFO, "faceless.inference"):
        out, stats = cached(cache_dir, lr)
    assert stats["resumed_from_shard"] == 0 and np.array_equal(np.asarray(out), expected)
    assert any("partial file of an interrupted run is damaged" in m for m in warnings_of(caplog, "faceless.inference"))


def test_a_partial_file_whose_done_frames_changed_is_not_resumed(tmp_path, monkeypatch):
    lr = frames(12)
    expected, cache_dir, partial = interrupted_upscale(tmp_path, monkeypatch, lr)
    mapped = np.load(partial, mmap_mode="r+")
    mapped[0] = 0  # a done frame lost (never flushed, disk error)
    mapped.flush()
    del mapped
    out, stats = cached(cache_dir, lr)
    assert stats["resumed_from_shard"] == 0 and np.array_equal(np.asarray(out), expected)


def test_a_second_writer_of_one_cache_entry_is_told_who_holds_it(tmp_path):
    lr = frames(4)
    holder = FileLock(tmp_path / "cache" / "srgan_train.lock", "x").acquire()
    try:
        with pytest.raises(LockBusyError, match=r"upscaling cache entry .* is busy: process \d+ ") as error:
            # another process's lock: flock locks are per open file, so a second open conflicts
            cached(tmp_path / "cache", lr)
        assert "\n" not in str(error.value)
    finally:
        holder.release()
    out, stats = cached(tmp_path / "cache", lr)
    assert stats["cache"] == "miss"


def test_stale_cache_records_of_killed_writes_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("FACELESS_STATE_DIR", str(tmp_path / "state"))
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    stale = killed_atomic_write(cache_dir / "sr_train.meta.json", tmp_path / "state")
    cached(cache_dir, frames(4))
    assert not stale.exists()


# --------------------------------------------------------------------------- checkpoints and model files


def test_a_garbage_checkpoint_is_moved_aside_and_the_run_starts_fresh(tmp_path, caplog):
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"not a checkpoint at all" * 10)
    with caplog.at_level(logging.INFO, "faceless.training.loop"):
        assert Checkpointer(tmp_path, "fp").load() is None
    assert (tmp_path / f"{CHECKPOINT_NAME}.damaged").is_file() and not (tmp_path / CHECKPOINT_NAME).exists()
    [warning] = warnings_of(caplog, "faceless.training.loop")
    assert CHECKPOINT_NAME in warning and "weights_only=False" not in warning and "\n" not in warning


def test_a_truncated_checkpoint_falls_back_to_the_previous_one(tmp_path):
    checkpointer = Checkpointer(tmp_path, "fp")
    checkpointer.save({"w": torch.arange(3.0)}, 2)
    checkpointer.save({"w": torch.arange(3.0) * 2}, 4)
    assert (tmp_path / PREVIOUS_NAME).is_file()
    last = tmp_path / CHECKPOINT_NAME
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    step, state = Checkpointer(tmp_path, "fp").load()
    assert step == 2 and torch.equal(state["w"], torch.arange(3.0))


def test_a_checkpoint_save_killed_mid_write_leaves_nothing_behind_next_time(tmp_path, monkeypatch):
    monkeypatch.setenv("FACELESS_STATE_DIR", str(tmp_path / "state"))
    folder = tmp_path / "checkpoints"
    checkpointer = Checkpointer(folder, "fp")
    checkpointer.save({"w": torch.zeros(2)}, 1)
    stale = killed_atomic_write(folder / CHECKPOINT_NAME, tmp_path / "state")
    with pytest.raises(RuntimeError, match="still writing"):
        with atomic_path(folder / CHECKPOINT_NAME) as live:  # a writer still running (this process)
            live.write_bytes(b"busy")
            assert checkpointer.load()[0] == 1
            assert not stale.exists() and live.exists()
            raise RuntimeError("still writing")
    assert sorted(p.name for p in folder.iterdir()) == [CHECKPOINT_NAME]


@pytest.mark.parametrize("content", [b"garbage" * 100, b""], ids=["garbage", "empty"])
def test_damaged_weights_and_model_files_are_one_line_naming_the_file(tmp_path, content):
    path = tmp_path / "weights.pt"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"^classifier\.init_weights: .*weights\.pt' is damaged") as error:
        read_weights_file(path, "classifier.init_weights")
    assert "weights_only=False" not in str(error.value) and "\n" not in str(error.value)
    assert "weights.pt' is damaged" in str(dataset_error(TorchWeightsDataset(str(path))))


def test_a_model_file_holding_arbitrary_objects_is_refused_without_unsafe_advice(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"config": {}, "thing": Path("x")}, path)  # loads only with weights_only=False
    error = dataset_error(TorchWeightsDataset(str(path)))
    assert "holds objects other than tensors" in str(error) and "weights_only" not in str(error)


def test_a_truncated_array_file_is_one_line_naming_it(tmp_path):
    dataset = NpyArrayDataset(str(tmp_path / "lr_train.npy"))
    dataset.save(np.zeros((4, 8, 8, 3), np.uint8))
    path = tmp_path / "lr_train.npy"
    path.write_bytes(path.read_bytes()[:200])
    error = dataset_error(dataset)
    assert re.search(r"lr_train\.npy' is damaged .*run the stage that writes it", str(error))
    assert "\n" not in str(error)


def test_the_run_sweeps_temporaries_of_killed_writes_but_not_raw_data(tmp_path, monkeypatch):
    monkeypatch.setenv("FACELESS_STATE_DIR", str(tmp_path / "state"))
    data = tmp_path / "data"
    (data / "06_models" / "srgan_checkpoints").mkdir(parents=True)
    stale = [killed_atomic_write(data / "05_model_input" / "lr_train.npy", tmp_path / "state"),
             killed_atomic_write(data / "06_models" / "srgan_checkpoints" / "last.pt", tmp_path / "state")]
    raw = killed_atomic_write(data / "01_raw" / "frame.jpg", tmp_path / "state")  # under the user's data: never
    kept = data / "05_model_input" / "lr_train.npy"
    kept.write_bytes(b"x")
    assert sweep_temporaries(data) == 2
    assert not any(path.exists() for path in stale) and raw.exists() and kept.exists()
    assert remove_stale_temporaries(tmp_path / "missing") == []
