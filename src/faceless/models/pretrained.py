"""Generators trained elsewhere, read from the files users already have, into this project's form.

Three kinds of file, told apart by their content (not their name):

* a **Keras HDF5 weights file of krasserm/super-resolution's** ``sr_resnet`` (``gan_generator.h5``,
  ``pre_generator.h5``: what ``save_weights`` or ``save`` writes in Keras 2). It is read as arrays with
  h5py, layer by layer in the order the file lists them (attribute ``layer_names``; weights by
  ``weight_names``); a model definition stored in it is never looked at, let alone executed.
  Layers are recognised by their weights (conv: kernel + bias, BN: gamma/beta/moving mean/variance,
  PReLU: alpha), so the auto-generated layer names do not matter. Mapped onto
  :class:`~faceless.models.krasserm_srresnet.KrassermSRResNet`: kernels (kh, kw, in, out) ->
  (out, in, kh, kw), PReLU alphas (1, 1, C) -> (C,), and the upsampling convolutions' output channels
  reordered from TensorFlow's ``depth_to_space`` to ``nn.PixelShuffle``.
* a **BasicSR MSRResNet** ``.pth`` (``MSRResNet_x4.pth``, ``MSRGAN_x4.pth``, an SRResNet trained with
  BasicSR): ``torch.load(weights_only=True)``; the state_dict under ``params_ema`` (the EMA weights,
  where training kept them) or else ``params``, or the file itself; ``module.`` prefixes (DataParallel)
  and the older mmsr names (``recon_trunk``, ``HRconv``) are accepted. Mapped onto
  :class:`~faceless.models.msrresnet.MSRResNet`, whose names are BasicSR's.
* this project's own ``sr_generator`` file (``{"config", "state_dict"}``).

The size (channels, blocks, scale, in/out channels) is read off the weights' shapes. A file that
does not match is one :class:`~faceless.utils.errors.ConfigError` line naming the parameter, what was
expected and what was found. Nothing here downloads anything.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import h5py
import numpy as np
import torch
from torch import nn

from faceless.models import GENERATORS, arch_of, build_model
from faceless.models.krasserm_srresnet import KrassermSRResNet
from faceless.models.msrresnet import MSRResNet
from faceless.utils.errors import ConfigError

#: What a generator file may be, for error messages.
FILE_KINDS = ("a krasserm/super-resolution sr_resnet Keras .h5, a BasicSR MSRResNet .pth (params / params_ema) "
              "or this project's sr_generator file")
KRASSERM_LAYOUT = ("krasserm's sr_resnet generator (Keras layers conv 9x9, PReLU, B x [conv, BN, PReLU, conv, BN], "
                   "conv, BN, 2 x [conv, PReLU], conv 9x9)")
MSRRESNET_LAYOUT = "BasicSR's MSRResNet (conv_first, body.N.conv1/conv2, upconv1, upconv2, conv_hr, conv_last)"
#: Keys a BasicSR checkpoint keeps its state_dict under, in the order they are preferred.
BASICSR_KEYS = ("params_ema", "params")
#: Older (mmsr / ESRGAN-era) names of the same MSRResNet layers.
MMSR_NAMES = {"recon_trunk.": "body.", "HRconv.": "conv_hr."}
#: Weight names (after the last "/" and before ":") of each Keras layer kind.
KERAS_KINDS = {("bias", "kernel"): "conv", ("beta", "gamma", "moving_mean", "moving_variance"): "bn",
               ("alpha",): "prelu"}
#: krasserm's upsampling steps are x2 each (depth_to_space with block size 2).
KERAS_SHUFFLE = 2


@dataclass(frozen=True)
class ImportedGenerator:
    """A generator read from a file: ``saved`` in the ``sr_generator`` form
    (``{"config", "state_dict"}``: what :func:`faceless.models.load_model` rebuilds), and ``source``,
    what was read from where (for reports)."""

    saved: dict[str, Any]
    source: dict[str, Any]

    @property
    def scale(self) -> int:
        return int(self.saved["config"]["scale"])

    @property
    def arch(self) -> str:
        return arch_of("generator", self.saved["config"])


def read_generator_file(path: str | Path, param: str, bare_config: dict[str, Any] | None = None) -> ImportedGenerator:
    """The generator in ``path`` (any kind in the module docstring), its architecture read from the file.

    A bare state_dict says no architecture: it is read with ``bare_config`` (fine-tuning: the
    parameters' generator), and refused where there is none. ``param`` names the parameter in errors.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{param}: no file at '{path}'")
    if h5py.is_hdf5(file):
        return read_krasserm_h5(file, param)
    return read_torch_file(file, param, bare_config)


def _fail(param: str, file: Path, what: str) -> Callable[[str, str], NoReturn]:
    def fail(expected: str, found: str) -> NoReturn:
        raise ConfigError(f"{param}: '{file}' is not {what}: expected {expected}, found {found}")
    return fail


# ----------------------------------------------------------------------------------------------
# krasserm/super-resolution: a Keras 2 HDF5 weights file
# ----------------------------------------------------------------------------------------------
def _attr_names(group: h5py.Group, name: str) -> list[str] | None:
    """A Keras list-of-names attribute (``layer_names``, ``weight_names``); Keras splits a long one
    into ``<name>0``, ``<name>1``, ... None where there is none."""
    if name in group.attrs:
        values = list(group.attrs[name])
    elif f"{name}0" in group.attrs:
        values, chunk = [], 0
        while f"{name}{chunk}" in group.attrs:
            values.extend(group.attrs[f"{name}{chunk}"])
            chunk += 1
    else:
        return None
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _keras_layers(file: Path, param: str) -> tuple[list[tuple[str, str, dict[str, np.ndarray]]], str]:
    """[(layer name, kind, {weight: array})] of the layers with weights, in the file's order, and the
    group they were read from (``/`` for save_weights, ``model_weights`` for a saved model)."""
    fail = _fail(param, file, "a Keras weights file")
    with h5py.File(file, "r") as h5:
        root = h5
        if _attr_names(h5, "layer_names") is None and isinstance(h5.get("model_weights"), h5py.Group):
            root = h5["model_weights"]
        names = _attr_names(root, "layer_names")
        if names is None:
            fail("an HDF5 file with the attribute layer_names (Keras 2 save_weights / save)",
                 f"top-level entries {', '.join(list(h5)[:6]) or 'none'} and no layer_names")
        layers = []
        for name in names:
            if not isinstance(root.get(name), h5py.Group):
                fail("a group for each layer in layer_names", f"no group '{name}'")
            weights: dict[str, np.ndarray] = {}
            for weight_name in _attr_names(root[name], "weight_names") or []:
                if not isinstance(root[name].get(weight_name), h5py.Dataset):
                    fail(f"the weight '{weight_name}' layer '{name}' lists", "no such dataset")
                short = weight_name.rsplit("/", 1)[-1].split(":", 1)[0]
                weights[short] = np.asarray(root[name][weight_name], dtype=np.float32)
            if weights:
                kind = KERAS_KINDS.get(tuple(sorted(weights)), "+".join(sorted(weights)))
                layers.append((name, kind, weights))
        return layers, root.name


def _krasserm_layout(layers: list[tuple[str, str, dict]], fail: Callable[[str, str], NoReturn]) -> tuple[int, int]:
    """(residual blocks, upsampling steps) of krasserm's layer sequence, or the first layer that differs."""
    kinds = [kind for _, kind, _ in layers]
    pos = 0

    def at(*expected: str) -> bool:
        return kinds[pos:pos + len(expected)] == list(expected)

    def need(*expected: str) -> None:
        nonlocal pos
        for offset, kind in enumerate(expected):
            i = pos + offset
            if i >= len(kinds):
                fail(f"a {kind} layer as weighted layer {i + 1}", f"only {len(kinds)} layers with weights")
            if kinds[i] != kind:
                fail(f"a {kind} layer as weighted layer {i + 1}", f"{kinds[i]} (layer '{layers[i][0]}')")
        pos += len(expected)

    need("conv", "prelu")
    blocks = 0
    while at("conv", "bn", "prelu", "conv", "bn"):
        pos, blocks = pos + 5, blocks + 1
    if at("conv", "bn", "prelu"):  # a residual block cut short: say where
        need("conv", "bn", "prelu", "conv", "bn")
    need("conv", "bn")
    steps = 0
    while at("conv", "prelu"):
        pos, steps = pos + 2, steps + 1
    need("conv")
    if pos != len(kinds):
        fail(f"the output conv as the last layer with weights (layer {pos})",
             f"{kinds[pos]} (layer '{layers[pos][0]}') after it")
    if steps not in (1, 2, 3):
        fail("1 to 3 upsampling [conv, PReLU] pairs (x2 each)", f"{steps}")
    return blocks, steps


def depth_to_space_order(channels: int, block: int) -> torch.Tensor:
    """Index ``p`` with ``tf_channels[p]`` in ``nn.PixelShuffle``'s order: torch reads channel
    ``c * block² + s`` where TensorFlow's ``depth_to_space`` reads ``s * C + c`` (s: the sub-pixel)."""
    out = channels // (block * block)
    t = torch.arange(channels)
    return (t % (block * block)) * out + t // (block * block)


def _keras_tensors(kind: str, weights: dict[str, np.ndarray], shuffle: bool) -> dict[str, torch.Tensor]:
    """One Keras layer's arrays as the torch module's state_dict entries."""
    if kind == "conv":
        kernel = torch.from_numpy(weights["kernel"])
        weight = kernel.permute(3, 2, 0, 1) if kernel.ndim == 4 else kernel  # (kh, kw, in, out) -> (out, in, kh, kw)
        bias = torch.from_numpy(weights["bias"])
        if shuffle and weight.ndim == 4:
            order = depth_to_space_order(weight.shape[0], KERAS_SHUFFLE)
            weight, bias = weight[order], bias[order]
        return {"weight": weight.contiguous(), "bias": bias.contiguous()}
    if kind == "bn":
        return {"weight": torch.from_numpy(weights["gamma"]), "bias": torch.from_numpy(weights["beta"]),
                "running_mean": torch.from_numpy(weights["moving_mean"]),
                "running_var": torch.from_numpy(weights["moving_variance"]),
                "num_batches_tracked": torch.tensor(0)}
    alpha = torch.from_numpy(weights["alpha"])  # (1, 1, C): shared over height and width
    return {"weight": alpha.reshape(-1) if alpha.ndim == 3 and alpha.shape[:2] == (1, 1) else alpha}


def read_krasserm_h5(file: Path, param: str) -> ImportedGenerator:
    """krasserm's ``sr_resnet`` from a Keras 2 HDF5 weights file (see the module docstring)."""
    layers, root = _keras_layers(file, param)
    fail = _fail(param, file, KRASSERM_LAYOUT)
    if not layers:
        fail("layers with weights", "none")
    blocks, steps = _krasserm_layout(layers, fail)
    head, tail = layers[0][2]["kernel"], layers[-1][2]["kernel"]
    if head.ndim != 4 or tail.ndim != 4:
        fail("4-D conv kernels (kh, kw, in, out)", f"shapes {head.shape} and {tail.shape}")
    model = KrassermSRResNet(channels=int(head.shape[3]), blocks=blocks, scale=KERAS_SHUFFLE ** steps,
                             in_channels=int(head.shape[2]), out_channels=int(tail.shape[3]))
    # Module registration order is the Keras layer order: head, blocks, body tail, upsampling, tail.
    targets = [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.PReLU))]
    expected = model.state_dict()
    state: dict[str, torch.Tensor] = {}
    for (layer, kind, weights), (prefix, _) in zip(layers, targets, strict=True):
        for key, tensor in _keras_tensors(kind, weights, shuffle=prefix.startswith("upsample.")).items():
            want = expected[f"{prefix}.{key}"].shape
            if tensor.shape != want:
                found = {name: tuple(array.shape) for name, array in weights.items()}
                fail(f"{kind} weights fitting {tuple(want)} (torch layout) in layer '{layer}', as its first layers "
                     f"imply ({model.channels} channels)", f"{found}")
            state[f"{prefix}.{key}"] = tensor
    model.load_state_dict(state)  # every key, every shape checked above
    source = {"format": "keras_h5", "file": str(file), "group": root, "layers_with_weights": len(layers),
              "arch": model.arch, "config": model.config()}
    return ImportedGenerator({"config": model.config(), "state_dict": state}, source)


# ----------------------------------------------------------------------------------------------
# PyTorch files: BasicSR's MSRResNet, this project's own
# ----------------------------------------------------------------------------------------------
def read_torch_file(file: Path, param: str, bare_config: dict[str, Any] | None = None) -> ImportedGenerator:
    """A BasicSR MSRResNet ``.pth``, this project's ``sr_generator`` file, or (with ``bare_config``) a
    bare state_dict of the parameters' generator; loaded ``weights_only``."""
    fail = _fail(param, file, "a generator file this project reads")
    try:
        saved, refused = torch.load(file, map_location="cpu", weights_only=True), None
    except Exception as error:  # noqa: BLE001 - torch.load fails on foreign bytes in many ways; all are the user's file
        saved, refused = None, type(error).__name__
    if refused:
        fail(FILE_KINDS + " (PyTorch files load with weights_only=True)",
             f"a file torch.load refused ({refused}): not a PyTorch file, or a pickled object (a whole model) "
             "that would run code to load")
    if isinstance(saved, dict) and "config" in saved and "state_dict" in saved:
        return _own_file(saved, file, param)
    state, key = saved, None
    if isinstance(saved, dict):
        key = next((k for k in (*BASICSR_KEYS, "state_dict") if isinstance(saved.get(k), dict)), None)
        state = saved[key] if key else saved
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        keys = ", ".join(map(str, list(saved)[:5])) if isinstance(saved, dict) else ""
        fail(FILE_KINDS, f"a {type(saved).__name__}" + (f" with keys {keys}" if keys else "") + " and no state_dict")
    state = {_basicsr_name(k): v for k, v in state.items()}
    if "conv_first.weight" in state:
        return _msrresnet(state, key, file, param)
    if bare_config is not None:  # fine-tuning from a bare state_dict of this project's generator
        return ImportedGenerator({"config": dict(bare_config), "state_dict": state},
                                 {"format": "state_dict", "file": str(file), "arch": bare_config.get("arch")})
    keys = ", ".join(list(state)[:4]) + (", ..." if len(state) > 4 else "")
    fail(FILE_KINDS, f"a state_dict with keys {keys} (no conv_first.weight, no config)")


def _basicsr_name(key: str) -> str:
    key = key.removeprefix("module.")
    for old, new in MMSR_NAMES.items():
        if key.startswith(old):
            return new + key[len(old):]
    return key


def _msrresnet(state: dict[str, torch.Tensor], key: str | None, file: Path, param: str) -> ImportedGenerator:
    """BasicSR's MSRResNet, its size read off the shapes, every key and shape checked."""
    fail = _fail(param, file, MSRRESNET_LAYOUT)
    first = state["conv_first.weight"]
    if first.ndim != 4:
        fail("conv_first.weight of 4 dimensions", f"shape {tuple(first.shape)}")
    channels, in_channels = int(first.shape[0]), int(first.shape[1])
    blocks = len({m.group(1) for k in state if (m := re.fullmatch(r"body\.(\d+)\.conv1\.weight", k))})
    if "upconv2.weight" in state:
        scale = 4
    elif "upconv1.weight" in state:
        ratio = state["upconv1.weight"].shape[0] // max(channels, 1)
        scale = {4: 2, 9: 3}.get(ratio, 0)
        if not scale:
            fail(f"upconv1 with {4 * channels} (x2) or {9 * channels} (x3) output channels",
                 f"{state['upconv1.weight'].shape[0]}")
    else:
        fail("upconv1.weight (the upsampling)", "no upconv1")
    if "conv_last.weight" not in state:
        fail("conv_last.weight", "no conv_last")
    model = MSRResNet(channels=channels, blocks=blocks, scale=scale, in_channels=in_channels,
                      out_channels=int(state["conv_last.weight"].shape[0]))
    expected = model.state_dict()
    _check_state(expected, state, f"MSRResNet's {len(expected)} keys for {blocks} blocks", fail)
    weights = {name: state[name].detach().to(torch.float32).contiguous() for name in expected}
    source = {"format": "basicsr_pth", "file": str(file), "key": key, "arch": model.arch, "config": model.config()}
    return ImportedGenerator({"config": model.config(), "state_dict": weights}, source)


def _own_file(saved: dict[str, Any], file: Path, param: str) -> ImportedGenerator:
    """This project's ``sr_generator`` file, checked by rebuilding the module it names."""
    config = dict(saved["config"])
    fail = _fail(param, file, "a generator file this project reads")
    arch = arch_of("generator", config)
    if arch not in GENERATORS:
        fail(f"a generator arch of {', '.join(GENERATORS)}", f"{arch!r}")
    try:
        model, refused = build_model("generator", config), None
    except (TypeError, ValueError) as error:
        model, refused = None, f"{type(error).__name__}: {_first_line(error)}"
    if model is None:
        fail(f"a config its arch {arch} accepts", f"{refused}")
    state = saved["state_dict"]
    if not isinstance(state, dict):
        fail("a state_dict", f"a {type(state).__name__}")
    _check_state(model.state_dict(), state, f"the keys of its config's {arch}", fail)
    source = {"format": "faceless", "file": str(file), "arch": arch, "config": config}
    return ImportedGenerator({"config": config, "state_dict": saved["state_dict"]}, source)


def _check_state(expected: dict[str, torch.Tensor], state: dict[str, Any], keys: str,
                 fail: Callable[[str, str], NoReturn]) -> None:
    """Every key of ``expected`` in ``state`` with its shape, and no other key (the first difference)."""
    missing = [k for k in expected if k not in state]
    if missing:
        fail(f"{missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""), "no such key")
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        fail(f"only {keys}", f"{unexpected[0]!r}{more}")
    for name, want in expected.items():
        found = getattr(state[name], "shape", None)
        if found != want.shape:
            fail(f"{name!r} of shape {tuple(want.shape)}",
                 f"{tuple(found)}" if found is not None else f"a {type(state[name]).__name__}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:160] if text else ""
