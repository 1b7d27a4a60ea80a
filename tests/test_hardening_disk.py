"""Issue 29, item 4 (the issue's item 5): a full disk is one line naming what was being written (and
how much is needed, where known), with nothing half-written left; a source with fewer than two people
is refused in one line at sampling, before any training."""
from __future__ import annotations

import errno

import numpy as np
import pytest
import torch
from kedro.io import DatasetError

from faceless.data.datasets import NpyArrayDataset, TorchWeightsDataset
from faceless.hooks import user_error
from faceless.pipelines.sampling.nodes import sample_splits, split_frames
from faceless.utils import atomic
from faceless.utils.atomic import DiskFullError
from faceless.utils.errors import ConfigError

from .pipelines.test_sampling import BASE_PARAMS, build_index, uniform_tree
from .test_inference import cached, frames, partial_paths

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def saved_error(dataset, data) -> ConfigError:
    """The user error saving ``data`` raises (under Kedro's DatasetError, as the CLI prints it)."""
    with pytest.raises(DatasetError) as error:
        dataset.save(data)
    found = user_error(error.value)
    assert isinstance(found, DiskFullError), repr(error.value)
    assert "\n" not in str(found)
    return found


def test_a_full_disk_saving_an_array_is_one_line_and_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "lr_train.npy"
    dataset = NpyArrayDataset(str(path))
    dataset.save(np.ones((2, 4, 4, 3), np.uint8))
    monkeypatch.setattr(np, "save", no_space)
    found = saved_error(dataset, np.zeros((64, 8, 8, 3), np.uint8))
    assert str(found).startswith(f"no space left on the device writing '{path}' (ENOSPC")
    assert "about 12.1 KiB are needed" in str(found)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lr_train.npy"]  # no temporary left
    assert np.load(path).sum() == 2 * 4 * 4 * 3  # the old file, whole


def test_torchs_iostream_error_on_a_full_disk_is_named_as_a_full_disk(tmp_path, monkeypatch):
    path = tmp_path / "sr_generator.pt"

    def iostream_error(obj, target, *args, **kwargs):
        with open(target, "wb") as handle:
            handle.write(b"half")
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0\n"
                           "basic_ios::clear: iostream error")

    monkeypatch.setattr(torch, "save", iostream_error)
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda p: type("U", (), {"free": 0, "total": 1, "used": 1})())
    found = saved_error(TorchWeightsDataset(str(path)), {"w": torch.zeros(3)})
    assert f"writing '{path}'" in str(found) and "ENOSPC, 0 bytes free" in str(found)
    assert list(tmp_path.iterdir()) == []


def test_the_upscaling_cache_reserves_its_space_first_and_says_how_much(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic.os if hasattr(atomic.os, "posix_fallocate") else atomic.os, "posix_fallocate",
                        no_space, raising=False)
    with pytest.raises(DiskFullError, match=r"^no space left on the device writing '.*\.partial\.npy' \(ENOSPC.*"
                                            r"about .* are needed") as error:
        cached(tmp_path / "cache", frames(4))
    assert "\n" not in str(error.value)
    partial, progress = partial_paths(tmp_path / "cache")
    assert not partial.exists() and not progress.exists()


@pytest.mark.parametrize("people", [[3], []], ids=["one", "none_splittable"])
def test_fewer_than_two_people_are_refused_at_sampling_in_one_line(people):
    tree = uniform_tree(people or [1, 2], 4, 2, 3)
    if not people:  # two people, one of them with one video: unsplittable and left out
        tree[2] = {7: {1: 3}}
    params = {**BASE_PARAMS, "shortage": "drop"}
    with pytest.raises(ConfigError, match=r"^sampling: 1 person .* can be trained on after the split; a classifier needs at least 2 "
                                          r"people") as error:
        split_index, split_info = split_frames(build_index(tree), params)
        sample_splits(split_index, split_info, params)
    assert "\n" not in str(error.value)
