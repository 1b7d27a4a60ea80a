"""Tests for faceless.data.synthetic: the procedurally rendered demo dataset."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceless.utils.atomic import OWNED_MARKER, fresh_folder
from faceless.data.frame_tree import scan_frame_tree
from faceless.data.synthetic import (
    PARAMS_FILE,
    DemoConfig,
    DemoSize,
    FrameCorruption,
    generate_demo,
    generate_other_demo,
    corrupt_frame,
    draw_corruption,
    frame_corruption,
    other_people_numbers,
    person_traits,
    plan_tree,
    render_frame,
    video_traits,
    _rng,
)
from faceless.utils.errors import ConfigError

TINY = {
    "people": 4,
    "lookalike_group_size": 2,
    "videos_per_person": [2, 3],
    "sequences_per_video": [1, 3],
    "frames_per_sequence": [2, 4],
    "hr_size": 32,
    "scale": 4,
    "jpeg_quality": [35, 75],
    "seed": 0,
}
LR_FILE = re.compile(r"person_\d{4}/video_\d{4}/seq_\d{4}/frame_\d{5}\.jpg")
HR_FILE = re.compile(r"person_\d{4}/video_\d{4}/seq_\d{4}/frame_\d{5}\.png")


def render(root: Path, workers: int = 1, **overrides) -> dict:
    return generate_demo(root, DemoSize.from_params({**TINY, **overrides}), workers=workers, progress=False)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def tree_hash(root: Path) -> str:
    """One hash of every file's relative path and bytes (the ownership marker's random token aside)."""
    digest = hashlib.sha256()
    for path in files_under(root):
        if path.name == OWNED_MARKER:
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def mtimes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in files_under(root)}


def partial_folders(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.endswith(".partial")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synthetic") / "demo"
    return root, render(root)


# ----------------------------------------------------------------------------------------------
# Layout and indexing
# ----------------------------------------------------------------------------------------------
def test_generate_reports_what_it_wrote(demo):
    root, info = demo
    assert info["generated"] is True
    assert info["people"] == TINY["people"]
    assert info["frames"] == len(list((root / "lr").rglob("*.jpg"))) == len(list((root / "hr").rglob("*.png")))
    assert info["fingerprint"]["hr_size"] == 32 and "renderer_version" in info["fingerprint"]
    assert (root / PARAMS_FILE).is_file()


def test_tree_is_in_the_orcam_layout(demo):
    root, _ = demo
    assert sorted(p.name for p in root.iterdir()) == sorted(["lr", "hr", PARAMS_FILE, OWNED_MARKER])
    lr = [p.relative_to(root / "lr").as_posix() for p in files_under(root / "lr")]
    hr = [p.relative_to(root / "hr").as_posix() for p in files_under(root / "hr")]
    assert lr and all(LR_FILE.fullmatch(rel) for rel in lr), lr[:5]
    assert all(HR_FILE.fullmatch(rel) for rel in hr), hr[:5]
    # Every LR frame has its HR truth at the same numbers, and nothing else.
    assert [rel[:-4] for rel in lr] == [rel[:-4] for rel in hr]
    assert sorted({rel.split("/")[0] for rel in lr}) == [f"person_{p:04d}" for p in range(TINY["people"])]


def test_scan_indexes_every_written_frame(demo):
    root, info = demo
    index, report = scan_frame_tree(root / "lr", hr_root=root / "hr", workers=1, validate="full", layout="orcam",
                                    sequence_length=None, progress=False)
    assert report["frames_skipped"] == 0
    assert report["frames_kept"] == report["files_seen"] == info["frames"] == len(index)
    assert report["stray_files"]["count"] == 0 and report["nonmatching_dirs"]["count"] == 0
    assert index["hr_path"].notna().all()
    assert set(index["path"]) == {str(p) for p in (root / "lr").rglob("*.jpg")}
    assert report["people"] == TINY["people"]
    # The sizes follow the ranges asked for.
    per_person = index.groupby("person")["video"].nunique()
    assert per_person.between(*TINY["videos_per_person"]).all()
    per_video = index.groupby(["person", "video"])["sequence"].nunique()
    assert per_video.between(*TINY["sequences_per_video"]).all()
    per_seq = index.groupby(["person", "video", "sequence"]).size()
    assert per_seq.between(*TINY["frames_per_sequence"]).all()


def test_numbers_are_non_dense_and_do_not_start_at_zero(demo):
    root, _ = demo
    index, _ = scan_frame_tree(root / "lr", validate="none", workers=1, layout="orcam", sequence_length=None,
                               progress=False)
    per_seq = index.groupby(["person", "video", "sequence"])["frame"]
    # Some sequence has gaps between frame numbers, and frames never start at 0.
    assert ((per_seq.max() - per_seq.min() + 1) > per_seq.size()).any()
    assert (per_seq.min() > 0).all()
    # Video numbers are neither dense nor from 0.
    videos = index.groupby("person")["video"]
    assert (videos.min() > 0).all()
    assert ((videos.max() - videos.min() + 1) > videos.nunique()).any()


def test_lr_is_one_scale_th_of_hr(demo):
    root, _ = demo
    _, report = scan_frame_tree(root / "lr", hr_root=root / "hr", workers=1, validate="full", layout="orcam",
                                sequence_length=None, progress=False)
    assert report["frame_size"] == [8, 8]
    assert report["hr_frame_size"] == [32, 32]
    lr_path = next((root / "lr").rglob("*.jpg"))
    hr_path = root / "hr" / lr_path.relative_to(root / "lr").with_suffix(".png")
    with Image.open(lr_path) as lr, Image.open(hr_path) as hr:
        assert lr.format == "JPEG" and hr.format == "PNG"
        assert lr.mode == hr.mode == "RGB"
        assert (lr.width * TINY["scale"], lr.height * TINY["scale"]) == hr.size
        lr_px = np.asarray(lr, dtype=np.float32)
        hr_px = np.asarray(hr.resize(lr.size, Image.Resampling.BOX), dtype=np.float32)
    # The LR frame is the HR frame downscaled (plus blur and JPEG), not an unrelated picture.
    assert np.abs(lr_px - hr_px).mean() < 25


# ----------------------------------------------------------------------------------------------
# Determinism and caching
# ----------------------------------------------------------------------------------------------
def test_same_params_give_byte_identical_trees(demo, tmp_path):
    root, _ = demo
    other = tmp_path / "elsewhere" / "demo_copy"
    info = render(other)
    assert info["generated"] is True
    assert tree_hash(other) == tree_hash(root)


def test_worker_count_does_not_change_the_bytes(tmp_path):
    small = {"people": 2, "videos_per_person": 1, "sequences_per_video": 1}
    render(tmp_path / "one", workers=1, **small)
    render(tmp_path / "two", workers=2, **small)
    assert tree_hash(tmp_path / "one") == tree_hash(tmp_path / "two")


def test_second_call_in_the_same_root_does_not_rewrite(demo):
    root, first = demo
    before = mtimes(root)
    info = render(root)
    assert info["generated"] is False
    assert info["fingerprint"] == first["fingerprint"] and info["frames"] == first["frames"]
    assert mtimes(root) == before
    assert partial_folders(root.parent) == []


def test_changing_a_parameter_regenerates(tmp_path):
    root = tmp_path / "demo"
    small = {"people": 2, "videos_per_person": [1, 2]}
    first = render(root, **small)
    first_hash = tree_hash(root)
    assert first["generated"] is True
    assert render(root, **small)["generated"] is False
    again = render(root, **{**small, "seed": 1})
    assert again["generated"] is True
    assert again["fingerprint"]["seed"] == 1
    assert tree_hash(root) != first_hash
    # The new tree replaced the old one completely: it scans cleanly and matches its own count.
    index, report = scan_frame_tree(root / "lr", hr_root=root / "hr", workers=1, validate="full", layout="orcam",
                                    sequence_length=None, progress=False)
    assert report["frames_skipped"] == 0 and len(index) == again["frames"]
    assert partial_folders(tmp_path) == []


def test_an_interrupted_partial_folder_is_cleaned_up(tmp_path):
    stale = fresh_folder(tmp_path / "demo", "ingestion.demo.root")  # as a killed run left it
    (stale / "lr" / "person_0000").mkdir(parents=True)
    (stale / "junk.txt").write_text("left by a killed run")
    render(tmp_path / "demo", people=2)
    assert partial_folders(tmp_path) == []
    assert not (tmp_path / "demo" / "junk.txt").exists()


def test_no_partial_folder_remains(demo):
    root, _ = demo
    assert partial_folders(root.parent) == []
    assert not any(".partial" in p.name for p in root.rglob("*"))


# ----------------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------------
def test_from_params_accepts_ints_and_lists():
    size = DemoSize.from_params({**TINY, "videos_per_person": 3, "jpeg_quality": [50, 60]})
    assert size.videos_per_person == (3, 3)
    assert size.sequences_per_video == (1, 3)
    assert size.jpeg_quality == (50, 60)
    assert size.as_dict()["videos_per_person"] == [3, 3]


def test_from_params_has_no_defaults_a_missing_or_unknown_key_is_named():
    # conf/ is the only source of defaults.
    with pytest.raises(ConfigError, match=r"missing parameter ingestion\.demo\.people\b") as err:
        DemoSize.from_params({k: v for k, v in TINY.items() if k != "people"})
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"unknown parameter ingestion\.demo\.peeple\b"):
        DemoSize.from_params({**TINY, "peeple": 3})


@pytest.mark.parametrize(("hr_size", "scale"), [(30, 4), (32, 3), (33, 2)])
def test_from_params_rejects_hr_size_not_divisible_by_scale(hr_size, scale):
    with pytest.raises(ConfigError, match=r"ingestion\.demo\.hr_size") as err:
        DemoSize.from_params({**TINY, "hr_size": hr_size, "scale": scale})
    assert "scale" in str(err.value)


def test_from_params_rejects_a_zero_scale():
    with pytest.raises(ConfigError, match=r"ingestion\.demo\.(scale|hr_size)"):
        DemoSize.from_params({**TINY, "scale": 0})


RANGE_KEYS = ["videos_per_person", "sequences_per_video", "frames_per_sequence", "jpeg_quality"]


@pytest.mark.parametrize("key", RANGE_KEYS)
@pytest.mark.parametrize("value", [[3, 1], [0, 2], [-1, 4]], ids=["reversed", "zero-min", "negative-min"])
def test_from_params_rejects_bad_ranges_naming_the_parameter(key, value):
    with pytest.raises(ConfigError, match=rf"ingestion\.demo\.{key}"):
        DemoSize.from_params({**TINY, key: value})


@pytest.mark.parametrize("value", [0, -2])
def test_from_params_rejects_a_single_int_below_one(value):
    # The [min, max] form rejects min < 1; the single-int form of the same range must too.
    with pytest.raises(ConfigError, match=r"ingestion\.demo\.frames_per_sequence"):
        DemoSize.from_params({**TINY, "frames_per_sequence": value})


@pytest.mark.parametrize("value", [[3], [1, 2, 3], "5"])
def test_from_params_rejects_a_malformed_range_naming_the_parameter(value):
    with pytest.raises(ConfigError, match=r"ingestion\.demo\.videos_per_person"):
        DemoSize.from_params({**TINY, "videos_per_person": value})


@pytest.mark.parametrize("key", ["people", "lookalike_group_size"])
def test_from_params_rejects_no_people(key):
    with pytest.raises(ConfigError, match=rf"ingestion\.demo\..*{key}"):
        DemoSize.from_params({**TINY, key: 0})


# ----------------------------------------------------------------------------------------------
# Look-alike groups
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 5])
def test_group_members_share_coarse_traits_but_not_strands(seed):
    group_size = 4
    for group in range(3):
        members = [person_traits(seed, group * group_size + m, group_size) for m in range(group_size)]
        first = members[0]
        for other in members[1:]:
            assert np.abs(np.asarray(other["skin"]) - np.asarray(first["skin"])).max() <= 12
            assert other["hair_style"] == first["hair_style"]
            np.testing.assert_array_equal(other["hair"], first["hair"])
            assert other["face_w"] == first["face_w"] and other["beard"] == first["beard"]
        assert len({m["stripe_angle"] for m in members}) == group_size


def test_different_groups_differ_in_coarse_traits():
    traits = [person_traits(0, group * 4, 4) for group in range(6)]
    skins = np.array([t["skin"] for t in traits])
    assert len({tuple(np.round(s)) for s in skins}) == len(traits)
    assert len({t["face_w"] for t in traits}) == len(traits)


def test_traits_are_deterministic():
    a, b = person_traits(3, 9, 4), person_traits(3, 9, 4)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]))
    assert not np.array_equal(person_traits(4, 9, 4)["skin"], a["skin"])



# ----------------------------------------------------------------------------------------------
# Extra test videos: a powered test side that leaves training alone
# ----------------------------------------------------------------------------------------------
def rel_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files_under(root) if p.suffix in (".jpg", ".png")}


def video_of(rel: str) -> tuple[int, int]:
    parts = rel.split("/")
    return int(parts[1][len("person_"):]), int(parts[2][len("video_"):])


@pytest.fixture(scope="module")
def extra_demo(tmp_path_factory, demo) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synthetic_extra") / "demo"
    size = DemoSize.from_params(TINY)
    return root, generate_demo(root, size, workers=1, progress=False, extra_test_videos=3)


def test_extra_test_videos_leave_every_regular_frame_byte_identical(demo, extra_demo):
    (root, _), (extra_root, info) = demo, extra_demo
    regular, extended = rel_files(root), rel_files(extra_root)
    assert set(regular) < set(extended)
    assert all(extended[rel] == data for rel, data in regular.items())
    # Every added file belongs to a video listed as test-only, and every listed video has files.
    forced = {tuple(pair) for pair in info["test_only_videos"]}
    added = set(extended) - set(regular)
    assert {video_of(rel) for rel in added} == forced
    assert not forced & {video_of(rel) for rel in regular}


def test_extra_test_videos_follow_each_persons_regular_ones(demo, extra_demo):
    (root, _), (_, info) = demo, extra_demo
    regular: dict[int, set[int]] = {}
    for rel in rel_files(root / "lr"):
        person, video = int(rel.split("/")[0][7:]), int(rel.split("/")[1][6:])
        regular.setdefault(person, set()).add(video)
    forced: dict[int, list[int]] = {}
    for person, video in info["test_only_videos"]:
        forced.setdefault(person, []).append(video)
    assert sorted(forced) == sorted(regular) == list(range(TINY["people"]))
    for person, videos in forced.items():
        assert len(videos) == 3 and min(videos) > max(regular[person])
    assert info["frames"] > len(list((root / "lr").rglob("*.jpg")))


def test_extra_test_videos_are_part_of_the_fingerprint(extra_demo):
    root, info = extra_demo
    assert info["fingerprint"]["extra_test_videos"] == 3
    cached = generate_demo(root, DemoSize.from_params(TINY), workers=1, progress=False, extra_test_videos=3)
    assert cached["generated"] is False and cached["test_only_videos"] == info["test_only_videos"]
    assert render(root)["generated"] is True  # asking for none re-renders without them


def test_plan_keeps_regular_draws_whatever_the_extra_count():
    size = DemoSize.from_params({**TINY, "people": 6})
    plain = plan_tree(size)
    for extra in (1, 4):
        extended = plan_tree(size, extra)
        for before, after in zip(plain, extended):
            regular = [e for e in after["entries"] if not e["test_only"]]
            assert regular == before["entries"]
            assert len({e["video"] for e in after["entries"] if e["test_only"]}) == extra


# ----------------------------------------------------------------------------------------------
# Other people (SR training only)
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def other_demo(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synthetic_other") / "demo_other"
    size = DemoSize.from_params({**TINY, "people": 3})  # 3 people in groups of 2: others start at 4
    return root, generate_other_demo(root, size, 3, workers=1, progress=False)


def test_other_people_are_numbered_after_the_recognition_groups(other_demo):
    root, info = other_demo
    assert info["generated"] is True and info["people"] == 3
    assert info["person_numbers"] == [4, 5, 6]
    people = sorted(p.name for p in (root / "lr").iterdir())
    assert people == ["person_0004", "person_0005", "person_0006"]
    assert sorted(p.name for p in (root / "hr").iterdir()) == people
    index, report = scan_frame_tree(root / "lr", hr_root=root / "hr", workers=1, validate="full", layout="orcam",
                                    sequence_length=None, progress=False)
    assert report["frames_skipped"] == 0 and len(index) == info["frames"]
    assert report["frame_size"] == [8, 8] and report["hr_frame_size"] == [32, 32]


@pytest.mark.parametrize(("people", "group", "first"), [(16, 4, 16), (3, 2, 4), (5, 1, 5), (2, 4, 4)])
def test_other_people_share_no_lookalike_group_with_the_recognition_set(people, group, first):
    size = DemoSize.from_params({**TINY, "people": people, "lookalike_group_size": group})
    others = other_people_numbers(size, 6)
    assert others == list(range(first, first + 6))
    recognition_groups = {p // group for p in range(people)}
    assert not recognition_groups & {p // group for p in others}
    # Their coarse traits are their own groups' (look-alikes share the face shape exactly).
    recognition_faces = {person_traits(size.seed, p, group)["face_w"] for p in range(people)}
    assert not recognition_faces & {person_traits(size.seed, p, group)["face_w"] for p in others}


def test_other_people_are_deterministic_and_cached(other_demo, tmp_path):
    root, info = other_demo
    size = DemoSize.from_params({**TINY, "people": 3})
    again = generate_other_demo(tmp_path / "again", size, 3, workers=1, progress=False)
    assert again["generated"] is True and tree_hash(tmp_path / "again") == tree_hash(root)
    assert generate_other_demo(root, size, 3, workers=1, progress=False)["generated"] is False


def test_no_other_people_writes_nothing(tmp_path):
    info = generate_other_demo(tmp_path / "none", DemoSize.from_params(TINY), 0, workers=1, progress=False)
    assert info["people"] == 0 and info["frames"] == 0 and info["generated"] is False
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize(("key", "value"), [("extra_test_videos", -1), ("extra_test_videos", 101),
                                            ("extra_test_videos", 1.5), ("other_people", -2),
                                            ("other_people", None), ("frame_corruption", -0.1),
                                            ("frame_corruption", 1.5)])
def test_demo_config_checks_the_new_keys(tmp_path, key, value):
    params = {**TINY, "root": str(tmp_path / "demo"), "extra_test_videos": 4, "other_root": str(tmp_path / "other"),
              "other_people": 2, "frame_corruption": 0.0, key: value}
    with pytest.raises(ConfigError, match=rf"ingestion\.demo\.{key}"):
        DemoConfig(**params)


def test_demo_config_refuses_one_root_for_both_trees(tmp_path):
    params = {**TINY, "root": str(tmp_path), "extra_test_videos": 0, "other_root": str(tmp_path), "other_people": 2,
              "frame_corruption": 0.0}
    with pytest.raises(ConfigError, match=r"ingestion\.demo\.other_root"):
        DemoConfig(**params)


# ----------------------------------------------------------------------------------------------
# The renderer's pixels, pinned
# ----------------------------------------------------------------------------------------------
# (seed, person, video, sequence, frame, t, size, trait overrides). Between them they reach every
# branch: hair long/fringe/short (natural) and curly/bald (overridden), beard and glasses on and off,
# shirt patterns 0/1/2, a blink (person 1 video 1 frame 4), the demo's 256 px and the tests' 32 px.
PINNED_FRAMES = [
    (0, 0, 0, 0, 0, 0.0, 256, {}),
    (0, 1, 1, 0, 4, 0.25, 256, {}),
    (0, 2, 0, 1, 2, 0.5, 32, {}),
    (0, 3, 0, 0, 1, 0.75, 256, {}),
    (0, 4, 2, 2, 5, 0.4, 32, {}),
    (7, 5, 1, 0, 3, 0.9, 256, {}),
    (0, 2, 1, 0, 0, 0.1, 256, {"hair_style": "curly"}),
    (0, 6, 0, 0, 7, 0.6, 256, {"hair_style": "bald"}),
    (0, 6, 0, 0, 7, 0.6, 32, {"hair_style": "bald"}),
]
#: SHA-256 of each pinned frame's mode, size and raw pixels, computed with the renderer before it
#: was split into named parts; a refactor must leave every one unchanged.
PINNED_FRAME_DIGESTS = [
    "a0bbdce8ccff91637645d2443a535054eeee471e5c9069174101ffdca06f0dba",
    "09f1a1295f8ec4785fc8698fec1c5661aeb90605a54aa03d527aa9cf323dd92e",
    "68ae7f535089e5aadcab0af0428b473a9f0c372a2a0be059c427b8a3efedd1cc",
    "4162af36c84c0f50fcf67d098f3c981ea022ddbac84d223ab22307a190383eac",
    "557a549a7d40abe81c127e123db7a022ec2d82725e707a520ebca0ce2a0f4554",
    "3883159d1fa86ca49396b298dd36d998cc8d00f4deda9c1c3930d3746e1261db",
    "68bff8627f4c85d6be03eec8bf6c8e82f01a85efe76dd3f79586d6211b0066f6",
    "e8eead7c1341edb06602293dc211ffbc2bfbb8851445219db445ae1b1163b23a",
    "db8fcefc104ed7d40c7903a341b4fa69e706ef849532c73bb160e680215569a1",
]


def frame_digest(seed, person, video, sequence, frame, t, size, overrides) -> str:
    traits = {**person_traits(seed, person, 2), **overrides}
    frame_rng = _rng(seed, "frame", person, video, sequence, frame)
    img = render_frame(traits, video_traits(seed, person, video), frame_rng, t, size)
    return hashlib.sha256(f"{img.mode}{img.size}".encode() + img.tobytes()).hexdigest()


@pytest.mark.parametrize("case, expected", list(zip(PINNED_FRAMES, PINNED_FRAME_DIGESTS)),
                         ids=[f"p{c[1]}v{c[2]}f{c[4]}-{c[6]}px{'-' + c[7]['hair_style'] if c[7] else ''}"
                              for c in PINNED_FRAMES])
def test_rendered_frames_are_byte_identical_to_the_pinned_digests(case, expected):
    assert frame_digest(*case) == expected


def test_every_pinned_frame_has_a_digest():
    assert len(PINNED_FRAME_DIGESTS) == len(PINNED_FRAMES)


# ----------------------------------------------------------------------------------------------
# Frames of mixed quality (ingestion.demo.frame_corruption)
# ----------------------------------------------------------------------------------------------
#: SHA-256 of the decoded HR pixels (path order) of the TINY demo with one extra test video, computed
#: with the renderer before frame corruption existed: strength 0 must leave every frame as it was.
TINY_HR_PIXELS_DIGEST = "cdcb47287e459220a0252f729f596b8d8b945560974558b4fb13b74547dbf013"


def hr_pixels_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((root / "hr").rglob("*.png")):
        with Image.open(path) as img:
            digest.update(path.relative_to(root).as_posix().encode() + np.asarray(img).tobytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def corrupted_demo(tmp_path_factory) -> tuple[Path, Path]:
    """The TINY demo (one extra test video) without corruption and at strength 1."""
    base = tmp_path_factory.mktemp("corruption")
    for name, strength in (("off", 0.0), ("on", 1.0)):
        generate_demo(base / name, DemoSize.from_params(TINY), workers=1, progress=False, extra_test_videos=1,
                      frame_corruption=strength)
    return base / "off", base / "on"


def test_strength_zero_renders_every_frame_as_before(corrupted_demo):
    off, _ = corrupted_demo
    assert hr_pixels_digest(off) == TINY_HR_PIXELS_DIGEST
    # The marker too: a tree cached before the key existed is still the right one.
    assert "frame_corruption" not in (off / PARAMS_FILE).read_text()


def test_corruption_changes_only_the_frames_it_strikes(corrupted_demo):
    off, on = corrupted_demo
    hit = missed = 0
    for path in sorted((off / "hr").rglob("*.png")):
        rel = path.relative_to(off)
        person, video, sequence, frame = (int(part.split("_")[1].split(".")[0]) for part in rel.parts[1:])
        corruption = frame_corruption(TINY["seed"], person, video, sequence, frame, 1.0)
        same = path.read_bytes() == (on / rel).read_bytes()
        # A clean draw leaves the frame (and frame_rng's stream) exactly as without corruption.
        assert same == corruption.clean, rel
        hit, missed = hit + (not same), missed + same
    assert hit and missed  # mixed quality: some frames struck, some clean
    assert "frame_corruption" in (on / PARAMS_FILE).read_text()


def test_corruption_draws_are_per_frame_deterministic_and_scale_with_strength():
    assert frame_corruption(0, 1, 2, 3, 4, 0.0) is None
    assert draw_corruption(np.random.default_rng(5), 0.5) == draw_corruption(np.random.default_rng(5), 0.5)
    assert frame_corruption(0, 1, 2, 3, 4, 0.7) == frame_corruption(0, 1, 2, 3, 4, 0.7)
    draws = [frame_corruption(0, 0, 1, 1, f, 1.0) for f in range(400)]
    clean = np.mean([d.clean for d in draws])
    assert 0.12 < clean < 0.32  # (1 - 0.4)^3 = 0.216 at strength 1
    kinds = [np.mean([getattr(d, k) is not None for d in draws]) for k in ("blur", "occluder", "exposure_stops")]
    assert all(0.3 < rate < 0.5 for rate in kinds), kinds
    weak = [frame_corruption(0, 0, 1, 1, f, 0.2) for f in range(400)]
    assert np.mean([d.clean for d in weak]) > 0.75
    assert {d.exposure_stops > 0 for d in draws if d.exposure_stops is not None} == {True, False}  # over and under


def test_each_corruption_does_what_its_name_says():
    traits = person_traits(0, 2, 2)
    img = render_frame(traits, video_traits(0, 2, 1), _rng(0, "frame", 2, 1, 0, 0), 0.3, 128)
    base = np.asarray(img, dtype=np.float32)
    none = {"blur": None, "occluder": None, "exposure_stops": None, "occluder_colour": (200, 20, 20)}

    def with_(**kind) -> np.ndarray:
        return np.asarray(corrupt_frame(img, FrameCorruption(**{**none, **kind})), dtype=np.float32)

    sharpness = lambda a: np.abs(np.diff(a, axis=1)).mean() + np.abs(np.diff(a, axis=0)).mean()  # noqa: E731
    assert sharpness(with_(blur=(0.2, 30.0))) < 0.6 * sharpness(base)
    patch = with_(occluder=(0.25, 0.25, 0.75, 0.75))
    assert (patch[40:88, 40:88] == (200, 20, 20)).all() and np.array_equal(patch[:30], base[:30])
    assert with_(exposure_stops=1.5).mean() > base.mean() + 40
    assert with_(exposure_stops=-1.5).mean() < 0.5 * base.mean()
    assert np.array_equal(with_(), base)
