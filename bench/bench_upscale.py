"""Benchmark the batched, cached upscaling path against a per-image loop, and its peak memory.

    python bench/bench_upscale.py [--quick] [--frames 256] [--paper-frames 64] [--big-frames 20000]
                                  [--repeats 3] [--batch-size N] [--precision auto] [--hash-mb 1024]
                                  [--budget-mb 1024] [--tmp DIR]

(a) This machine's dense matmul throughput, fp32 and bf16 (2048^3, median of 5): the yardstick
    the generator's achieved FLOP/s is compared with; the CPU's capability (AVX2 / AVX512 / AMX).
(b) 64 -> 256 px with the default generator (conf/base's ``srgan.generator``) and the paper's
    (16 blocks, 64 channels, 9x9 head and tail, two x2 steps), on random frames, in the precision
    the pipeline would pick here (``--precision``), each case timed ``--repeats`` times (median):
    * batched: ``faceless.inference.upscale_cached`` (the upscaling node's path) into a ``.npy``
      (conf/base's CPU batch size unless ``--batch-size``, prefetching, one memory-mapped output),
      timed around the call (hashing, model build and the final rename included);
    * per image, same output: one frame, one forward, written into a memory-mapped ``.npy`` of the
      same shape (the like-for-like baseline: only the batching differs);
    * per image, PNG: the seed's way, one frame, one forward, one PNG written with PIL;
    * cache hit: the same upscale again (keys read, nothing computed).
    Achieved GFLOP/s counts the convolutions only (``srresnet_flops``), a lower bound; "% mm" is
    it as a fraction of (a) in the same precision.
(d) What a cache hit costs at the seed's scale: hashing ``--hash-mb`` of frames (a whole read-only
    ``.npy``, as the cache key's input digest does on its first use), extrapolated to 500,000 64 px
    frames, and the same key served from the digest record kept beside the file afterwards.
(c) Peak memory of a bicubic upscale of ``--big-frames`` generated 64 px frames whose 256 px
    output is larger than ``--budget-mb``, streamed into a temporary memory-mapped file (deleted
    afterwards), measured in a child process: VmHWM / ru_maxrss (which count the pages of the
    memory-mapped input and output files, reclaimable page cache) and the peak anonymous RSS
    (the process's own memory, sampled every 10 ms from /proc/self/status).

``--quick`` (fewer frames: 64 default, 16 paper, 8000 big, 256 MB hashed, 2 repeats; 1024^3 matmul)
finishes in a few minutes on a 2-core CPU. Nothing is written into the repository (a temporary
folder is used).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # the progress bar would interleave with the table

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import yaml  # noqa: E402

from faceless.inference import UpscaleConfig, upscale_cached  # noqa: E402
from faceless.models.generator import SRResNet, srresnet_flops  # noqa: E402
from faceless.training.device import autocast, autocast_dtype  # noqa: E402
from faceless.utils.digest import array_digest  # noqa: E402

SIDE, FACTOR = 64, 4
CONF = Path(__file__).resolve().parents[1] / "conf" / "base"
SEED_FRAMES = 500_000


def conf(stage: str) -> dict:
    return yaml.safe_load((CONF / f"parameters_{stage}.yml").read_text())[stage]


def generator_shapes() -> dict[str, dict]:
    """The default generator (conf/base) and the paper's, as constructor arguments."""
    default = {k: v for k, v in conf("srgan")["generator"].items() if k not in ("arch", "bicubic_skip")}
    paper = {"channels": 64, "blocks": 16, "head_kernel": 9, "tail_kernel": 9, "upsample": "progressive"}
    return {"default": default, "paper": paper}
GB = 1e9
MB = 1024 * 1024


# machine ---------------------------------------------------------------------------------------
from machine import cpu_model, matmul_gflops, usable_cores  # noqa: E402  (bench/ is on sys.path when run as a script)


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return "?"
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
    return ",".join(flag for flag in wanted if flag in flags) or "none of avx2/avx512/amx"


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# (b) batched vs per image ------------------------------------------------------------------------
def make_generator(shape: dict) -> dict:
    """A generator file as the srgan stage writes it; a non-zero tail so the output is not bicubic."""
    torch.manual_seed(0)
    model = SRResNet(scale=FACTOR, bicubic_skip=True, **shape)
    last = model.tail if isinstance(model.tail, torch.nn.Conv2d) else model.tail[0]
    with torch.no_grad():
        torch.nn.init.normal_(last.weight, std=1e-3)
    return {"config": model.config(), "state_dict": model.state_dict()}


def write_random_frames(path: Path, frames: int, chunk: int = 4096) -> Path:
    """A ``.npy`` of ``frames`` random 64 px frames, written chunk by chunk through a memmap (any size)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(frames, SIDE, SIDE, 3))
    rng = np.random.default_rng(0)
    for start in range(0, frames, chunk):
        stop = min(start + chunk, frames)
        out[start:stop] = rng.integers(0, 256, (stop - start, SIDE, SIDE, 3), dtype=np.uint8)
    out.flush()
    del out
    return path


def random_frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, SIDE, SIDE, 3), dtype=np.uint8)


def upscale_config(folder: Path, batch_size: int, precision: str = "fp32") -> UpscaleConfig:
    """The pipeline's upscaling settings (conf/base's shard size), on the CPU."""
    return UpscaleConfig(factor=FACTOR, batch_size=batch_size, shard_size=512, device="cpu", precision=precision,
                         cache_dir=str(folder))


def run_batched(lr: np.ndarray, generator: dict, precision: str, target: Path, batch_size: int) -> tuple[float, float]:
    """Seconds of a cache miss and of the cache hit that follows (the upscaling node's own path)."""
    times = []
    for expected in ("miss", "hit"):
        started = time.perf_counter()
        _, stats = upscale_cached(lr, generator, upscale_config(target.parent, batch_size, precision), target.stem)
        times.append(time.perf_counter() - started)
        assert stats["cache"] == expected, stats
    return times[0], times[1]


def run_per_image(lr: np.ndarray, generator: dict, precision: str, folder: Path, output: str) -> float:
    """A loop over frames: build the model, then per frame one forward, written as one PNG (the
    seed's way) or into a memory-mapped ``.npy`` (the pipeline's output format)."""
    started = time.perf_counter()
    device = torch.device("cpu")
    dtype = autocast_dtype(device, precision)
    model = SRResNet.from_config(generator["config"])
    model.load_state_dict(generator["state_dict"])
    model.eval()
    folder.mkdir(parents=True, exist_ok=True)
    out = None
    if output == "npy":
        shape = (len(lr), SIDE * FACTOR, SIDE * FACTOR, 3)
        out = np.lib.format.open_memmap(folder / "sr.npy", mode="w+", dtype=np.uint8, shape=shape)
    with torch.inference_mode():
        for index, frame in enumerate(lr):
            x = torch.from_numpy(frame).permute(2, 0, 1).unsqueeze(0).float().div(255)
            with autocast(device, dtype):
                y = model(x)
            pixels = y.float().clamp(0, 1).mul(255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
            if out is not None:
                out[index] = pixels
            else:
                Image.fromarray(pixels).save(folder / f"frame_{index:06d}.png")
    if out is not None:
        out.flush()
        del out
    return time.perf_counter() - started


def bench_paths(counts: dict[str, int], batch_size: int, precision: str, repeats: int, matmul: dict[str, float],
                folder: Path) -> list[dict]:
    rows = []
    for name, shape in generator_shapes().items():
        generator = make_generator(shape)
        n = counts[name]
        lr = random_frames(n)
        flops = srresnet_flops(SIDE, SIDE, {"scale": FACTOR, **shape}) * n
        case = folder / name
        # warm-up (oneDNN primitives, imports): 2 frames each way, not timed
        run_batched(lr[:2], generator, precision, case / "warm.npy", batch_size)
        run_per_image(lr[:2], generator, precision, case / "warm_png", "png")
        times: dict[str, list[float]] = {"per-image npy": [], "per-image PNG": [], "batched cached": [],
                                         "cache hit": []}
        for repeat in range(repeats):
            times["per-image npy"].append(run_per_image(lr, generator, precision, case / f"npy{repeat}", "npy"))
            times["per-image PNG"].append(run_per_image(lr, generator, precision, case / f"png{repeat}", "png"))
            miss, hit = run_batched(lr, generator, precision, case / f"sr{repeat}.npy", batch_size)
            times["batched cached"].append(miss)
            times["cache hit"].append(hit)
            shutil.rmtree(case / f"npy{repeat}")
            shutil.rmtree(case / f"png{repeat}")
        shutil.rmtree(case)
        median = {path: statistics.median(seconds) for path, seconds in times.items()}
        base = {"generator": f"{name} b{shape['blocks']} c{shape['channels']}", "precision": precision, "frames": n}
        for path, seconds in median.items():
            computed = path != "cache hit"
            rows.append({**base, "path": path, "seconds": seconds, "spread": max(times[path]) - min(times[path]),
                         "images_per_s": n / seconds,
                         "gflops": flops / seconds / GB if computed else None,
                         "of_matmul": flops / seconds / GB / matmul[precision] if computed else None,
                         "ratio": median["per-image npy"] / seconds if computed else None})
        print(f"  {name}: per-image npy {n / median['per-image npy']:.1f} img/s, PNG {n / median['per-image PNG']:.1f}, "
              f"batched {n / median['batched cached']:.1f}, hit {median['cache hit']:.3f} s", flush=True)
    return rows


def print_paths(rows: list[dict], batch_size: int, repeats: int) -> None:
    print(f"\n(b) 64 -> 256 px, median of {repeats} (spread = max - min); batched = inference.upscale_cached "
          f"(batch {batch_size}); per-image = 1 forward per frame into the same .npy, or into one PNG each")
    header = (f"{'generator':<16}{'prec':<6}{'path':<16}{'frames':>7}{'seconds':>9}{'spread':>8}{'img/s':>9}"
              f"{'GFLOP/s':>9}{'% mm':>7}{'vs per-img npy':>16}")
    print(header)
    print("-" * len(header))
    for row in rows:
        gflops = f"{row['gflops']:9.1f}" if row["gflops"] is not None else f"{'-':>9}"
        share = f"{100 * row['of_matmul']:6.1f}%" if row["of_matmul"] is not None else f"{'-':>7}"
        ratio = f"{row['ratio']:15.2f}x" if row["ratio"] is not None else f"{'':>16}"
        print(f"{row['generator']:<16}{row['precision']:<6}{row['path']:<16}{row['frames']:>7}"
              f"{row['seconds']:>9.2f}{row['spread']:>8.2f}{row['images_per_s']:>9.1f}{gflops}{share}{ratio}")


# (d) the cache key's input digest at the seed's scale ----------------------------------------------
def bench_digest(megabytes: int, folder: Path) -> dict:
    frame_bytes = SIDE * SIDE * 3
    frames = max(1, megabytes * MB // frame_bytes)
    path = write_random_frames(folder / "digest_frames.npy", frames)
    started = time.perf_counter()
    first = array_digest(np.load(path, mmap_mode="r"))
    hashed = time.perf_counter() - started
    recorded = []
    for _ in range(5):
        started = time.perf_counter()
        again = array_digest(np.load(path, mmap_mode="r"))
        recorded.append(time.perf_counter() - started)
        assert again == first
    path.unlink()
    return {"frames": frames, "bytes": frames * frame_bytes, "hash_s": hashed, "record_s": statistics.median(recorded)}


def print_digest(result: dict) -> None:
    rate = result["bytes"] / result["hash_s"]
    seed_bytes = SEED_FRAMES * SIDE * SIDE * 3
    print("\n(d) cache key input digest (blake2b, a whole read-only .npy; page cache warm)")
    print(f"  hashing {result['frames']} frames ({result['bytes'] / GB:.2f} GB): {result['hash_s']:.2f} s "
          f"({rate / GB:.2f} GB/s) -> {SEED_FRAMES} frames ({seed_bytes / GB:.1f} GB): ~{seed_bytes / rate:.1f} s, "
          f"once per file")
    print(f"  every later use, from the record beside the file: {1e3 * result['record_s']:.2f} ms (any size)")


# (c) peak memory of a big bicubic upscale (child process) ----------------------------------------
def status_kib() -> dict[str, int]:
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                values[key] = int(rest.split()[0])
    return values


class Sampler(threading.Thread):
    """Peak of each /proc/self/status field, sampled every ``interval`` seconds."""

    def __init__(self, interval: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak: dict[str, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for key, value in status_kib().items():
                self.peak[key] = max(self.peak.get(key, 0), value)
            self.stop.wait(self.interval)

    def finish(self) -> dict[str, int]:
        self.stop.set()
        self.join()
        return self.peak


def rss_child(frames: int, folder: Path, batch_size: int) -> dict:
    """Generate ``frames`` inputs (a memmap), upscale them bicubic into a memmap, report memory."""
    started = time.perf_counter()
    lr_path = write_random_frames(folder / "lr.npy", frames)
    generated = time.perf_counter() - started
    lr = np.load(lr_path, mmap_mode="r")
    # warm-up on 2 frames, so the baseline includes what the first save imports (tqdm, mlflow)
    upscale_cached(np.array(lr[:2]), None, upscale_config(folder, batch_size), "warm")
    baseline = status_kib()
    try:  # reset VmHWM to the current RSS (Linux >= 4.0), so the peak is this upscale's
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        reset = True
    except OSError:
        reset = False
    sampler = Sampler()
    sampler.start()
    started = time.perf_counter()
    out, _ = upscale_cached(lr, None, upscale_config(folder, batch_size), "bicubic_big")
    seconds = time.perf_counter() - started
    peak = sampler.finish()
    final = status_kib()
    # spot check: the first and last frames equal torch's bicubic
    import torch.nn.functional as F

    for index in (0, frames - 1):
        x = torch.from_numpy(np.array(lr[index:index + 1])).permute(0, 3, 1, 2).float()
        y = F.interpolate(x / 255, scale_factor=FACTOR, mode="bicubic", align_corners=False).clamp(0, 1) * 255
        assert np.array_equal(out[index], y.round().to(torch.uint8)[0].permute(1, 2, 0).numpy()), index
    return {
        "frames": frames, "batch_size": batch_size, "input_bytes": int(lr.nbytes), "output_bytes": int(out.nbytes),
        "file_bytes": (folder / "bicubic_big.npy").stat().st_size, "generate_s": generated, "upscale_s": seconds,
        "images_per_s": frames / seconds, "hwm_reset": reset, "baseline_kib": baseline,
        "vmhwm_kib": final["VmHWM"], "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "peak_kib": peak,
    }


def bench_memory(frames: int, budget_mb: int, batch_size: int, folder: Path) -> dict:
    big = folder / "big"
    big.mkdir()
    command = [sys.executable, str(Path(__file__).resolve()), "--rss-child", str(big), "--big-frames", str(frames),
               "--batch-size", str(batch_size)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"memory child failed ({done.returncode}):\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(big, ignore_errors=True)  # the multi-GB output goes right away
    result["budget_bytes"] = budget_mb * MB
    return result


def print_memory(result: dict) -> None:
    def gb(kib: int) -> str:
        return f"{kib * 1024 / GB:7.3f} GB"

    out, budget = result["output_bytes"], result["budget_bytes"]
    peak, base = result["peak_kib"], result["baseline_kib"]
    anon_growth = peak.get("RssAnon", 0) - base["RssAnon"]
    print(f"\n(c) bicubic 64 -> 256 px of {result['frames']} generated frames, streamed into a temporary memmap "
          f"(batch {result['batch_size']}, shards of 512) in a child process")
    print(f"  input  {result['input_bytes'] / GB:7.3f} GB (memmap)   output {out / GB:7.3f} GB   "
          f"budget {budget / GB:7.3f} GB   output > budget: {'yes' if out > budget else 'NO (raise --big-frames)'}")
    print(f"  upscale {result['upscale_s']:.1f} s ({result['images_per_s']:.0f} img/s, "
          f"{out / result['upscale_s'] / GB:.2f} GB/s written); input generated in {result['generate_s']:.1f} s")
    print(f"  {'measure':<44}{'peak':>11}{'/ output':>10}")
    rows = [
        ("VmHWM (peak RSS" + (", reset before the upscale)" if result["hwm_reset"] else ", whole child)"),
         result["vmhwm_kib"]),
        ("ru_maxrss (getrusage)", result["ru_maxrss_kib"]),
        ("sampled VmRSS (anon + file-backed pages)", peak.get("VmRSS", 0)),
        ("sampled RssFile (mapped input/output pages)", peak.get("RssFile", 0)),
        ("sampled RssAnon (the process's own memory)", peak.get("RssAnon", 0)),
        ("  of which the upscale added (over baseline)", anon_growth),
    ]
    for label, kib in rows:
        print(f"  {label:<44}{gb(kib):>11}{kib * 1024 / out:>9.1%}")
    verdict = "yes" if anon_growth * 1024 < budget else "NO"
    print(f"  the upscale's own memory stays under the budget: {verdict} (baseline after imports and a "
          f"2-frame warm-up: {base['RssAnon'] / 1024:.0f} MiB anon, {base['RssFile'] / 1024:.0f} MiB file-backed)")


# main --------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames: finishes in < 3 minutes on 2 cores")
    parser.add_argument("--frames", type=int, default=None, help="frames for the demo generator (256; quick 64)")
    parser.add_argument("--paper-frames", type=int, default=None, help="frames for the paper generator (64; quick 16)")
    parser.add_argument("--big-frames", type=int, default=None, help="frames of the memory case (20000; quick 8000)")
    parser.add_argument("--budget-mb", type=int, default=1024, help="memory budget the big output exceeds")
    parser.add_argument("--batch-size", type=int, default=None, help="frames per forward (conf/base's CPU size)")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                        help="as upscaling.precision (auto: what the pipeline picks here)")
    parser.add_argument("--repeats", type=int, default=None, help="times each case runs (3; quick 2)")
    parser.add_argument("--hash-mb", type=int, default=None, help="megabytes hashed in (d) (1024; quick 256)")
    parser.add_argument("--matmul-size", type=int, default=None, help="n of the n^3 matmul (2048; quick 1024)")
    parser.add_argument("--skip-memory", action="store_true", help="leave out (c)")
    parser.add_argument("--tmp", default=None, help="folder for the temporary files")
    parser.add_argument("--rss-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    threads = usable_cores()
    torch.set_num_threads(threads)
    if args.rss_child:
        print(json.dumps(rss_child(args.big_frames, Path(args.rss_child), args.batch_size)))
        return

    quick = args.quick
    batch_size = args.batch_size or int(conf("upscaling")["batch_size"]["cpu"])
    precision = "bf16" if autocast_dtype(torch.device("cpu"), args.precision) is not None else "fp32"
    repeats = args.repeats or (2 if quick else 3)
    hash_mb = args.hash_mb or (256 if quick else 1024)
    counts = {"default": args.frames or (64 if quick else 256), "paper": args.paper_frames or (16 if quick else 64)}
    big_frames = args.big_frames or (8000 if quick else 20000)
    matmul_size = args.matmul_size or (1024 if quick else 2048)

    began = time.perf_counter()
    print(f"machine: {cpu_model()} ({cpu_flags()}), {usable_cores()} usable cores of {os.cpu_count()}, "
          f"{platform.system()} {platform.release()}")
    print(f"torch {torch.__version__} (CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"precision {precision}), {torch.get_num_threads()} threads, numpy {np.__version__}; "
          f"load average at start: {load_average()}")

    matmul = {"fp32": matmul_gflops(matmul_size, torch.float32), "bf16": matmul_gflops(matmul_size, torch.bfloat16)}
    print(f"\n(a) dense matmul {matmul_size}^3, median of 5:  fp32 {matmul['fp32']:8.1f} GFLOP/s   "
          f"bf16 {matmul['bf16']:8.1f} GFLOP/s")

    with tempfile.TemporaryDirectory(prefix="bench_upscale_", dir=args.tmp) as tmp:
        folder = Path(tmp)
        print(f"\nrunning (b) in {folder} ...", flush=True)
        rows = bench_paths(counts, batch_size, precision, repeats, matmul, folder)
        print_paths(rows, batch_size, repeats)
        print_digest(bench_digest(hash_mb, folder))
        if not args.skip_memory:
            print(f"\nrunning (c): {big_frames} frames ...", flush=True)
            print_memory(bench_memory(big_frames, args.budget_mb, batch_size, folder))
    print(f"\ntotal {time.perf_counter() - began:.0f} s; load average at end: {load_average()}")


if __name__ == "__main__":
    main()
