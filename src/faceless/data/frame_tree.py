"""Discover, validate and load video frames stored as a folder tree.

Layout (OrCam style)::

    <root>/person_XXXX/video_XXXX/seq_XXXX/frame_NNNNN.{jpg,jpeg,png}

Numbers may have any width, need not start at 0 and need not be dense.
Anything else in the tree is reported and ignored, never fatal.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from faceless.config import ConfigError, choice

PERSON_PATTERN = re.compile(r"person_(\d+)")
VIDEO_PATTERN = re.compile(r"video_(\d+)")
SEQUENCE_PATTERN = re.compile(r"seq_(\d+)")
FRAME_PATTERN = re.compile(r"frame_(\d+)\.(?:jpg|jpeg|png)", re.IGNORECASE)
LAYOUT_HINT = "person_XXXX/video_XXXX/seq_XXXX/frame_NNNNN.jpg"

VALIDATE_MODES = ("full", "header", "none")
ACCEPTED_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"})
SKIP_REASONS = (
    "empty",
    "not_image",
    "truncated",
    "unsupported_mode",
    "wrong_size",
    "duplicate",
    "hr_missing",
    "hr_invalid",
)
EXAMPLES_PER_STRAY_KIND = 20
EXAMPLES_PER_REASON = 5
PATHS_PER_TASK = 256  # big enough to amortise thread hand-off, small enough for a smooth bar

FrameKey = tuple[int, int, int, int]  # (person, video, sequence, frame)
FileCheck = tuple[str | None, tuple[int, int] | None]  # (skip reason or None, (w, h) or None)


class FrameFile(NamedTuple):
    """One file whose name and folders match the layout (not yet validated)."""

    person: int
    video: int
    sequence: int
    frame: int
    relpath: str


class _ExampleCounter:
    """Counts occurrences and keeps the first few examples, for the report."""

    def __init__(self, max_examples: int) -> None:
        self.count = 0
        self.examples: list[str] = []
        self._max_examples = max_examples

    def add(self, example: str) -> None:
        self.count += 1
        if len(self.examples) < self._max_examples:
            self.examples.append(example)

    def as_dict(self) -> dict:
        return {"count": self.count, "examples": list(self.examples)}


class _TreeScan(NamedTuple):
    frames: list[FrameFile]
    duplicates: list[FrameFile]
    stray_files: _ExampleCounter
    nonmatching_dirs: _ExampleCounter


# --------------------------------------------------------------------------- walking


def _sorted_entries(folder: str) -> list[os.DirEntry]:
    # Sorted so that reports and duplicate resolution do not depend on file-system order.
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda entry: entry.name)


def _numbered_subdirs(
    folder: str, folder_rel: str, pattern: re.Pattern, scan: _TreeScan
) -> list[tuple[str, str, int]]:
    """(absolute path, relative path, number) of the sub-folders matching ``pattern``."""
    subdirs = []
    for entry in _sorted_entries(folder):
        relpath = os.path.join(folder_rel, entry.name)
        if not entry.is_dir():
            scan.stray_files.add(relpath)
            continue
        match = pattern.fullmatch(entry.name)
        if match is None:
            scan.nonmatching_dirs.add(relpath)
            continue
        subdirs.append((entry.path, relpath, int(match[1])))
    return subdirs


def _collect_frames(
    seq_dir: str, seq_rel: str, folder_key: tuple[int, int, int], scan: _TreeScan, seen: set
) -> None:
    for entry in _sorted_entries(seq_dir):
        relpath = os.path.join(seq_rel, entry.name)
        if entry.is_dir():
            scan.nonmatching_dirs.add(relpath)
            continue
        match = FRAME_PATTERN.fullmatch(entry.name)
        if match is None:
            scan.stray_files.add(relpath)
            continue
        frame = FrameFile(*folder_key, int(match[1]), relpath)
        key = frame[:4]
        # frame_9.jpg next to frame_00009.png: keep the first by name, skip the rest.
        if key in seen:
            scan.duplicates.append(frame)
        else:
            seen.add(key)
            scan.frames.append(frame)


def _walk_frame_tree(root: str) -> _TreeScan:
    """Find every frame file under ``root``; record but ignore everything else."""
    scan = _TreeScan(
        [], [], _ExampleCounter(EXAMPLES_PER_STRAY_KIND), _ExampleCounter(EXAMPLES_PER_STRAY_KIND)
    )
    seen: set[FrameKey] = set()
    for person_dir, person_rel, person in _numbered_subdirs(root, "", PERSON_PATTERN, scan):
        videos = _numbered_subdirs(person_dir, person_rel, VIDEO_PATTERN, scan)
        for video_dir, video_rel, video in videos:
            sequences = _numbered_subdirs(video_dir, video_rel, SEQUENCE_PATTERN, scan)
            for seq_dir, seq_rel, sequence in sequences:
                _collect_frames(seq_dir, seq_rel, (person, video, sequence), scan, seen)
    return scan


def _frame_root(path: str | os.PathLike, config_name: str) -> str:
    """Absolute path of a frame tree root, or ConfigError if it is not a folder."""
    absolute = os.path.abspath(os.fspath(path))
    if not os.path.exists(absolute):
        raise ConfigError(
            f"{config_name}: folder '{absolute}' does not exist (expected {LAYOUT_HINT})"
        )
    if not os.path.isdir(absolute):
        raise ConfigError(f"{config_name}: '{absolute}' is not a folder (expected {LAYOUT_HINT})")
    return absolute


# --------------------------------------------------------------------------- validation


def _check_file(path: str, validate: str) -> FileCheck:
    """Check one image file; (skip reason or None, (width, height) or None)."""
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return "empty", None
            return _check_image(handle, validate)
    except OSError:
        return "not_image", None  # unreadable file (permissions, vanished)


def _check_image(handle, validate: str) -> FileCheck:
    try:
        image = Image.open(handle)
    except UnidentifiedImageError:
        return "not_image", None
    except Exception:  # corrupt headers raise many types (SyntaxError, struct.error, ...)
        return "not_image", None
    with image:
        if image.mode not in ACCEPTED_MODES:
            return "unsupported_mode", image.size
        if validate == "full":
            try:
                image.load()
            except Exception:  # OSError for truncation, others for corrupt streams
                return "truncated", image.size
        return None, image.size


def _check_chunk(paths: Sequence[str], validate: str) -> list[FileCheck]:
    return [_check_file(path, validate) for path in paths]


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _run_chunked(
    work: Callable[[Sequence], list], items: Sequence, workers: int, desc: str, progress: bool
) -> list:
    """Apply ``work`` to chunks of ``items`` on a thread pool; results in input order."""
    results: list = []
    with (
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
        tqdm(total=len(items), desc=desc, unit="file", disable=not progress) as bar,
    ):
        for chunk_result in pool.map(work, _chunks(items, PATHS_PER_TASK)):
            results.extend(chunk_result)
            bar.update(len(chunk_result))
    return results


def _validate_files(
    paths: Sequence[str], validate: str, workers: int, desc: str, progress: bool
) -> tuple[list[str | None], tuple[int, int] | None]:
    """Skip reason (or None) per path, and the majority size of the files that passed."""
    if validate == "none":
        return [None] * len(paths), None
    checks = _run_chunked(
        lambda chunk: _check_chunk(chunk, validate), paths, workers, desc, progress
    )
    sizes = Counter(size for reason, size in checks if reason is None)
    if not sizes:
        return [reason for reason, _ in checks], None
    # Ties go to the size seen first, which keeps the result deterministic.
    majority = sizes.most_common(1)[0][0]
    reasons = [
        "wrong_size" if reason is None and size != majority else reason for reason, size in checks
    ]
    return reasons, majority


# --------------------------------------------------------------------------- HR pairing


def _hr_reasons(
    frames: list[FrameFile],
    reasons: list[str | None],
    hr_root: str,
    validate: str,
    workers: int,
    progress: bool,
) -> tuple[list[str | None], list[str | None], tuple[int, int] | None, _TreeScan]:
    """Pair LR frames with HR files; updated reasons, HR paths, HR majority size, HR scan."""
    hr_scan = _walk_frame_tree(hr_root)
    hr_by_key = {hr_frame[:4]: hr_frame.relpath for hr_frame in hr_scan.frames}
    hr_paths: list[str | None] = [None] * len(frames)
    to_check: list[int] = []
    reasons = list(reasons)
    for index, frame in enumerate(frames):
        if reasons[index] is not None:
            continue  # a broken LR frame keeps its own reason
        hr_rel = hr_by_key.get(frame[:4])
        if hr_rel is None:
            reasons[index] = "hr_missing"
            continue
        hr_paths[index] = os.path.join(hr_root, hr_rel)
        to_check.append(index)
    hr_check, hr_size = _validate_files(
        [hr_paths[index] for index in to_check], validate, workers, "validating HR frames", progress
    )
    for index, hr_reason in zip(to_check, hr_check):
        if hr_reason is not None:
            reasons[index] = "hr_invalid"
    return reasons, hr_paths, hr_size, hr_scan


# --------------------------------------------------------------------------- results


def _frames_table(
    frames: list[FrameFile], root: str, hr_paths: list[str | None] | None
) -> pd.DataFrame:
    numbers = np.array([frame[:4] for frame in frames], dtype=np.int64).reshape(-1, 4)
    table = pd.DataFrame(numbers, columns=["person", "video", "sequence", "frame"])
    _, labels = np.unique(table["person"].to_numpy(), return_inverse=True)
    table["label"] = labels.astype(np.int64)
    table["path"] = [os.path.join(root, f.relpath) for f in frames]
    if hr_paths is not None:
        table["hr_path"] = hr_paths
    return table.sort_values(["person", "video", "sequence", "frame"]).reset_index(drop=True)


def _skip_summary(
    skipped: list[tuple[FrameFile, str]],
) -> tuple[dict[str, int], dict[str, list[str]]]:
    by_reason = dict.fromkeys(SKIP_REASONS, 0)
    examples: dict[str, list[str]] = {reason: [] for reason in SKIP_REASONS}
    for frame, reason in skipped:
        by_reason[reason] += 1
        if len(examples[reason]) < EXAMPLES_PER_REASON:
            examples[reason].append(frame.relpath)
    return by_reason, examples


def _all_skipped_message(root: str, by_reason: dict[str, int], files_seen: int) -> str:
    counts = ", ".join(f"{reason}: {count}" for reason, count in by_reason.items() if count)
    return f"ingestion.root: all {files_seen} frames under '{root}' were skipped ({counts})"


def _scan_report(
    *,
    root: str,
    hr_root: str | None,
    validate: str,
    scan: _TreeScan,
    hr_scan: _TreeScan | None,
    table: pd.DataFrame,
    skipped: list[tuple[FrameFile, str]],
    frame_size: tuple[int, int] | None,
    hr_frame_size: tuple[int, int] | None,
    started: float,
) -> dict:
    by_reason, examples = _skip_summary(skipped)
    per_person = table["person"].value_counts().sort_index()
    empty_log = _ExampleCounter(0).as_dict()
    return {
        "root": root,
        "hr_root": hr_root,
        "validate": validate,
        "files_seen": len(scan.frames) + len(scan.duplicates),
        "frames_kept": int(len(table)),
        "frames_skipped": len(skipped),
        "skipped_by_reason": by_reason,
        "skipped_examples": examples,
        "stray_files": scan.stray_files.as_dict(),
        "nonmatching_dirs": scan.nonmatching_dirs.as_dict(),
        "hr_stray_files": hr_scan.stray_files.as_dict() if hr_scan else empty_log,
        "hr_nonmatching_dirs": hr_scan.nonmatching_dirs.as_dict() if hr_scan else empty_log,
        "frame_size": list(frame_size) if frame_size else None,
        "hr_frame_size": list(hr_frame_size) if hr_frame_size else None,
        "people": int(table["person"].nunique()),
        "videos": int(len(table.drop_duplicates(["person", "video"]))),
        "sequences": int(len(table.drop_duplicates(["person", "video", "sequence"]))),
        "per_person": {str(int(person)): int(count) for person, count in per_person.items()},
        "seconds": round(time.perf_counter() - started, 3),
    }


def scan_frame_tree(
    root: str | os.PathLike,
    hr_root: str | os.PathLike | None = None,
    validate: str = "full",
    workers: int = 2,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """Find, validate and label every frame under ``root``.

    Args:
        root: top of the ``person_XXXX/video_XXXX/seq_XXXX/frame_NNNNN.jpg`` tree.
        hr_root: optional parallel tree of high-resolution frames, paired by numbers.
        validate: ``"full"`` decodes every image, ``"header"`` reads only its header,
            ``"none"`` trusts the file names (``frame_size`` is then unknown: null).
        workers: threads used for decoding.
        progress: show a tqdm bar while validating.

    Returns:
        The kept frames sorted by (person, video, sequence, frame), columns
        ``person, video, sequence, frame, label, path`` (+ ``hr_path``), and a
        JSON-serialisable report. ``files_seen == frames_kept + frames_skipped``.

    Raises:
        ConfigError: ``root`` (or ``hr_root``) is not a folder, holds no frame,
            or every frame was skipped.
    """
    started = time.perf_counter()
    choice(validate, "ingestion.validate", VALIDATE_MODES)
    if workers < 1:
        raise ConfigError(f"ingestion.workers must be at least 1, got {workers!r}")
    root_abs = _frame_root(root, "ingestion.root")
    hr_abs = _frame_root(hr_root, "ingestion.hr_root") if hr_root is not None else None

    scan = _walk_frame_tree(root_abs)
    if not scan.frames:
        raise ConfigError(
            f"ingestion.root: no frames found under '{root_abs}' (expected {LAYOUT_HINT})"
        )
    paths = [os.path.join(root_abs, frame.relpath) for frame in scan.frames]
    reasons, frame_size = _validate_files(paths, validate, workers, "validating frames", progress)

    hr_scan, hr_paths, hr_frame_size = None, None, None
    if hr_abs is not None:
        reasons, hr_paths, hr_frame_size, hr_scan = _hr_reasons(
            scan.frames, reasons, hr_abs, validate, workers, progress
        )

    kept_indices = [index for index, reason in enumerate(reasons) if reason is None]
    skipped = [(frame, reason) for frame, reason in zip(scan.frames, reasons) if reason is not None]
    skipped += [(frame, "duplicate") for frame in scan.duplicates]
    if not kept_indices:
        by_reason, _ = _skip_summary(skipped)
        raise ConfigError(_all_skipped_message(root_abs, by_reason, len(skipped)))

    kept = [scan.frames[index] for index in kept_indices]
    kept_hr = [hr_paths[index] for index in kept_indices] if hr_paths is not None else None
    table = _frames_table(kept, root_abs, kept_hr)
    report = _scan_report(
        root=root_abs,
        hr_root=hr_abs,
        validate=validate,
        scan=scan,
        hr_scan=hr_scan,
        table=table,
        skipped=skipped,
        frame_size=frame_size,
        hr_frame_size=hr_frame_size,
        started=started,
    )
    return table, report


# --------------------------------------------------------------------------- loading


def _read_rgb(path: str) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except Exception as exc:
        raise OSError(f"cannot load frame '{path}': {exc}") from exc


def load_frames(
    paths: Sequence[str | os.PathLike],
    size: tuple[int, int] | None = None,
    workers: int = 2,
    progress: bool = False,
) -> np.ndarray:
    """Decode frames into one uint8 array (N, H, W, 3), in the order of ``paths``.

    Grey and palette images become 3 channels; alpha is dropped. ``size`` is the
    expected (width, height); without it, the first frame sets the size. Any frame
    of another size raises ValueError.
    """
    paths = [os.fspath(path) for path in paths]
    if not paths:
        width, height = size if size is not None else (0, 0)
        return np.empty((0, height, width, 3), dtype=np.uint8)
    first = _read_rgb(paths[0])
    expected = tuple(size) if size is not None else (first.shape[1], first.shape[0])
    frames = np.empty((len(paths), expected[1], expected[0], 3), dtype=np.uint8)

    def fill(indices: Sequence[int]) -> list[int]:
        for index in indices:
            image = first if index == 0 else _read_rgb(paths[index])
            if image.shape[:2] != (expected[1], expected[0]):
                height, width = image.shape[:2]
                raise ValueError(
                    f"frame '{paths[index]}' is {width}x{height}, "
                    f"expected {expected[0]}x{expected[1]}"
                )
            frames[index] = image
        return list(indices)

    _run_chunked(fill, range(len(paths)), workers, "loading frames", progress)
    return frames
