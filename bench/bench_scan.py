"""Benchmark scan_frame_tree and load_frames on a generated OrCam-layout tree.

    python bench/bench_scan.py --frames 50000 [--tmp DIR]

The tree (100 people x 5 videos x 10 sequences x N frames of one tiny 64x64 JPEG)
is written to a temporary folder and removed afterwards; nothing goes into the repo.
Timings are with a warm page cache (the tree was just written).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from faceless.data.frame_tree import load_frames, scan_frame_tree  # noqa: E402

PEOPLE, VIDEOS, SEQUENCES = 100, 5, 10
FIRST_FRAME = 9  # real data starts at frame_00009
FRAME_SIDE = 64
LOAD_COUNT = 5000
SLOW_SECONDS = 20.0  # a case slower than this is timed once instead of three times


def tiny_jpeg() -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (FRAME_SIDE, FRAME_SIDE, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_tree(root: Path, total_frames: int) -> int:
    """Write the same JPEG bytes under every frame path; returns the number of files."""
    folders = PEOPLE * VIDEOS * SEQUENCES
    per_sequence = max(1, -(-total_frames // folders))  # ceil
    data = tiny_jpeg()
    written = 0
    for person in range(PEOPLE):
        for video in range(VIDEOS):
            for sequence in range(SEQUENCES):
                folder = root / f"person_{person:04d}/video_{video:04d}/seq_{sequence:04d}"
                os.makedirs(folder)
                for frame in range(FIRST_FRAME, FIRST_FRAME + per_sequence):
                    with open(os.path.join(folder, f"frame_{frame:05d}.jpg"), "wb") as handle:
                        handle.write(data)
                written += per_sequence
    return written


def time_runs(work: Callable[[], object], repeats: int = 3) -> float:
    """Median seconds over ``repeats`` runs; one run only if the first is slow."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
        if seconds[0] > SLOW_SECONDS:
            break
    return statistics.median(seconds)


def print_table(rows: list[tuple[str, int, float]]) -> None:
    print(f"{'mode':<24}{'files':>10}{'seconds':>10}{'files/s':>12}")
    for mode, files, seconds in rows:
        print(f"{mode:<24}{files:>10}{seconds:>10.2f}{files / seconds:>12,.0f}")


def run(frames: int, tmp: str | None) -> None:
    print(f"machine: {platform.processor() or platform.machine()}, cpu_count={os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="bench_scan_", dir=tmp) as folder:
        root = Path(folder) / "frames"
        started = time.perf_counter()
        files = write_tree(root, frames)
        print(f"generated {files} files in {time.perf_counter() - started:.1f}s under {root}")

        rows = []
        cases = [("none", 1), ("header", 1), ("header", 2), ("full", 1), ("full", 2)]
        for validate, workers in cases:
            seconds = time_runs(
                lambda: scan_frame_tree(root, validate=validate, workers=workers, layout="orcam", sequence_length=None,
                                        progress=False)
            )
            rows.append((f"scan {validate} w{workers}", files, seconds))

        table, _ = scan_frame_tree(root, validate="none", workers=2, layout="orcam", sequence_length=None,
                                   progress=False)
        paths = table["path"].tolist()[:LOAD_COUNT]
        for workers in (1, 2):
            seconds = time_runs(
                lambda: load_frames(paths, size=(FRAME_SIDE, FRAME_SIDE), workers=workers)
            )
            rows.append((f"load_frames w{workers}", len(paths), seconds))
        print_table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50_000, help="approximate number of frames")
    parser.add_argument("--tmp", default=None, help="folder for the temporary tree")
    arguments = parser.parse_args()
    run(arguments.frames, arguments.tmp)


if __name__ == "__main__":
    main()
