"""Tests for faceless.data.layouts: the ytf, class_folders, sequences and orcam trees."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

try:
    import faceless  # noqa: F401
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from faceless.utils.errors import ConfigError
from faceless.data.frame_store import Listing
from faceless.data.frame_tree import load_frames, scan_frame_tree
from faceless.data.layouts import LAYOUTS, parse_listing

SIZE = (8, 8)  # (width, height)
ROW_COLUMNS = ["person", "video", "sequence", "frame", "label", "person_name"]


def rgb_image(seed: int, size: tuple[int, int] = SIZE) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def save_image(path: Path, image: Image.Image) -> Path:
    """PNG bytes whatever the name says (lossless, so pixels can be compared; Pillow reads the content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def rows(table) -> list[list]:
    return table[ROW_COLUMNS].values.tolist()


# --------------------------------------------------------------------------- ytf

# (person folder, video folder, file name): both YouTube Faces name styles, non-dense frame
# numbers whose text order is not their number order, people created out of name order.
YTF_FRAMES = [
    ("Zach_Braff", "0", "aligned_detect_0.1.jpg"),
    ("Zach_Braff", "0", "aligned_detect_0.2.jpg"),
    ("Zach_Braff", "0", "aligned_detect_0.3.jpg"),
    ("Zach_Braff", "2", "2.40.jpg"),
    ("Aaron_Eckhart", "0", "0.1000.jpg"),
    ("Aaron_Eckhart", "0", "0.99.jpg"),
    ("Aaron_Eckhart", "0", "0.555.jpg"),
    ("Aaron_Eckhart", "0", "0.556.jpg"),
    ("Aaron_Eckhart", "0", "0.560.jpg"),
    ("Aaron_Eckhart", "1", "1.25.jpg"),
    ("Aaron_Eckhart", "1", "1.3.jpg"),
    ("Aaron_Eckhart", "1", "1.10.jpg"),
    ("Abel_Pacheco", "2", "aligned_detect_2.6.jpg"),
    ("Abel_Pacheco", "2", "2.5.jpg"),
]
YTF_DUPLICATE = "Abel_Pacheco/2/aligned_detect_2.5.jpg"  # same frame as 2.5.jpg
YTF_STRAY = "Aaron_Eckhart/1/0.7.jpg"  # video 0's number under video 1
# (person, video, sequence, frame, label, person_name) with sequence_length 2
YTF_ROWS = [
    [0, 0, 0, 99, 0, "Aaron_Eckhart"],
    [0, 0, 0, 555, 0, "Aaron_Eckhart"],
    [0, 0, 1, 556, 0, "Aaron_Eckhart"],
    [0, 0, 1, 560, 0, "Aaron_Eckhart"],
    [0, 0, 2, 1000, 0, "Aaron_Eckhart"],  # the shorter last chunk
    [0, 1, 0, 3, 0, "Aaron_Eckhart"],
    [0, 1, 0, 10, 0, "Aaron_Eckhart"],
    [0, 1, 1, 25, 0, "Aaron_Eckhart"],
    [1, 2, 0, 5, 1, "Abel_Pacheco"],
    [1, 2, 0, 6, 1, "Abel_Pacheco"],
    [2, 0, 0, 1, 2, "Zach_Braff"],
    [2, 0, 0, 2, 2, "Zach_Braff"],
    [2, 0, 1, 3, 2, "Zach_Braff"],
    [2, 2, 0, 40, 2, "Zach_Braff"],
]


def ytf_name(video: str, frame: int, aligned: bool) -> str:
    return f"{'aligned_detect_' if aligned else ''}{video}.{frame}.jpg"


def ytf_tree(root: Path, size: tuple[int, int] = SIZE) -> None:
    for seed, (person, video, name) in enumerate(YTF_FRAMES):
        save_image(root / person / video / name, rgb_image(seed, size))
    save_image(root / YTF_DUPLICATE, rgb_image(100, size))
    save_image(root / YTF_STRAY, rgb_image(101, size))
    save_image(root / "Aaron_Eckhart/extra/0.1.jpg", rgb_image(102, size))  # not a video folder


def test_ytf_frames_are_chunked_in_frame_order(tmp_path):
    ytf_tree(tmp_path)
    table, report = scan_frame_tree(tmp_path, layout="ytf", sequence_length=2, validate="full", workers=2,
                                    progress=False)

    assert rows(table) == YTF_ROWS
    kept_path = table.loc[(table["person_name"] == "Abel_Pacheco") & (table["frame"] == 5), "path"]
    assert kept_path.tolist() == [str(tmp_path / "Abel_Pacheco/2/2.5.jpg")]
    zach = table[table["person_name"] == "Zach_Braff"]["path"].tolist()
    assert zach[0] == str(tmp_path / "Zach_Braff/0/aligned_detect_0.1.jpg")
    assert report["layout"] == "ytf" and report["sequence_length"] == 2
    assert report["stray_files"] == {"count": 1, "examples": [YTF_STRAY]}
    assert report["nonmatching_dirs"] == {"count": 1, "examples": ["Aaron_Eckhart/extra"]}
    assert report["skipped_by_reason"]["duplicate"] == 1
    assert report["skipped_examples"]["duplicate"] == [YTF_DUPLICATE]
    assert report["per_person"] == {"Aaron_Eckhart": 8, "Abel_Pacheco": 2, "Zach_Braff": 4}
    assert report["people"] == 3 and report["videos"] == 5 and report["sequences"] == 9
    assert report["files_seen"] == 15 and report["frames_kept"] == 14


def test_ytf_frames_load_from_their_paths(tmp_path):
    ytf_tree(tmp_path)
    table, _ = scan_frame_tree(tmp_path, layout="ytf", sequence_length=2, validate="none", workers=2, progress=False)
    frames = load_frames(table["path"], workers=2)
    seeds = {(person, int(name.rsplit(".", 2)[1])): seed for seed, (person, _, name) in enumerate(YTF_FRAMES)}
    for index, (name, frame) in enumerate(zip(table["person_name"], table["frame"])):
        assert np.array_equal(frames[index], np.asarray(rgb_image(seeds[(name, frame)]))), (name, frame)


@pytest.mark.parametrize(("length", "chunks"), [
    (1, [0, 1, 2, 3, 4]),
    (3, [0, 0, 0, 1, 1]),
    (5, [0, 0, 0, 0, 0]),
    (50, [0, 0, 0, 0, 0]),
])  # fmt: skip
def test_ytf_sequence_length_sets_the_chunks(length, chunks):
    files = [f"Aaron_Eckhart/0/0.{frame}.jpg" for frame in (1000, 99, 555, 556, 560)]
    parsed = parse_listing(Listing(sorted(files), ["Aaron_Eckhart", "Aaron_Eckhart/0"]), LAYOUTS["ytf"], length)
    by_frame = sorted((item.frame, item.sequence) for item in parsed.frames)
    assert [frame for frame, _ in by_frame] == [99, 555, 556, 560, 1000]
    assert [sequence for _, sequence in by_frame] == chunks


def test_ytf_video_number_must_match_its_folder():
    files = ["A/01/1.5.jpg", "A/1/01.6.jpg", "A/2/3.7.jpg", "A/2/aligned_detect_1.8.jpg", "A/2/2.x.jpg"]
    parsed = parse_listing(Listing(sorted(files), []), LAYOUTS["ytf"], 4)
    assert sorted((item.video, item.frame) for item in parsed.frames) == [(1, 5), (1, 6)]
    assert sorted(parsed.stray_files.examples) == ["A/2/2.x.jpg", "A/2/3.7.jpg", "A/2/aligned_detect_1.8.jpg"]


@pytest.mark.parametrize("length", [None, 0, -3])
@pytest.mark.parametrize("layout", ["ytf", "class_folders"])
def test_chunked_layout_needs_a_sequence_length(tmp_path, layout, length):
    save_image(tmp_path / "Aaron_Eckhart/0/0.1.jpg", rgb_image(1))
    with pytest.raises(ConfigError, match=r"ingestion\.sequence_length") as caught:
        scan_frame_tree(tmp_path, layout=layout, sequence_length=length, validate="full", workers=2, progress=False)
    assert layout in str(caught.value) and repr(length) in str(caught.value)


def test_unknown_layout_names_its_setting(tmp_path):
    save_image(tmp_path / "Aaron_Eckhart/0/0.1.jpg", rgb_image(1))
    with pytest.raises(ConfigError, match=r"^ingestion\.layout must be one of .*ytf.*, got 'lfw'$"):
        scan_frame_tree(tmp_path, layout="lfw", sequence_length=2, validate="full", workers=2, progress=False)


# --------------------------------------------------------------------------- ytf with HR partners


def hr_ytf_tree(root: Path, size: tuple[int, int], skip: set[tuple[str, int]] = frozenset()) -> None:
    """The kept YTF frames at ``size``, all in the aligned_detect style, plus an extra person."""
    for seed, (person, video, name) in enumerate(YTF_FRAMES):
        frame = int(name.rsplit(".", 2)[1])
        if (person, frame) not in skip:
            save_image(root / person / video / ytf_name(video, frame, aligned=True), rgb_image(seed, size))
    save_image(root / "Aaliyah/0/aligned_detect_0.1.jpg", rgb_image(200, size))  # shifts every rank


def test_ytf_hr_partners_pair_by_name_video_and_frame(tmp_path):
    low, high = tmp_path / "lr", tmp_path / "hr"
    hr_size = (SIZE[0] * 2, SIZE[1] * 2)
    ytf_tree(low)
    hr_ytf_tree(high, hr_size)

    table, report = scan_frame_tree(low, hr_root=high, layout="ytf", sequence_length=2, validate="full", workers=2,
                                    progress=False)

    assert rows(table) == YTF_ROWS
    expected_hr = [
        str(high / name / str(video) / ytf_name(str(video), frame, aligned=True))
        for name, video, frame in zip(table["person_name"], table["video"], table["frame"])
    ]
    assert table["hr_path"].tolist() == expected_hr
    assert report["skipped_by_reason"]["hr_missing"] == 0
    assert report["hr_frame_size"] == list(hr_size)
    low_frames, high_frames = load_frames(table["path"], workers=2), load_frames(table["hr_path"], workers=2)
    assert high_frames.shape == (len(table), hr_size[1], hr_size[0], 3)
    # Zach_Braff 2.40 is seed 3 in both trees.
    assert np.array_equal(low_frames[-1], np.asarray(rgb_image(3)))
    assert np.array_equal(high_frames[-1], np.asarray(rgb_image(3, hr_size)))


def test_ytf_hr_frame_missing_unpairs_only_that_frame(tmp_path):
    low, high = tmp_path / "lr", tmp_path / "hr"
    ytf_tree(low)
    hr_ytf_tree(high, (16, 16), skip={("Aaron_Eckhart", 555)})

    table, report = scan_frame_tree(low, hr_root=high, layout="ytf", sequence_length=2, validate="full", workers=2,
                                    progress=False)

    assert report["skipped_examples"]["hr_missing"] == ["Aaron_Eckhart/0/0.555.jpg"]
    assert len(table) == len(YTF_ROWS) - 1


# --------------------------------------------------------------------------- class folders


def test_class_folders_use_natural_file_order(tmp_path):
    for seed, name in enumerate(["img10.jpg", "img2.jpg", "img1.jpg", "IMG3.png"]):
        save_image(tmp_path / "cats" / name, rgb_image(seed))
    for seed, name in enumerate(["c.jpg", "a.jpg", "b.jpeg"]):
        save_image(tmp_path / "dogs" / name, rgb_image(10 + seed))
    write_bytes(tmp_path / "cats/notes.txt", b"x")
    save_image(tmp_path / "cats/.hidden.jpg", rgb_image(20))
    save_image(tmp_path / "cats/more/img4.jpg", rgb_image(21))

    table, report = scan_frame_tree(tmp_path, layout="class_folders", sequence_length=2, validate="full", workers=2,
                                    progress=False)

    assert rows(table) == [
        [0, 0, 0, 0, 0, "cats"],
        [0, 0, 0, 1, 0, "cats"],
        [0, 0, 1, 2, 0, "cats"],
        [0, 0, 1, 3, 0, "cats"],
        [1, 0, 0, 0, 1, "dogs"],
        [1, 0, 0, 1, 1, "dogs"],
        [1, 0, 1, 2, 1, "dogs"],
    ]
    assert [Path(path).name for path in table["path"]] == [
        "img1.jpg", "img2.jpg", "IMG3.png", "img10.jpg", "a.jpg", "b.jpeg", "c.jpg"]
    assert report["per_person"] == {"cats": 4, "dogs": 3}
    assert report["sequences"] == 4 and report["videos"] == 2
    assert sorted(report["stray_files"]["examples"]) == ["cats/.hidden.jpg", "cats/notes.txt"]
    assert report["nonmatching_dirs"]["examples"] == ["cats/more"]
    assert np.array_equal(load_frames(table["path"][:1], workers=2)[0], np.asarray(rgb_image(2)))  # img1.jpg


# --------------------------------------------------------------------------- unlabeled sequences


def test_sequences_are_unlabeled(tmp_path):
    save_image(tmp_path / "seq_0001/frame_00002.jpg", rgb_image(1))
    save_image(tmp_path / "seq_0001/frame_00001.jpg", rgb_image(2))
    save_image(tmp_path / "seq_03/frame_10.png", rgb_image(3))
    save_image(tmp_path / "seq_03/frame_0010.jpg", rgb_image(4))  # same frame number
    save_image(tmp_path / "person_0001/video_0001/seq_0001/frame_00001.jpg", rgb_image(5))

    table, report = scan_frame_tree(tmp_path, layout="sequences", validate="full", workers=2, sequence_length=None,
                                    progress=False)

    assert rows(table) == [
        [-1, 0, 1, 1, -1, ""],
        [-1, 0, 1, 2, -1, ""],
        [-1, 0, 3, 10, -1, ""],
    ]
    assert report["layout"] == "sequences" and report["sequence_length"] is None
    assert report["sequences"] == 2
    assert "per_person" not in report and "people" not in report
    assert report["skipped_examples"]["duplicate"] == ["seq_03/frame_10.png"]
    assert report["nonmatching_dirs"]["examples"] == ["person_0001"]


# --------------------------------------------------------------------------- wrapping folders


@pytest.mark.parametrize("wrapper", ["dataset", "a/b"])
def test_orcam_tree_inside_wrapping_folders(tmp_path, wrapper):
    base = tmp_path / wrapper
    save_image(base / "person_0001/video_0002/seq_0003/frame_00004.jpg", rgb_image(1))
    save_image(base / "person_0009/video_0001/seq_0000/frame_1.jpg", rgb_image(2))
    write_bytes(base / "person_0009/video_0001/seq_0000/notes.txt", b"x")

    table, report = scan_frame_tree(tmp_path, validate="full", workers=2, layout="orcam", sequence_length=None,
                                    progress=False)

    assert rows(table) == [[1, 2, 3, 4, 0, "person_0001"], [9, 1, 0, 1, 1, "person_0009"]]
    assert table["path"].tolist() == [
        str(base / "person_0001/video_0002/seq_0003/frame_00004.jpg"),
        str(base / "person_0009/video_0001/seq_0000/frame_1.jpg"),
    ]
    assert report["root_prefix"] == wrapper
    assert report["nonmatching_dirs"]["count"] == 0
    assert report["stray_files"]["examples"] == [f"{wrapper}/person_0009/video_0001/seq_0000/notes.txt"]


def test_two_top_folders_are_not_a_wrapper():
    files = ["dataset/person_1/video_1/seq_1/frame_1.jpg", "other/person_1/video_1/seq_1/frame_2.jpg"]
    parsed = parse_listing(Listing(files, ["dataset", "other"]), LAYOUTS["orcam"], None)
    assert parsed.frames == [] and parsed.root_prefix == ""
    assert parsed.nonmatching_dirs.examples == ["dataset", "other"]


def test_ytf_tree_inside_a_wrapping_folder():
    files = ["frame_images_DB/Aaron_Eckhart/0/0.1.jpg", "frame_images_DB/Abel_Pacheco/1/1.2.jpg"]
    parsed = parse_listing(Listing(files, ["frame_images_DB"]), LAYOUTS["ytf"], 2)
    assert parsed.root_prefix == "frame_images_DB"
    assert sorted((item.person_name, item.video, item.frame) for item in parsed.frames) == [
        ("Aaron_Eckhart", 0, 1), ("Abel_Pacheco", 1, 2)]


def test_wrapper_with_a_file_beside_the_people_is_still_stepped_over():
    files = [
        "frame_images_DB/Aaron_Eckhart.labeled_faces.txt",
        "frame_images_DB/Aaron_Eckhart/0/0.1.jpg",
        "frame_images_DB/Abel_Pacheco/1/1.2.jpg",
    ]
    parsed = parse_listing(Listing(files, ["frame_images_DB"]), LAYOUTS["ytf"], 2)
    assert parsed.root_prefix == "frame_images_DB"
    assert len(parsed.frames) == 2
    assert parsed.stray_files.examples == ["frame_images_DB/Aaron_Eckhart.labeled_faces.txt"]
