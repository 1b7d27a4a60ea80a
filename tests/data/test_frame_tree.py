"""Tests for faceless.data.frame_tree: walking, validating and loading frame trees."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

try:
    import faceless  # noqa: F401
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from faceless.utils.errors import ConfigError, check_at_least, choice
from faceless.data.frame_tree import SKIP_REASONS, load_frames, scan_frame_tree

SIZE = (32, 24)  # (width, height) of the "real" frames in these tests
SEQ = "person_0007/video_0100/seq_0003"


def rgb_image(seed: int, size: tuple[int, int] = SIZE) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def save_image(path: Path, image: Image.Image, format: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=format)
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def jpeg_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def good_tree(root: Path) -> None:
    """Three people with odd, non-dense numbering and mixed extensions and widths."""
    save_image(root / SEQ / "frame_00009.jpg", rgb_image(1))
    save_image(root / SEQ / "frame_00012.jpg", rgb_image(2))
    save_image(root / SEQ / "frame_00030.png", rgb_image(3))
    save_image(root / "person_0002/video_0001/seq_0000/frame_5.JPG", rgb_image(4), "JPEG")
    save_image(root / "person_0010/video_0002/seq_0001/frame_0000009.jpeg", rgb_image(5), "JPEG")
    save_image(root / "person_0010/video_0003/seq_0001/frame_00001.PNG", rgb_image(6), "PNG")


def hostile_tree(root: Path) -> None:
    """Good frames plus one broken frame per skip reason, and strays at every level."""
    for number in (9, 10, 11, 12):
        save_image(root / SEQ / f"frame_{number:05d}.jpg", rgb_image(number))
    save_image(root / SEQ / "frame_00013.png", rgb_image(13).convert("L"))  # grey: kept
    save_image(root / SEQ / "frame_00014.png", rgb_image(14).convert("P"))  # palette: kept
    save_image(root / SEQ / "frame_00015.png", rgb_image(15).convert("RGBA"))  # alpha: kept
    write_bytes(root / SEQ / "frame_00020.jpg", b"")
    write_bytes(root / SEQ / "frame_00021.jpg", b"this is not a picture\n")
    whole = jpeg_bytes(rgb_image(22))
    write_bytes(root / SEQ / "frame_00022.jpg", whole[: len(whole) // 2])
    save_image(root / SEQ / "frame_00023.png", rgb_image(23, size=(16, 16)))
    float_image = Image.fromarray(np.zeros((SIZE[1], SIZE[0]), dtype=np.float32), "F")
    save_image(root / SEQ / "frame_00024.png", float_image, "TIFF")  # TIFF bytes, .png name
    save_image(root / SEQ / "frame_00025.png", Image.new("I;16", SIZE))
    save_image(root / SEQ / "frame_9.jpg", rgb_image(99))  # same number as frame_00009.jpg
    # strays: files where folders belong, folders where files belong, odd names
    write_bytes(root / "notes.txt", b"x")
    (root / "misc").mkdir()
    write_bytes(root / "person_0007/readme.md", b"x")
    (root / "person_0007/clips").mkdir()
    write_bytes(root / "person_0007/video_0100/Thumbs.db", b"x")
    (root / "person_0007/video_0100/seq_abc").mkdir()
    write_bytes(root / SEQ / "frame_00009.txt", b"x")
    write_bytes(root / SEQ / ".DS_Store", b"x")
    (root / SEQ / "frame_00040.jpg").mkdir()  # folder with a frame's name


# --------------------------------------------------------------------------- layout


def test_odd_numbering_is_parsed_sorted_and_labelled(tmp_path):
    good_tree(tmp_path)
    table, report = scan_frame_tree(tmp_path, validate="full", workers=2, layout="orcam", sequence_length=None,
                                    progress=False)

    assert list(table.columns) == ["person", "video", "sequence", "frame", "label", "person_name", "path"]
    rows = table[["person", "video", "sequence", "frame", "label"]].values.tolist()
    assert rows == [
        [2, 1, 0, 5, 0],
        [7, 100, 3, 9, 1],
        [7, 100, 3, 12, 1],
        [7, 100, 3, 30, 1],
        [10, 2, 1, 9, 2],
        [10, 3, 1, 1, 2],
    ]
    for column in ["person", "video", "sequence", "frame", "label"]:
        assert table[column].dtype == np.int64
    assert all(Path(path).is_absolute() and Path(path).is_file() for path in table["path"])
    assert table.index.tolist() == list(range(6))
    assert report["people"] == 3 and report["videos"] == 4 and report["sequences"] == 4
    assert table["person_name"].tolist() == ["person_0002"] + ["person_0007"] * 3 + ["person_0010"] * 2
    assert report["per_person"] == {"person_0002": 1, "person_0007": 3, "person_0010": 2}
    assert report["layout"] == "orcam" and report["storage"] == "folder" and report["root_prefix"] == ""
    assert report["frame_size"] == list(SIZE)
    assert report["hr_frame_size"] is None and report["hr_root"] is None
    assert report["frames_skipped"] == 0
    assert report["stray_files"] == {"count": 0, "examples": []}


def test_report_is_plain_json(tmp_path):
    good_tree(tmp_path)
    _, report = scan_frame_tree(tmp_path, validate="full", workers=2, layout="orcam", sequence_length=None,
                                progress=False)
    assert json.loads(json.dumps(report)) == report
    expected_keys = {
        "root", "hr_root", "validate", "files_seen", "frames_kept", "frames_skipped",
        "skipped_by_reason", "skipped_examples", "stray_files", "nonmatching_dirs",
        "frame_size", "hr_frame_size", "people", "videos", "sequences", "per_person", "seconds",
    }  # fmt: skip
    assert expected_keys <= set(report)


# --------------------------------------------------------------------------- validation


def test_hostile_files_are_skipped_with_exact_reasons(tmp_path):
    hostile_tree(tmp_path)
    table, report = scan_frame_tree(tmp_path, validate="full", workers=2, layout="orcam", sequence_length=None,
                                    progress=False)

    assert table["frame"].tolist() == [9, 10, 11, 12, 13, 14, 15]
    assert report["skipped_by_reason"] == {
        "empty": 1,
        "not_image": 1,
        "truncated": 1,
        "unsupported_mode": 2,
        "wrong_size": 1,
        "too_large": 0,
        "duplicate": 1,
        "hr_missing": 0,
        "hr_invalid": 0,
    }
    assert set(report["skipped_by_reason"]) == set(SKIP_REASONS)
    examples = report["skipped_examples"]
    assert examples["empty"] == [f"{SEQ}/frame_00020.jpg"]
    assert examples["not_image"] == [f"{SEQ}/frame_00021.jpg"]
    assert examples["truncated"] == [f"{SEQ}/frame_00022.jpg"]
    assert examples["wrong_size"] == [f"{SEQ}/frame_00023.png"]
    assert examples["unsupported_mode"] == [f"{SEQ}/frame_00024.png", f"{SEQ}/frame_00025.png"]
    assert examples["duplicate"] == [f"{SEQ}/frame_9.jpg"]
    assert report["files_seen"] == 14
    assert report["frames_kept"] == 7 and report["frames_skipped"] == 7
    assert report["frame_size"] == list(SIZE)


def test_strays_and_nonmatching_folders_are_reported_not_fatal(tmp_path):
    hostile_tree(tmp_path)
    _, report = scan_frame_tree(tmp_path, validate="full", workers=2, layout="orcam", sequence_length=None,
                                progress=False)

    assert report["stray_files"]["count"] == 5
    assert sorted(report["stray_files"]["examples"]) == sorted([
        "notes.txt",
        "person_0007/readme.md",
        "person_0007/video_0100/Thumbs.db",
        f"{SEQ}/frame_00009.txt",
        f"{SEQ}/.DS_Store",
    ])  # fmt: skip
    assert report["nonmatching_dirs"]["count"] == 4
    assert sorted(report["nonmatching_dirs"]["examples"]) == sorted([
        "misc",
        "person_0007/clips",
        "person_0007/video_0100/seq_abc",
        f"{SEQ}/frame_00040.jpg",
    ])  # fmt: skip


def test_header_validation_does_not_decode(tmp_path):
    hostile_tree(tmp_path)
    table, report = scan_frame_tree(tmp_path, validate="header", workers=1, layout="orcam", sequence_length=None,
                                    progress=False)
    assert 22 in table["frame"].tolist()  # truncated body, intact header: kept
    assert report["skipped_by_reason"]["truncated"] == 0
    assert report["skipped_by_reason"]["not_image"] == 1
    assert report["skipped_by_reason"]["unsupported_mode"] == 2


def test_no_validation_keeps_every_matching_file(tmp_path):
    hostile_tree(tmp_path)
    table, report = scan_frame_tree(tmp_path, validate="none", workers=2, layout="orcam", sequence_length=None,
                                    progress=False)
    assert len(table) == 13  # 14 matching files minus the duplicate number
    assert report["frame_size"] is None
    assert report["skipped_by_reason"]["duplicate"] == 1


def test_thread_count_and_progress_bar_do_not_change_the_result(tmp_path):
    hostile_tree(tmp_path)
    one, _ = scan_frame_tree(tmp_path, workers=1, validate="full", layout="orcam", sequence_length=None, progress=False)
    two, _ = scan_frame_tree(tmp_path, workers=2, validate="full", layout="orcam", sequence_length=None, progress=True)
    assert one.equals(two)


# --------------------------------------------------------------------------- high resolution


def test_hr_partners_are_paired_by_numbers(tmp_path):
    low, high = tmp_path / "lr", tmp_path / "hr"
    for number in (9, 12, 13, 14):
        save_image(low / SEQ / f"frame_{number:05d}.jpg", rgb_image(number))
    hr_size = (SIZE[0] * 2, SIZE[1] * 2)
    save_image(high / SEQ / "frame_00009.png", rgb_image(9, size=hr_size))
    save_image(high / SEQ / "frame_012.png", rgb_image(12, size=hr_size))  # other width
    write_bytes(high / SEQ / "frame_00014.png", b"garbage")  # frame 13 has no partner

    table, report = scan_frame_tree(low, hr_root=high, validate="full", workers=2, layout="orcam", sequence_length=None,
                                    progress=False)

    assert list(table.columns)[-2:] == ["path", "hr_path"]
    assert table["frame"].tolist() == [9, 12]
    assert table["hr_path"].tolist() == [
        str(high / SEQ / "frame_00009.png"),
        str(high / SEQ / "frame_012.png"),
    ]
    assert report["skipped_by_reason"]["hr_missing"] == 1
    assert report["skipped_by_reason"]["hr_invalid"] == 1
    assert report["skipped_examples"]["hr_missing"] == [f"{SEQ}/frame_00013.jpg"]
    assert report["skipped_examples"]["hr_invalid"] == [f"{SEQ}/frame_00014.jpg"]
    assert report["frame_size"] == list(SIZE)
    assert report["hr_frame_size"] == list(hr_size)
    assert report["hr_root"] == str(high)


def test_missing_hr_root_names_its_setting(tmp_path):
    good_tree(tmp_path)
    with pytest.raises(ConfigError, match="ingestion.hr_root"):
        scan_frame_tree(tmp_path, hr_root=tmp_path / "nope", validate="full", workers=2, layout="orcam",
                        sequence_length=None, progress=False)


# --------------------------------------------------------------------------- bad roots


@pytest.mark.parametrize("case", ["missing", "file", "empty", "only_strays", "all_broken"])
def test_unusable_root_raises_one_line_config_error(tmp_path, case):
    root = tmp_path / "frames"
    if case == "file":
        write_bytes(root, b"x")
    elif case == "empty":
        root.mkdir()
    elif case == "only_strays":
        write_bytes(root / "person_0001/video_0001/seq_0001/notes.txt", b"x")
        (root / "other").mkdir()
    elif case == "all_broken":
        write_bytes(root / SEQ / "frame_00001.jpg", b"")

    with pytest.raises(ConfigError) as caught:
        scan_frame_tree(root, validate="full", workers=2, layout="orcam", sequence_length=None, progress=False)

    message = str(caught.value)
    assert message.startswith("ingestion.root:")
    assert str(root) in message
    assert "\n" not in message


def test_unknown_validate_mode_is_a_config_error(tmp_path):
    good_tree(tmp_path)
    with pytest.raises(ConfigError, match=r"ingestion.validate must be one of full \| header"):
        scan_frame_tree(tmp_path, validate="fast", workers=2, layout="orcam", sequence_length=None, progress=False)


def test_config_helpers():
    assert choice("b", "x.y", ["a", "b"]) == "b"
    with pytest.raises(ConfigError, match=r"^x.y must be one of a \| b, got 'c'$"):
        choice("c", "x.y", ["a", "b"])
    assert str(ConfigError("first\n  second\n")) == "first second"


def test_check_at_least_names_the_first_value_below_the_minimum():
    config = SimpleNamespace(steps=0, workers=0, batch=3)
    check_at_least(config, ("steps", "batch"), 0, "stage")  # 0 allowed
    with pytest.raises(ConfigError, match=r"^stage\.workers must be >= 1, got 0$"):
        check_at_least(config, ("batch", "workers", "steps"), 1, "stage")


# --------------------------------------------------------------------------- loading


def test_load_frames_gives_rgb_uint8_in_order(tmp_path):
    grey = save_image(tmp_path / "grey.png", rgb_image(1).convert("L"))
    palette = save_image(tmp_path / "palette.png", rgb_image(2).convert("P"))
    alpha = save_image(tmp_path / "alpha.png", rgb_image(3).convert("RGBA"))
    plain = save_image(tmp_path / "plain.png", rgb_image(4))

    frames = load_frames([plain, grey, palette, alpha], size=SIZE, workers=2)

    assert frames.dtype == np.uint8 and frames.shape == (4, SIZE[1], SIZE[0], 3)
    assert np.array_equal(frames[0], np.asarray(rgb_image(4)))
    grey_pixels = np.asarray(Image.open(grey))
    assert all(np.array_equal(frames[1][..., channel], grey_pixels) for channel in range(3))
    assert np.array_equal(frames[2], np.asarray(Image.open(palette).convert("RGB")))
    assert np.array_equal(frames[3], np.asarray(rgb_image(3)))


def test_load_frames_matches_scan_order_across_chunks(tmp_path):
    paths = [
        save_image(tmp_path / f"f{index}.png", Image.new("L", (4, 2), index % 256))
        for index in range(300)  # more than one chunk of work
    ]
    frames = load_frames(paths, workers=2)
    assert frames.shape == (300, 2, 4, 3)
    assert frames[:, 0, 0, 0].tolist() == list(range(256)) + list(range(44))


def test_load_frames_checks_size(tmp_path):
    small = save_image(tmp_path / "small.png", rgb_image(1, size=(8, 8)))
    normal = save_image(tmp_path / "normal.png", rgb_image(2))
    with pytest.raises(ValueError, match="small.png"):
        load_frames([normal, small], workers=2)
    with pytest.raises(ValueError, match="expected 8x9"):
        load_frames([small], size=(8, 9), workers=2)


def test_load_frames_without_paths():
    assert load_frames([], size=(5, 3), workers=2).shape == (0, 3, 5, 3)
    assert load_frames([], workers=2).shape == (0, 0, 0, 3)
