"""Device and precision selection."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from faceless.utils.errors import ConfigError
from faceless.training import device as device_module
from faceless.training.device import autocast, autocast_dtype, memory_format, select_device

CPU = torch.device("cpu")


def test_select_device_cpu_is_the_cpu():
    device = select_device("cpu")
    assert isinstance(device, torch.device)
    assert device.type == "cpu"


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_select_device_auto_prefers_cuda_then_mps_then_the_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "a test GPU")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    threads, tf32 = torch.get_num_threads(), torch.backends.cuda.matmul.allow_tf32
    cudnn = torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark
    select_device.cache_clear()  # chosen once per process: ask afresh, and forget the answer after
    try:
        assert select_device("auto") == torch.device(expected)
    finally:
        select_device.cache_clear()
        torch.set_num_threads(threads)  # the CPU branch sets every allowed core; the CUDA one TF32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = cudnn


def test_fp32_means_no_autocast():
    assert autocast_dtype(CPU, "fp32") is None


def test_bf16_means_bfloat16_autocast():
    assert autocast_dtype(CPU, "bf16") is torch.bfloat16


@pytest.mark.parametrize("native_bf16, expected", [(True, torch.bfloat16), (False, None)])
def test_auto_precision_on_cpu_is_bf16_only_where_the_cpu_has_native_bf16(monkeypatch, native_bf16, expected):
    monkeypatch.setattr(device_module, "_cpu_has_fast_bf16", lambda: native_bf16)
    assert autocast_dtype(CPU, "auto") is expected
    assert autocast_dtype(torch.device("cuda"), "auto") is torch.bfloat16  # a GPU: bf16 whatever the CPU


@pytest.mark.parametrize("isa", ["AVX2", "avx512_core"])
def test_a_cpu_capped_below_bf16_gets_fp32(monkeypatch, isa):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
    device_module._cpu_has_fast_bf16.cache_clear()
    try:
        assert autocast_dtype(CPU, "auto") is None
    finally:
        device_module._cpu_has_fast_bf16.cache_clear()


@pytest.mark.parametrize("bad", ["fp16", "float32", "", "BF16"])
def test_bad_precision_raises_a_config_error_naming_it(bad):
    with pytest.raises(ConfigError, match="precision") as err:
        autocast_dtype(CPU, bad)
    assert repr(bad) in str(err.value)


@pytest.mark.parametrize("bad", ["gpu", "tpu", "CPU"])
def test_bad_device_raises_a_config_error_naming_it(bad):
    with pytest.raises(ConfigError, match="device") as err:
        select_device(bad)
    assert repr(bad) in str(err.value)


def test_convolutions_run_channels_last_on_cpu_and_cuda_and_nchw_elsewhere():
    assert memory_format(CPU) is torch.channels_last
    assert memory_format(torch.device("cuda")) is torch.channels_last
    assert memory_format(torch.device("mps")) is torch.contiguous_format


def test_autocast_for_fp32_is_a_no_op_context():
    x = torch.ones(2, 2)
    with autocast(CPU, None):
        assert (x @ x).dtype == torch.float32
    with autocast(CPU, torch.bfloat16):
        assert (x @ x).dtype == torch.bfloat16


@pytest.mark.parametrize(("variable", "value"), [("ONEDNN_MAX_CPU_ISA", "AVX2"), ("ATEN_CPU_CAPABILITY", "avx2")])
def test_a_cpu_path_capped_at_avx2_runs_fp32(variable, value):
    """The switches that run an AVX2-only CPU's path on a bigger one make ``auto`` pick fp32 there too."""
    code = ("import torch; from faceless.training.device import autocast_dtype; "
            "print(autocast_dtype(torch.device('cpu'), 'auto'))")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, variable: value}, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "None"
