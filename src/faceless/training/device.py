"""Device and precision: chosen once per process, logged once, used by every training stage."""
from __future__ import annotations

import contextlib
import logging
import os
from functools import lru_cache

import torch

from faceless.utils.errors import choice

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "bf16", "fp32")


@lru_cache(maxsize=None)
def select_device(preference: str) -> torch.device:
    """``cuda`` when present, else ``mps``, else ``cpu`` (or the one asked for). Logged once."""
    preference = choice(preference, "device", ("auto", "cuda", "mps", "cpu"))
    if preference == "auto":
        if torch.cuda.is_available():
            preference = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            preference = "mps"
        else:
            preference = "cpu"
    device = torch.device(preference)
    if device.type == "cpu":
        # Use every core we are allowed (2 on the reference machine), not torch's guess; a
        # distributed worker's share of them where its launcher set OMP_NUM_THREADS.
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
            threads = min(threads, int(os.environ["OMP_NUM_THREADS"]))
        torch.set_num_threads(threads)
        logger.info("device: cpu (%d threads)", threads)
    elif device.type == "cuda":
        logger.info("device: cuda (%s)", torch.cuda.get_device_name(device))
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    else:
        logger.info("device: %s", device.type)
    return device


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype for this device, or None for plain fp32.

    ``auto`` is bf16 on CUDA (where it is the fast path) and on CPUs with native bf16 support
    (the reference machine computes bf16 convolutions about twice as fast as fp32), else fp32.
    """
    precision = choice(precision, "precision", PRECISIONS)
    if precision == "fp32":
        return None
    if precision == "bf16" or device.type == "cuda":
        return torch.bfloat16
    if device.type == "cpu" and _cpu_has_fast_bf16():
        return torch.bfloat16
    return None


#: oneDNN ISA limits (``ONEDNN_MAX_CPU_ISA``) under which bf16 has no native instructions.
_ISAS_WITHOUT_BF16 = ("sse41", "avx", "avx2", "avx2_vnni", "avx2_vnni_2", "avx512_core", "avx512_core_vnni")


@lru_cache(maxsize=None)
def _cpu_has_fast_bf16() -> bool:
    """oneDNN has native bf16 kernels here (AVX-512 BF16 or AMX), and nothing caps it below them:
    neither ATen's dispatch (``ATEN_CPU_CAPABILITY=avx2``) nor oneDNN's (``ONEDNN_MAX_CPU_ISA=AVX2``),
    the switches that run another CPU's path on this one."""
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").lower() in _ISAS_WITHOUT_BF16:
        return False
    if torch.backends.cpu.get_cpu_capability() in ("DEFAULT", "NO AVX", "AVX2"):
        return False
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast(device: torch.device, dtype: torch.dtype | None):
    """An autocast context for ``dtype`` on ``device``; a no-op context for fp32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last where convolutions are faster with it: on CUDA (tensor cores) and on the CPU, in
    every precision (``bench/bench_layout.py`` on two idle cores, channels_last / NCHW step time: under
    bf16 autocast 0.70-0.98, in fp32 0.73-1.00 both with oneDNN capped at AVX2 and at AVX-512: the
    classifier 0.73-0.81, the generators' training 0.77-0.95, upscaling 0.56-1.00; never slower).
    Elsewhere (MPS) contiguous NCHW."""
    if device.type in ("cuda", "cpu"):
        return torch.channels_last
    return torch.contiguous_format
