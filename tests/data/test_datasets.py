"""Tests for faceless.data.datasets.NpyArrayDataset."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from kedro.io import DataCatalog, DatasetError

try:
    import faceless  # noqa: F401
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from faceless.data.datasets import NpyArrayDataset


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_round_trip_is_memory_mapped_by_default(tmp_path):
    target = tmp_path / "nested" / "deeper" / "frames.npy"  # parents do not exist yet
    data = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    dataset = NpyArrayDataset(filepath=str(target))

    assert not dataset.exists()
    dataset.save(data)
    loaded = dataset.load()

    assert dataset.exists()
    assert isinstance(loaded, np.memmap)
    assert loaded.dtype == np.uint8 and loaded.shape == data.shape
    assert np.array_equal(loaded, data)
    assert files_in(target.parent) == ["frames.npy"]  # no temporary file left behind


def test_plain_load_and_overwrite(tmp_path):
    target = tmp_path / "labels.npy"
    dataset = NpyArrayDataset(filepath=str(target), mmap_mode=None)
    dataset.save([1, 2, 3])  # array-likes are accepted
    dataset.save(np.array([4.5, 6.5]))

    loaded = dataset.load()
    assert not isinstance(loaded, np.memmap)
    assert loaded.tolist() == [4.5, 6.5]
    assert files_in(tmp_path) == ["labels.npy"]


def test_empty_array_round_trips_memory_mapped(tmp_path):
    dataset = NpyArrayDataset(filepath=str(tmp_path / "none.npy"))
    dataset.save(np.empty((0, 8, 8, 3), dtype=np.uint8))
    assert dataset.load().shape == (0, 8, 8, 3)


def test_object_array_fails_and_leaves_no_file(tmp_path):
    dataset = NpyArrayDataset(filepath=str(tmp_path / "bad.npy"))
    with pytest.raises(DatasetError):
        dataset.save(np.array([{"a": 1}, None], dtype=object))
    assert files_in(tmp_path) == []


def test_crash_mid_save_keeps_the_previous_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "frames.npy"
    dataset = NpyArrayDataset(filepath=str(target), mmap_mode=None)
    dataset.save(np.zeros(4))

    def write_half_then_crash(handle, array, allow_pickle=True):
        handle.write(b"\x93NUMPY half")
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", write_half_then_crash)
    with pytest.raises(DatasetError, match="disk full"):
        dataset.save(np.ones(4))

    assert files_in(tmp_path) == ["frames.npy"]
    assert dataset.load().tolist() == [0.0, 0.0, 0.0, 0.0]


def test_crash_on_first_save_leaves_no_final_file(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "save", lambda *args, **kwargs: 1 / 0)
    dataset = NpyArrayDataset(filepath=str(tmp_path / "frames.npy"))
    with pytest.raises(DatasetError):
        dataset.save(np.ones(4))
    assert files_in(tmp_path) == []


def test_describe_and_catalog_config(tmp_path):
    target = tmp_path / "x.npy"
    catalog = DataCatalog.from_config(
        {
            "frames": {
                "type": "faceless.data.datasets.NpyArrayDataset",
                "filepath": str(target),
                "mmap_mode": "c",
                "metadata": {"owner": "ingestion"},
            }
        }
    )
    catalog.save("frames", np.eye(3))
    assert np.array_equal(catalog.load("frames"), np.eye(3))
    dataset = NpyArrayDataset(filepath=str(target), mmap_mode="c")
    assert "mmap_mode='c'" in repr(dataset) and "x.npy" in repr(dataset)


def test_invalid_mmap_mode_is_rejected():
    with pytest.raises(ValueError, match="mmap_mode"):
        NpyArrayDataset(filepath="x.npy", mmap_mode="w+")
