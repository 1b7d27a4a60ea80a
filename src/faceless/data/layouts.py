"""How a dataset's folders and file names say who, which video, which sequence and which frame.

Layouts (``ingestion.layout``)::

    orcam          person_XXXX/video_XXXX/seq_XXXX/frame_NNNNN.jpg      (numbers: any width, not dense)
    ytf            <Name>/<video>/<video>.<frame>.jpg                   YouTube Faces frame_images_DB
                   <Name>/<video>/aligned_detect_<video>.<frame>.jpg    ... and aligned_images_DB
    class_folders  <class>/<image>                                      one video per class
    sequences      seq_XXXX/frame_NNNNN.jpg                             unlabeled (OrCam's test set)

``ytf`` and ``class_folders`` have no sequence folders: a video's frames, in frame (or natural
file-name) order, are cut into consecutive chunks of ``ingestion.sequence_length``; the last chunk
may be shorter. People are numbers in ``orcam`` and names elsewhere; every layout gives each frame
a ``person_name`` (the person's folder name) and an integer ``person`` (the OrCam number, else the
rank of the name), so reports can speak in names and the classifiers in labels.

The parsers work on a store's listing (relative POSIX paths of files and folders), so a folder and
a tar archive of the same tree parse identically. A single folder wrapping the whole tree
(``images/person_0001/...`` in an archive) is stepped over and reported as ``root_prefix``.
"""
from __future__ import annotations

import gc
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from faceless.utils.errors import ConfigError, choice
from faceless.data.frame_store import ExampleCounter, Listing

IMAGE_SUFFIX = r"\.(?:jpg|jpeg|png)"
#: A number in a name: ASCII digits only (``\\d`` would read Arabic-Indic or full-width digits too,
#: so ``person_\u0660\u0660\u0660\u0661`` would silently be person 1), at most 18 of them, so it fits the
#: index's int64 (a longer one makes the name a stray, listed in the report, instead of an overflow).
NUMBER = r"([0-9]{1,18})"
_ORCAM_LEVELS = (re.compile(r"person_" + NUMBER), re.compile(r"video_" + NUMBER), re.compile(r"seq_" + NUMBER))
_ORCAM_FRAME = re.compile(r"frame_" + NUMBER + IMAGE_SUFFIX, re.IGNORECASE)
_YTF_VIDEO = re.compile(NUMBER)
_YTF_FRAME = re.compile(r"(?:aligned_detect_)?" + NUMBER + r"\." + NUMBER + IMAGE_SUFFIX, re.IGNORECASE)
_ANY_IMAGE = re.compile(r"[^.].*" + IMAGE_SUFFIX, re.IGNORECASE)
_NAME = re.compile(r"[^.].*")  # any folder name that is not hidden
_SEQ = re.compile(r"seq_" + NUMBER)


class FrameFile(NamedTuple):
    """One file whose folders and name match the layout (not yet validated)."""

    person: int
    video: int
    sequence: int
    frame: int
    relpath: str        # as the store names it (open it with the store)
    person_name: str


class ParsedTree(NamedTuple):
    frames: list[FrameFile]
    duplicates: list[FrameFile]
    stray_files: ExampleCounter
    nonmatching_dirs: ExampleCounter
    root_prefix: str
    #: folders and files left out because a number in their name is not in ASCII digits (also counted
    #: as non-matching folders or strays)
    non_ascii_numbers: ExampleCounter | None = None


def has_non_ascii_digit(name: str) -> bool:
    """Whether ``name`` holds a digit other than 0-9 (Arabic-Indic, full-width, superscript ...)."""
    return any(not ch.isascii() and (ch.isdigit() or ch.isnumeric()) for ch in name)


# A file-name parser gets the matched folder values and the file name; it returns the numbers it
# reads (or None when the name does not fit).
FileParser = Callable[[list, str], tuple | None]


@dataclass(frozen=True)
class Layout:
    name: str
    hint: str
    levels: tuple[re.Pattern, ...]
    parse_file: FileParser
    chunked: bool          # sequences are chunks of `sequence_length` rather than folders
    labelled: bool = True

    @property
    def depth(self) -> int:
        return len(self.levels)


def _orcam_file(values: list, name: str) -> tuple | None:
    match = _ORCAM_FRAME.fullmatch(name)
    return (int(match[1]),) if match else None


def _ytf_file(values: list, name: str) -> tuple | None:
    match = _YTF_FRAME.fullmatch(name)
    # The file names repeat their video's number; a file under another video's folder is a stray.
    if match is None or int(match[1]) != int(values[1]):
        return None
    return (int(match[2]),)


def _any_image(values: list, name: str) -> tuple | None:
    return () if _ANY_IMAGE.fullmatch(name) else None


LAYOUTS = {
    "orcam": Layout("orcam", "person_XXXX/video_XXXX/seq_XXXX/frame_NNNNN.jpg", _ORCAM_LEVELS, _orcam_file,
                    chunked=False),
    "ytf": Layout("ytf", "<Name>/<video>/<video>.<frame>.jpg (YouTube Faces)", (_NAME, _YTF_VIDEO), _ytf_file,
                  chunked=True),
    "class_folders": Layout("class_folders", "<class>/<image>.jpg", (_NAME,), _any_image, chunked=True),
    "sequences": Layout("sequences", "seq_XXXX/frame_NNNNN.jpg", (_SEQ,), _orcam_file, chunked=False,
                        labelled=False),
}
LABELLED_LAYOUTS = tuple(name for name, layout in LAYOUTS.items() if layout.labelled)


def get_layout(name: str, config_name: str = "ingestion.layout",
               allowed: tuple[str, ...] = LABELLED_LAYOUTS) -> Layout:
    return LAYOUTS[choice(name, config_name, allowed)]


def _natural_key(name: str) -> list:
    # img2.jpg before img10.jpg
    return [int(part) if part.isascii() and part.isdigit() else part.lower() for part in re.split(r"([0-9]+)", name)]


def _common_prefix(files: list[list[str]], depth: int) -> int:
    """How many wrapping folders hold the whole tree (files deeper than the layout, one top name)."""
    strip = 0
    while True:
        # Files right inside the wrapper (YouTube Faces ships <Name>.labeled_faces.txt beside the
        # people) stay strays; every deeper file must be under one folder, deeper than a frame.
        inner = [parts for parts in files if len(parts) > strip + 1]
        if not inner or len({parts[strip] for parts in inner}) != 1:
            return strip
        deeper = [parts for parts in inner if len(parts) > strip + 2]
        if not deeper or not all(len(parts) > depth + 1 + strip for parts in deeper):
            return strip
        strip += 1


def _match_levels(parts: list[str], layout: Layout) -> tuple[list, int]:
    """Values of the matching leading folders, and the index of the first folder that fails."""
    values = []
    for level, pattern in enumerate(layout.levels[: len(parts)]):
        match = pattern.fullmatch(parts[level])
        if match is None:
            return values, level
        values.append(match[1] if match.groups() else match[0])
    return values, -1


def parse_listing(listing: Listing, layout: Layout, sequence_length: int | None) -> ParsedTree:
    """Frames of ``listing`` under ``layout``; strays and non-matching folders counted, not fatal."""
    # Millions of small acyclic objects (path parts, tuples): the cyclic GC would rescan them again
    # and again for nothing; without it 500k paths parse in 2.1 s instead of 4.9 s.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_listing(listing, layout, sequence_length)
    finally:
        if enabled:
            gc.enable()


def _parse_listing(listing: Listing, layout: Layout, sequence_length: int | None) -> ParsedTree:
    if layout.chunked and (sequence_length is None or int(sequence_length) < 1):
        raise ConfigError(f"ingestion.sequence_length must be at least 1 for layout {layout.name}, "
                          f"got {sequence_length!r}")
    split_files = [relpath.split("/") for relpath in listing.files]  # once: 500k paths are ~200 MB of parts
    strip = _common_prefix(split_files, layout.depth)
    prefix = split_files[0][:strip] if strip else []
    stray, nonmatching, non_ascii = ExampleCounter(), ExampleCounter(), ExampleCounter()
    reported_dirs: set[str] = set()

    def nonmatching_dir(parts: list[str], upto: int) -> None:
        # Only the top-most folder that does not fit is reported, by its name in the store.
        path = "/".join(prefix + parts[: upto + 1])
        if path not in reported_dirs:
            reported_dirs.add(path)
            nonmatching.add(path)
            if has_non_ascii_digit(parts[upto]):
                non_ascii.add(path)

    def stray_file(relpath: str, name: str) -> None:
        stray.add(relpath)
        if has_non_ascii_digit(name):
            non_ascii.add(relpath)

    for relpath in listing.dirs:
        parts = relpath.split("/")[strip:]
        if not parts:
            continue  # a wrapping folder
        _, failed = _match_levels(parts, layout)
        if failed >= 0:
            nonmatching_dir(parts, failed)
        elif len(parts) > layout.depth:  # a folder where frame files belong
            nonmatching_dir(parts, layout.depth)

    raw: list[tuple] = []  # (folder values, numbers from the name, relpath, file name, folders)
    for relpath, all_parts in zip(listing.files, split_files):
        parts = all_parts[strip:]
        folders, name = parts[:-1], parts[-1]
        values, failed = _match_levels(folders, layout)
        if failed >= 0:
            nonmatching_dir(parts, failed)
        elif len(folders) > layout.depth:
            nonmatching_dir(parts, layout.depth)
        elif len(folders) < layout.depth:
            stray_file(relpath, name)
        else:
            numbers = layout.parse_file(values, name)
            if numbers is None:
                stray_file(relpath, name)
            else:
                raw.append((values, numbers, relpath, name, folders))
    frames, duplicates = _assign(raw, layout, sequence_length)
    return ParsedTree(frames, duplicates, stray, nonmatching, "/".join(prefix), non_ascii)


def _assign(raw: list[tuple], layout: Layout, sequence_length: int | None
            ) -> tuple[list[FrameFile], list[FrameFile]]:
    """Numbers for every frame; the second of two files with the same numbers is a duplicate."""
    frames: list[FrameFile] = []
    duplicates: list[FrameFile] = []
    seen: set = set()
    if layout.name == "orcam":
        for values, (frame,), relpath, _, folders in raw:
            item = FrameFile(int(values[0]), int(values[1]), int(values[2]), frame, relpath, folders[0])
            _keep_first(item, item[:4], seen, frames, duplicates)
        # Two spellings of one number (person_7, person_0007) are one person: one name for both.
        names: dict[int, str] = {}
        for item in frames:
            names.setdefault(item.person, item.person_name)
        frames = [item._replace(person_name=names[item.person]) for item in frames]
        return frames, duplicates
    if layout.name == "sequences":
        for values, (frame,), relpath, _, _ in raw:
            item = FrameFile(-1, 0, int(values[0]), frame, relpath, "")
            _keep_first(item, item[:4], seen, frames, duplicates)
        return frames, duplicates

    # ytf and class_folders: people are names, sequences are chunks of a video's ordered frames.
    people = {name: rank for rank, name in enumerate(sorted({values[0] for values, *_ in raw}))}
    by_video: dict[tuple[str, int], list[tuple[int | list, FrameFile]]] = {}
    for values, numbers, relpath, name, _ in raw:
        person = values[0]
        video = int(values[1]) if layout.name == "ytf" else 0
        order = numbers[0] if numbers else _natural_key(name)
        item = FrameFile(people[person], video, 0, numbers[0] if numbers else 0, relpath, person)
        key = (person, video, order if numbers else name)
        if key in seen:
            duplicates.append(item)
            continue
        seen.add(key)
        by_video.setdefault((person, video), []).append((order, item))
    length = int(sequence_length)
    for (_, _), items in sorted(by_video.items()):
        items.sort(key=lambda pair: pair[0])
        for position, (_, item) in enumerate(items):
            frame = item.frame if layout.name == "ytf" else position
            frames.append(item._replace(sequence=position // length, frame=frame))
    return frames, duplicates


def _keep_first(item: FrameFile, key: tuple, seen: set, frames: list, duplicates: list) -> None:
    # frame_9.jpg next to frame_00009.png: keep the first by name, skip the rest.
    if key in seen:
        duplicates.append(item)
    else:
        seen.add(key)
        frames.append(item)
