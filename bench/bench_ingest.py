"""Benchmark ingestion of a large OrCam-layout tree: folder vs uncompressed ``.tar``.

    python bench/bench_ingest.py [--frames 500000] [--full-subset 50000] [--load-count 10000]
                                 [--workers 2] [--repeat 1] [--cases NAME,...] [--no-cold-tar]
                                 [--workdir DIR] [--keep] [--tmp DIR]

A tree ``person_XXXX/video_XXXX/seq_XXXX/frame_NNNNN.jpg`` of ``--frames`` files (about
100 people x 25 videos x 4 sequences x 50 frames at 500k; every dimension scales with the 4th
root of the total) is written from the bytes of 8 small 64x64 JPEGs encoded once, and the same
tree is packed into an uncompressed ``frames.tar`` (with its folder entries, as ``tar -cf``
would) straight from those bytes, in the same pass. The first ``--full-subset`` frames are also
written as a smaller tree (hard links) and tar, for the full-decode cases.

Every case runs in a FRESH child process (``--child``), so its peak RSS (``ru_maxrss``) is its
own, and the in-process archive cache (``_OPEN_ARCHIVES``) starts empty; imports are done before
the clock starts and their RSS is shown separately ("after imports"). ``progress=False`` in the
timed region. Cases:

    folder none / folder header      scan_frame_tree(folder, validate=...)
    tar index + none                 no cached index: open_archive indexes the tar with tarfile
                                     and writes ``frames.tar.index.parquet``; then the scan
    tar cached + none / header       the cached index is read; then the scan
    tar index + none, cold           as "tar index" after fsync + posix_fadvise(DONTNEED) of the
                                     tar (evicted from this VM's page cache; the host may still
                                     cache it); residency is checked with mincore
    full subset folder / tar         scan_frame_tree(validate="full") of the --full-subset tree
    load_frames folder / tar         load_frames of --load-count random locators (w = --workers)

"open s" is the time of open_store (folder: nothing; tar: index read or built) inside "wall s".
Page cache: every file was just written, so all cases except the cold one read from a warm
page cache; the residency just before each case (mincore of the tar, or of 1000 sampled files
of a folder) is printed, since a VM may reclaim page cache on its own. Nothing is written into the
repository: a temporary folder is used and removed at the end unless ``--keep``;
``--workdir DIR`` uses (and keeps) DIR and reuses a tree of the same size already there.
"""

from __future__ import annotations

import argparse
import ctypes
import io
import json
import mmap
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))
from machine import cpu_model, usable_cores  # noqa: E402  (bench/ is on sys.path when run as a script)

FRAME_SIDE = 64
VARIANTS = 8
FIRST_FRAME = 9  # real data starts at frame_00009
SHAPE_AT_500K = (100, 25, 4)  # people, videos per person, sequences per video
INDEX_SUFFIX = ".index.parquet"
MANIFEST = "manifest.json"
MIB = 1024 * 1024

CASES = {
    # name: (description, store, validate)
    "folder_none": ("folder scan, validate none", "frames", "none"),
    "folder_header": ("folder scan, validate header", "frames", "header"),
    "tar_index_none": ("tar first open (index) + scan none", "frames.tar", "none"),
    "tar_cached_none": ("tar cached index + scan none", "frames.tar", "none"),
    "tar_cached_header": ("tar cached index + scan header", "frames.tar", "header"),
    "tar_index_cold": ("tar first open (index) + none, COLD tar", "frames.tar", "none"),
    "full_folder": ("full-decode scan, folder subset", "subset", "full"),
    "full_tar": ("full-decode scan, tar subset (cached)", "subset.tar", "full"),
    "load_folder": ("load_frames random, folder", "frames", None),
    "load_tar": ("load_frames random, tar", "frames.tar", None),
}


# machine ---------------------------------------------------------------------------------------


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def filesystem_of(path: Path) -> str:
    """Type and device of the mount holding ``path`` (from /proc/mounts)."""
    best, found = "", "?"
    target = os.path.realpath(path)
    try:
        with open("/proc/mounts", encoding="utf-8") as handle:
            for line in handle:
                device, mount, kind = line.split()[:3]
                if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
                    best, found = mount, f"{kind} on {device} (mounted at {mount})"
    except OSError:
        pass
    return found


def memory_total_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


# page cache ------------------------------------------------------------------------------------
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.mmap.restype = ctypes.c_void_p
_LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_LIBC.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_LIBC.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
_MAP_FAILED = ctypes.c_void_p(-1).value


def resident_pages(path: str | Path) -> tuple[int, int]:
    """(pages in the page cache, pages) of a file, by mincore; (0, 0) for an empty file."""
    size = os.path.getsize(path)
    if size == 0:
        return 0, 0
    pages = -(-size // mmap.PAGESIZE)
    fd = os.open(path, os.O_RDONLY)
    try:
        address = _LIBC.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if address in (None, _MAP_FAILED):
            raise OSError(ctypes.get_errno(), "mmap failed")
        try:
            vector = (ctypes.c_ubyte * pages)()
            if _LIBC.mincore(address, size, vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
            return sum(byte & 1 for byte in bytes(vector)), pages
        finally:
            _LIBC.munmap(address, size)
    finally:
        os.close(fd)


def residency(paths: list[Path]) -> str:
    resident = total = 0
    for path in paths:
        have, pages = resident_pages(path)
        resident += have
        total += pages
    return f"{100 * resident / max(1, total):.1f}% of {total} pages"


def evict(path: Path) -> None:
    """Write back and drop ``path``'s pages from this machine's page cache (best effort)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


# generation ------------------------------------------------------------------------------------
def encoded_jpegs(count: int = VARIANTS) -> list[bytes]:
    """A few 64x64 face-sized JPEGs (smooth gradients plus noise), encoded once."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:FRAME_SIDE, 0:FRAME_SIDE].astype(np.float32)
    blobs = []
    for index in range(count):
        base = np.stack([xs * (1 + index % 3), ys * (2 - index % 2), (xs + ys) / 2], axis=-1) * 2
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", quality=90)
        blobs.append(buffer.getvalue())
    return blobs


def tree_shape(total: int) -> tuple[int, int, int]:
    """People, videos per person, sequences per video: 100 x 25 x 4 at 500k, scaled by total^(1/4)."""
    scale = (total / 500_000) ** 0.25
    return tuple(max(1, round(value * scale)) for value in SHAPE_AT_500K)  # type: ignore[return-value]


def _dir_info(name: str, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = mtime
    return info


def generate(workdir: Path, total: int, subset: int) -> dict:
    """Write the tree, its tar, the subset tree and its tar in one pass; returns the manifest."""
    people, videos, sequences = tree_shape(total)
    folders = people * videos * sequences
    base, extra = divmod(total, folders)
    blobs = encoded_jpegs()
    root, subset_root = workdir / "frames", workdir / "subset"
    mtime = int(time.time())
    relpaths: list[str] = []
    started = time.perf_counter()
    subset_done = subset <= 0
    with (
        tarfile.open(workdir / "frames.tar", "w", format=tarfile.USTAR_FORMAT) as tar,
        tarfile.open(workdir / "subset.tar", "w", format=tarfile.USTAR_FORMAT) as subset_tar,
        tqdm(total=total, desc="writing tree + tar", unit="file", unit_scale=True, mininterval=1.0) as bar,
    ):
        info = tarfile.TarInfo()
        info.mode, info.mtime = 0o644, mtime
        folder_index = 0
        for person in range(1, people + 1):
            for video in range(1, videos + 1):
                for sequence in range(1, sequences + 1):
                    count = base + (1 if folder_index < extra else 0)
                    folder_index += 1
                    if count == 0:
                        continue
                    parts = (f"person_{person:04d}", f"video_{video:04d}", f"seq_{sequence:04d}")
                    rel_dir = "/".join(parts)
                    in_subset = not subset_done
                    targets = [(root, tar)] + ([(subset_root, subset_tar)] if in_subset else [])
                    for _, archive in targets:
                        for depth in range(1, 4):
                            name = "/".join(parts[:depth])
                            if depth == 3 or (depth == 2 and sequence == 1) or (video == 1 and sequence == 1):
                                archive.addfile(_dir_info(name, mtime))
                    os.makedirs(root / rel_dir)
                    if in_subset:
                        os.makedirs(subset_root / rel_dir)
                    for frame in range(FIRST_FRAME, FIRST_FRAME + count):
                        relpath = f"{rel_dir}/frame_{frame:05d}.jpg"
                        data = blobs[len(relpaths) % VARIANTS]
                        path = root / relpath
                        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                        os.write(fd, data)
                        os.close(fd)
                        info.name, info.size = relpath, len(data)
                        tar.addfile(info, io.BytesIO(data))
                        if in_subset and len(relpaths) < subset:
                            os.link(path, subset_root / relpath)
                            subset_tar.addfile(info, io.BytesIO(data))
                        relpaths.append(relpath)
                    if len(relpaths) >= subset:
                        subset_done = True
                    tar.members.clear()  # tarfile keeps a TarInfo per member written
                    subset_tar.members.clear()
                    bar.update(count)
    seconds = time.perf_counter() - started
    manifest = {
        "frames": total, "subset": min(subset, total), "shape": [people, videos, sequences],
        "frames_per_sequence": [base, base + (1 if extra else 0)], "jpeg_bytes": [len(blob) for blob in blobs],
        "data_bytes": sum(len(blobs[index % VARIANTS]) for index in range(total)),
        "tar_bytes": os.path.getsize(workdir / "frames.tar"), "generate_s": seconds,
    }
    (workdir / "relpaths.txt").write_text("\n".join(relpaths) + "\n")
    (workdir / MANIFEST).write_text(json.dumps(manifest))
    return manifest


# child: one case in a fresh process ------------------------------------------------------------
def child(case: str, workdir: Path, workers: int, load_count: int) -> dict:
    from faceless.data.frame_store import open_store
    from faceless.data.frame_tree import load_frames, scan_frame_tree

    _, store_name, validate = CASES[case]
    root = str(workdir / store_name)
    result: dict = {"case": case}
    if validate is None:  # load_frames: locators of random frames, chosen and built untimed
        relpaths = (workdir / "relpaths.txt").read_text().split()
        sample = random.Random(0).sample(relpaths, min(load_count, len(relpaths)))
        del relpaths
        store = open_store(root, "bench", "frames", progress=False)
        locators = [store.locator(relpath) for relpath in sample]
        result["after_imports_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        frames = load_frames(locators, size=(FRAME_SIDE, FRAME_SIDE), workers=workers)
        result["wall_s"] = time.perf_counter() - started
        result["open_s"] = None
        result["files"] = int(frames.shape[0])
    else:
        result["after_imports_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        # open_store first, to time it on its own; scan_frame_tree's own open_store then finds the
        # archive in the in-process cache (a folder store costs nothing to open).
        open_store(root, "ingestion.root", "frames", progress=False)
        opened = time.perf_counter()
        table, report = scan_frame_tree(root, validate=validate, workers=workers, layout="orcam", sequence_length=None,
                                        progress=False)
        result["wall_s"] = time.perf_counter() - started
        result["open_s"] = opened - started
        result["files"] = report["files_seen"]
        result["kept"] = report["frames_kept"]
        result["frame_size"] = report["frame_size"]
        del table
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    index = Path(root + INDEX_SUFFIX)
    result["index_mib"] = index.stat().st_size / MIB if store_name.endswith(".tar") and index.exists() else None
    return result


def run_child(case: str, workdir: Path, workers: int, load_count: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", case, "--workdir", str(workdir),
               "--workers", str(workers), "--load-count", str(load_count)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"case {case} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    return result


# parent ----------------------------------------------------------------------------------------
def prepare_case(case: str, workdir: Path) -> str:
    """Set the stage a case needs; returns a note for the table."""
    tar = workdir / "frames.tar"
    index = Path(str(tar) + INDEX_SUFFIX)
    if case in ("tar_index_none", "tar_index_cold"):
        index.unlink(missing_ok=True)
    if case == "tar_index_cold":
        evict(tar)
        return "tar evicted (fsync + fadvise DONTNEED)"
    if case in ("tar_cached_none", "tar_cached_header", "load_tar") and not index.exists():
        run_child("tar_index_none", workdir, 1, 0)  # build the cached index first (untimed)
    if case == "full_tar" and not Path(str(workdir / "subset.tar") + INDEX_SUFFIX).exists():
        from_subset = workdir / "subset.tar"
        script = ("import sys; sys.path.insert(0, sys.argv[2]); from faceless.data.frame_store import open_archive; "
                  "open_archive(sys.argv[1], progress=False)")
        subprocess.run([sys.executable, "-c", script, str(from_subset), str(SRC)], check=True)
    return ""


def print_table(rows: list[dict], repeat: int) -> None:
    header = ("| case | files | in page cache | open s | wall s | files/s | RSS after imports MiB | peak RSS MiB "
              "| index MiB | note |")
    print(header)
    print("|" + "|".join("---" if i in (1, 10) else "---:" for i in range(1, header.count("|"))) + "|")
    for row in rows:
        open_s = f"{row['open_s']:.2f}" if row.get("open_s") is not None else "-"
        index = f"{row['index_mib']:.1f}" if row.get("index_mib") is not None else "-"
        wall = f"{row['wall_s']:.2f}"
        if repeat > 1:
            wall += f" (min {row['wall_min']:.2f}, max {row['wall_max']:.2f})"
        print(f"| {CASES[row['case']][0]} | {row['files']:,} | {row['cached']} | {open_s} | {wall} | {row['files'] / row['wall_s']:,.0f} "
              f"| {row['after_imports_mib']:.0f} | {row['peak_rss_mib']:.0f} | {index} | {row.get('note', '')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500_000, help="frames in the tree (quick check: 20000)")
    parser.add_argument("--full-subset", type=int, default=50_000, help="frames of the full-decode cases (0: skip)")
    parser.add_argument("--load-count", type=int, default=10_000, help="random locators for load_frames")
    parser.add_argument("--workers", type=int, default=2, help="scan/load threads (scan_frame_tree's default: 2)")
    parser.add_argument("--repeat", type=int, default=1, help="fresh children per case; the median is shown")
    parser.add_argument("--cases", default=None, help=f"comma-separated subset of: {','.join(CASES)}")
    parser.add_argument("--no-cold-tar", action="store_true", help="leave out the cold-cache tar index case")
    parser.add_argument("--workdir", default=None, help="use (and keep) this folder; reuse a tree of the same size")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--tmp", default=None, help="parent of the temporary folder (default: $TMPDIR or /tmp)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(child(args.child, Path(args.workdir), args.workers, args.load_count)))
        return

    cases = args.cases.split(",") if args.cases else [case for case in CASES if case != "tar_index_cold"
                                                        or not args.no_cold_tar]
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    if args.full_subset <= 0:
        cases = [case for case in cases if not case.startswith("full_")]
    if args.load_count <= 0:
        cases = [case for case in cases if not case.startswith("load_")]

    began = time.perf_counter()
    keep = args.keep or args.workdir is not None
    if args.workdir:
        workdir = Path(args.workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="bench_ingest_", dir=args.tmp))
    print(f"machine: {cpu_model()}, {usable_cores()} usable cores of {os.cpu_count()}, "
          f"{memory_total_gib():.0f} GiB RAM, {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}")
    print(f"workdir: {workdir} ({filesystem_of(workdir)}); load average at start: {load_average()}")
    try:
        manifest_path = workdir / MANIFEST
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
        if manifest and manifest["frames"] == args.frames and manifest["subset"] == min(args.full_subset, args.frames):
            print(f"reusing the tree in {workdir}")
        else:
            if any(workdir.iterdir()):
                raise SystemExit(f"{workdir} is not empty and holds no tree of {args.frames} frames")
            manifest = generate(workdir, args.frames, args.full_subset)
        people, videos, sequences = manifest["shape"]
        print(f"tree: {manifest['frames']:,} frames = {people} people x {videos} videos x {sequences} seqs x "
              f"{'/'.join(map(str, sorted(set(manifest['frames_per_sequence']))))} frames; JPEGs of "
              f"{min(manifest['jpeg_bytes'])}-{max(manifest['jpeg_bytes'])} B, {manifest['data_bytes'] / MIB:.0f} MiB "
              f"of frame data; frames.tar {manifest['tar_bytes'] / MIB:.0f} MiB; tree + tar + subset written in "
              f"{manifest['generate_s']:.1f} s")
        relpaths = (workdir / "relpaths.txt").read_text().split()
        picks = random.Random(1)
        samples = {  # files whose page-cache residency stands for a folder's (mincore of each)
            "frames": [workdir / "frames" / rel for rel in picks.sample(relpaths, min(1000, len(relpaths)))],
            "subset": [workdir / "subset" / rel for rel in picks.sample(relpaths[: manifest["subset"]],
                                                                         min(1000, manifest["subset"]))],
        }
        del relpaths
        print(f"page cache (mincore): frames.tar {residency([workdir / 'frames.tar'])}; "
              f"1000 random folder files {residency(samples['frames'])}")

        rows = []
        for case in cases:
            runs = []
            for _ in range(max(1, args.repeat)):
                note = prepare_case(case, workdir)
                store_name = CASES[case][1]
                cached = residency(samples[store_name] if store_name in samples else [workdir / store_name])
                result = run_child(case, workdir, args.workers, args.load_count)
                result["note"] = note
                result["cached"] = cached.split("%")[0] + "%"
                runs.append(result)
                print(f"  {case}: {result['wall_s']:.2f} s wall, {result['files'] / result['wall_s']:,.0f} files/s, "
                      f"peak RSS {result['peak_rss_mib']:.0f} MiB (child process {result['process_s']:.1f} s)"
                      + f"; in page cache before: {cached}", flush=True)
                if case == "tar_index_cold":
                    result["note"] = note + f"; in cache after the case: {residency([workdir / 'frames.tar'])}"
            walls = [run["wall_s"] for run in runs]
            row = sorted(runs, key=lambda run: run["wall_s"])[len(runs) // 2]
            row.update(wall_min=min(walls), wall_max=max(walls), wall_s=statistics.median(walls))
            rows.append(row)
            expected = {"full_folder": manifest["subset"], "full_tar": manifest["subset"]}.get(
                case, args.load_count if case.startswith("load_") else manifest["frames"])
            if row["files"] != expected or row.get("kept", expected) != expected:
                print(f"  WARNING: {case} saw {row['files']} files, kept {row.get('kept')}; expected {expected}")

        print(f"\nIngestion of a {manifest['frames']:,}-frame OrCam tree, 64x64 JPEGs; workers={args.workers}; "
              f"each case a fresh child process{f', median of {args.repeat}' if args.repeat > 1 else ''}")
        print(f"machine: {cpu_model()}, {usable_cores()} cores, Python {platform.python_version()}, "
              f"{filesystem_of(workdir)}; the files were just written, so the page cache is warm but for the COLD "
              f"case; 'in page cache' is mincore's share of the tar's pages, or of 1000 sampled files' "
              f"pages, just before the case (this VM may reclaim page cache on its own)\n")
        print_table(rows, args.repeat)
        print("\nRSS = ru_maxrss of the child (MiB); 'after imports' is its peak before the timed region "
              "(for load_frames also after choosing the locators and opening the store).")
        print(f"total {time.perf_counter() - began:.0f} s; load average at end: {load_average()}")
    finally:
        if keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
