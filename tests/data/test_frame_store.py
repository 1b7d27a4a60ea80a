"""Tests for faceless.data.frame_store: frame trees read from an uncompressed tar, in place."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import sys
import re
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

try:
    import faceless  # noqa: F401
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from faceless.utils.errors import ConfigError
from faceless.data import frame_store
from faceless.data.frame_store import (
    INDEX_SUFFIX,
    open_archive,
    open_frame,
    open_store,
    split_locator,
    unsafe_member_reason,
)
from faceless.data.frame_tree import load_frames, scan_frame_tree

SIZE = (16, 12)  # (width, height)
SEQ = "person_0007/video_0100/seq_0003"
NUMBER_COLUMNS = ["person", "video", "sequence", "frame", "label", "person_name"]


@pytest.fixture(autouse=True)
def fresh_archive_cache(monkeypatch):
    """Every test starts with no archive held open by an earlier one."""
    monkeypatch.setattr(frame_store, "_OPEN_ARCHIVES", {})


# --------------------------------------------------------------------------- helpers


def rgb_image(seed: int, size: tuple[int, int] = SIZE) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def image_bytes(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def good_tree(root: Path) -> None:
    """Three people, odd numbering, PNG and JPEG, a stray file and a non-matching folder."""
    write_bytes(root / SEQ / "frame_00009.jpg", image_bytes(rgb_image(1), "JPEG"))
    write_bytes(root / SEQ / "frame_00012.png", image_bytes(rgb_image(2)))
    write_bytes(root / SEQ / "frame_00030.png", image_bytes(rgb_image(3)))
    write_bytes(root / "person_0002/video_0001/seq_0000/frame_5.JPG", image_bytes(rgb_image(4), "JPEG"))
    write_bytes(root / "person_0010/video_0002/seq_0001/frame_0000009.png", image_bytes(rgb_image(5)))
    write_bytes(root / SEQ / "frame_00009.txt", b"stray")  # stray at frame level
    write_bytes(root / "person_0010/video_0002/seq_abc/frame_00001.png", image_bytes(rgb_image(6)))


def add_member(tar: tarfile.TarFile, name: str, data: bytes = b"", type: bytes = tarfile.REGTYPE,
               linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = type
    info.linkname = linkname
    info.mode = 0o644
    info.size = len(data) if type == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if info.size else None)


def pack(root: Path, archive: Path, style: str = "plain") -> Path:
    """``root``'s tree as a tar: plain relative names, under ``images/``, or with ``./`` names."""
    with tarfile.open(archive, "w") as tar:
        if style == "dot":  # what `tar -C root -cf archive .` writes
            tar.add(root, arcname=".")
            return archive
        prefix = "images/" if style == "wrapped" else ""
        if prefix:
            tar.add(root, arcname="images", recursive=False)
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=prefix + path.relative_to(root).as_posix(), recursive=False)
    return archive


def member_names(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return tar.getnames()


def all_files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if not path.is_dir()}


# --------------------------------------------------------------------------- same table as a folder


PACK_PREFIX = {"plain": "", "wrapped": "images/", "dot": ""}


@pytest.mark.parametrize("style", ["plain", "wrapped", "dot"])
def test_archive_scans_to_the_same_frames_as_the_folder(tmp_path, monkeypatch, style):
    folder = tmp_path / "tree"
    good_tree(folder)
    archive = pack(folder, tmp_path / "frames.tar", style)
    if style == "dot":
        assert all(name == "." or name.startswith("./") for name in member_names(archive))
    monkeypatch.chdir(tmp_path)

    expected, folder_report = scan_frame_tree(folder, validate="full", workers=2, layout="orcam", sequence_length=None,
                                              progress=False)
    table, report = scan_frame_tree("frames.tar", validate="full", workers=2, layout="orcam", sequence_length=None,
                                    progress=False)  # relative: paths made absolute

    assert len(table) == 5
    pd.testing.assert_frame_equal(table[NUMBER_COLUMNS], expected[NUMBER_COLUMNS])
    prefix = PACK_PREFIX[style]
    expected_paths = [
        f"{tmp_path / 'frames.tar'}::{prefix}{Path(path).relative_to(folder).as_posix()}"
        for path in expected["path"]
    ]
    assert table["path"].tolist() == expected_paths
    assert np.array_equal(load_frames(table["path"], workers=2), load_frames(expected["path"], workers=2))
    assert report["storage"] == "tar" and folder_report["storage"] == "folder"
    assert report["root"] == str(tmp_path / "frames.tar")
    assert report["root_prefix"] == ("images" if style == "wrapped" else "")
    assert report["refused_members"] == {"count": 0, "examples": []}
    for key in ("files_seen", "frames_kept", "skipped_by_reason", "frame_size", "per_person"):
        assert report[key] == folder_report[key], key


@pytest.mark.parametrize("style", [
    "plain",
    "wrapped",
    "dot",
])  # fmt: skip
def test_archive_reports_the_same_strays_as_the_folder(tmp_path, style):
    folder = tmp_path / "tree"
    good_tree(folder)
    archive = pack(folder, tmp_path / "frames.tar", style)

    _, folder_report = scan_frame_tree(folder, validate="full", workers=2, layout="orcam", sequence_length=None,
                                       progress=False)
    _, report = scan_frame_tree(archive, validate="full", workers=2, layout="orcam", sequence_length=None,
                                progress=False)

    prefix = PACK_PREFIX[style]
    assert folder_report["stray_files"] == {"count": 1, "examples": [f"{SEQ}/frame_00009.txt"]}
    assert folder_report["nonmatching_dirs"] == {
        "count": 1, "examples": ["person_0010/video_0002/seq_abc"]}
    for key in ("stray_files", "nonmatching_dirs"):
        assert report[key]["count"] == folder_report[key]["count"], key
        assert report[key]["examples"] == [prefix + example for example in folder_report[key]["examples"]]


def test_archive_with_another_suffix_loads_its_frames(tmp_path):
    folder = tmp_path / "tree"
    good_tree(folder)
    archive = pack(folder, tmp_path / "frames.img")

    table, report = scan_frame_tree(archive, validate="full", workers=2, layout="orcam", sequence_length=None,
                                    progress=False)
    assert report["storage"] == "tar" and len(table) == 5
    assert load_frames(table["path"], workers=2).shape == (5, SIZE[1], SIZE[0], 3)


def test_locators():
    assert split_locator("/data/frames.tar::person_1/a b.jpg") == ("/data/frames.tar", "person_1/a b.jpg")
    assert split_locator("/data/FRAMES.TAR::x.png") == ("/data/FRAMES.TAR", "x.png")
    assert split_locator("/data/person_1/frame_1.jpg") is None
    assert split_locator("/data/odd::name.jpg") is None  # '::' but no archive before it


def test_open_frame_reads_files_and_members_alike(tmp_path):
    data = image_bytes(rgb_image(7))
    plain = write_bytes(tmp_path / "frame.png", data)
    archive = tmp_path / "frames.tar"
    with tarfile.open(archive, "w") as tar:
        add_member(tar, "a/frame.png", data)
    with open_frame(plain) as one, open_frame(f"{archive}::a/frame.png") as two:
        assert one.read() == two.read() == data
    with pytest.raises(FileNotFoundError):
        open_frame(f"{archive}::a/other.png")


# --------------------------------------------------------------------------- the cached index


def test_index_is_cached_beside_the_archive_and_reused(tmp_path, monkeypatch):
    folder = tmp_path / "tree"
    good_tree(folder)
    archive = pack(folder, tmp_path / "frames.tar")
    index_file = Path(str(archive) + INDEX_SUFFIX)
    assert not index_file.exists()

    first = open_archive(archive, progress=False)
    assert index_file.is_file()
    assert {path.name for path in tmp_path.iterdir()} == {"tree", "frames.tar", "frames.tar" + INDEX_SUFFIX}
    assert open_archive(archive, progress=False) is first  # held for the process

    def no_scan(*args, **kwargs):
        raise AssertionError("the archive was indexed again")

    monkeypatch.setattr(frame_store, "_scan_members", no_scan)
    frame_store._OPEN_ARCHIVES.clear()
    second = open_archive(archive, progress=False)  # fresh process state: index from the parquet
    assert second is not first
    assert second.listing() == first.listing()
    member = f"{SEQ}/frame_00012.png"
    assert second.read(member) == (folder / member).read_bytes()

    # Without the scanner, a changed archive cannot be opened: it is indexed again, not trusted.
    os.utime(archive, ns=(os.stat(archive).st_atime_ns, os.stat(archive).st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="indexed again"):
        open_archive(archive, progress=False)


def test_index_is_rebuilt_when_the_archive_changes(tmp_path, monkeypatch):
    folder = tmp_path / "tree"
    good_tree(folder)
    archive = pack(folder, tmp_path / "frames.tar")
    calls = []
    real_scan = frame_store._scan_members

    def counting_scan(*args, **kwargs):
        calls.append(args[0])
        return real_scan(*args, **kwargs)

    monkeypatch.setattr(frame_store, "_scan_members", counting_scan)
    table, _ = scan_frame_tree(archive, validate="full", workers=2, layout="orcam", sequence_length=None,
                               progress=False)
    assert len(calls) == 1
    old_pixels = load_frames(table["path"][:1], workers=2)
    assert len(calls) == 1  # loading reuses the open archive

    # Append a new version of the first frame (a later member wins) and a new frame.
    first_member = table["path"][0].split("::")[1]
    new_member = "person_0002/video_0001/seq_0000/frame_00006.png"
    with tarfile.open(archive, "a") as tar:
        add_member(tar, first_member, image_bytes(rgb_image(40, SIZE), "JPEG"))
        add_member(tar, new_member, image_bytes(rgb_image(41)))

    new_pixels = load_frames(table["path"][:1], workers=2)  # same locator, changed archive
    assert len(calls) == 2
    assert not np.array_equal(new_pixels, old_pixels)
    assert np.array_equal(new_pixels[0], np.asarray(Image.open(io.BytesIO(image_bytes(rgb_image(40), "JPEG")))))
    table, _ = scan_frame_tree(archive, validate="full", workers=2, layout="orcam", sequence_length=None,
                               progress=False)
    assert len(calls) == 2  # the rebuilt index is current
    assert f"{archive}::{new_member}" in table["path"].tolist()

    # Same size, new modification time: indexed again too.
    stat = os.stat(archive)
    os.utime(archive, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5 * 10**9))
    frame_store._OPEN_ARCHIVES.clear()
    open_archive(archive, progress=False)
    assert len(calls) == 3
    frame_store._OPEN_ARCHIVES.clear()
    open_archive(archive, progress=False)
    assert len(calls) == 3  # ... and that index is cached in turn

    # A damaged index file is rebuilt, not trusted.
    Path(str(archive) + INDEX_SUFFIX).write_bytes(b"not parquet")
    frame_store._OPEN_ARCHIVES.clear()
    store = open_archive(archive, progress=False)
    assert len(calls) == 4
    assert new_member in store.listing().files


def test_unwritable_index_only_costs_a_rescan(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "tree"
    good_tree(folder)
    archive = pack(folder, tmp_path / "frames.tar")

    def read_only(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(frame_store, "atomic_path", read_only)
    with caplog.at_level("WARNING", logger="faceless.data.frame_store"):
        store = open_archive(archive, progress=False)
    assert len(store) == 7
    assert not Path(str(archive) + INDEX_SUFFIX).exists()
    assert "cannot cache the archive index" in caplog.text


# --------------------------------------------------------------------------- hostile members

GOOD = "person_0001/video_0001/seq_0001"
HOSTILE_FILES = [
    "../evil/frame_00001.jpg",
    "/abs/person_0001/video_0001/seq_0001/frame_00002.jpg",
    "person_0001/../../x.jpg",
    "C:/win.jpg",
    "..\\..\\evil2.jpg",
]
SYMLINK = f"{GOOD}/frame_00004.png"
HARDLINK = f"{GOOD}/frame_00005.png"
DEVICE = f"{GOOD}/frame_00006.png"


def hostile_archive(archive: Path) -> Path:
    good = image_bytes(rgb_image(1))
    with tarfile.open(archive, "w") as tar:
        add_member(tar, f"{GOOD}/frame_00001.png", good)
        add_member(tar, f"{GOOD}/frame_00003.png", image_bytes(rgb_image(3)))
        for name in HOSTILE_FILES:
            add_member(tar, name, good)
        add_member(tar, SYMLINK, type=tarfile.SYMTYPE, linkname="../../../../etc/passwd")
        add_member(tar, HARDLINK, type=tarfile.LNKTYPE, linkname=f"{GOOD}/frame_00001.png")
        add_member(tar, DEVICE, type=tarfile.CHRTYPE)
    return archive


def test_hostile_members_are_refused_and_never_written(tmp_path, monkeypatch):
    home = tmp_path / "data"
    home.mkdir()
    archive = hostile_archive(home / "frames.tar")
    # The names really are stored as written (tarfile does not clean them on the way in).
    assert set(HOSTILE_FILES + [SYMLINK, HARDLINK, DEVICE]) <= set(member_names(archive))
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    beside_tmp = set(os.listdir(tmp_path.parent))

    table, report = scan_frame_tree(archive, validate="full", workers=2, layout="orcam", sequence_length=None,
                                    progress=False)

    assert table["frame"].tolist() == [1, 3]
    assert table["path"].tolist() == [f"{archive}::{GOOD}/frame_00001.png", f"{archive}::{GOOD}/frame_00003.png"]
    refused = report["refused_members"]
    assert refused["count"] == 8
    assert len(refused["examples"]) == 8
    for name in HOSTILE_FILES + [SYMLINK, HARDLINK, DEVICE]:
        assert sum(example.startswith(f"{name!r}:") for example in refused["examples"]) == 1, name
    assert [example for example in refused["examples"] if "link" in example.split(":")[-1]] == [
        f"{SYMLINK!r}: link", f"{HARDLINK!r}: link"]
    assert report["files_seen"] == 2 and report["frames_kept"] == 2
    assert report["stray_files"]["count"] == 0  # refused names are not listed at all

    for name in HOSTILE_FILES + [SYMLINK, HARDLINK, DEVICE]:
        with pytest.raises(FileNotFoundError):
            open_frame(f"{archive}::{name}")
    with pytest.raises(OSError):
        load_frames([f"{archive}::../evil/frame_00001.jpg"], workers=2)
    assert load_frames(table["path"], workers=2).shape == (2, SIZE[1], SIZE[0], 3)

    # Nothing was extracted: only the archive and its index exist, anywhere under tmp.
    assert all_files(tmp_path) == {"data/frames.tar", "data/frames.tar" + INDEX_SUFFIX}
    assert not any(workdir.iterdir())
    assert set(os.listdir(tmp_path.parent)) == beside_tmp
    assert not Path("/abs/person_0001").exists()


def test_refusals_survive_the_cached_index(tmp_path):
    archive = hostile_archive(tmp_path / "frames.tar")
    first = open_archive(archive, progress=False).listing()
    frame_store._OPEN_ARCHIVES.clear()
    second = open_archive(archive, progress=False).listing()
    assert first.refused["count"] == 8
    assert second == first
    with pytest.raises(FileNotFoundError):
        open_frame(f"{archive}::{HOSTILE_FILES[0]}")


@pytest.mark.parametrize("name", [
    "person_0001/video_0001/seq_0001/frame_00001.jpg",
    "./person_0001/frame.jpg",
    "a..b/frame.jpg",
    "..hidden/frame.jpg",
    "x/...jpg",
    "C-drive/x.jpg",
])  # fmt: skip
def test_safe_member_names(name):
    assert unsafe_member_reason(name) is None


@pytest.mark.parametrize(("name", "why"), [
    ("", "empty"),
    ("a\x00b.jpg", "NUL"),
    ("/etc/passwd", "absolute"),
    ("\\server\\share.jpg", "absolute"),
    ("C:/win.jpg", "absolute"),
    ("c:win.jpg", "absolute"),
    ("../x.jpg", "'..'"),
    ("a/../b.jpg", "'..'"),
    ("a/..", "'..'"),
    ("a\\..\\b.jpg", "'..'"),
    ("a//..//b.jpg", "'..'"),
    ("./../x.jpg", "'..'"),
])  # fmt: skip
def test_unsafe_member_names(name, why):
    reason = unsafe_member_reason(name)
    assert reason is not None and why in reason


# --------------------------------------------------------------------------- unusable archives


def compressed_archive(path: Path, kind: str, members: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            add_member(tar, name, data)
    raw = buffer.getvalue()
    if kind == "gzip":
        packed = gzip.compress(raw)
    elif kind == "bzip2":
        packed = bz2.compress(raw)
    elif kind == "xz":
        packed = lzma.compress(raw)
    else:  # zstd: no compressor in the standard library; the magic number is all that is read
        packed = b"\x28\xb5\x2f\xfd" + raw
    path.write_bytes(packed)
    return path


@pytest.mark.parametrize(("kind", "name", "command"), [
    ("gzip", "frames.tar.gz", "gunzip"),
    ("gzip", "frames.tar", "gunzip"),  # misnamed: the bytes decide
    ("bzip2", "frames.tar.bz2", "bunzip2"),
    ("xz", "frames.tar.xz", "unxz"),
    ("zstd", "frames.tar.zst", "unzstd"),
])  # fmt: skip
def test_compressed_archive_is_a_one_line_config_error(tmp_path, kind, name, command):
    archive = compressed_archive(tmp_path / name, kind, {f"{GOOD}/frame_00001.png": image_bytes(rgb_image(1))})
    with pytest.raises(ConfigError) as caught:
        scan_frame_tree(archive, validate="full", workers=2, layout="orcam", sequence_length=None, progress=False)
    message = str(caught.value)
    assert message.startswith("ingestion.root:")
    assert kind in message and command in message and str(archive) in message
    assert "\n" not in message
    assert not Path(str(archive) + INDEX_SUFFIX).exists()


def test_compressed_hr_archive_names_the_hr_setting(tmp_path):
    folder = tmp_path / "tree"
    good_tree(folder)
    archive = compressed_archive(tmp_path / "hr.tar.gz", "gzip", {"x.png": b"x"})
    with pytest.raises(ConfigError, match=r"^ingestion.hr_root: .*gunzip"):
        scan_frame_tree(folder, hr_root=archive, validate="full", workers=2, layout="orcam", sequence_length=None,
                        progress=False)


@pytest.mark.parametrize(("name", "data", "words"), [
    ("frames.tar", b"this is not a tar archive\n" * 40, "not a readable tar archive"),
    ("frames.tar", b"tiny", "not a readable tar archive"),
    ("frames.bin", b"this is not a tar archive\n" * 40, "not a folder or a .tar archive"),
])  # fmt: skip
def test_file_that_is_not_a_tar_is_a_config_error(tmp_path, name, data, words):
    path = write_bytes(tmp_path / name, data)
    with pytest.raises(ConfigError) as caught:
        open_store(path, "ingestion.root", "frames")
    message = str(caught.value)
    assert message.startswith("ingestion.root:") and words in message and str(path) in message
    assert "\n" not in message


def cut_archive(tmp_path: Path) -> tuple[Path, str, bytes]:
    """A tar whose last member's data stops half way, as a download cut short leaves it."""
    folder = tmp_path / "tree"
    good_tree(folder)
    archive = pack(folder, tmp_path / "frames.tar")
    with tarfile.open(archive) as tar:
        # The last member that is a frame (a stray after it would never be read, cut or not).
        last = [member for member in tar.getmembers()
                if member.isfile() and re.search(r"/seq_\d+/frame_\d+\.", member.name)][-1]
    assert last.name.endswith(".png") and last.size > 100
    return archive, last.name, archive.read_bytes()[: last.offset_data + last.size // 2]


def test_member_cut_short_after_indexing_is_an_error_not_short_data(tmp_path):
    archive, last, cut = cut_archive(tmp_path)
    store = open_archive(archive, progress=False)
    assert store.read(last) == (tmp_path / "tree" / last).read_bytes()
    archive.write_bytes(cut)
    with pytest.raises(OSError, match="cut short"):
        store.read(last)
    first = store.listing().files[0]
    assert store.read(first) == (tmp_path / "tree" / first).read_bytes()


def test_truncated_archive_skips_the_cut_member(tmp_path):
    archive, last, cut = cut_archive(tmp_path)
    archive.write_bytes(cut)
    table, report = scan_frame_tree(archive, validate="full", workers=2, layout="orcam", sequence_length=None,
                                    progress=False)
    skipped = report["skipped_by_reason"]
    assert skipped["not_image"] + skipped["truncated"] == 1
    assert last in report["skipped_examples"]["not_image"] + report["skipped_examples"]["truncated"]
    assert len(table) == 4


# --------------------------------------------------------------------------- validation of members


def broken_tree(root: Path) -> None:
    for number in (1, 2, 3):
        write_bytes(root / SEQ / f"frame_{number:05d}.png", image_bytes(rgb_image(number)))
    whole = image_bytes(rgb_image(4), "JPEG")
    write_bytes(root / SEQ / "frame_00004.jpg", whole[:-100])  # intact header, body cut short
    write_bytes(root / SEQ / "frame_00005.jpg", b"this is not a picture\n")
    write_bytes(root / SEQ / "frame_00006.jpg", b"")
    write_bytes(root / SEQ / "frame_00007.png", image_bytes(rgb_image(7, size=(8, 8))))


@pytest.mark.parametrize("validate", ["full", "header"])
def test_broken_members_are_skipped_like_broken_files(tmp_path, validate):
    folder = tmp_path / "tree"
    broken_tree(folder)
    archive = pack(folder, tmp_path / "frames.tar")

    expected, folder_report = scan_frame_tree(folder, validate=validate, workers=2, layout="orcam",
                                              sequence_length=None, progress=False)
    table, report = scan_frame_tree(archive, validate=validate, workers=2, layout="orcam", sequence_length=None,
                                    progress=False)

    truncated = 1 if validate == "full" else 0
    assert report["skipped_by_reason"] == {
        "empty": 1, "not_image": 1, "truncated": truncated, "unsupported_mode": 0,
        "wrong_size": 1, "too_large": 0, "duplicate": 0, "hr_missing": 0, "hr_invalid": 0,
    }  # fmt: skip
    assert report["skipped_by_reason"] == folder_report["skipped_by_reason"]
    assert report["skipped_examples"] == folder_report["skipped_examples"]
    assert report["skipped_examples"]["not_image"] == [f"{SEQ}/frame_00005.jpg"]
    assert table["frame"].tolist() == ([1, 2, 3] if validate == "full" else [1, 2, 3, 4])
    pd.testing.assert_frame_equal(table[NUMBER_COLUMNS], expected[NUMBER_COLUMNS])
    assert report["frame_size"] == list(SIZE)


def test_hr_frames_can_come_from_an_archive(tmp_path):
    low, high = tmp_path / "lr", tmp_path / "hr"
    hr_size = (SIZE[0] * 2, SIZE[1] * 2)
    for number in (1, 2, 3):
        write_bytes(low / SEQ / f"frame_{number:05d}.png", image_bytes(rgb_image(number)))
    for number in (1, 3):
        write_bytes(high / SEQ / f"frame_{number:05d}.png", image_bytes(rgb_image(number, hr_size)))
    hr_archive = pack(high, tmp_path / "hr.tar", "wrapped")

    table, report = scan_frame_tree(low, hr_root=hr_archive, validate="full", workers=2, layout="orcam",
                                    sequence_length=None, progress=False)

    assert table["frame"].tolist() == [1, 3]
    assert table["hr_path"].tolist() == [f"{hr_archive}::images/{SEQ}/frame_0000{n}.png" for n in (1, 3)]
    assert report["skipped_by_reason"]["hr_missing"] == 1
    assert report["hr_frame_size"] == list(hr_size)
    hr = load_frames(table["hr_path"], workers=2)
    assert np.array_equal(hr[1], np.asarray(rgb_image(3, hr_size)))
