"""Unit tests of sampling (split, quotas, balanced sampling, audit) on hand-built indexes: the engine
(faceless.data.sampling) directly, and the nodes with params from conf/base."""
from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest

from faceless.data.sampling import (
    SamplingConfig,
    SideQuota,
    derive_quotas,
    resolve_quotas,
    sample_person,
    sample_side,
)
from faceless.pipelines.sampling.nodes import sample_splits, sampling_config, sampling_metrics, split_frames
from faceless.utils.errors import ConfigError

from ..conftest import base_params, logger_messages

COLUMNS = ["person", "video", "sequence", "frame", "label", "path"]
#: conf/base's sampling parameters: split by video, test 0.25, val 0.2, resample, seed 0.
BASE_PARAMS = base_params("sampling")
SAMPLING_LOGGER = "faceless.data.sampling"


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------
def build_index(tree: dict[int, dict[int, dict[int, int]]]) -> pd.DataFrame:
    """A frame index from ``{person: {video: {sequence: n_frames}}}``.

    Frame numbers are non-dense and do not start at 0 (first = 5 + sequence, then steps of 1..3),
    like the real data; labels are 0..P-1 in person order, as the scanner assigns them.
    """
    people = sorted(tree)
    rows = []
    for person in people:
        for video, sequences in tree[person].items():
            for sequence, n_frames in sequences.items():
                frame = 5 + sequence
                for k in range(n_frames):
                    frame += 1 + (k * 7 + sequence) % 3
                    path = f"/x/person_{person:04d}/video_{video:04d}/seq_{sequence:04d}/frame_{frame:05d}.jpg"
                    rows.append((person, video, sequence, frame, people.index(person), path))
    return pd.DataFrame(rows, columns=COLUMNS)


def uniform_tree(people: list[int], n_videos: int, n_sequences: int, n_frames: int) -> dict:
    """Every person gets the same, non-dense numbering scheme (person-dependent offsets)."""
    return {
        p: {
            3 + 11 * v + p: {2 + 5 * s + v: n_frames + (s + v + p) % 2 for s in range(n_sequences)}
            for v in range(n_videos)
        }
        for p in people
    }


def keys(frame: pd.DataFrame, cols: list[str]) -> set[tuple]:
    return set(map(tuple, frame[cols].to_numpy()))


def sides_of(split_index: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {s: split_index[split_index["side"] == s] for s in ("train", "val", "test")}


@pytest.fixture
def rich_index() -> pd.DataFrame:
    """Five people, 7 videos x 3 sequences x 4-5 frames each: splittable at every level."""
    return build_index(uniform_tree([2, 5, 17, 30, 41], n_videos=7, n_sequences=3, n_frames=4))


# The hand-computed case for derive_quotas:
#   person 4: videos 10 (2 seqs), 25 (5 seqs)        -> 2 videos, max 5 seqs, max 6 frames
#   person 9: videos 7 (3), 40 (3), 41 (1)            -> 3 videos, max 3 seqs, max 5 frames
#   person 12: 4 videos of 4 seqs of 9 frames         -> 4 videos, max 4 seqs, max 9 frames
# min over people of the maxima: videos 2, sequences 3, frames 5.
# (The minimum of minima would give 2 / 1 / 1, the maximum of maxima 4 / 5 / 9.)
QUOTA_TREE = {
    4: {10: {3: 4, 8: 2}, 25: {1: 3, 4: 6, 9: 2, 11: 1, 12: 5}},
    9: {7: {2: 5, 5: 1, 6: 2}, 40: {0: 3, 3: 3, 7: 3}, 41: {1: 2}},
    12: {v: {s: 9 for s in (1, 3, 5, 7)} for v in (2, 4, 6, 8)},
}

# Shortage case for quotas N=2 videos, M=2 sequences per video, K=3 frames per sequence. Whatever
# the random draw, the shortages are fixed:
#   person 3: 2 videos that can fill + 1 that cannot           -> no shortage
#   person 12: one video (2 full seqs)                         -> videos 1
#   person 40: video 60 has 1 seq of 2 frames, video 70 full   -> sequences 1, frames 2 (the short
#              seq is drawn twice, each draw 1 frame short)
#   person 41: one video with one seq of 1 frame               -> videos 1, sequences 2 (1 per draw
#              of the video), frames 8 (4 seq draws x 2)
SHORT_TREE = {
    3: {10: {1: 3, 4: 5}, 20: {2: 4, 6: 3}, 31: {5: 3}},
    12: {50: {3: 3, 9: 4}},
    40: {60: {2: 2}, 70: {1: 3, 5: 3}},
    41: {80: {1: 1}},
}
SHORT_QUOTAS = {"videos_per_person": 2, "sequences_per_video": 2, "frames_per_sequence": 3}
EXPECTED_SHORTAGE = {
    "3": {"videos": 0, "sequences": 0, "frames": 0},
    "12": {"videos": 1, "sequences": 0, "frames": 0},
    "40": {"videos": 0, "sequences": 1, "frames": 2},
    "41": {"videos": 1, "sequences": 2, "frames": 8},
}


# ----------------------------------------------------------------------------------------------
# Quotas
# ----------------------------------------------------------------------------------------------
def test_build_index_is_non_dense():
    index = build_index(QUOTA_TREE)
    assert index["frame"].min() > 0
    per_seq = index.groupby(["person", "video", "sequence"])["frame"]
    assert ((per_seq.max() - per_seq.min() + 1) > per_seq.size()).any()


def test_derive_quotas_is_min_over_people_of_each_persons_max():
    assert derive_quotas(build_index(QUOTA_TREE)) == {
        "videos_per_person": 2,
        "sequences_per_video": 3,
        "frames_per_sequence": 5,
    }


def test_derive_quotas_rejects_an_empty_side():
    with pytest.raises(ConfigError, match="sampling"):
        derive_quotas(build_index(QUOTA_TREE).iloc[:0])


def test_resolve_quotas_mixes_params_and_derived_values():
    frames = build_index(QUOTA_TREE)
    quotas, source = resolve_quotas(frames, SideQuota(1, None, None))
    assert quotas == {"videos_per_person": 1, "sequences_per_video": 3, "frames_per_sequence": 5}
    assert source == {"videos_per_person": "param", "sequences_per_video": "derived", "frames_per_sequence": "derived"}

    quotas, source = resolve_quotas(frames, SideQuota(None, None, None))
    assert quotas == derive_quotas(frames)
    assert set(source.values()) == {"derived"}

    quotas, source = resolve_quotas(frames, SideQuota(7, 8, 9))
    assert quotas == {"videos_per_person": 7, "sequences_per_video": 8, "frames_per_sequence": 9}
    assert set(source.values()) == {"param"}


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"train": {"frames": 2}}, r"sampling\.train\.frames\b"),
        ({"test": {"videos_per_person": 1, "sequences_per_video": 1, "frames_per_sequence": 1, "people": 3}},
         r"sampling\.test\.people\b"),
        ({"val__frames_per_sequence": 0}, r"sampling\.val\.frames_per_sequence"),
        ({"train__videos_per_person": -2}, r"sampling\.train\.videos_per_person"),
        ({"train__videos_per_person": 1.5}, r"sampling\.train\.videos_per_person"),
    ],
)
def test_bad_quota_params_raise_one_line_config_errors(override, expected):
    with pytest.raises(ConfigError, match=expected) as err:
        sampling_config(base_params("sampling", **override))
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------------------------
# Balanced sampling with shortages
# ----------------------------------------------------------------------------------------------
def test_resample_gives_every_person_exactly_n_m_k_rows():
    frames = build_index(SHORT_TREE)
    sampled, info = sample_side(frames, SHORT_QUOTAS, "resample", seed=0, side="train")
    assert sampled["person"].value_counts().to_dict() == {3: 12, 12: 12, 40: 12, 41: 12}
    assert info["frames"] == 48 and info["people"] == 4
    assert info["dropped_people"] == []
    assert {p: v["frames"] for p, v in info["per_person"].items()} == {p: 12 for p in EXPECTED_SHORTAGE}
    # Every sampled row is one of the person's own frames, unchanged.
    assert keys(sampled, COLUMNS) <= keys(frames, COLUMNS)


def test_resampled_slots_are_the_hand_computed_shortages():
    frames = build_index(SHORT_TREE)
    for seed in (0, 1, 7):
        _, info = sample_side(frames, SHORT_QUOTAS, "resample", seed=seed, side="test")
        assert {p: v["resampled_slots"] for p, v in info["per_person"].items()} == EXPECTED_SHORTAGE


def test_person_without_shortage_gets_distinct_frames_from_videos_that_can_fill():
    rows = build_index(SHORT_TREE)
    rows = rows[rows["person"] == 3]
    sample, short = sample_person(rows, SHORT_QUOTAS, np.random.default_rng(0))
    assert short == {"videos": 0, "sequences": 0, "frames": 0}
    assert len(sample) == 12 and not sample.duplicated().any()
    # Video 31 (one sequence) cannot fill M=2: the preference keeps it out.
    assert set(sample["video"]) == {10, 20}
    assert sample.groupby("video")["sequence"].nunique().to_dict() == {10: 2, 20: 2}


def test_drop_removes_exactly_the_short_people():
    frames = build_index(SHORT_TREE)
    sampled, info = sample_side(frames, SHORT_QUOTAS, "drop", seed=0, side="train")
    assert sorted(info["dropped_people"]) == ["12", "40", "41"]
    assert set(sampled["person"]) == {3}
    assert len(sampled) == 12 and info["frames"] == 12 and info["people"] == 1
    assert info["per_person"]["3"]["frames"] == 12
    assert all(info["per_person"][p]["frames"] == 0 for p in ("12", "40", "41"))


def test_shortage_error_names_the_parameter():
    frames = build_index(SHORT_TREE)
    with pytest.raises(ConfigError, match=r"sampling\.shortage") as err:
        sample_side(frames, SHORT_QUOTAS, "error", seed=0, side="train")
    assert "\n" not in str(err.value)
    # Without a shortage, "error" samples normally.
    full = frames[frames["person"] == 3]
    sampled, info = sample_side(full, SHORT_QUOTAS, "error", seed=0, side="train")
    assert len(sampled) == 12 and info["dropped_people"] == []


def test_sample_splits_resample_gives_equal_counts_per_person_on_each_side():
    # Uneven people: 4 to 9 videos, 1 to 4 sequences, 1 to 6 frames.
    tree = {
        p: {10 * v + 1: {3 * s + 2: 1 + (p + v + s) % 6 for s in range(1 + (p + v) % 4)} for v in range(4 + p % 6)}
        for p in (1, 4, 6, 13, 22)
    }
    split_index, split_info = split_frames(build_index(tree), BASE_PARAMS)
    train, val, test, report = sample_splits(split_index, split_info, BASE_PARAMS)
    for side, frame in (("train", train), ("val", val), ("test", test)):
        q = report["sides"][side]["quota"]
        expected = q["videos_per_person"] * q["sequences_per_video"] * q["frames_per_sequence"]
        assert frame["person"].value_counts().to_dict() == {p: expected for p in tree}, side
        assert report["sides"][side]["quota_source"] == dict.fromkeys(q, "derived")
        assert list(frame.columns) == COLUMNS
    assert any(
        sum(v["resampled_slots"].values()) > 0 for s in ("train", "val", "test")
        for v in report["sides"][s]["per_person"].values()
    )
    assert report["leakage_sampled"]["train_vs_test"] == {"videos": 0, "sequences": 0, "frames": 0}


def test_sample_splits_uses_requested_quotas():
    params = base_params("sampling", train={"videos_per_person": 3, "sequences_per_video": 2, "frames_per_sequence": 2})
    split_index, split_info = split_frames(build_index(uniform_tree([1, 2, 3], 8, 3, 4)), params)
    train, _, _, report = sample_splits(split_index, split_info, params)
    assert report["sides"]["train"]["quota"] == params["train"]
    assert report["sides"]["train"]["quota_source"] == dict.fromkeys(params["train"], "param")
    assert train["person"].value_counts().to_dict() == {1: 12, 2: 12, 3: 12}


# ----------------------------------------------------------------------------------------------
# Split: disjointness and the leakage audit
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("split_by", "cols"),
    [
        ("video", ["person", "video"]),
        ("sequence", ["person", "video", "sequence"]),
        ("frame", ["person", "video", "sequence", "frame"]),
    ],
)
def test_split_is_disjoint_at_its_level(rich_index, split_by, cols):
    split_index, info = split_frames(rich_index, {**BASE_PARAMS, "split_by": split_by})
    assert info["split_by"] == split_by and info["unsplittable_people"] == {}
    assert len(split_index) == len(rich_index)
    assert set(split_index["side"]) == {"train", "val", "test"}
    sides = sides_of(split_index)
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not keys(sides[a], cols) & keys(sides[b], cols), (a, b)
    people = set(rich_index["person"])
    for side, frame in sides.items():
        assert set(frame["person"]) == people, side


def test_video_split_audit_is_all_zeros(rich_index):
    _, info = split_frames(rich_index, BASE_PARAMS)
    assert set(info["leakage_split"]) == {"train_vs_val", "train_vs_test", "val_vs_test"}
    for pair, counts in info["leakage_split"].items():
        assert counts == {"videos": 0, "sequences": 0, "frames": 0}, pair


def test_sequence_split_audit_leaks_only_videos(rich_index, caplog):
    with caplog.at_level(logging.WARNING):
        _, info = split_frames(rich_index, {**BASE_PARAMS, "split_by": "sequence"})
    assert not any("split_by=frame" in r.getMessage() for r in caplog.records)
    for pair, counts in info["leakage_split"].items():
        assert counts["sequences"] == 0 and counts["frames"] == 0, pair
    assert info["leakage_split"]["train_vs_test"]["videos"] > 0


def test_frame_split_warns_and_audit_leaks_videos_and_sequences(rich_index, caplog):
    with caplog.at_level(logging.WARNING, logger=SAMPLING_LOGGER):
        _, info = split_frames(rich_index, {**BASE_PARAMS, "split_by": "frame"})
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "split_by=frame" in r.getMessage()]
    assert warnings, caplog.text
    assert "leak" in warnings[0].getMessage()
    for pair, counts in info["leakage_split"].items():
        assert counts["frames"] == 0, pair
    assert info["leakage_split"]["train_vs_test"]["sequences"] > 0
    assert info["leakage_split"]["train_vs_test"]["videos"] > 0


def test_video_split_does_not_warn(rich_index, caplog):
    with caplog.at_level(logging.WARNING):
        split_frames(rich_index, BASE_PARAMS)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_split_fractions_per_person(rich_index):
    # 7 videos: test round(1.75) = 2, val round(5 * 0.2) = 1, train 4.
    split_index, _ = split_frames(rich_index, BASE_PARAMS)
    counts = split_index.drop_duplicates(["person", "video"]).groupby(["person", "side"]).size().unstack()
    assert (counts["test"] == 2).all() and (counts["val"] == 1).all() and (counts["train"] == 4).all()


def test_zero_val_fraction_gives_an_empty_val_side(rich_index):
    params = {**BASE_PARAMS, "val_fraction": 0}
    split_index, info = split_frames(rich_index, params)
    assert set(split_index["side"]) == {"train", "test"}
    assert info["val_fraction"] == 0
    train, val, test, report = sample_splits(split_index, info, params)
    assert len(val) == 0 and list(val.columns) == COLUMNS
    assert len(train) > 0 and len(test) > 0
    assert report["sides"]["val"]["frames"] == 0
    assert "val_fraction" in report["sides"]["val"]["note"]
    metrics = sampling_metrics(report)
    assert metrics["val/frames"] == {"value": 0.0, "step": 0}


def test_unsplittable_people_are_dropped_and_listed(caplog):
    tree = {
        5: {v: {1: 3, 2: 3} for v in (3, 8, 9, 14, 20, 21)},
        9: {4: {1: 3}, 6: {1: 3}},  # 2 videos of one sequence: test 1, train 1, no validation
        13: {2: {1: 3, 4: 2}},      # 1 video: no video-disjoint test side
    }
    with caplog.at_level(logging.WARNING):
        split_index, info = split_frames(build_index(tree), BASE_PARAMS)
    assert info["unsplittable_people"] == {"13": 1}
    assert set(split_index["person"]) == {5, 9}
    assert info["split_policy"]["per_person"] == {"5": "video", "9": "video_test_no_val"}
    assert any("too few" in r.getMessage() for r in caplog.records)
    # Without a validation side, two videos are a plain video split.
    split_index, info = split_frames(build_index(tree), {**BASE_PARAMS, "val_fraction": 0})
    assert info["unsplittable_people"] == {"13": 1}
    assert info["split_policy"]["per_person"] == {"5": "video", "9": "video"}


# ----------------------------------------------------------------------------------------------
# Few videos per person: the split policy
# ----------------------------------------------------------------------------------------------
def person_sides(split_index: pd.DataFrame, person: int, level: list[str]) -> dict[str, set]:
    rows = split_index[split_index["person"] == person]
    return {side: set(map(tuple, rows[rows.side == side][level].to_numpy())) for side in ("train", "val", "test")}


def test_three_videos_a_person_split_by_video_as_before():
    index = build_index(uniform_tree([1, 2, 3], n_videos=3, n_sequences=3, n_frames=4))
    split_index, info = split_frames(index, BASE_PARAMS)
    assert set(info["split_policy"]["per_person"].values()) == {"video"}
    for person in (1, 2, 3):
        videos = person_sides(split_index, person, ["video"])
        assert all(len(v) == 1 for v in videos.values())  # one whole video each
    assert all(counts["videos"] == 0 for counts in info["leakage_split"].values())
    assert info["split_policy"]["summary"] == "test, validation and training by whole videos: 3 people"


def test_two_videos_a_person_keep_a_video_disjoint_test_and_validate_on_training_sequences(logger_records):
    caplog = logger_records(SAMPLING_LOGGER)
    index = build_index(uniform_tree([1, 2, 3, 4], n_videos=2, n_sequences=3, n_frames=4))
    split_index, info = split_frames(index, BASE_PARAMS)
    assert set(info["split_policy"]["per_person"].values()) == {"video_test_sequence_val"}
    for person in (1, 2, 3, 4):
        videos = person_sides(split_index, person, ["video"])
        sequences = person_sides(split_index, person, ["video", "sequence"])
        assert len(videos["test"]) == 1 and videos["train"] == videos["val"]  # validation: from training videos
        assert not videos["test"] & (videos["train"] | videos["val"])
        assert len(sequences["val"]) == 1 and len(sequences["train"]) == 2  # 0.2 of 3, at least one; 2 left
        assert not sequences["val"] & sequences["train"]
    leakage = info["leakage_split"]
    assert leakage["train_vs_test"] == {"videos": 0, "sequences": 0, "frames": 0}
    assert leakage["val_vs_test"] == {"videos": 0, "sequences": 0, "frames": 0}
    assert leakage["train_vs_val"]["sequences"] == 0 and leakage["train_vs_val"]["videos"] == 4
    assert "validation = sequences carved from the training videos" in info["split_policy"]["summary"]
    assert [m for m in logger_messages(caplog, SAMPLING_LOGGER) if "too few videos for a validation video" in m]
    # The sides sample, and the report carries the policy.
    train, val, test, report = sample_splits(split_index, info, BASE_PARAMS)
    assert len(train) and len(val) and len(test)
    assert report["split_policy"] == info["split_policy"]


def test_two_videos_of_one_sequence_train_without_validation():
    index = build_index(uniform_tree([1, 2], n_videos=2, n_sequences=1, n_frames=4))
    split_index, info = split_frames(index, BASE_PARAMS)
    assert set(info["split_policy"]["per_person"].values()) == {"video_test_no_val"}
    assert set(split_index["side"]) == {"train", "test"}
    train, val, test, report = sample_splits(split_index, info, BASE_PARAMS)
    assert len(val) == 0 and "no validation side" in report["sides"]["val"]["note"]


def test_one_video_a_person_is_left_out_and_counted_while_others_split(logger_records):
    caplog = logger_records(SAMPLING_LOGGER, logging.WARNING)
    tree = {**uniform_tree([1, 2], n_videos=3, n_sequences=2, n_frames=4), 7: {3: {1: 4, 2: 4, 5: 4}}}
    split_index, info = split_frames(build_index(tree), BASE_PARAMS)
    assert info["unsplittable_people"] == {"7": 1} and 7 not in set(split_index["person"])
    assert any("left out 1 people" in m for m in logger_messages(caplog, SAMPLING_LOGGER))


def test_unsplittable_people_raise_with_shortage_error():
    tree = {5: {v: {1: 3} for v in range(1, 8)}, 9: {4: {1: 3, 2: 3}}}  # person 9: one video
    with pytest.raises(ConfigError, match=r"sampling\.shortage") as err:
        split_frames(build_index(tree), {**BASE_PARAMS, "shortage": "error"})
    assert "person 9" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("override", "name"),
    [
        ({"split_by": "person"}, "sampling.split_by"),
        ({"test_fraction": 1.5}, "sampling.test_fraction"),
        ({"test_fraction": 0}, "sampling.test_fraction"),
        ({"val_fraction": -0.1}, "sampling.val_fraction"),
        ({"val_fraction": 1.0}, "sampling.val_fraction"),
        ({"shortage": "ignore"}, "sampling.shortage"),
    ],
)
def test_bad_split_params_raise_one_line_config_errors(rich_index, override, name):
    with pytest.raises(ConfigError) as err:
        split_frames(rich_index, {**BASE_PARAMS, **override})
    message = str(err.value)
    assert name in message
    assert "\n" not in message


def test_an_unknown_key_is_one_config_error_line_naming_it(rich_index):
    params = {**BASE_PARAMS, "split_bye": "video"}
    with pytest.raises(ConfigError, match=r"sampling\.split_bye\b") as err:
        split_frames(rich_index, params)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("key", ["split_by", "seed", "workers", "test", "other"])
def test_a_missing_key_is_one_config_error_line_naming_it(rich_index, key):
    params = {k: v for k, v in BASE_PARAMS.items() if k != key}
    with pytest.raises(ConfigError, match=rf"missing parameter sampling\.{key}\b") as err:
        split_frames(rich_index, params)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("override", "name"),
    [({"seed": "x"}, "sampling.seed"), ({"seed": 1.0}, "sampling.seed"), ({"workers": True}, "sampling.workers"),
     ({"test_fraction": "0.25"}, "sampling.test_fraction"), ({"train": 3}, "sampling.train")],
)
def test_a_wrong_type_is_one_config_error_line_naming_it(rich_index, override, name):
    with pytest.raises(ConfigError, match=rf"^{re.escape(name)}\b") as err:
        split_frames(rich_index, {**BASE_PARAMS, **override})
    assert "\n" not in str(err.value)


def test_conf_base_builds_the_config():
    config = sampling_config(base_params("sampling"))
    assert isinstance(config, SamplingConfig)
    assert (config.split_by, config.test_fraction, config.val_fraction, config.shortage) == ("video", 0.25, 0.2, "resample")
    assert config.train == config.val == config.test == SideQuota(None, None, None)
    assert (config.other.frames_per_person, config.other.scale) == (50, 4)


# ----------------------------------------------------------------------------------------------
# Determinism, metrics, temporal order
# ----------------------------------------------------------------------------------------------
def run_sampling(index: pd.DataFrame, params: dict):
    split_index, info = split_frames(index, params)
    return (split_index, *sample_splits(split_index, info, params))


def test_same_seed_gives_identical_samples(rich_index):
    params = {**BASE_PARAMS, "seed": 3}
    first, second = run_sampling(rich_index, params), run_sampling(rich_index.copy(), params)
    for a, b in zip(first[:4], second[:4]):
        pd.testing.assert_frame_equal(a, b)
    assert first[4] == second[4]


def test_different_seed_gives_a_different_split(rich_index):
    split_a, *_ = run_sampling(rich_index, {**BASE_PARAMS, "seed": 0})
    split_b, *_ = run_sampling(rich_index, {**BASE_PARAMS, "seed": 1})
    test_a = keys(split_a[split_a["side"] == "test"], ["person", "video"])
    test_b = keys(split_b[split_b["side"] == "test"], ["person", "video"])
    assert test_a != test_b


def test_sampling_metrics_are_flat_numbers_with_leakage_counts(rich_index):
    params = {**BASE_PARAMS, "split_by": "sequence"}
    *_, report = run_sampling(rich_index, params)
    metrics = sampling_metrics(report)
    assert metrics
    for name, entry in metrics.items():
        assert isinstance(name, str)
        assert set(entry) == {"value", "step"} and entry["step"] == 0
        assert type(entry["value"]) is float
    # Named as MLflow's charts group them (under sampling/: the catalog): a section per side, one for the leakage audit.
    for side in ("train", "val", "test"):
        assert metrics[f"{side}/frames"]["value"] == float(report["sides"][side]["frames"])
        for key, value in report["sides"][side]["quota"].items():
            assert metrics[f"{side}/{key}"]["value"] == float(value)
    for pair, counts in report["leakage_split"].items():
        for level, value in counts.items():
            assert metrics[f"leakage/{pair}_shared_{level}"]["value"] == float(value)
    assert metrics["leakage/train_vs_test_shared_videos"]["value"] > 0
    assert metrics["leakage/train_vs_test_shared_sequences"]["value"] == 0.0


def assert_temporal_blocks(sample: pd.DataFrame, k: int) -> None:
    """The sample is made of blocks of ``k`` rows, one sequence each, in temporal order."""
    assert len(sample) % k == 0
    for start in range(0, len(sample), k):
        block = sample.iloc[start:start + k]
        assert block[["person", "video", "sequence"]].drop_duplicates().shape[0] == 1, block
        assert block["frame"].is_monotonic_increasing, block


def test_frames_within_a_sequence_are_in_temporal_order(rich_index):
    _, train, val, test, report = run_sampling(rich_index, BASE_PARAMS)
    for side, sample in (("train", train), ("val", val), ("test", test)):
        assert_temporal_blocks(sample, report["sides"][side]["quota"]["frames_per_sequence"])


def test_frames_are_in_temporal_order_even_from_an_unsorted_index():
    rows = build_index({7: {v: {s: 8 for s in (1, 4, 6)} for v in (2, 5, 9)}})
    shuffled = rows.sample(frac=1.0, random_state=0).reset_index(drop=True)  # labels no longer follow time
    quotas = {"videos_per_person": 2, "sequences_per_video": 2, "frames_per_sequence": 5}
    sample, short = sample_person(shuffled, quotas, np.random.default_rng(0))
    assert short == {"videos": 0, "sequences": 0, "frames": 0}
    assert_temporal_blocks(sample, 5)


def test_one_video_per_person_under_a_video_split_says_to_split_by_sequence():
    # A class_folders tree: every person is one video of several sequences.
    index = build_index({p: {0: {s: 4 for s in range(5)}} for p in (1, 2, 3)})
    with pytest.raises(ConfigError, match=r"^sampling.split_by=video: .*use sampling.split_by=sequence"):
        split_frames(index, BASE_PARAMS)
    split_index, info = split_frames(index, {**BASE_PARAMS, "split_by": "sequence"})
    assert set(split_index["side"]) == {"train", "val", "test"} and not info["unsplittable_people"]


def test_draws_follow_the_person_name_not_the_number():
    # The same people numbered differently (another layout) draw the same split and samples.
    index = build_index(uniform_tree([2, 5, 9], n_videos=6, n_sequences=3, n_frames=4))
    index["person_name"] = index["person"].map({2: "ann", 5: "ben", 9: "cy"})
    renumbered = index.assign(person=index["person"].map({2: 40, 5: 7, 9: 13}))
    renumbered["label"] = renumbered["person"].rank(method="dense").astype(int) - 1
    a, info_a = split_frames(index, BASE_PARAMS)
    b, info_b = split_frames(renumbered, BASE_PARAMS)
    for name in ("ann", "ben", "cy"):
        side_a = a[a["person_name"] == name].set_index(["video", "sequence", "frame"])["side"].sort_index()
        side_b = b[b["person_name"] == name].set_index(["video", "sequence", "frame"])["side"].sort_index()
        assert side_a.equals(side_b)
    train_a = sample_splits(a, info_a, BASE_PARAMS)[0]
    train_b = sample_splits(b, info_b, BASE_PARAMS)[0]
    assert sorted(train_a["path"]) == sorted(train_b["path"])
    assert set(sample_splits(a, info_a, BASE_PARAMS)[3]["sides"]["train"]["per_person"]) == {"ann", "ben", "cy"}


# ----------------------------------------------------------------------------------------------
# The demo's extra test videos, end to end: training and validation are byte-identical
# ----------------------------------------------------------------------------------------------
SMALL_DEMO = {"people": 4, "lookalike_group_size": 2, "videos_per_person": [3, 5], "sequences_per_video": [1, 2],
              "frames_per_sequence": [2, 3], "hr_size": 16, "scale": 4, "other_people": 0}


def demo_sides(root, extra: int) -> dict:
    """ingestion + sampling nodes on a small demo with ``extra`` test videos a person."""
    from faceless.pipelines.ingestion.nodes import prepare_source, scan_frames
    from faceless.pipelines.sampling.nodes import load_split_frames

    ingestion = base_params("ingestion", workers=1)
    ingestion["demo"].update(SMALL_DEMO, root=str(root / "demo"), other_root=str(root / "other"),
                             extra_test_videos=extra)
    frame_index, _ = scan_frames(prepare_source(ingestion), ingestion)
    params = {**BASE_PARAMS, "workers": 1}
    split_index, info = split_frames(frame_index, params)
    *indexes, report = sample_splits(split_index, info, params)
    out = {"report": report, "frame_index": frame_index}
    for side, index in zip(("train", "val", "test"), indexes):
        out[f"{side}_index"] = index
        out[f"lr_{side}"], out[f"hr_{side}"] = load_split_frames(index, params)
    return out


def relative(index: pd.DataFrame, root) -> pd.DataFrame:
    return index.assign(path=index["path"].str.replace(str(root), "", regex=False),
                        hr_path=index["hr_path"].str.replace(str(root), "", regex=False))


@pytest.fixture(scope="module")
def demo_pair(tmp_path_factory):
    plain_root, extra_root = tmp_path_factory.mktemp("plain"), tmp_path_factory.mktemp("extra")
    return (plain_root, demo_sides(plain_root, 0)), (extra_root, demo_sides(extra_root, 4))


@pytest.mark.parametrize("side", ["train", "val"])
def test_extra_test_videos_leave_training_and_validation_byte_identical(demo_pair, side):
    (plain_root, plain), (extra_root, extra) = demo_pair
    pd.testing.assert_frame_equal(relative(extra[f"{side}_index"], extra_root),
                                  relative(plain[f"{side}_index"], plain_root))
    for kind in ("lr", "hr"):
        assert extra[f"{kind}_{side}"].dtype == np.uint8 and len(extra[f"{kind}_{side}"]) > 0
        assert extra[f"{kind}_{side}"].tobytes() == plain[f"{kind}_{side}"].tobytes()
    assert extra["report"]["sides"][side] == plain["report"]["sides"][side]


def test_extra_test_videos_are_on_the_test_side_alone(demo_pair):
    (_, plain), (_, extra) = demo_pair
    test, report = extra["test_index"], extra["report"]
    assert report["forced_test"] == {"videos": 16, "frames": int(extra["frame_index"]["test_only"].sum()), "people": 4}
    assert plain["report"]["forced_test"]["videos"] == 0
    plain_videos = plain["test_index"].groupby("person")["video"].nunique()
    assert (test.groupby("person")["video"].nunique() == plain_videos + 4).all()
    assert test["test_only"].any() and not extra["train_index"]["test_only"].any()
    assert not extra["val_index"]["test_only"].any()
    for audit in ("leakage_split", "leakage_sampled"):
        assert all(v == 0 for pair in report[audit].values() for v in pair.values()), audit
    assert extra["lr_test"].shape == (len(test), 4, 4, 3)


# ----------------------------------------------------------------------------------------------
# Other people (srgan_other's SR pairs) on user data
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def user_trees(tmp_path_factory):
    from ..trees import orcam_tree

    root = tmp_path_factory.mktemp("user")
    recognition = orcam_tree(root / "recognition", 8, people=3, videos=3, sequences=1, frames=2)
    # The same renderer and seed: person_0000..0002 are the recognition people themselves.
    _, other_hr = orcam_tree(root / "other", 8, people=5, videos=1, sequences=2, frames=3)
    return recognition, other_hr


def run_other(recognition, other_root, other_hr_root=None, **other):
    from faceless.pipelines.ingestion.nodes import prepare_source, scan_frames, scan_other_frames
    from faceless.pipelines.sampling.nodes import load_other_frames, sample_other_frames

    ingestion = base_params("ingestion", source="folder", root=str(recognition[0]), hr_root=str(recognition[1]),
                            other_root=str(other_root), other_hr_root=other_hr_root and str(other_hr_root), workers=1)
    frame_index, _ = scan_frames(prepare_source(ingestion), ingestion)
    other_index, _ = scan_other_frames(ingestion)
    params = {**BASE_PARAMS, "workers": 1, "other": {**BASE_PARAMS["other"], **other}}
    split_index, _ = split_frames(frame_index, params)
    sample, report = sample_other_frames(other_index, split_index, params)
    return sample, report, *load_other_frames(sample, params)


def test_hr_only_other_people_make_pairs_by_area_downscaling(user_trees):
    from faceless.recognition.variants import clean_lowres

    recognition, other_hr = user_trees
    sample, report, lr, hr = run_other(recognition, other_hr, frames_per_person=4)
    assert hr.dtype == lr.dtype == np.uint8
    assert hr.shape == (len(sample), 32, 32, 3) and lr.shape == (len(sample), 8, 8, 3)
    np.testing.assert_array_equal(lr, clean_lowres(hr, 4))
    assert report["lr_from_hr"] is True and sample["path"].isna().all()
    again = run_other(recognition, other_hr, frames_per_person=4)
    assert again[0].equals(sample) and np.array_equal(again[3], hr)


def test_a_person_in_both_sets_is_dropped_from_the_other_set(user_trees):
    recognition, other_hr = user_trees
    sample, report, _, hr = run_other(recognition, other_hr, frames_per_person=4)
    assert sorted(sample["person_name"].unique()) == ["person_0003", "person_0004"]
    assert report["dropped_people"] == {"count": 3, "frames": 18,
                                        "names": ["person_0000", "person_0001", "person_0002"]}
    assert report["leakage_other"] == {f"other_vs_{s}": {"people": 0} for s in ("train", "val", "test")}
    assert sample.groupby("person_name").size().to_dict() == {"person_0003": 4, "person_0004": 4}
    assert len(hr) == 8


def test_other_pairs_from_files_are_checked_against_the_scale(user_trees, tmp_path):
    recognition, other_hr = user_trees
    other_lr = other_hr.parent / "lr"
    sample, report, lr, hr = run_other(recognition, other_lr, other_hr, frames_per_person=None)
    assert report["lr_from_hr"] is False and lr.shape == (12, 8, 8, 3) and hr.shape == (12, 32, 32, 3)
    with pytest.raises(ConfigError, match=r"sampling\.other\.scale=2\b") as err:
        run_other(recognition, other_lr, other_hr, scale=2)
    assert "\n" not in str(err.value)


def test_no_other_people_load_as_empty_arrays():
    from faceless.pipelines.ingestion.nodes import empty_other_index
    from faceless.pipelines.sampling.nodes import load_other_frames, sample_other_frames

    sample, report = sample_other_frames(empty_other_index(), build_index(QUOTA_TREE).assign(side="train"), BASE_PARAMS)
    lr, hr = load_other_frames(sample, BASE_PARAMS)
    assert sample.empty and report["frames"] == 0 and report["note"]
    assert lr.shape == hr.shape == (0, 0, 0, 3) and lr.dtype == hr.dtype == np.uint8
