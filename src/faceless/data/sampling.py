"""Group-disjoint splitting and sequence-balanced sampling (plain pandas/numpy; no Kedro).

The seed drew train and test frames from the same sequences, so its accuracy measured memory. Here
the split comes first and is disjoint at the level ``sampling.split_by`` names (whole videos by
default), and only then is each side sampled: per person ``videos_per_person`` x
``sequences_per_video`` x ``frames_per_sequence`` frames. A quota left null is derived with the
seed's rule: the minimum over people of each person's maximum. A leakage audit counts what the
sides share at every level, after the split and after sampling.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from faceless.data import SIDES
from faceless.data.frame_tree import load_frames
from faceless.data.people import person_name_of, person_names
from faceless.utils.errors import ConfigError, check_at_least

logger = logging.getLogger(__name__)

QUOTA_KEYS = ("videos_per_person", "sequences_per_video", "frames_per_sequence")
#: The columns that name one group of each ``split_by`` level.
SPLIT_LEVELS = {
    "video": ["person", "video"],
    "sequence": ["person", "video", "sequence"],
    "frame": ["person", "video", "sequence", "frame"],
}
AUDIT_LEVELS = {"videos": SPLIT_LEVELS["video"], "sequences": SPLIT_LEVELS["sequence"],
                "frames": SPLIT_LEVELS["frame"]}


# ----------------------------------------------------------------------------------------------
# Config (``params:sampling``)
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SideQuota:
    """``sampling.<side>``: per person, videos x sequences per video x frames per sequence; null
    derives the value from the data (the seed's rule)."""

    videos_per_person: int | None
    sequences_per_video: int | None
    frames_per_sequence: int | None

    def requested(self) -> dict[str, int | None]:
        return {key: getattr(self, key) for key in QUOTA_KEYS}


@dataclass(frozen=True)
class OtherQuota:
    """``sampling.other``: the other people's frames (SR training only, ``srgan_other``).
    ``frames_per_person``: drawn without replacement (all of a person's where they have fewer);
    null = every frame. ``scale``: where the other tree has high-resolution frames alone, the LR
    side of the pairs is them area-downscaled this many times (the SR factor)."""

    frames_per_person: int | None
    scale: int


@dataclass(frozen=True)
class SamplingConfig:
    """``params:sampling``; the value checks run on construction, before any work."""

    split_by: Literal["video", "sequence", "frame"]
    test_fraction: float
    val_fraction: float
    shortage: Literal["resample", "drop", "error"]
    seed: int
    workers: int
    train: SideQuota
    val: SideQuota
    test: SideQuota
    other: OtherQuota

    def __post_init__(self) -> None:
        _check_fraction(self.test_fraction, "test_fraction", allow_zero=False)
        _check_fraction(self.val_fraction, "val_fraction", allow_zero=True)
        check_at_least(self, ("workers",), 1, "sampling")
        for side in SIDES:
            for key, value in self.quota(side).requested().items():
                if value is not None and value < 1:
                    raise ConfigError(f"sampling.{side}.{key} must be >= 1 or null, got {value}")
        if self.other.frames_per_person is not None and self.other.frames_per_person < 1:
            raise ConfigError("sampling.other.frames_per_person must be >= 1 or null, "
                              f"got {self.other.frames_per_person}")
        if self.other.scale < 2:
            raise ConfigError(f"sampling.other.scale must be >= 2, got {self.other.scale}")

    def quota(self, side: str) -> SideQuota:
        return getattr(self, side)


def _check_fraction(value: float, name: str, allow_zero: bool) -> None:
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        raise ConfigError(f"sampling.{name} must be in {'[0' if allow_zero else '(0'}, 1), got {value}")


def _side_rng(seed: int, side_code: int, person_name: str) -> np.random.Generator:
    # Keyed by the person's name (a stable hash), not by a number: the same people draw the same
    # samples whatever the layout numbers them by, and whoever else is in the data.
    digest = hashlib.sha256(person_name.encode()).digest()
    return np.random.default_rng([int(seed), int(side_code), int.from_bytes(digest[:8], "little")])


# ----------------------------------------------------------------------------------------------
# Split
# ----------------------------------------------------------------------------------------------
def _group_sides(rows: pd.DataFrame, levels: list[str], groups: np.ndarray, group_sides: np.ndarray) -> np.ndarray:
    """The side of each of ``rows``: the side of the group (one of ``groups``) it belongs to."""
    group_side = pd.DataFrame(groups, columns=levels).assign(side=group_sides)
    return rows[levels].merge(group_side, on=levels, how="left")["side"].to_numpy()


#: Split policies, per person (``split_by: video``; the other levels have only their own).
VIDEO = "video"                                    # test, val and train: whole videos
VIDEO_TEST_SEQUENCE_VAL = "video_test_sequence_val"  # test, train: whole videos; val: training videos' sequences
VIDEO_TEST_NO_VAL = "video_test_no_val"            # test, train: whole videos; no validation frames
POLICY_TEXT = {
    VIDEO: "test, validation and training by whole videos",
    VIDEO_TEST_SEQUENCE_VAL: "test and training by whole videos; validation = sequences carved from the training "
                             "videos (too few videos for a validation video)",
    VIDEO_TEST_NO_VAL: "test and training by whole videos; no validation frames (too few videos and sequences)",
}
#: The random stream that carves validation sequences out of a person's training videos.
_CARVE_STREAM = 4
#: The random stream that draws the other people's frames (``sampling.other``).
_OTHER_STREAM = 5


def _check_unsplittable(unsplittable: dict[str, int], people: int, config: SamplingConfig) -> None:
    split_by = config.split_by
    if unsplittable and config.shortage == "error":
        first = ", ".join(f"person {p} ({n} {split_by}s)" for p, n in list(unsplittable.items())[:5])
        raise ConfigError(
            f"sampling.shortage=error: {len(unsplittable)} people have too few {split_by}s for a "
            f"disjoint train/test split: {first}"
        )
    if unsplittable and len(unsplittable) == people:
        most = max(unsplittable.values())
        raise ConfigError(
            f"sampling.split_by={split_by}: no person has enough {split_by}s for a disjoint train/test "
            f"split (at most {most}; a class_folders tree has one video per person: use "
            f"sampling.split_by=sequence)"
        )
    if unsplittable:
        logger.warning("sampling: left out %d people with too few %ss to hold one out for test and train on "
                       "another: %s", len(unsplittable), split_by, sorted(unsplittable))


def _cut(n: int, config: SamplingConfig) -> tuple[int, int]:
    """(test, val) group counts of a person with ``n`` groups: ``test_fraction`` of them (at least
    one) to test, ``val_fraction`` of the rest (at least one, unless 0) to val."""
    n_test = max(1, int(round(n * config.test_fraction)))
    n_val = 0 if config.val_fraction == 0 else max(1, int(round((n - n_test) * config.val_fraction)))
    return n_test, n_val


def _carve_validation(rows: pd.DataFrame, labels: pd.Series, config: SamplingConfig, name: str) -> str:
    """Few videos (``split_by: video``, too few for a validation video): ``val_fraction`` of the
    sequences of the person's training videos (at least one, leaving one) become validation, in
    place in ``labels``; test keeps its whole videos. The policy used."""
    levels = SPLIT_LEVELS["sequence"]
    train_rows = rows[labels.loc[rows.index] == "train"]
    sequences = train_rows[levels].drop_duplicates().sort_values(levels).to_numpy()
    n_val = max(1, int(round(len(sequences) * config.val_fraction)))
    if len(sequences) - n_val < 1:
        return VIDEO_TEST_NO_VAL
    order = _side_rng(config.seed, _CARVE_STREAM, name).permutation(len(sequences))
    carved = np.array(["train"] * len(sequences), dtype=object)
    carved[order[:n_val]] = "val"
    labels.loc[train_rows.index] = _group_sides(train_rows, levels, sequences, carved)
    return VIDEO_TEST_SEQUENCE_VAL


def policy_summary(per_person: dict[str, str], split_by: str) -> str:
    """One line: which split policy was used for how many people."""
    if not per_person:
        return "no person could be split"
    counts: dict[str, int] = {}
    for policy in per_person.values():
        counts[policy] = counts.get(policy, 0) + 1
    text = POLICY_TEXT if split_by == "video" else {split_by: f"test, validation and training by whole {split_by}s"}
    return "; ".join(f"{text[policy]}: {n} {'person' if n == 1 else 'people'}" for policy, n in sorted(counts.items()))


def test_only_rows(frame_index: pd.DataFrame) -> pd.Series:
    """The index's ``test_only`` column (videos that go to the test side alone, such as the demo's
    extra test videos), all False where it has none (an index made before the column existed)."""
    if "test_only" not in frame_index.columns:
        return pd.Series(False, index=frame_index.index)
    return frame_index["test_only"].fillna(False).astype(bool)


def forced_test_counts(split_index: pd.DataFrame) -> dict[str, int]:
    """How many videos, frames and people the test side holds because they were forced there."""
    forced = split_index[test_only_rows(split_index).to_numpy()]
    return {"videos": int(len(forced.drop_duplicates(["person", "video"]))), "frames": int(len(forced)),
            "people": int(forced["person"].nunique())}


def assign_sides(frame_index: pd.DataFrame, config: SamplingConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Assign every frame to ``train``, ``val`` or ``test``, disjoint at the ``split_by`` level.

    Per person the groups (videos, sequences or frames) are shuffled and cut: ``test_fraction``
    of them (at least one) go to test, ``val_fraction`` of the rest (at least one, unless 0) to
    val, the remainder (at least one) to train. Under ``split_by: video`` a person with too few
    videos for a validation video (2 at the defaults) keeps a video-disjoint test side and trains
    on the rest, and validation is carved from the training videos' sequences (sequence-disjoint
    from training, never from test), or is empty for that person where they have one sequence
    (``split_policy`` in the info says which, per person). A person with too few groups to hold one
    out for test and train on another (one video) cannot be split without leaking:
    ``sampling.shortage`` decides: ``error`` stops, otherwise the person is left out and reported.
    Videos the index marks ``test_only`` go to test whole and take no part in the cut, so every
    other video lands where it would without them (``forced_test`` in the info counts them).
    Returns the kept frames with a ``side`` column, and the split's info.
    """
    if config.split_by == "frame":
        logger.warning(
            "sampling.split_by=frame reproduces the seed's leaky evaluation: train and test share "
            "sequences and videos, so accuracy measures memory, not recognition"
        )
    levels = SPLIT_LEVELS[config.split_by]
    side = pd.Series("", index=frame_index.index, dtype=object)
    forced = test_only_rows(frame_index)
    unsplittable: dict[str, int] = {}
    policies: dict[str, str] = {}
    for person, all_rows in frame_index.groupby("person", sort=True):
        name = person_name_of(all_rows, person)
        # The forced videos stay out of the cut: the others split exactly as they would without them.
        rows = all_rows[~forced.loc[all_rows.index]]
        # Sorted, so the split depends on the seed alone, not on the order of the index rows.
        groups = rows[levels].drop_duplicates().sort_values(levels).to_numpy()
        n = len(groups)
        n_test, n_val = _cut(n, config)
        carve = config.split_by == "video" and n_val and n - n_test - n_val < 1 <= n - n_test
        if carve:
            n_val = 0  # validation comes from the training videos' sequences instead
        if n - n_test - n_val < 1:
            unsplittable[name] = n
            continue
        order = _side_rng(config.seed, 0, name).permutation(n)
        labels = np.array(["train"] * n, dtype=object)
        labels[order[:n_test]] = "test"
        labels[order[n_test:n_test + n_val]] = "val"
        side.loc[rows.index] = _group_sides(rows, levels, groups, labels)
        policies[name] = _carve_validation(rows, side, config, name) if carve else config.split_by
        side.loc[all_rows.index[forced.loc[all_rows.index].to_numpy()]] = "test"
    _check_unsplittable(unsplittable, frame_index["person"].nunique(), config)
    fallback = {name: policy for name, policy in policies.items() if policy != config.split_by}
    if fallback:
        logger.info("sampling: %d of %d people have too few videos for a validation video: %s",
                    len(fallback), len(policies), policy_summary(fallback, config.split_by))
    split_index = frame_index.assign(side=side)
    split_index = split_index[split_index["side"] != ""].reset_index(drop=True)
    check_enough_people(split_index, frame_index, "after the split")
    split_info = {
        "split_by": config.split_by,
        "seed": config.seed,
        "test_fraction": config.test_fraction,
        "val_fraction": config.val_fraction,
        "unsplittable_people": unsplittable,
        "split_policy": {"summary": policy_summary(policies, config.split_by), "per_person": policies},
        "forced_test": forced_test_counts(split_index),
        "leakage_split": leakage_audit({s: split_index[split_index.side == s] for s in SIDES}),
    }
    return split_index, split_info


# ----------------------------------------------------------------------------------------------
# Quotas and balanced sampling
# ----------------------------------------------------------------------------------------------
def derive_quotas(side_frames: pd.DataFrame) -> dict[str, int]:
    """The seed's rule: for each level, the minimum over people of each person's maximum.

    ``videos_per_person``: min over people of their number of videos; ``sequences_per_video``:
    min over people of the most sequences any one of their videos has; ``frames_per_sequence``:
    min over people of the most frames any one of their sequences has.
    """
    if side_frames.empty:
        raise ConfigError("sampling: a side of the split holds no frames; check sampling.test_fraction / val_fraction")
    videos = side_frames.groupby("person")["video"].nunique()
    seqs = side_frames.groupby(["person", "video"])["sequence"].nunique().groupby(level="person").max()
    frames = side_frames.groupby(["person", "video", "sequence"]).size().groupby(level="person").max()
    return {
        "videos_per_person": int(videos.min()),
        "sequences_per_video": int(seqs.min()),
        "frames_per_sequence": int(frames.min()),
    }


def resolve_quotas(side_frames: pd.DataFrame, requested: SideQuota) -> tuple[dict[str, int], dict[str, str]]:
    """Requested quotas where given, derived ones where null; and which was which."""
    derived = derive_quotas(side_frames)
    quotas, source = {}, {}
    for key, value in requested.requested().items():
        if value is None:
            quotas[key], source[key] = derived[key], "derived"
        else:
            quotas[key], source[key] = int(value), "param"
    return quotas, source


def _pick(rng: np.random.Generator, items: np.ndarray, count: int, prefer: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """``count`` items without replacement while they last, then with replacement.

    ``prefer`` (bool per item) puts items that can fill the next level's quota first, so that
    shortages are rare. Returns the picks and how many had to be drawn again (the shortage).
    """
    order = rng.permutation(len(items))
    if prefer is not None:
        order = order[np.argsort(~prefer[order], kind="stable")]
    picked = items[order[:count]]
    short = count - len(picked)
    if short > 0:
        picked = np.concatenate([picked, items[rng.integers(0, len(items), short)]])
    return picked, max(0, short)


def sample_person(rows: pd.DataFrame, quotas: dict[str, int], rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
    """Exactly N x M x K frames of one person, with the number of slots drawn again per level."""
    n_vid, n_seq, n_frm = (quotas[k] for k in QUOTA_KEYS)
    shortage = {"videos": 0, "sequences": 0, "frames": 0}
    seq_sizes = rows.groupby(["video", "sequence"]).size()
    videos = np.array(sorted(rows["video"].unique()))
    # A video "can fill" when it has enough sequences that each have enough frames.
    full_seqs = (seq_sizes >= n_frm).groupby(level="video").sum()
    chosen_videos, shortage["videos"] = _pick(rng, videos, n_vid, (full_seqs.reindex(videos) >= n_seq).to_numpy())
    picks = []
    for video in chosen_videos:
        in_video = seq_sizes.loc[video]
        seqs = in_video.index.to_numpy()
        chosen_seqs, short = _pick(rng, seqs, n_seq, (in_video >= n_frm).to_numpy())
        shortage["sequences"] += short
        for seq in chosen_seqs:
            frames = rows[(rows["video"] == video) & (rows["sequence"] == seq)]
            chosen, short = _pick(rng, frames.index.to_numpy(), n_frm)
            shortage["frames"] += short
            # Temporal order within the sequence, as a video would give them.
            picks.append(frames.loc[chosen].sort_values("frame", kind="stable"))
    return pd.concat(picks), shortage


def sample_side(side_frames: pd.DataFrame, quotas: dict[str, int], shortage: str, seed: int, side: str
                ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Sequence-balanced sample of one side; people short of the quota follow ``shortage``."""
    side_code = SIDES.index(side) + 1
    per_person: dict[str, Any] = {}
    dropped: list[str] = []
    parts = []
    for person, rows in side_frames.groupby("person", sort=True):
        name = person_name_of(rows, person)
        sample, short = sample_person(rows, quotas, _side_rng(seed, side_code, name))
        short_total = sum(short.values())
        per_person[name] = {"frames": len(sample), "resampled_slots": short}
        if short_total and shortage == "error":
            raise ConfigError(
                f"sampling.shortage=error: person {name} cannot fill the {side} quota {quotas} "
                f"(short by {short}); lower sampling.{side} or use shortage: resample | drop"
            )
        if short_total and shortage == "drop":
            dropped.append(name)
            per_person[name]["frames"] = 0
            continue
        parts.append(sample)
    sampled = pd.concat(parts).reset_index(drop=True) if parts else side_frames.iloc[:0]
    info = {
        "quota": quotas,
        "frames": len(sampled),
        "people": int(sampled["person"].nunique()) if len(sampled) else 0,
        "sequences": int(sampled.groupby(["person", "video", "sequence"]).ngroups) if len(sampled) else 0,
        "dropped_people": dropped,
        "per_person": per_person,
    }
    return sampled, info


def _drop_everywhere(samples: dict[str, pd.DataFrame], sides_report: dict[str, Any], dropped: list[str]
                     ) -> dict[str, pd.DataFrame]:
    """``samples`` without the ``dropped`` people on every side; their counts in the report zeroed."""
    keep = {side: ~person_names(samples[side]).isin(dropped) for side in SIDES}
    samples = {side: samples[side][keep[side]].reset_index(drop=True) for side in SIDES}
    for side, info in sides_report.items():
        if "per_person" in info:
            for person in dropped:
                if person in info["per_person"]:
                    info["per_person"][person]["frames"] = 0
            info["frames"] = len(samples[side])
            info["people"] = int(samples[side]["person"].nunique())
    return samples


def sample_sides(split_index: pd.DataFrame, split_info: dict[str, Any], config: SamplingConfig
                 ) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Balanced samples of each side (by side name) and the sampling report (quotas, counts,
    shortages, leakage)."""
    samples, sides_report = {}, {}
    for side in SIDES:
        frames = split_index[split_index["side"] == side].drop(columns="side")
        if side == "val" and frames.empty:
            samples[side] = frames.reset_index(drop=True)
            note = ("sampling.val_fraction is 0: no validation side" if config.val_fraction == 0 else
                    "no validation side: every person has too few videos and sequences for one")
            sides_report[side] = {"frames": 0, "note": note}
            continue
        quotas, source = resolve_quotas(frames, config.quota(side))
        samples[side], info = sample_side(frames, quotas, config.shortage, config.seed, side)
        sides_report[side] = {**info, "quota_source": source}
    # A person dropped on one side is dropped on every side: a test person the classifier never
    # trained on (or a trained person never tested) would skew the comparison.
    dropped = sorted({p for info in sides_report.values() for p in info.get("dropped_people", [])})
    if dropped:
        samples = _drop_everywhere(samples, sides_report, dropped)
        logger.warning("sampling.shortage=drop: left out %d people short of a quota: %s", len(dropped), dropped)
    check_enough_people(samples["train"], split_index, "after sampling.shortage=drop")
    report = {
        **split_info,
        "shortage": config.shortage,
        "dropped_people": dropped,
        "sides": sides_report,
        "leakage_sampled": leakage_audit(samples),
        "has_hr": "hr_path" in split_index.columns,
    }
    return samples, report


#: A classifier tells people apart: it needs at least this many.
MIN_PEOPLE = 2


def check_enough_people(kept: pd.DataFrame, source: pd.DataFrame, when: str) -> None:
    """One line, before any training, where fewer than two people are left to train on."""
    people = sorted({person_name_of(rows, person) for person, rows in kept.groupby("person", sort=True)})
    if len(people) >= MIN_PEOPLE:
        return
    total = int(source["person"].nunique()) if len(source) else 0
    named = f" ({', '.join(people)})" if people else ""
    raise ConfigError(f"sampling: {len(people)} {'person' if len(people) == 1 else 'people'}{named} of the "
                      f"source's {total} can be trained on {when}; a classifier needs at least {MIN_PEOPLE} people: "
                      "add people to the source (ingestion.root, or ingestion.demo.people), or loosen sampling's "
                      "fractions and quotas (see the split report for who was left out)")


def leakage_audit(sides: dict[str, pd.DataFrame]) -> dict[str, dict[str, int]]:
    """How many videos, sequences and frames each pair of sides shares (0 = no leak at that level)."""
    audit = {}
    names = [s for s in SIDES if s in sides]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            audit[f"{a}_vs_{b}"] = {
                level: len(set(map(tuple, sides[a][cols].to_numpy())) & set(map(tuple, sides[b][cols].to_numpy())))
                for level, cols in AUDIT_LEVELS.items()
            }
    return audit


def report_numbers(report: dict[str, Any]) -> dict[str, float]:
    """The sampling report's numbers, flat: frames and quotas per side (``train/frames``), and the
    split's leakage audit (``leakage/train_vs_test_shared_videos``)."""
    numbers: dict[str, float] = {}
    for side, info in report["sides"].items():
        numbers[f"{side}/frames"] = info["frames"]
        for key, value in info.get("quota", {}).items():
            numbers[f"{side}/{key}"] = value
    for key, value in report.get("forced_test", {}).items():
        numbers[f"test/forced_{key}"] = value
    for pair, counts in report["leakage_split"].items():
        for level, value in counts.items():
            numbers[f"leakage/{pair}_shared_{level}"] = value
    return {name: float(value) for name, value in numbers.items()}


# ----------------------------------------------------------------------------------------------
# Other people (SR training only)
# ----------------------------------------------------------------------------------------------
def sample_other(other_index: pd.DataFrame, split_index: pd.DataFrame, config: SamplingConfig
                 ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The other people's frames for SR training, and their report with a leakage audit.

    A person of the other set whose name is also a person of the recognition set's sides is
    dropped from the other set (counted and named in the report): the recognition data is the
    user's subject and is never changed for the SR set's sake. Then ``sampling.other.frames_per_person``
    frames a person are drawn without replacement (all of a person's where they have fewer; every
    frame when null), keyed by the seed and the person's name, in (video, sequence, frame) order.
    """
    recognition = {side: set(person_names(split_index[split_index["side"] == side])) for side in SIDES}
    names = person_names(other_index)
    shared = sorted(set(names) & set().union(*recognition.values()))
    if shared:
        logger.warning("sampling: dropped %d people from the other people's set (SR training) because the "
                       "recognition set has people of the same name: %s", len(shared), shared[:10])
    kept = other_index[~names.isin(shared).to_numpy()]
    quota = config.other.frames_per_person
    parts, per_person = [], {}
    for person, rows in kept.groupby("person", sort=True):
        name = person_name_of(rows, person)
        rows = rows.sort_values(["video", "sequence", "frame"], kind="stable")
        if quota is not None and quota < len(rows):
            chosen = _side_rng(config.seed, _OTHER_STREAM, name).choice(len(rows), quota, replace=False)
            rows = rows.iloc[np.sort(chosen)]
        parts.append(rows)
        per_person[name] = len(rows)
    sample = pd.concat(parts).reset_index(drop=True) if parts else kept.iloc[:0].reset_index(drop=True)
    sampled_names = set(person_names(sample))
    report = {
        "frames_per_person": quota,
        "seed": config.seed,
        "people": len(per_person),
        "frames": int(len(sample)),
        "short_people": {name: n for name, n in per_person.items() if quota is not None and n < quota},
        "per_person": per_person,
        "dropped_people": {"count": len(shared), "frames": int(names.isin(shared).sum()), "names": shared},
        "lr_from_hr": bool(len(sample)) and bool(sample["path"].isna().all()),
        "scale": config.other.scale,
        # 0 everywhere: no person of the SR set is in a side of the recognition set.
        "leakage_other": {f"other_vs_{side}": {"people": len(sampled_names & recognition[side])} for side in SIDES},
    }
    if not len(sample):
        report["note"] = "no other people: srgan_other has no data"
    return sample, report


# ----------------------------------------------------------------------------------------------
# Loading the chosen frames
# ----------------------------------------------------------------------------------------------
def load_side_frames(index: pd.DataFrame, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """The frames of ``index`` as uint8 (N, H, W, 3), and the HR truth alongside (empty when none)."""
    lr = load_frames(index["path"].tolist(), workers=workers)
    if "hr_path" in index.columns:
        hr = load_frames(index["hr_path"].tolist(), workers=workers)
    else:
        hr = np.zeros((0, 0, 0, 3), dtype=np.uint8)
    return lr, hr


def load_other_frames(index: pd.DataFrame, workers: int) -> tuple[np.ndarray | None, np.ndarray]:
    """The other people's LR frames (None where the index has high-resolution frames alone: the
    caller makes them) and their truth, uint8 (N, H, W, 3); both empty for an empty index."""
    if index.empty:
        empty = np.zeros((0, 0, 0, 3), dtype=np.uint8)
        return empty, empty
    hr = load_frames(index["hr_path"].tolist(), workers=workers)
    if index["path"].isna().all():
        return None, hr
    return load_frames(index["path"].tolist(), workers=workers), hr
