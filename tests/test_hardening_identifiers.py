"""Issue 29, item 2: a number in a folder or file name is read from ASCII digits only; a name that
spells it in other digits (Arabic-Indic, full-width, ...) is never merged with an ASCII one into one
person: it is left out and counted, with the reason, in the report."""
from __future__ import annotations

import logging

from .test_hardening_data import png, put, scan, two_people


def test_arabic_indic_digits_are_not_read_as_a_persons_number(tmp_path, caplog):
    two_people(tmp_path)
    for frame in range(3):
        put(tmp_path / f"person_\u0660\u0660\u0660\u0661/video_0001/seq_0001/frame_{frame:05d}.png", png(90 + frame))
    with caplog.at_level(logging.WARNING, "faceless.data.frame_tree"):
        index, report = scan(tmp_path)
    assert sorted(index["person_name"].unique()) == ["person_0001", "person_0002"]
    assert (index["person_name"] == "person_0001").sum() == 3  # nothing of the other folder merged in ...
    assert report["files_seen"] == 6 and report["frames_skipped"] == 0  # ... nor taken for its duplicates
    assert report["non_ascii_numbers"] == {"count": 1, "examples": ["person_\u0660\u0660\u0660\u0661"]}
    warnings = [r.getMessage() for r in caplog.records if r.name == "faceless.data.frame_tree"]
    assert len(warnings) == 1 and "person_\u0660\u0660\u0660\u0661" in warnings[0] and "0-9" in warnings[0]
    assert "\n" not in warnings[0]


def test_fullwidth_digits_in_frame_and_video_names_are_not_read(tmp_path):
    two_people(tmp_path)
    put(tmp_path / "person_0001/video_0001/seq_0001/frame_\uff10\uff10\uff10\uff10\uff11.png", png(7))
    put(tmp_path / "person_0002/video_\uff10\uff10\uff10\uff12/seq_0001/frame_00001.png", png(8))
    index, report = scan(tmp_path)
    assert len(index) == 6 and report["files_seen"] == 6  # the two are not frames 1 / video 2
    assert report["non_ascii_numbers"]["count"] == 2
