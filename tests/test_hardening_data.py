"""Hostile input to folder and tar ingestion: each case is a counted skip or refusal, never a crash,
a hang, an overflow or a memory blow-up (issue 14, items 3 and 5)."""
from __future__ import annotations

import errno
import io
import json
import os
import struct
import tarfile
import threading
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from faceless.data import frame_store
from faceless.data.frame_store import open_frame
from faceless.data.frame_tree import MAX_FRAME_PIXELS, load_frames, scan_frame_tree

SIZE = (16, 12)


@pytest.fixture(autouse=True)
def fresh_archive_cache(monkeypatch):
    monkeypatch.setattr(frame_store, "_OPEN_ARCHIVES", {})


def png(seed: int, size: tuple[int, int] = SIZE) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def put(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def two_people(root: Path) -> None:
    for person in (1, 2):
        for frame in range(3):
            put(root / f"person_000{person}/video_0001/seq_0001/frame_{frame:05d}.png", png(person * 10 + frame))


def scan(root: Path, layout: str = "orcam", **kwargs) -> tuple[pd.DataFrame, dict]:
    return scan_frame_tree(root, validate="full", workers=1, layout=layout, sequence_length=4, progress=False,
                           **kwargs)


def scan_within(root: Path, seconds: float = 30) -> tuple[pd.DataFrame, dict]:
    """scan() that fails the test instead of hanging it (a FIFO opened for reading waits forever)."""
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(out=scan(root)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the scan hangs"
    return result["out"]


def refused_text(report: dict) -> str:
    return json.dumps(report["refused_members"])


# --------------------------------------------------------------------------- folders


def test_a_fifo_named_like_a_frame_is_refused_not_opened(tmp_path):
    two_people(tmp_path)
    os.mkfifo(tmp_path / "person_0001/video_0001/seq_0001/frame_00099.jpg")
    table, report = scan_within(tmp_path)
    assert len(table) == 6
    assert report["refused_members"]["count"] == 1
    assert "frame_00099.jpg" in refused_text(report) and "not a regular file" in refused_text(report)


def test_folder_symlinks_are_never_followed_loops_and_proc_included(tmp_path):
    two_people(tmp_path)
    os.symlink(".", tmp_path / "person_0999")                      # a loop
    os.symlink("/proc", tmp_path / "person_0998")                  # a huge, odd tree
    outside = tmp_path.parent / f"{tmp_path.name}_outside"
    two_people(outside)
    os.symlink(outside / "person_0001", tmp_path / "person_0003")  # a person from outside the root
    table, report = scan_within(tmp_path)
    assert sorted(table["person"].unique()) == [1, 2] and len(table) == 6
    assert report["refused_members"]["count"] == 3
    assert refused_text(report).count("folder symlink") == 3


def test_file_symlinks_are_followed_only_inside_the_root(tmp_path):
    two_people(tmp_path)
    seq = tmp_path / "person_0001/video_0001/seq_0001"
    os.symlink(seq / "frame_00000.png", seq / "frame_00010.png")   # inside: kept
    outside = put(tmp_path.parent / f"{tmp_path.name}_x" / "f.png", png(7))
    os.symlink(outside, seq / "frame_00011.png")                    # outside: refused
    os.symlink(seq / "missing.png", seq / "frame_00012.png")        # dangling: refused
    table, report = scan_within(tmp_path)
    assert sorted(table.loc[table["person"] == 1, "frame"]) == [0, 1, 2, 10]
    assert report["refused_members"]["count"] == 2
    assert "symlink out of the root" in refused_text(report)


@pytest.mark.parametrize("error", [PermissionError(errno.EACCES, "Permission denied"),
                                   OSError(errno.ENAMETOOLONG, "File name too long"),
                                   OSError(errno.ELOOP, "Too many levels of symbolic links")])
def test_an_unreadable_folder_is_a_counted_refusal(tmp_path, monkeypatch, error):
    # Simulated: the tests may run as root, for whom permissions do not apply.
    two_people(tmp_path)
    bad = str(tmp_path / "person_0002")
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == bad:
            raise error
        return real(path)

    monkeypatch.setattr(frame_store.os, "scandir", scandir)
    table, report = scan(tmp_path)
    assert table["person"].unique().tolist() == [1]
    assert report["refused_members"]["count"] == 1 and "unreadable folder" in refused_text(report)


def test_an_unreadable_root_is_one_line_naming_the_parameter(tmp_path, monkeypatch):
    two_people(tmp_path)
    real = os.scandir
    monkeypatch.setattr(frame_store.os, "scandir", lambda path=".": (_ for _ in ()).throw(
        PermissionError(errno.EACCES, "Permission denied")) if os.fspath(path) == str(tmp_path) else real(path))
    with pytest.raises(frame_store.ConfigError, match=r"^ingestion\.root: .* cannot be read: Permission denied$"):
        scan(tmp_path)


def test_huge_numbers_in_names_are_strays_not_overflows(tmp_path):
    two_people(tmp_path)
    put(tmp_path / "person_0001/video_0001/seq_0001" / f"frame_{'9' * 30}.png", png(1))
    put(tmp_path / f"person_{'1' * 30}/video_0001/seq_0001/frame_00001.png", png(2))
    table, report = scan(tmp_path)
    assert len(table) == 6 and table["frame"].dtype == np.int64
    assert report["stray_files"]["count"] == 1 and report["nonmatching_dirs"]["count"] == 1


def test_a_name_that_is_not_utf8_is_refused_and_the_rest_is_kept(tmp_path):
    for name in ("Ann_Lee", "Bob_Roe"):
        for frame in range(2):
            put(tmp_path / name / "1" / f"1.{frame}.jpg", png(frame + len(name)))
    bad = os.fsencode(tmp_path) + b"/Jos\xe9_Luis"  # Latin-1, as YouTube Faces has it
    os.makedirs(bad + b"/1")
    Path(os.fsdecode(bad + b"/1/1.0.jpg")).write_bytes(png(3))
    table, report = scan(tmp_path, layout="ytf")
    assert sorted(table["person_name"].unique()) == ["Ann_Lee", "Bob_Roe"]
    assert report["refused_members"]["count"] == 1 and "not UTF-8" in refused_text(report)
    json.dumps(report)                                          # the report is writable ...
    table.to_parquet(tmp_path.parent / f"{tmp_path.name}.parquet")  # ... and so is the index


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` (its data would not fill it)."""
    data = bytearray(png(1, (1, 1)))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr:ihdr + 17])))
    return bytes(data)


def test_an_image_is_refused_by_its_header_size_before_decoding(tmp_path, monkeypatch):
    two_people(tmp_path)
    side = int(MAX_FRAME_PIXELS ** 0.5) + 1
    big = put(tmp_path / "person_0001/video_0001/seq_0001/frame_00050.png", png_declaring(side, side))
    assert big.stat().st_size < 1000
    decoded: list = []
    real_load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self.size) or real_load(self))
    table, report = scan(tmp_path)
    assert report["skipped_by_reason"]["too_large"] == 1 and len(table) == 6
    assert (side, side) not in decoded
    with pytest.raises(OSError, match="over .* pixels"):
        load_frames([str(big)], workers=1)
    assert (side, side) not in decoded


# --------------------------------------------------------------------------- tars


def member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def tar_of_two_people(archive: Path, **open_kwargs) -> Path:
    with tarfile.open(archive, "w", format=tarfile.GNU_FORMAT, **open_kwargs) as tar:
        for person in (1, 2):
            for frame in range(3):
                member(tar, f"person_000{person}/video_0001/seq_0001/frame_{frame:05d}.png", png(person * 10 + frame))
    return archive


def test_a_member_declaring_a_terabyte_is_skipped_without_allocating_it(tmp_path):
    archive = tar_of_two_people(tmp_path / "a.tar")
    data = archive.read_bytes().rstrip(b"\0")
    data += b"\0" * (-len(data) % 512)
    info = tarfile.TarInfo("person_0002/video_0001/seq_0001/frame_00077.png")
    info.size = 10 ** 12
    archive.write_bytes(data + info.tobuf(format=tarfile.GNU_FORMAT) + png(5))
    for _ in range(2):  # the second time from the cached index: still a skip, not a MemoryError
        frame_store._OPEN_ARCHIVES.clear()
        table, report = scan(archive)
        assert len(table) == 6 and report["frames_skipped"] == 1
    with pytest.raises(OSError, match="declares"):
        open_frame(f"{archive}::person_0002/video_0001/seq_0001/frame_00077.png")


def test_a_member_name_that_is_not_utf8_is_refused_and_the_index_is_written(tmp_path):
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w", format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape") as tar:
        for person in (1, 2):
            for frame in range(2):
                member(tar, f"person_000{person}/video_0001/seq_0001/frame_{frame:05d}.png", png(frame + person))
        member(tar, "person_0003/video_0001/seq_0001/fr\udce9me_00001.png", png(9))
    table, report = scan(archive)
    assert len(table) == 4
    assert report["refused_members"]["count"] == 1 and "not UTF-8" in refused_text(report)
    assert Path(f"{archive}.index.parquet").is_file()


def test_a_tar_cut_inside_a_member_header_reports_what_was_lost(tmp_path, caplog):
    archive = tar_of_two_people(tmp_path / "a.tar")
    with tarfile.open(archive) as tar:
        person_two = next(m for m in tar.getmembers() if m.name.startswith("person_0002"))
    whole = archive.read_bytes()
    archive.write_bytes(whole[:person_two.offset + 100])  # cut inside person 2's first header
    table, report = scan(archive)
    assert table["person"].unique().tolist() == [1]
    lost = [example for example in report["refused_members"]["examples"] if "(end of archive)" in example]
    assert len(lost) == 1 and f"at byte {person_two.offset}" in lost[0] and "100 bytes" in lost[0]
    assert any("cut-short header" in record.getMessage() for record in caplog.records)

    # A header that is garbage rather than cut: the same report.
    frame_store._OPEN_ARCHIVES.clear()
    garbage = whole[:person_two.offset] + b"\x07" * 512 + whole[person_two.offset + 512:]
    archive.write_bytes(garbage)
    table, report = scan(archive)
    assert table["person"].unique().tolist() == [1]
    assert "(end of archive)" in refused_text(report)


def test_a_whole_tar_reports_nothing_lost(tmp_path):
    table, report = scan(tar_of_two_people(tmp_path / "a.tar"))
    assert len(table) == 6 and report["refused_members"]["count"] == 0


def test_a_root_with_a_nul_character_is_one_line(tmp_path):
    with pytest.raises(frame_store.ConfigError, match=r"^ingestion\.root: .* contains a NUL character"):
        scan(Path(f"{tmp_path}/a\x00b"))
