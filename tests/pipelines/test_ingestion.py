"""The ingestion nodes with params from conf/base: the typed config, the demo source, the scan."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from faceless.data.synthetic import DemoConfig
from faceless.pipelines.ingestion.nodes import (
    OTHER_COLUMNS,
    IngestionConfig,
    ingestion_config,
    prepare_source,
    scan_frames,
    scan_other_frames,
)
from faceless.utils.errors import ConfigError

from ..conftest import base_params
from ..trees import orcam_tree

TINY_DEMO = {
    "people": 3,
    "lookalike_group_size": 1,
    "videos_per_person": 2,
    "sequences_per_video": [1, 2],
    "frames_per_sequence": 2,
    "hr_size": 16,
    "scale": 4,
    "extra_test_videos": 1,
    "other_people": 2,
}


def tiny_params(root: Path, **overrides) -> dict:
    params = base_params("ingestion", workers=1, **overrides)
    params["demo"].update(TINY_DEMO, root=str(root), other_root=str(root.parent / "demo_other"))
    return params


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ingestion") / "demo"
    params = tiny_params(root)
    source_info = prepare_source(params)
    frame_index, report = scan_frames(source_info, params)
    return root, params, source_info, frame_index, report


def test_conf_base_builds_the_config():
    config = ingestion_config(base_params("ingestion"))
    assert isinstance(config, IngestionConfig) and isinstance(config.demo, DemoConfig)
    assert (config.source, config.layout, config.validate) == ("synthetic", "orcam", "full")
    assert config.demo.size().videos_per_person == (8, 10)
    # 2 regular test videos a person (0.25 of 8-10) + 4 forced: the powered test side (issue 24).
    assert config.demo.extra_test_videos == 4
    assert (config.demo.other_people, config.demo.other_root) == (16, "data/01_raw/demo_other")
    assert (config.other_root, config.other_hr_root) == (None, None)
    assert config.demo.frame_corruption == 0.0  # off: today's demo, byte for byte


def test_synthetic_source_renders_the_demo_and_points_at_it(demo_run):
    root, _, source_info, _, _ = demo_run
    assert source_info["source"] == "synthetic" and source_info["generated"] is True
    assert Path(source_info["root"]) == root / "lr" and Path(source_info["hr_root"]) == root / "hr"
    assert source_info["layout"] == "orcam" and source_info["sequence_length"] is None
    assert source_info["demo"]["people"] == 3 and source_info["demo"]["videos_per_person"] == [2, 2]
    assert source_info["demo"]["extra_test_videos"] == 1
    assert [person for person, _ in source_info["test_only_videos"]] == [0, 1, 2]


def test_a_second_prepare_does_not_render_again(demo_run):
    _, params, source_info, _, _ = demo_run
    again = prepare_source(params)
    assert again["generated"] is False
    assert {k: v for k, v in again.items() if k != "generated"} == \
        {k: v for k, v in source_info.items() if k != "generated"}


def test_scan_indexes_every_rendered_frame(demo_run):
    _, _, _, frame_index, report = demo_run
    assert report["source"] == "synthetic"
    assert report["people"] == 3 and report["frames_kept"] == len(frame_index) > 0
    assert report["frames_skipped"] == 0
    assert "hr_path" in frame_index.columns
    regular = frame_index[~frame_index["test_only"]]
    assert regular.groupby("person")["video"].nunique().to_dict() == {0: 2, 1: 2, 2: 2}
    forced = frame_index[frame_index["test_only"]]
    assert forced.groupby("person")["video"].nunique().to_dict() == {0: 1, 1: 1, 2: 1}
    assert forced.groupby("person")["video"].min().gt(regular.groupby("person")["video"].max()).all()
    assert report["test_only_videos"] == 3


def test_other_people_of_the_demo_are_not_recognition_people(demo_run):
    root, params, _, frame_index, _ = demo_run
    other, report = scan_other_frames(params)
    assert list(other.columns) == OTHER_COLUMNS
    assert report["source"] == "synthetic" and report["frames_skipped"] == 0
    assert sorted(other["person_name"].unique()) == ["person_0003", "person_0004"]  # after people 0-2
    assert not set(other["person_name"]) & set(frame_index["person_name"])
    assert other["path"].str.contains("demo_other/lr/").all() and other["hr_path"].str.contains("demo_other/hr/").all()
    assert report["frame_size"] == [4, 4] and report["hr_frame_size"] == [16, 16]
    again, _ = scan_other_frames(params)
    assert again.equals(other)


def test_frame_corruption_reaches_both_demo_trees(tmp_path):
    params = tiny_params(tmp_path / "demo")
    params["demo"]["frame_corruption"] = 0.5
    source_info = prepare_source(params)
    assert source_info["generated"] is True and source_info["demo"]["frame_corruption"] == 0.5
    _, report = scan_other_frames(params)
    marker = (tmp_path / "demo_other" / "demo_params.json").read_text()
    assert report["generated"] is True and '"frame_corruption": 0.5' in marker


def test_no_other_people_give_an_empty_index(tmp_path):
    none_rendered = tiny_params(tmp_path / "demo")
    none_rendered["demo"]["other_people"] = 0
    for params in (none_rendered, base_params("ingestion", source="folder", root=str(tmp_path))):
        other, report = scan_other_frames(params)
        assert other.empty and list(other.columns) == OTHER_COLUMNS
        assert report["people"] == 0 and report["root"] is None and report["note"]
    assert not list(tmp_path.iterdir())


def test_folder_other_root_of_high_resolution_frames_alone(tmp_path):
    _, hr_root = orcam_tree(tmp_path / "others", 8, people=2, videos=1, sequences=1, frames=2, seed=3)
    params = base_params("ingestion", source="folder", root=str(tmp_path / "unused"), other_root=str(hr_root),
                         workers=1)
    other, report = scan_other_frames(params)
    assert len(other) == 4 and other["path"].isna().all()
    assert other["hr_path"].str.endswith(".png").all()
    assert report["source"] == "folder" and report["frame_size"] == [32, 32]
    assert "area-downscaled" in report["lr_frames"]


def test_folder_other_root_with_its_truth_gives_pairs(tmp_path):
    lr_root, hr_root = orcam_tree(tmp_path / "others", 8, people=2, videos=1, sequences=1, frames=2, seed=3)
    params = base_params("ingestion", source="folder", root=str(tmp_path / "unused"), other_root=str(lr_root),
                         other_hr_root=str(hr_root), workers=1)
    other, report = scan_other_frames(params)
    assert len(other) == 4 and other["path"].str.endswith(".jpg").all() and other["hr_path"].str.endswith(".png").all()
    assert report["frame_size"] == [8, 8] and report["hr_frame_size"] == [32, 32]
    with pytest.raises(ConfigError, match=r"ingestion\.other_hr_root\b"):
        scan_other_frames({**params, "other_hr_root": str(tmp_path / "missing")})


def test_folder_sources_force_nothing_to_test(demo_run):
    root, _, _, synthetic_index, _ = demo_run
    params = base_params("ingestion", source="folder", root=str(root / "lr"), hr_root=str(root / "hr"), workers=1)
    frame_index, report = scan_frames(prepare_source(params), params)
    assert not frame_index["test_only"].any() and report["test_only_videos"] == 0
    assert frame_index.drop(columns="test_only").equals(synthetic_index.drop(columns="test_only"))
    assert np.array_equal(frame_index["path"], synthetic_index["path"])


def test_folder_source_passes_its_settings_through(tmp_path):
    params = base_params("ingestion", source="folder", root=str(tmp_path / "frames.tar"), layout="ytf")
    info = prepare_source(params)
    assert info == {"source": "folder", "root": str(tmp_path / "frames.tar"), "hr_root": None, "generated": False,
                    "layout": "ytf", "sequence_length": 8, "test_only_videos": []}


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"source": "folder"}, "ingestion.root"),
        ({"source": "ftp"}, "ingestion.source"),
        ({"validate": "all"}, "ingestion.validate"),
        ({"layout": "flat"}, "ingestion.layout"),
        ({"workers": 0}, "ingestion.workers"),
        ({"workers": "2"}, "ingestion.workers"),
        ({"sequence_length": 2.5}, "ingestion.sequence_length"),
        ({"demo__people": 0}, "ingestion.demo.people"),
        ({"demo__videos_per_person": [3, 1]}, "ingestion.demo.videos_per_person"),
        ({"demo__videos_per_person": "5"}, "ingestion.demo.videos_per_person"),
        ({"demo__hr_size": 30}, "ingestion.demo.hr_size"),
        ({"demo__root": None}, "ingestion.demo.root"),
        ({"demo__extra_test_videos": -1}, "ingestion.demo.extra_test_videos"),
        ({"demo__other_people": 1.5}, "ingestion.demo.other_people"),
        ({"other_root": "elsewhere"}, "ingestion.other_root"),
        ({"other_hr_root": "elsewhere"}, "ingestion.other_hr_root"),
        ({"source": "folder", "root": "frames", "other_root": "frames"}, "ingestion.other_root"),
    ],
)
def test_bad_values_are_one_config_error_line_naming_the_parameter_before_any_work(tmp_path, overrides, name):
    # A tiny demo under tmp_path, so that a check that failed to stop the run costs little.
    tiny = {f"demo__{key}": value for key, value in
            {**TINY_DEMO, "root": str(tmp_path / "demo"), "other_root": str(tmp_path / "other")}.items()}
    params = base_params("ingestion", **{**tiny, "workers": 1, **overrides})
    with pytest.raises(ConfigError, match=rf"\b{re.escape(name)}\b") as err:
        prepare_source(params)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "demo").exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({**base_params("ingestion"), "sourse": "folder"}, r"unknown parameter ingestion\.sourse\b"),
        ({k: v for k, v in base_params("ingestion").items() if k != "validate"},
         r"missing parameter ingestion\.validate\b"),
        (base_params("ingestion", demo={**base_params("ingestion")["demo"], "peeple": 3}),
         r"unknown parameter ingestion\.demo\.peeple\b"),
        (base_params("ingestion", demo={k: v for k, v in base_params("ingestion")["demo"].items() if k != "scale"}),
         r"missing parameter ingestion\.demo\.scale\b"),
    ],
    ids=["unknown", "missing", "unknown-in-demo", "missing-in-demo"],
)
def test_unknown_and_missing_keys_are_one_config_error_line_naming_them(params, message):
    with pytest.raises(ConfigError, match=message) as err:
        ingestion_config(params)
    assert "\n" not in str(err.value)
