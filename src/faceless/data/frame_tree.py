"""Discover, validate and load video frames stored as a folder tree or a tar archive.

The OrCam layout (``ingestion.layout: orcam``; others in :mod:`faceless.data.layouts`)::

    <root>/person_XXXX/video_XXXX/seq_XXXX/frame_NNNNN.{jpg,jpeg,png}

Numbers may have any width, need not start at 0 and need not be dense.
Anything else in the tree is reported and ignored, never fatal.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from faceless.utils.errors import ConfigError, choice
from faceless.data.frame_store import FolderStore, TarStore, open_frame, open_store
from faceless.data.layouts import LAYOUTS, ExampleCounter, FrameFile, Layout, ParsedTree, get_layout, parse_listing
from faceless.utils.progress import tqdm

logger = logging.getLogger(__name__)

VALIDATE_MODES = ("full", "header", "none")
ACCEPTED_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"})
SKIP_REASONS = (
    "empty",
    "not_image",
    "truncated",
    "unsupported_mode",
    "wrong_size",
    "too_large",
    "duplicate",
    "hr_missing",
    "hr_invalid",
)
EXAMPLES_PER_REASON = 5
#: Frames larger than this (width x height, read from the header) are refused before decoding: a
#: tiny file can declare 100 megapixels and cost half a gigabyte to decode. 4096 x 4096 is far beyond
#: any face crop this project trains on.
MAX_FRAME_PIXELS = 4096 * 4096
PATHS_PER_TASK = 256  # big enough to amortise thread hand-off, small enough for a smooth bar

FileCheck = tuple[str | None, tuple[int, int] | None]  # (skip reason or None, (w, h) or None)
Store = FolderStore | TarStore


def _parse_store(store: Store, layout: Layout, sequence_length: int | None) -> ParsedTree:
    """Find every frame in ``store``; record but ignore everything else."""
    return parse_listing(store.listing(), layout, sequence_length)


# --------------------------------------------------------------------------- validation


def _check_file(store: Store, relpath: str, validate: str) -> FileCheck:
    """Check one image file; (skip reason or None, (width, height) or None)."""
    try:
        with store.open(relpath) as handle:
            if len(handle.read(1)) == 0:
                return "empty", None
            handle.seek(0)
            return _check_image(handle, validate)
    except OSError:
        return "not_image", None  # unreadable file (permissions, vanished, archive cut short)


def _check_image(handle, validate: str) -> FileCheck:
    try:
        image = Image.open(handle)
    except UnidentifiedImageError:
        return "not_image", None
    except Exception:  # corrupt headers raise many types (SyntaxError, struct.error, ...)
        return "not_image", None
    with image:
        if image.width * image.height > MAX_FRAME_PIXELS:
            return "too_large", image.size
        if image.mode not in ACCEPTED_MODES:
            return "unsupported_mode", image.size
        if validate == "full":
            try:
                image.load()
            except Exception:  # OSError for truncation, others for corrupt streams
                return "truncated", image.size
        return None, image.size


def _check_chunk(store: Store, relpaths: Sequence[str], validate: str) -> list[FileCheck]:
    return [_check_file(store, relpath, validate) for relpath in relpaths]


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
    store: Store, relpaths: Sequence[str], validate: str, workers: int, desc: str, progress: bool
) -> tuple[list[str | None], tuple[int, int] | None]:
    """Skip reason (or None) per file, and the majority size of the files that passed."""
    if validate == "none":
        return [None] * len(relpaths), None
    checks = _run_chunked(
        lambda chunk: _check_chunk(store, chunk, validate), relpaths, workers, desc, progress
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
    hr_store: Store,
    layout: Layout,
    sequence_length: int | None,
    validate: str,
    workers: int,
    progress: bool,
) -> tuple[list[str | None], list[str | None], tuple[int, int] | None, ParsedTree]:
    """Pair LR frames with HR files; updated reasons, HR locators, HR majority size, HR scan."""
    hr_scan = _parse_store(hr_store, layout, sequence_length)
    hr_by_key = {_pair_key(hr_frame, layout): hr_frame.relpath for hr_frame in hr_scan.frames}
    hr_rels: list[str | None] = [None] * len(frames)
    to_check: list[int] = []
    reasons = list(reasons)
    for index, frame in enumerate(frames):
        if reasons[index] is not None:
            continue  # a broken LR frame keeps its own reason
        hr_rel = hr_by_key.get(_pair_key(frame, layout))
        if hr_rel is None:
            reasons[index] = "hr_missing"
            continue
        hr_rels[index] = hr_rel
        to_check.append(index)
    hr_check, hr_size = _validate_files(
        hr_store, [hr_rels[index] for index in to_check], validate, workers, "validating HR frames", progress
    )
    for index, hr_reason in zip(to_check, hr_check):
        if hr_reason is not None:
            reasons[index] = "hr_invalid"
    hr_locators = [hr_store.locator(rel) if rel is not None else None for rel in hr_rels]
    return reasons, hr_locators, hr_size, hr_scan


def _pair_key(frame: FrameFile, layout: Layout) -> tuple:
    """What a frame and its HR partner share. Never a derived number: chunked sequences, ranks
    and class_folders positions shift when the other tree has a frame or person more or less."""
    if layout.name == "ytf":
        return (frame.person_name, frame.video, frame.frame)
    if layout.name == "class_folders":  # the same file name, whatever the image format
        return (frame.person_name, os.path.splitext(frame.relpath.rsplit("/", 1)[-1])[0])
    return frame[:4]


# --------------------------------------------------------------------------- results


FRAME_COLUMNS = ["person", "video", "sequence", "frame", "label", "person_name", "path"]


def _frames_table(
    frames: list[FrameFile], store: Store, hr_paths: list[str | None] | None
) -> pd.DataFrame:
    numbers = np.array([frame[:4] for frame in frames], dtype=np.int64).reshape(-1, 4)
    table = pd.DataFrame(numbers, columns=["person", "video", "sequence", "frame"])
    _, labels = np.unique(table["person"].to_numpy(), return_inverse=True)
    table["label"] = labels.astype(np.int64)
    table["person_name"] = [frame.person_name for frame in frames]
    table["path"] = [store.locator(frame.relpath) for frame in frames]
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


def _all_skipped_message(root: str, by_reason: dict[str, int], files_seen: int, config_name: str) -> str:
    counts = ", ".join(f"{reason}: {count}" for reason, count in by_reason.items() if count)
    return f"{config_name}: all {files_seen} frames under '{root}' were skipped ({counts})"


def _scan_report(
    *,
    store: Store,
    hr_store: Store | None,
    layout: Layout,
    sequence_length: int | None,
    validate: str,
    scan: ParsedTree,
    hr_scan: ParsedTree | None,
    table: pd.DataFrame,
    skipped: list[tuple[FrameFile, str]],
    frame_size: tuple[int, int] | None,
    hr_frame_size: tuple[int, int] | None,
    started: float,
) -> dict:
    by_reason, examples = _skip_summary(skipped)
    empty_log = ExampleCounter(0).as_dict()
    report = {
        "root": store.root,
        "hr_root": hr_store.root if hr_store else None,
        "storage": store.kind,
        "layout": layout.name,
        "sequence_length": int(sequence_length) if layout.chunked else None,
        "root_prefix": scan.root_prefix,
        "validate": validate,
        "files_seen": len(scan.frames) + len(scan.duplicates),
        "frames_kept": int(len(table)),
        "frames_skipped": len(skipped),
        "skipped_by_reason": by_reason,
        "skipped_examples": examples,
        "stray_files": scan.stray_files.as_dict(),
        "nonmatching_dirs": scan.nonmatching_dirs.as_dict(),
        "non_ascii_numbers": (scan.non_ascii_numbers or ExampleCounter(0)).as_dict(),
        "refused_members": store.listing_refused(),
        "hr_stray_files": hr_scan.stray_files.as_dict() if hr_scan else empty_log,
        "hr_nonmatching_dirs": hr_scan.nonmatching_dirs.as_dict() if hr_scan else empty_log,
        "frame_size": list(frame_size) if frame_size else None,
        "hr_frame_size": list(hr_frame_size) if hr_frame_size else None,
        "sequences": int(len(table.drop_duplicates(["person", "video", "sequence"]))),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if layout.labelled:
        per_person = table.groupby(["label", "person_name"]).size()
        report.update(
            people=int(table["person"].nunique()),
            videos=int(len(table.drop_duplicates(["person", "video"]))),
            per_person={str(name): int(count) for (_, name), count in per_person.items()},
        )
    return report


def _warn_non_ascii_numbers(scan: ParsedTree, config_name: str) -> None:
    """One line naming the folders and files left out for a number not in ASCII digits."""
    found = scan.non_ascii_numbers
    if found is not None and found.count:
        logger.warning("%s: %d folders or files spell a number in digits other than 0-9 (e.g. %s): not read, so "
                       "they are never merged with another of the same value; rename them with 0-9",
                       config_name, found.count, ", ".join(repr(e) for e in found.examples))


def scan_frame_tree(
    root: str | os.PathLike,
    hr_root: str | os.PathLike | None = None,
    *,
    validate: str,
    workers: int,
    layout: str,
    sequence_length: int | None,
    progress: bool = True,
    config_name: str = "ingestion.root",
) -> tuple[pd.DataFrame, dict]:
    """Find, validate and label every frame under ``root``.

    Args:
        root: a folder, or an uncompressed ``.tar`` archive, holding the frames in ``layout``.
        hr_root: optional parallel tree (or archive) of high-resolution frames, paired by
            person, video, sequence and frame.
        validate: ``"full"`` decodes every image, ``"header"`` reads only its header,
            ``"none"`` trusts the file names (``frame_size`` is then unknown: null).
        workers: threads used for decoding.
        progress: show a tqdm bar while indexing and validating.
        layout: ``orcam``, ``ytf``, ``class_folders`` (see :mod:`faceless.data.layouts`), or
            ``sequences`` for an unlabeled test set (person -1, label -1, no person name).
        sequence_length: frames per sequence where the layout has no sequence folders.
        config_name: the parameter named by errors about ``root``.

    Returns:
        The kept frames sorted by (person, video, sequence, frame), columns ``person, video,
        sequence, frame, label, person_name, path`` (+ ``hr_path``), and a JSON-serialisable
        report. ``files_seen == frames_kept + frames_skipped``. ``path`` is a locator that
        :func:`load_frames` opens: a file path, or ``<archive>.tar::<member>``.

    Raises:
        ConfigError: ``root`` (or ``hr_root``) is neither a folder nor a tar archive, holds no
            frame, or every frame was skipped.
    """
    started = time.perf_counter()
    choice(validate, "ingestion.validate", VALIDATE_MODES)
    if workers < 1:
        raise ConfigError(f"ingestion.workers must be at least 1, got {workers!r}")
    shape = get_layout(layout, allowed=tuple(LAYOUTS))
    store = open_store(root, config_name, shape.hint, progress)
    hr_store = open_store(hr_root, "ingestion.hr_root", shape.hint, progress) if hr_root is not None else None

    scan = _parse_store(store, shape, sequence_length)
    _warn_non_ascii_numbers(scan, config_name)
    if not scan.frames:
        raise ConfigError(
            f"{config_name}: no frames found in '{store.root}' (layout {shape.name}: expected {shape.hint})"
        )
    relpaths = [frame.relpath for frame in scan.frames]
    reasons, frame_size = _validate_files(store, relpaths, validate, workers, "validating frames", progress)

    hr_scan, hr_paths, hr_frame_size = None, None, None
    if hr_store is not None:
        reasons, hr_paths, hr_frame_size, hr_scan = _hr_reasons(
            scan.frames, reasons, hr_store, shape, sequence_length, validate, workers, progress
        )

    kept_indices = [index for index, reason in enumerate(reasons) if reason is None]
    skipped = [(frame, reason) for frame, reason in zip(scan.frames, reasons) if reason is not None]
    skipped += [(frame, "duplicate") for frame in scan.duplicates]
    if not kept_indices:
        by_reason, _ = _skip_summary(skipped)
        raise ConfigError(_all_skipped_message(store.root, by_reason, len(skipped), config_name))

    kept = [scan.frames[index] for index in kept_indices]
    kept_hr = [hr_paths[index] for index in kept_indices] if hr_paths is not None else None
    table = _frames_table(kept, store, kept_hr)
    if not shape.labelled:
        table["label"] = -1
    report = _scan_report(
        store=store,
        hr_store=hr_store,
        layout=shape,
        sequence_length=sequence_length,
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
        with open_frame(path) as handle, Image.open(handle) as image:
            if image.width * image.height > MAX_FRAME_PIXELS:
                raise ValueError(f"{image.width}x{image.height} is over {MAX_FRAME_PIXELS} pixels")
            return np.asarray(image.convert("RGB"))
    except Exception as exc:
        raise OSError(f"cannot load frame '{path}': {exc}") from exc


def load_frames(
    paths: Sequence[str | os.PathLike],
    size: tuple[int, int] | None = None,
    *,
    workers: int,
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
