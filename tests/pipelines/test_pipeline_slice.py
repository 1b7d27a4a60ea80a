"""The registered ingestion + sampling pipelines, run end to end on a tiny rendered demo."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from faceless.pipeline_registry import build_pipelines, register_pipelines

CONF = Path(__file__).resolve().parents[2] / "conf" / "base"
HR_SIZE, SCALE = 32, 4
LR_SIZE = HR_SIZE // SCALE
TINY_DEMO = {
    "seed": 0,
    "people": 4,
    "lookalike_group_size": 2,
    "videos_per_person": [3, 4],   # >= 3: one video each for train, val and test
    "sequences_per_video": [1, 3],
    "frames_per_sequence": [2, 4],
    "hr_size": HR_SIZE,
    "scale": SCALE,
    "jpeg_quality": [35, 75],
    "extra_test_videos": 2,        # forced to the test side
    "other_people": 2,             # SR training only (srgan_other)
}
SIDES = ("train", "val", "test")


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so intermediate results can be inspected."""

    def _release(self) -> None:
        pass


def conf_params(name: str) -> dict:
    with open(CONF / f"parameters_{name}.yml") as handle:
        return copy.deepcopy(yaml.safe_load(handle)[name])


def make_catalog(ingestion: dict, sampling: dict | None = None, keep: tuple[str, ...] = ()) -> DataCatalog:
    catalog = DataCatalog()
    catalog["params:ingestion"] = ingestion
    if sampling is not None:
        catalog["params:sampling"] = sampling
    for name in keep:
        catalog[name] = KeptDataset()
    return catalog


@pytest.fixture(scope="module")
def pipelines():
    """The stages with srgan_other on: ingestion and sampling then read the other people too."""
    variants = conf_params("variants")
    variants["srgan_other"]["enabled"] = True
    return build_pipelines({"variants": variants, "predict": conf_params("predict")})


def test_the_other_people_are_read_only_when_a_variant_trains_on_them(pipelines):
    default = register_pipelines()
    for stage in ("ingestion", "sampling"):
        assert not [n.name for n in default[stage].nodes if "other" in n.name]
    assert {"ingestion.scan_other_frames", "sampling.sample_other_frames", "sampling.load_other_frames"} <= {
        n.name for n in pipelines["full"].nodes}
    train, = [n for n in pipelines["full"].nodes if n.name == "srgan.srgan_other.train"]
    assert train.inputs[:2] == ["lr_other", "hr_other"]


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("slice") / "demo"


def tiny_demo(demo_root: Path) -> dict:
    return {**TINY_DEMO, "root": str(demo_root), "other_root": str(demo_root.parent / "demo_other")}


@pytest.fixture(scope="module")
def slice_run(pipelines, demo_root):
    """One run of ingestion + sampling, as `kedro run` would chain them."""
    ingestion = conf_params("ingestion")
    ingestion.update(source="synthetic", workers=1, demo={**ingestion["demo"], **tiny_demo(demo_root)})
    sampling = conf_params("sampling")
    sampling["workers"] = 1
    kept = ("source_info", "frame_index", "split_index", "train_index", "val_index", "test_index", "sampling_report",
            "other_index")
    catalog = make_catalog(ingestion, sampling, keep=kept)
    outputs = SequentialRunner().run(pipelines["ingestion"] + pipelines["sampling"], catalog)
    loaded = {name: dataset.load() for name, dataset in outputs.items()}
    loaded.update({name: catalog[name].load() for name in kept})
    return loaded


def test_params_files_name_the_expected_sections():
    assert conf_params("ingestion")["source"] in ("synthetic", "folder")
    assert set(conf_params("sampling")) >= {"split_by", "test_fraction", "val_fraction", "shortage", "seed"}


def test_registry_chains_ingestion_into_sampling(pipelines):
    full = pipelines["ingestion"] + pipelines["sampling"]
    assert full.inputs() == {"params:ingestion", "params:sampling"}
    assert {f"{k}_{s}" for k in ("lr", "hr") for s in SIDES} <= full.outputs()
    assert "frame_index" in pipelines["ingestion"].outputs() & pipelines["sampling"].inputs()


def test_free_outputs_are_returned(slice_run):
    expected = {"ingestion_report", "sampling_metrics"} | {f"{k}_{s}" for k in ("lr", "hr") for s in SIDES}
    assert expected <= set(slice_run)


def test_source_info_points_at_the_rendered_tree(slice_run, demo_root):
    info = slice_run["source_info"]
    assert info["source"] == "synthetic" and info["generated"] is True
    assert Path(info["root"]) == demo_root / "lr" and Path(info["hr_root"]) == demo_root / "hr"
    report = slice_run["ingestion_report"]
    assert report["frames_skipped"] == 0 and report["people"] == TINY_DEMO["people"]
    assert report["frame_size"] == [LR_SIZE, LR_SIZE] and report["hr_frame_size"] == [HR_SIZE, HR_SIZE]


@pytest.mark.parametrize("side", SIDES)
def test_frames_have_the_expected_shapes(slice_run, side):
    lr, hr, index = slice_run[f"lr_{side}"], slice_run[f"hr_{side}"], slice_run[f"{side}_index"]
    n = len(index)
    assert n > 0
    assert lr.dtype == np.uint8 and hr.dtype == np.uint8
    assert lr.shape == (n, LR_SIZE, LR_SIZE, 3)
    assert hr.shape == (n, HR_SIZE, HR_SIZE, 3)


@pytest.mark.parametrize("side", SIDES)
def test_every_person_gets_the_same_count_on_each_side(slice_run, side):
    index = slice_run[f"{side}_index"]
    counts = index["person"].value_counts()
    assert set(counts.index) == set(range(TINY_DEMO["people"]))
    assert counts.nunique() == 1
    quota = slice_run["sampling_report"]["sides"][side]["quota"]
    assert counts.iloc[0] == quota["videos_per_person"] * quota["sequences_per_video"] * quota["frames_per_sequence"]


def test_loaded_frames_follow_the_index(slice_run):
    from PIL import Image

    index, lr = slice_run["train_index"], slice_run["lr_train"]
    for row in (0, len(index) - 1):
        with Image.open(index["path"].iloc[row]) as image:
            np.testing.assert_array_equal(lr[row], np.asarray(image.convert("RGB")))


def test_sampling_report_has_no_video_leak(slice_run):
    report = slice_run["sampling_report"]
    assert report["split_by"] == "video"
    assert report["unsplittable_people"] == {}
    for audit in ("leakage_split", "leakage_sampled"):
        for pair in ("train_vs_test", "train_vs_val", "val_vs_test"):
            assert report[audit][pair]["videos"] == 0, (audit, pair)
    train = slice_run["train_index"]
    test = slice_run["test_index"]
    shared = set(map(tuple, train[["person", "video"]].to_numpy())) & set(map(tuple, test[["person", "video"]].to_numpy()))
    assert shared == set()
    assert report["has_hr"] is True


def test_extra_test_videos_are_on_the_test_side_alone(slice_run):
    report, test = slice_run["sampling_report"], slice_run["test_index"]
    assert report["forced_test"]["videos"] == TINY_DEMO["people"] * TINY_DEMO["extra_test_videos"]
    assert test.groupby("person")["test_only"].any().all()
    assert not slice_run["train_index"]["test_only"].any() and not slice_run["val_index"]["test_only"].any()


def test_other_people_arrays_hold_no_recognition_person(slice_run):
    lr, hr, index = slice_run["lr_other"], slice_run["hr_other"], slice_run["other_index"]
    assert lr.shape == (len(index), LR_SIZE, LR_SIZE, 3) and hr.shape == (len(index), HR_SIZE, HR_SIZE, 3)
    assert index["person"].nunique() == TINY_DEMO["other_people"]
    assert not set(index["person_name"]) & set(slice_run["frame_index"]["person_name"])
    audit = slice_run["other_sampling_report"]["leakage_other"]
    assert audit == {f"other_vs_{side}": {"people": 0} for side in SIDES}


def test_train_labels_cover_every_person(slice_run):
    frame_index, train = slice_run["frame_index"], slice_run["train_index"]
    assert set(train["label"]) == set(frame_index["label"]) == set(range(TINY_DEMO["people"]))
    # A label always names the same person.
    assert (train.groupby("label")["person"].nunique() == 1).all()


def test_metrics_are_mlflow_ready(slice_run):
    metrics = slice_run["sampling_metrics"]
    assert metrics
    assert all(set(v) == {"value", "step"} and isinstance(v["value"], float) for v in metrics.values())
    assert metrics["leakage/train_vs_test_shared_videos"]["value"] == 0.0  # logged as sampling/leakage/...
    assert all(name.count("/") == 1 for name in metrics)  # <side or leakage>/<number>: a chart section each


def test_rerun_reuses_the_rendered_demo(pipelines, demo_root, slice_run):
    ingestion = {**conf_params("ingestion"), "source": "synthetic", "workers": 1, "validate": "header",
                 "demo": {**conf_params("ingestion")["demo"], **tiny_demo(demo_root)}}
    catalog = make_catalog(ingestion, keep=("source_info",))
    outputs = SequentialRunner().run(pipelines["ingestion"], catalog)
    assert catalog["source_info"].load()["generated"] is False
    assert outputs["frame_index"].load().equals(slice_run["frame_index"])


@pytest.mark.parametrize("with_hr", [False, True])
def test_folder_source_reads_the_rendered_tree(pipelines, demo_root, slice_run, with_hr):
    ingestion = {
        **conf_params("ingestion"),
        "source": "folder",
        "root": str(demo_root / "lr"),
        "hr_root": str(demo_root / "hr") if with_hr else None,
        "validate": "full",
        "workers": 1,
    }
    outputs = SequentialRunner().run(pipelines["ingestion"], make_catalog(ingestion))
    frame_index, report = outputs["frame_index"].load(), outputs["ingestion_report"].load()
    assert report["source"] == "folder"
    assert report["frames_skipped"] == 0
    # A folder source forces nothing to the test side (the demo's extra videos are regular ones there).
    assert not frame_index["test_only"].any() and slice_run["frame_index"]["test_only"].any()
    frame_index, expected = frame_index.drop(columns="test_only"), slice_run["frame_index"].drop(columns="test_only")
    assert len(frame_index) == len(expected) == report["frames_kept"]
    if with_hr:
        pd.testing.assert_frame_equal(frame_index, expected)
    else:
        assert "hr_path" not in frame_index.columns
        pd.testing.assert_frame_equal(frame_index, expected.drop(columns="hr_path"))


def test_folder_source_feeds_sampling_without_hr(pipelines, demo_root, slice_run):
    ingestion = {**conf_params("ingestion"), "source": "folder", "root": str(demo_root / "lr"), "workers": 1}
    sampling = {**conf_params("sampling"), "workers": 1}
    catalog = make_catalog(ingestion, sampling, keep=("sampling_report",))
    outputs = SequentialRunner().run(pipelines["ingestion"] + pipelines["sampling"], catalog)
    lr, hr = outputs["lr_train"].load(), outputs["hr_train"].load()
    assert lr.shape[1:] == (LR_SIZE, LR_SIZE, 3) and lr.shape[0] > 0
    assert hr.shape[0] == 0
    assert catalog["sampling_report"].load()["has_hr"] is False
