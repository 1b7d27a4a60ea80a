"""Writers of small pretrained-generator files in the formats users have, with random weights.

* :func:`write_krasserm_h5`: a Keras 2 HDF5 weights file of krasserm/super-resolution's ``sr_resnet``
  as ``save_weights`` writes it (root attribute ``layer_names``, one group per layer with the
  attribute ``weight_names``, datasets ``<layer>/<layer>/kernel:0``...; layers without weights listed
  with no weights), or as ``save`` writes it (the same under ``model_weights``). Layer names are the
  ones Keras generates for that graph (``conv2d_3``, ``batch_normalization_1``, ``p_re_lu_2``, ...).
* :func:`write_basicsr_pth`: a BasicSR MSRResNet checkpoint, ``torch.save({"params": state_dict})``,
  with BasicSR's key names and shapes.

Widths and depths are small for speed; both formats say them through their shapes.
"""
from __future__ import annotations

from collections import Counter, OrderedDict
from pathlib import Path

import h5py
import numpy as np
import torch

KerasLayer = tuple[str, dict[str, np.ndarray]]


class _Names:
    """Keras' automatic layer names: ``conv2d``, ``conv2d_1``, ... per layer type."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()

    def __call__(self, base: str) -> str:
        n = self.count[base]
        self.count[base] += 1
        return base if n == 0 else f"{base}_{n}"


def krasserm_layers(channels: int, blocks: int, seed: int, in_channels: int = 3, out_channels: int = 3,
                    upsamplings: int = 2) -> list[KerasLayer]:
    """The layers of ``sr_resnet(num_filters=channels, num_res_blocks=blocks)`` in ``model.layers``
    order, each with its weights in Keras layout (float32), random."""
    rng = np.random.default_rng(seed)
    name = _Names()

    def conv(k: int, c_in: int, c_out: int) -> KerasLayer:
        kernel = rng.normal(0, 1 / np.sqrt(k * k * c_in), (k, k, c_in, c_out))
        return name("conv2d"), {"kernel": kernel.astype(np.float32),
                                "bias": rng.normal(0, 0.1, c_out).astype(np.float32)}

    def bn(c: int) -> KerasLayer:
        return name("batch_normalization"), {
            "gamma": rng.uniform(0.5, 1.5, c).astype(np.float32), "beta": rng.normal(0, 0.1, c).astype(np.float32),
            "moving_mean": rng.normal(0, 0.1, c).astype(np.float32),
            "moving_variance": rng.uniform(0.5, 1.5, c).astype(np.float32)}

    def prelu(c: int) -> KerasLayer:  # shared_axes=[1, 2]: one alpha per channel, shape (1, 1, C)
        return name("p_re_lu"), {"alpha": rng.uniform(0.0, 0.3, (1, 1, c)).astype(np.float32)}

    def plain(base: str) -> KerasLayer:
        return name(base), {}

    layers = [plain("input"), plain("lambda"), conv(9, in_channels, channels), prelu(channels)]
    for _ in range(blocks):
        layers += [conv(3, channels, channels), bn(channels), prelu(channels), conv(3, channels, channels),
                   bn(channels), plain("add")]
    layers += [conv(3, channels, channels), bn(channels), plain("add")]
    for _ in range(upsamplings):
        layers += [conv(3, channels, 4 * channels), plain("lambda"), prelu(channels)]
    layers += [conv(9, channels, out_channels), plain("lambda")]
    return layers


def _names_attr(names: list[str]) -> np.ndarray:
    # As Keras stores it: a numpy array of byte strings (an empty list as an empty float array).
    return np.asarray([n.encode("utf8") for n in names]) if names else np.asarray([])


def write_krasserm_h5(path: Path, layers: list[KerasLayer], saved_model: bool = False,
                      chunked: bool = False) -> Path:
    """``layers`` as Keras 2 writes them: ``save_weights`` (root) or ``save`` (``model_weights``, with
    a model_config attribute the reader must ignore); ``chunked`` splits ``layer_names`` into
    ``layer_names0``, ``layer_names1`` as Keras does for long lists."""
    with h5py.File(path, "w") as h5:
        h5.attrs["backend"] = b"tensorflow"
        h5.attrs["keras_version"] = b"2.3.0-tf"
        root = h5
        if saved_model:
            h5.attrs["model_config"] = b'{"class_name": "Model", "config": {"layers": "not read"}}'
            root = h5.create_group("model_weights")
        names = [n for n, _ in layers]
        if chunked:
            half = len(names) // 2
            root.attrs["layer_names0"] = _names_attr(names[:half])
            root.attrs["layer_names1"] = _names_attr(names[half:])
        else:
            root.attrs["layer_names"] = _names_attr(names)
        for layer, weights in layers:
            group = root.create_group(layer)
            weight_names = [f"{layer}/{w}:0" for w in weights]
            group.attrs["weight_names"] = _names_attr(weight_names)
            for weight_name, array in zip(weight_names, weights.values()):
                group.create_dataset(weight_name, data=array)
    return path


def basicsr_state(channels: int, blocks: int, scale: int, seed: int, in_channels: int = 3,
                  out_channels: int = 3) -> OrderedDict[str, torch.Tensor]:
    """A random MSRResNet state_dict with BasicSR's names and shapes (``basicsr/archs/srresnet_arch.py``)."""
    gen = torch.Generator().manual_seed(seed)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()

    def conv(name: str, c_in: int, c_out: int) -> None:
        state[f"{name}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=gen) / (3 * c_in ** 0.5)
        state[f"{name}.bias"] = torch.randn(c_out, generator=gen) * 0.05

    conv("conv_first", in_channels, channels)
    for i in range(blocks):
        conv(f"body.{i}.conv1", channels, channels)
        conv(f"body.{i}.conv2", channels, channels)
    if scale == 4:
        conv("upconv1", channels, 4 * channels)
        conv("upconv2", channels, 4 * channels)
    else:
        conv("upconv1", channels, scale * scale * channels)
    conv("conv_hr", channels, channels)
    conv("conv_last", channels, out_channels)
    return state


def write_basicsr_pth(path: Path, state: dict[str, torch.Tensor], key: str | None = "params", **more) -> Path:
    """A BasicSR checkpoint: ``{key: state_dict, **more}`` (``key=None``: the bare state_dict)."""
    torch.save(state if key is None else {key: state, **more}, path)
    return path
