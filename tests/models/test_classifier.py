"""FrameClassifier: any input size, the stem's geometry, the config round trip; backbones by ``arch``."""
from __future__ import annotations

import pytest
import torch

from faceless.models import BACKBONES, build_model, load_model
from faceless.models.classifier import FrameClassifier, stem_geometry
from faceless.utils.errors import ConfigError

BASE = 64  # classifier.model.base_size in conf/base


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("input_size, shape", [
    (8, (8, 8)),
    (64, (64, 64)),
    (256, (256, 256)),
    (64, (48, 80)),      # non-square
    (256, (256, 192)),   # non-square through a strided stem
])
def test_frame_classifier_outputs_one_row_of_logits_per_frame(input_size, shape):
    torch.manual_seed(0)
    model = FrameClassifier(5, input_size=input_size, width=8, depth=3, dropout=0.3, base_size=BASE).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, *shape))
    assert out.shape == (2, 5)
    assert torch.isfinite(out).all()


def test_frame_classifier_depth_and_width_set_the_head():
    model = FrameClassifier(4, width=4, depth=2, dropout=0.3, input_size=64, base_size=BASE).eval()
    assert model.head[-1].in_features == 4 * 2 ** 2
    with torch.no_grad():
        assert model(torch.rand(1, 3, 16, 16)).shape == (1, 4)


def test_stem_geometry():
    assert stem_geometry(64, BASE) == (3, 1)
    assert stem_geometry(8, BASE) == (3, 1)  # smaller than the base: never a stride below 1
    kernel, stride = stem_geometry(256, BASE)
    assert stride == 4
    assert kernel % 2 == 1 and kernel > stride  # odd (centred padding) and covering each stride cell
    assert stem_geometry(128, BASE)[1] == 2


@pytest.mark.parametrize("input_size, stride", [(64, 1), (256, 4)])
def test_frame_classifier_stem_uses_the_geometry(input_size, stride):
    conv = FrameClassifier(3, input_size=input_size, width=4, depth=3, dropout=0.3, base_size=BASE).stem[0]
    kernel, expected_stride = stem_geometry(input_size, BASE)
    assert expected_stride == stride
    assert conv.stride == (stride, stride)
    assert conv.kernel_size == (kernel, kernel)


def test_frame_classifier_config_round_trip_gives_identical_outputs():
    torch.manual_seed(1)
    model = FrameClassifier(6, input_size=256, width=8, depth=2, dropout=0.1, base_size=BASE).eval()
    config = model.config()
    assert config == {"arch": "small_cnn", "num_classes": 6, "input_size": 256, "width": 8, "depth": 2,
                      "dropout": 0.1, "base_size": 64, "in_channels": 3}
    config["num_classes"] = 99  # config() hands out a copy
    assert model.config()["num_classes"] == 6

    rebuilt = FrameClassifier.from_config(model.config())
    rebuilt.load_state_dict(model.state_dict())
    rebuilt.eval()
    x = torch.rand(3, 3, 256, 256)
    with torch.no_grad():
        assert torch.equal(model(x), rebuilt(x))


@pytest.mark.parametrize("num_classes", [1, 0, -3])
def test_frame_classifier_needs_two_classes(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        FrameClassifier(num_classes, width=32, depth=3, dropout=0.3, input_size=64, base_size=BASE)


# ----------------------------------------------------------------------------------------------
# The backbone registry
# ----------------------------------------------------------------------------------------------
def test_the_arch_saved_in_a_config_rebuilds_the_same_module():
    torch.manual_seed(2)
    model = FrameClassifier(4, input_size=64, width=8, depth=2, dropout=0.3, base_size=BASE).eval()
    saved = {"config": model.config(), "state_dict": model.state_dict()}
    assert BACKBONES[saved["config"]["arch"]] is FrameClassifier
    rebuilt = load_model("backbone", saved)
    assert type(rebuilt) is FrameClassifier and not rebuilt.training
    assert rebuilt.config() == model.config()
    assert str(rebuilt) == str(model)  # the same layers, not only the same class
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_build_model_of_an_unknown_arch_is_a_config_error():
    config = {**FrameClassifier(3, width=4, depth=3, dropout=0.3, input_size=64, base_size=BASE).config(), "arch": "resnet_unknown"}
    with pytest.raises(ConfigError, match="resnet_unknown") as err:
        build_model("backbone", config)
    assert "small_cnn" in str(err.value)  # names what is known


@pytest.mark.parametrize("input_size", [8, 13, 25, 31, 32, 52, 97, 100, 124, 388])
@pytest.mark.parametrize("depth", [3, 4])
def test_small_and_odd_inputs_train_and_predict(input_size, depth):
    # 8 px frames (lr, clean64) and their 32 px upscales; odd sides; a depth that pools an 8 px map to 1 px
    torch.manual_seed(0)
    model = FrameClassifier(5, width=4, depth=depth, dropout=0.0, input_size=input_size, base_size=BASE)
    x = torch.rand(2, 3, input_size, input_size)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 3]))
    loss.backward()  # train mode: BatchNorm over the smallest maps still has values to normalise
    assert torch.isfinite(loss) and model.stem[0].weight.grad.abs().sum() > 0  # the loss reaches the stem
    # Every pixel is seen: the stem keeps ceil(side / stride), each stage halves it rounding up (never below 1).
    side = -(-input_size // stem_geometry(input_size, BASE)[1])
    for _ in range(depth):
        side = -(-side // 2)
    model.eval()
    assert model.body(model.stem(x)).shape[-2:] == (side, side)
    assert model(x).shape == (2, 5)
    with torch.no_grad():  # in eval mode a frame's logits do not depend on the rest of its batch
        torch.testing.assert_close(model(x[:1]), model(x)[:1])


def test_an_odd_map_keeps_its_last_row_and_column_in_the_pooling():
    # ceil_mode pooling: 13 -> 7 -> 4 -> 2 (floor would drop the last row: 13 -> 6 -> 3 -> 1); 64 is unchanged
    model = FrameClassifier(3, width=4, depth=3, dropout=0.0, input_size=13, base_size=BASE).eval()
    assert model.body(model.stem(torch.rand(1, 3, 13, 13))).shape[-2:] == (2, 2)
    model = FrameClassifier(3, width=4, depth=3, dropout=0.0, input_size=64, base_size=BASE).eval()
    assert model.body(model.stem(torch.rand(1, 3, 64, 64))).shape[-2:] == (8, 8)
