"""Reading generators pretrained elsewhere: krasserm's Keras .h5 and BasicSR's MSRResNet .pth.

Each imported generator is checked against an independent reference of its architecture written
here with functional ops on the file's own arrays (for Keras: NHWC, 'same' convolution as its
definition, TensorFlow's depth_to_space, Keras' BatchNormalization epsilon), on the same input.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from faceless.data.datasets import TorchWeightsDataset
from faceless.models import GENERATORS, build_model, load_model
from faceless.models.krasserm_srresnet import KrassermSRResNet
from faceless.models.msrresnet import MSRResNet
from faceless.models.pretrained import read_generator_file
from faceless.utils.errors import ConfigError

from .pretrained_files import basicsr_state, krasserm_layers, write_basicsr_pth, write_krasserm_h5

PARAM = "variants.srgan_pretrained.import"
KERAS_BN_EPSILON = 1e-3  # keras.layers.BatchNormalization's default, which krasserm keeps


def images(n: int = 2, size: int = 9, seed: int = 0) -> torch.Tensor:
    """float NCHW in [0, 1] (odd size: padding and shuffles must line up on every edge)."""
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def run(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


# ----------------------------------------------------------------------------------------------
# Reference implementations, from the files' arrays
# ----------------------------------------------------------------------------------------------
def keras_conv(x: torch.Tensor, kernel: np.ndarray, bias: np.ndarray) -> torch.Tensor:
    """Keras Conv2D(padding='same') on NHWC: out[h, w, o] = b[o] + sum_ij,c x[h+i-p, w+j-p, c] K[i, j, c, o]."""
    k = torch.from_numpy(kernel).double()
    size, pad = k.shape[0], k.shape[0] // 2
    n, h, w, _ = x.shape
    padded = F.pad(x, (0, 0, pad, pad, pad, pad))
    out = torch.from_numpy(bias).double().expand(n, h, w, -1).clone()
    for i in range(size):
        for j in range(size):
            out += torch.einsum("nhwc,co->nhwo", padded[:, i:i + h, j:j + w, :], k[i, j])
    return out


def depth_to_space(x: torch.Tensor, block: int) -> torch.Tensor:
    """tf.nn.depth_to_space on NHWC: out[h*b + i, w*b + j, c] = in[h, w, (i*b + j) * C + c]."""
    n, h, w, depth = x.shape
    c = depth // (block * block)
    return x.reshape(n, h, w, block, block, c).permute(0, 1, 3, 2, 4, 5).reshape(n, h * block, w * block, c)


def keras_bn(x: torch.Tensor, weights: dict[str, np.ndarray]) -> torch.Tensor:
    t = {k: torch.from_numpy(v).double() for k, v in weights.items()}
    return (x - t["moving_mean"]) / torch.sqrt(t["moving_variance"] + KERAS_BN_EPSILON) * t["gamma"] + t["beta"]


def keras_prelu(x: torch.Tensor, weights: dict[str, np.ndarray]) -> torch.Tensor:
    return torch.where(x >= 0, x, torch.from_numpy(weights["alpha"]).double() * x)


def krasserm_reference(layers, x_nchw: torch.Tensor) -> torch.Tensor:
    """krasserm's sr_resnet on images in [0, 1], NCHW; returns NCHW on its own 0..255 output scale."""
    weighted = iter([w for _, w in layers if w])

    def conv(x):
        w = next(weighted)
        return keras_conv(x, w["kernel"], w["bias"])

    x = x_nchw.double().permute(0, 2, 3, 1) * 255   # the Keras model's input: 0..255 RGB
    x = x / 255.0                                    # normalize_01
    x = skip = keras_prelu(conv(x), next(weighted))
    body_layers = sum(1 for _, w in layers if w) - 2 - 2 - 2 * 2 - 1
    for _ in range(body_layers // 5):
        y = keras_prelu(keras_bn(conv(x), next(weighted)), next(weighted))
        x = x + keras_bn(conv(y), next(weighted))
    x = skip + keras_bn(conv(x), next(weighted))
    for _ in range(2):
        x = keras_prelu(depth_to_space(conv(x), 2), next(weighted))
    x = torch.tanh(conv(x))
    return ((x + 1) * 127.5).permute(0, 3, 1, 2)    # denormalize_m11


def msrresnet_reference(state: dict[str, torch.Tensor], x: torch.Tensor, scale: int) -> torch.Tensor:
    """BasicSR's MSRResNet.forward with functional ops on the state_dict."""
    def conv(t, name):
        return F.conv2d(t, state[f"{name}.weight"], state[f"{name}.bias"], padding=1)

    def lrelu(t):
        return F.leaky_relu(t, 0.1)

    blocks = len({k.split(".")[1] for k in state if k.startswith("body.")})
    out = lrelu(conv(x, "conv_first"))
    for i in range(blocks):
        out = out + conv(F.relu(conv(out, f"body.{i}.conv1")), f"body.{i}.conv2")
    if scale == 4:
        out = lrelu(F.pixel_shuffle(conv(out, "upconv1"), 2))
        out = lrelu(F.pixel_shuffle(conv(out, "upconv2"), 2))
    else:
        out = lrelu(F.pixel_shuffle(conv(out, "upconv1"), scale))
    out = conv(lrelu(conv(out, "conv_hr")), "conv_last")
    return out + F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------------------------
# krasserm .h5
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("saved_model, chunked", [(False, False), (True, False), (False, True)],
                         ids=["save_weights", "saved_model", "chunked_layer_names"])
def test_krasserm_h5_gives_the_keras_models_output(tmp_path, saved_model, chunked):
    layers = krasserm_layers(channels=8, blocks=3, seed=1)
    path = write_krasserm_h5(tmp_path / "gan_generator.h5", layers, saved_model=saved_model, chunked=chunked)
    imported = read_generator_file(path, PARAM)
    assert imported.saved["config"] == {"arch": "krasserm_srresnet", "in_channels": 3, "out_channels": 3,
                                        "channels": 8, "blocks": 3, "scale": 4}
    assert imported.source["format"] == "keras_h5"
    model = load_model("generator", imported.saved)
    assert isinstance(model, KrassermSRResNet)
    x = images()
    out = run(model, x)
    assert out.shape == (2, 3, 36, 36)
    reference = krasserm_reference(layers, x)
    torch.testing.assert_close(out.double() * 255, reference, atol=2e-3, rtol=0)
    assert reference.std() > 1.0  # a real image-like spread, not a constant both sides agree on


def test_the_depth_to_space_reordering_matters(tmp_path):
    """Without the channel reordering the upsampling would scramble sub-pixels: the reference must
    then disagree, so the test above checks the reordering."""
    layers = krasserm_layers(channels=4, blocks=1, seed=2)
    model = load_model("generator", read_generator_file(write_krasserm_h5(tmp_path / "g.h5", layers), PARAM).saved)
    for up in model.upsample:  # undo the reordering: nn.PixelShuffle on TensorFlow's channel order
        c = up.conv.out_channels // 4
        tf_order = torch.arange(4 * c).reshape(c, 4).T.reshape(-1)
        inverse = torch.empty_like(tf_order)
        inverse[tf_order] = torch.arange(4 * c)
        up.conv.weight.data, up.conv.bias.data = up.conv.weight.data[inverse], up.conv.bias.data[inverse]
    x = images(1, 6)
    assert (run(model, x).double() * 255 - krasserm_reference(layers, x)).abs().max() > 0.5


# ----------------------------------------------------------------------------------------------
# BasicSR .pth
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [4, 2, 3])
@pytest.mark.parametrize("key", ["params", "params_ema", None])
def test_basicsr_pth_gives_msrresnets_output(tmp_path, scale, key):
    state = basicsr_state(channels=8, blocks=2, scale=scale, seed=3)
    path = write_basicsr_pth(tmp_path / "MSRResNet.pth", state, key=key)
    imported = read_generator_file(path, PARAM)
    assert imported.saved["config"] == {"arch": "msrresnet", "in_channels": 3, "out_channels": 3, "channels": 8,
                                        "blocks": 2, "scale": scale}
    assert imported.source["format"] == "basicsr_pth" and imported.source["key"] == key
    model = load_model("generator", imported.saved)
    assert isinstance(model, MSRResNet)
    x = images()
    reference = msrresnet_reference(state, x, scale)
    torch.testing.assert_close(run(model, x), reference, atol=1e-5, rtol=1e-5)
    assert (reference - F.interpolate(x, scale_factor=scale, mode="bilinear")).abs().mean() > 1e-3


def test_params_ema_is_preferred_over_params(tmp_path):
    ema, raw = basicsr_state(8, 1, 4, seed=4), basicsr_state(8, 1, 4, seed=5)
    path = write_basicsr_pth(tmp_path / "net_g.pth", raw, key="params", params_ema=ema)
    imported = read_generator_file(path, PARAM)
    assert imported.source["key"] == "params_ema"
    x = images()
    torch.testing.assert_close(run(load_model("generator", imported.saved), x), msrresnet_reference(ema, x, 4),
                               atol=1e-5, rtol=1e-5)


def test_older_mmsr_names_and_a_dataparallel_prefix_are_read(tmp_path):
    state = basicsr_state(8, 2, 4, seed=6)
    renamed = {"module." + k.replace("body.", "recon_trunk.").replace("conv_hr.", "HRconv."): v
               for k, v in state.items()}
    imported = read_generator_file(write_basicsr_pth(tmp_path / "old.pth", renamed, key=None), PARAM)
    x = images()
    torch.testing.assert_close(run(load_model("generator", imported.saved), x), msrresnet_reference(state, x, 4),
                               atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------------------------
# Files that do not match: one line, what was expected, what was found
# ----------------------------------------------------------------------------------------------
def _h5(layers):
    return lambda path: write_krasserm_h5(path.with_suffix(".h5"), layers)


def _pth(state, key="params"):
    return lambda path: write_basicsr_pth(path.with_suffix(".pth"), state, key=key)


def _edsr_like():  # convolutions only: krasserm's EDSR / WDSR files, not its SRGAN
    return [(n, w) for n, w in krasserm_layers(4, 1, seed=0) if "kernel" in w or not w]


def _block_without_its_second_bn():
    layers = krasserm_layers(4, 2, seed=0)
    del layers[[n for n, _ in layers].index("batch_normalization_1")]
    return layers


def _one_layer_too_wide():
    layers = krasserm_layers(4, 1, seed=0)
    name, weights = layers[4]  # the first block's first conv: 4 -> 5 channels
    layers[4] = (name, {"kernel": np.zeros((3, 3, 4, 5), np.float32), "bias": np.zeros(5, np.float32)})
    return layers


def _plain_hdf5(path):
    import h5py

    with h5py.File(path.with_suffix(".h5"), "w") as h5:
        h5["data"] = np.zeros(3)
    return path.with_suffix(".h5")


def _rrdb_keys():  # ESRGAN's RRDBNet: conv_first like MSRResNet, then other blocks
    state = basicsr_state(4, 1, 4, seed=0)
    state = {k: v for k, v in state.items() if not k.startswith("body.")}
    state["body.0.rdb1.conv1.weight"] = torch.zeros(4, 4, 3, 3)
    return state


def _wrong_shape():
    state = basicsr_state(4, 2, 4, seed=0)
    state["conv_hr.weight"] = torch.zeros(4, 4, 5, 5)
    return state


def _missing_key():
    state = basicsr_state(4, 2, 4, seed=0)
    del state["body.1.conv2.weight"]
    return state


def _text(path):
    path = path.with_suffix(".pth")
    path.write_text("not weights\n")
    return path


def _pickled_module(path):  # a whole pickled model: weights_only refuses to run its code
    path = path.with_suffix(".pth")
    torch.save(torch.nn.Conv2d(3, 3, 3), path)
    return path


MISMATCHES = {
    "edsr_h5": (_h5(_edsr_like()), ["krasserm's sr_resnet", "expected a prelu layer as weighted layer 2",
                                    "found conv (layer 'conv2d_1')"]),
    "missing_bn_h5": (_h5(_block_without_its_second_bn()), ["expected a bn layer as weighted layer 7",
                                                              "found conv (layer 'conv2d_3')"]),
    "too_wide_h5": (_h5(_one_layer_too_wide()), ["layer 'conv2d_1'", "(4, 4, 3, 3)", "(3, 3, 4, 5)"]),
    "plain_hdf5": (_plain_hdf5, ["expected an HDF5 file with the attribute layer_names",
                                 "found top-level entries data"]),
    "rrdb_pth": (_pth(_rrdb_keys()), ["BasicSR's MSRResNet", "found 'body.0.rdb1.conv1.weight'"]),
    "wrong_shape_pth": (_pth(_wrong_shape()), ["expected 'conv_hr.weight' of shape (4, 4, 3, 3)",
                                               "found (4, 4, 5, 5)"]),
    "missing_key_pth": (_pth(_missing_key(), key=None), ["expected 'body.1.conv2.weight'", "found no such key"]),
    "unrelated_pth": (_pth({"fc.weight": torch.zeros(2, 2)}), ["found a state_dict with keys fc.weight"]),
    "text_file": (_text, ["found a file torch.load refused"]),
    "pickled_module": (_pickled_module, ["weights_only=True", "found a file torch.load refused"]),
}


@pytest.mark.parametrize("name", list(MISMATCHES))
def test_a_file_that_does_not_match_is_one_line_saying_what_was_expected_and_found(tmp_path, name):
    write, says = MISMATCHES[name]
    path = write(tmp_path / name)
    with pytest.raises(ConfigError) as error:
        read_generator_file(path, PARAM)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{PARAM}: '{path}' is not ")
    assert "expected" in message and "found" in message
    for part in says:
        assert part in message, message


def test_a_missing_file_names_the_parameter(tmp_path):
    with pytest.raises(ConfigError, match=rf"^{PARAM}: no file at"):
        read_generator_file(tmp_path / "nope.h5", PARAM)


# ----------------------------------------------------------------------------------------------
# This project's own files; the registry
# ----------------------------------------------------------------------------------------------
def test_an_imported_generator_saves_and_loads_as_an_sr_generator_file(tmp_path):
    imported = read_generator_file(write_krasserm_h5(tmp_path / "g.h5", krasserm_layers(4, 1, seed=7)), PARAM)
    dataset = TorchWeightsDataset(str(tmp_path / "sr_generator_srgan_pretrained.pt"))
    dataset.save(imported.saved)
    again = read_generator_file(tmp_path / "sr_generator_srgan_pretrained.pt", PARAM)
    assert again.source["format"] == "faceless" and again.saved["config"] == imported.saved["config"]
    x = images()
    torch.testing.assert_close(run(load_model("generator", dataset.load()), x),
                               run(load_model("generator", imported.saved), x))


def test_a_bare_state_dict_needs_a_config_to_be_read_with(tmp_path):
    path = tmp_path / "bare.pt"
    model = build_model("generator", {"arch": "srresnet", "channels": 4, "blocks": 1, "scale": 4, "bicubic_skip": True})
    torch.save(model.state_dict(), path)
    with pytest.raises(ConfigError, match="found a state_dict with keys head.0.weight"):
        read_generator_file(path, PARAM)
    config = model.config()
    assert read_generator_file(path, PARAM, bare_config=config).saved["config"] == config


@pytest.mark.parametrize("arch", ["krasserm_srresnet", "msrresnet"])
def test_the_imported_archs_are_registered_and_refuse_a_bicubic_skip(arch):
    assert arch in GENERATORS
    config = {"arch": arch, "channels": 4, "blocks": 1, "scale": 4}
    assert build_model("generator", {**config, "bicubic_skip": False}).config() == {**config, "in_channels": 3,
                                                                                    "out_channels": 3}
    with pytest.raises(ConfigError, match="set srgan.generator.bicubic_skip=false"):
        build_model("generator", {**config, "bicubic_skip": True})
