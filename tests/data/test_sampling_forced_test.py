"""Videos forced to the test side (the demo's extra test videos, marked ``test_only`` in the frame
index): they go to test whole, every other video splits and samples exactly as without them, and
the demo's default test side has at least 6 videos a person."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from faceless.data import SIDES
from faceless.data.sampling import SamplingConfig, assign_sides, report_numbers, sample_sides
from faceless.data.synthetic import DemoConfig, plan_tree
from faceless.utils.config import from_params

CONF = Path(__file__).resolve().parents[2] / "conf" / "base"
COLUMNS = ["person", "video", "sequence", "frame", "label", "person_name", "path"]


def conf(stage: str) -> dict:
    return yaml.safe_load((CONF / f"parameters_{stage}.yml").read_text())[stage]


def config(**overrides) -> SamplingConfig:
    return from_params(SamplingConfig, {**conf("sampling"), "workers": 1, **overrides}, "sampling")


def index_of_plan(plan: list[dict]) -> pd.DataFrame:
    """The frame index a scan of a rendered plan gives (without rendering it)."""
    rows = [(p["person"], e["video"], e["sequence"], f, p["person"], f"person_{p['person']:04d}",
             f"/demo/person_{p['person']:04d}/video_{e['video']:04d}/seq_{e['sequence']:04d}/frame_{f:05d}.jpg",
             e["test_only"])
            for p in plan for e in p["entries"] for f in e["frames"]]
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "test_only"])
    return frame.sort_values(["person", "video", "sequence", "frame"]).reset_index(drop=True)


def build_index(n_people: int, n_videos: int, forced: int, seqs: int = 2, frames: int = 3) -> pd.DataFrame:
    """``n_videos`` regular videos a person (numbers 10, 20, ...) and ``forced`` test-only ones after them."""
    rows = []
    for person in range(n_people):
        for v in range(n_videos + forced):
            for s in range(seqs):
                for f in range(frames):
                    rows.append((person, 10 * (v + 1), s + 1, 2 * f + 3, person, f"p{person}",
                                 f"/x/{person}/{v}/{s}/{f}.jpg", v >= n_videos))
    return pd.DataFrame(rows, columns=[*COLUMNS, "test_only"])


def regular_part(split: pd.DataFrame) -> pd.DataFrame:
    return split[~split["test_only"]].drop(columns="test_only").reset_index(drop=True)


@pytest.mark.parametrize("split_by", ["video", "sequence"])
@pytest.mark.parametrize("n_videos", [2, 3, 8])  # 2: validation carved from training sequences
def test_forced_videos_go_to_test_and_the_rest_splits_as_without_them(split_by, n_videos):
    with_forced = build_index(5, n_videos, forced=4)
    without = with_forced[~with_forced["test_only"]].reset_index(drop=True)
    split, info = assign_sides(with_forced, config(split_by=split_by))
    plain, plain_info = assign_sides(without, config(split_by=split_by))
    pd.testing.assert_frame_equal(regular_part(split), plain.drop(columns="test_only"))
    assert (split.loc[split["test_only"], "side"] == "test").all()
    assert info["forced_test"] == {"videos": 20, "frames": 20 * 6, "people": 5}
    assert plain_info["forced_test"] == {"videos": 0, "frames": 0, "people": 0}
    assert info["split_policy"] == plain_info["split_policy"]
    # The forced videos share nothing with any side: the audit is the one without them.
    assert info["leakage_split"] == plain_info["leakage_split"]
    assert all(counts["videos"] == 0 for pair, counts in info["leakage_split"].items() if "test" in pair) \
        or split_by == "sequence"


def test_an_index_without_the_column_splits_as_before():
    # A folder or tar source (or an index made before the column): nothing is forced.
    index = build_index(4, 6, forced=0)
    split, info = assign_sides(index.drop(columns="test_only"), config())
    marked, _ = assign_sides(index, config())
    assert info["forced_test"]["videos"] == 0
    pd.testing.assert_frame_equal(split, marked.drop(columns="test_only"))


def test_a_person_with_too_few_regular_videos_is_left_out_with_their_forced_ones():
    index = pd.concat([build_index(3, 4, forced=2), build_index(4, 1, forced=3).query("person == 3")])
    split, info = assign_sides(index.reset_index(drop=True), config())
    assert info["unsplittable_people"] == {"p3": 1}
    assert 3 not in set(split["person"])
    assert info["forced_test"] == {"videos": 6, "frames": 36, "people": 3}


def test_sampled_train_and_val_are_identical_and_test_takes_the_forced_videos():
    with_forced = build_index(4, 8, forced=4)
    samples, report = sample_sides(*assign_sides(with_forced, config()), config())
    plain, _ = sample_sides(*assign_sides(with_forced[~with_forced["test_only"]], config()), config())
    for side in ("train", "val"):
        pd.testing.assert_frame_equal(samples[side], plain[side])
    assert report["forced_test"]["videos"] == 16
    assert report["sides"]["test"]["quota"]["videos_per_person"] == 2 + 4
    assert samples["test"]["test_only"].groupby(samples["test"]["person"]).sum().gt(0).all()
    assert all(v == 0 for pair in report["leakage_sampled"].values() for v in pair.values())
    assert report_numbers(report)["test/forced_videos"] == 16.0


def test_the_default_demo_has_six_test_videos_a_person_and_unchanged_training():
    """conf/base's demo and sampling, on the demo's plan (the numbers a render would have)."""
    demo = DemoConfig(**conf("ingestion")["demo"])
    size = demo.size()
    assert demo.extra_test_videos >= 4
    extended = index_of_plan(plan_tree(size, demo.extra_test_videos))
    plain = index_of_plan(plan_tree(size))
    samples, report = sample_sides(*assign_sides(extended, config()), config())
    before, before_report = sample_sides(*assign_sides(plain, config()), config())
    test = samples["test"]
    assert test.groupby("person")["video"].nunique().min() >= 6
    assert test.drop_duplicates(["person", "video"]).shape[0] >= 96
    assert report["sides"]["test"]["quota"]["videos_per_person"] >= 6
    assert report["forced_test"] == {"videos": size.people * demo.extra_test_videos,
                                     "frames": int(extended["test_only"].sum()), "people": size.people}
    for side in ("train", "val"):
        pd.testing.assert_frame_equal(samples[side], before[side])
        assert report["sides"][side] == before_report["sides"][side]
    for audit in ("leakage_split", "leakage_sampled"):
        assert all(v == 0 for pair in report[audit].values() for v in pair.values())
    assert set(samples["test"]["person"]) == set(samples["train"]["person"]) == set(range(size.people))
    np.testing.assert_array_equal(np.sort(test["person"].unique()), np.arange(size.people))
