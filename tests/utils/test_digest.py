"""array_digest: content hashes, and the per-file record that keeps a cache hit cheap at any size."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from faceless.utils.atomic import write_json
from faceless.utils.digest import DIGEST_SUFFIX, array_digest


def _saved(tmp_path, array, name="frames.npy"):
    path = tmp_path / name
    np.save(path, array)
    return path


def test_digest_follows_content_shape_and_dtype():
    a = np.arange(48, dtype=np.uint8).reshape(2, 4, 2, 3)
    assert array_digest(a) == array_digest(a.copy())
    assert array_digest(a) != array_digest(a.reshape(4, 2, 2, 3))
    assert array_digest(a) != array_digest(a.astype(np.int16))
    b = a.copy()
    b[1, 3, 1, 2] += 1
    assert array_digest(a) != array_digest(b)


def test_a_whole_readonly_file_is_hashed_once_and_then_read_from_its_record(tmp_path):
    array = np.random.default_rng(0).integers(0, 255, (5, 8, 8, 3), dtype=np.uint8)
    path = _saved(tmp_path, array)
    mapped = np.load(path, mmap_mode="r")
    digest = array_digest(mapped)
    assert digest == array_digest(array)  # the same content hash as the array in memory
    record_path = tmp_path / f"frames.npy{DIGEST_SUFFIX}"
    record = json.loads(record_path.read_text())
    assert record["digest"] == digest
    # The record is what a second call serves: planting another digest in it shows it is not rehashed.
    write_json(record_path, {**record, "digest": "planted"})
    assert array_digest(np.load(path, mmap_mode="r")) == "planted"


def test_a_rewritten_file_is_hashed_again(tmp_path):
    array = np.zeros((4, 8, 8, 3), np.uint8)
    path = _saved(tmp_path, array)
    first = array_digest(np.load(path, mmap_mode="r"))
    changed = array.copy()
    changed[2] = 7  # same size, new content, new file
    np.save(tmp_path / "new.npy", changed)
    os.replace(tmp_path / "new.npy", path)
    assert array_digest(np.load(path, mmap_mode="r")) == array_digest(changed) != first


def test_an_in_place_change_with_the_same_size_is_seen_through_the_modification_time(tmp_path):
    path = _saved(tmp_path, np.zeros((4, 8, 8, 3), np.uint8))
    first = array_digest(np.load(path, mmap_mode="r"))
    writable = np.load(path, mmap_mode="r+")
    writable[0, 0, 0, 0] = 9
    writable.flush()
    del writable
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # coarse clocks: make the write visible
    assert array_digest(np.load(path, mmap_mode="r")) != first


@pytest.mark.parametrize("view", ["slice", "writable", "copy_on_write"])
def test_views_and_writable_maps_are_hashed_not_looked_up(tmp_path, view):
    array = np.random.default_rng(1).integers(0, 255, (6, 4, 4, 3), dtype=np.uint8)
    path = _saved(tmp_path, array)
    record_path = tmp_path / f"frames.npy{DIGEST_SUFFIX}"
    array_digest(np.load(path, mmap_mode="r"))
    write_json(record_path, {**json.loads(record_path.read_text()), "digest": "planted"})
    subject = {"slice": lambda: np.load(path, mmap_mode="r")[1:4],
               "writable": lambda: np.load(path, mmap_mode="r+"),
               "copy_on_write": lambda: np.load(path, mmap_mode="c")}[view]()
    expected = array[1:4] if view == "slice" else array
    assert array_digest(subject) == array_digest(np.array(expected))


def test_a_read_only_folder_still_gives_the_digest(tmp_path, monkeypatch):
    path = _saved(tmp_path, np.ones((2, 4, 4, 3), np.uint8))

    def refuse(*_args, **_kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr("faceless.utils.digest.write_json", refuse)
    assert array_digest(np.load(path, mmap_mode="r")) == array_digest(np.ones((2, 4, 4, 3), np.uint8))


@pytest.mark.parametrize("content", ["[1, 2]", "not json", '{"file": "x"}'])
def test_a_damaged_record_is_ignored_and_rewritten(tmp_path, content):
    array = np.arange(96, dtype=np.uint8).reshape(2, 4, 4, 3)
    path = _saved(tmp_path, array)
    record_path = tmp_path / f"frames.npy{DIGEST_SUFFIX}"
    record_path.write_text(content)
    assert array_digest(np.load(path, mmap_mode="r")) == array_digest(array)
    assert json.loads(record_path.read_text())["digest"] == array_digest(array)
