"""What machine a benchmark ran on, for the line every bench prints under its table."""
from __future__ import annotations

import os
import platform
import statistics
import time

import torch


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def matmul_gflops(n: int, dtype: torch.dtype, repeats: int = 5) -> float:
    """This machine's dense n^3 matmul rate in ``dtype`` (median of ``repeats``), the yardstick of
    every bench's "% of matmul"."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(dtype)
    b = torch.randn(n, n, generator=generator).to(dtype)
    a @ b  # warm-up
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        seconds.append(time.perf_counter() - started)
    return 2.0 * n**3 / statistics.median(seconds) / 1e9
