"""The ingestion nodes with params from conf/base: the typed config, the demo source, the scan."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from faceless.data.synthetic import DemoConfig
from faceless.pipelines.ingestion.nodes import IngestionConfig, ingestion_config, prepare_source, scan_frames
from faceless.utils.errors import ConfigError

from ..conftest import base_params

TINY_DEMO = {
    "people": 3,
    "lookalike_group_size": 1,
    "videos_per_person": 2,
    "sequences_per_video": [1, 2],
    "frames_per_sequence": 2,
    "hr_size": 16,
    "scale": 4,
}


def tiny_params(root: Path, **overrides) -> dict:
    params = base_params("ingestion", workers=1, **overrides)
    params["demo"].update(TINY_DEMO, root=str(root))
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


def test_synthetic_source_renders_the_demo_and_points_at_it(demo_run):
    root, _, source_info, _, _ = demo_run
    assert source_info["source"] == "synthetic" and source_info["generated"] is True
    assert Path(source_info["root"]) == root / "lr" and Path(source_info["hr_root"]) == root / "hr"
    assert source_info["layout"] == "orcam" and source_info["sequence_length"] is None
    assert source_info["demo"]["people"] == 3 and source_info["demo"]["videos_per_person"] == [2, 2]


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
    assert frame_index.groupby("person")["video"].nunique().to_dict() == {p: 2 for p in frame_index["person"].unique()}


def test_folder_source_passes_its_settings_through(tmp_path):
    params = base_params("ingestion", source="folder", root=str(tmp_path / "frames.tar"), layout="ytf")
    info = prepare_source(params)
    assert info == {"source": "folder", "root": str(tmp_path / "frames.tar"), "hr_root": None, "generated": False,
                    "layout": "ytf", "sequence_length": 8}


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
    ],
)
def test_bad_values_are_one_config_error_line_naming_the_parameter_before_any_work(tmp_path, overrides, name):
    # A tiny demo under tmp_path, so that a check that failed to stop the run costs little.
    tiny = {f"demo__{key}": value for key, value in {**TINY_DEMO, "root": str(tmp_path / "demo")}.items()}
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
