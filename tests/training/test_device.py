"""Device and precision selection."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from faceless.utils.errors import ConfigError
from faceless.training.device import autocast, autocast_dtype, memory_format, select_device

CPU = torch.device("cpu")


def test_select_device_cpu_is_the_cpu():
    device = select_device("cpu")
    assert isinstance(device, torch.device)
    assert device.type == "cpu"


def test_select_device_auto_is_a_device():
    assert select_device("auto").type in ("cpu", "cuda", "mps")


def test_fp32_means_no_autocast():
    assert autocast_dtype(CPU, "fp32") is None


def test_bf16_means_bfloat16_autocast():
    assert autocast_dtype(CPU, "bf16") is torch.bfloat16


def test_auto_precision_on_cpu_is_bf16_or_plain_fp32():
    assert autocast_dtype(CPU, "auto") in (None, torch.bfloat16)


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
