"""SRResNet: shapes, the bicubic start, config round trip, FLOP count, and that it learns."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from faceless.models.generator import LEGACY_LAYOUT, SRResNet, srresnet_flops


def tiny(**overrides) -> SRResNet:
    cfg = {"channels": 8, "blocks": 2, "scale": 4, "bicubic_skip": True, **LEGACY_LAYOUT}
    cfg.update(overrides)
    return SRResNet(**cfg)


@pytest.mark.parametrize("size", [(8, 8), (17, 23), (64, 64)])
@pytest.mark.parametrize("scale", [2, 4])
def test_output_shape_is_scale_times_input(size, scale):
    h, w = size
    model = tiny(scale=scale).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, h, w))
    assert out.shape == (2, 3, h * scale, w * scale)


@pytest.mark.parametrize(
    ("batch", "c_in", "c_out", "skip"), [(1, 1, 1, True), (3, 3, 3, False), (2, 1, 3, False)]
)
def test_output_shape_for_batch_and_channel_combos(batch, c_in, c_out, skip):
    model = tiny(in_channels=c_in, out_channels=c_out, bicubic_skip=skip, scale=2).eval()
    with torch.no_grad():
        out = model(torch.rand(batch, c_in, 9, 11))
    assert out.shape == (batch, c_out, 18, 22)


def test_bicubic_skip_needs_matching_channels():
    with pytest.raises(ValueError, match="bicubic_skip"):
        SRResNet(channels=64, blocks=16, scale=4, in_channels=1, out_channels=3, bicubic_skip=True, **LEGACY_LAYOUT)


def test_untrained_bicubic_skip_generator_is_exactly_bicubic():
    torch.manual_seed(0)
    model = tiny().train()  # BN in training mode too: the zero tail makes it irrelevant
    x = torch.rand(2, 3, 12, 10)
    with torch.no_grad():
        out = model(x)
    expected = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.equal(out, expected)


def test_config_round_trip_gives_identical_outputs():
    torch.manual_seed(0)
    model = tiny(scale=2, bicubic_skip=False).eval()
    cfg = model.config()
    assert cfg == {
        "arch": "srresnet",
        "in_channels": 3,
        "out_channels": 3,
        "channels": 8,
        "blocks": 2,
        "scale": 2,
        "bicubic_skip": False,
        "head_kernel": 9,
        "tail_kernel": 9,
        "upsample": "progressive",
    }
    clone = SRResNet.from_config(dict(cfg))
    clone.load_state_dict(model.state_dict())
    clone.eval()
    x = torch.rand(1, 3, 10, 10)
    with torch.no_grad():
        assert torch.equal(model(x), clone(x))


@pytest.mark.parametrize("scale", [3, 1, 6, 16])
def test_scale_that_is_not_2_4_or_8_raises_naming_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        SRResNet(channels=64, blocks=16, scale=scale, bicubic_skip=True, **LEGACY_LAYOUT)
    with pytest.raises(ValueError, match="scale"):
        srresnet_flops(8, 8, {"channels": 64, "blocks": 16, "scale": scale, **LEGACY_LAYOUT})


def test_flops_of_paper_config_at_64x64_match_a_hand_count():
    # Hand count, multiply-adds per output pixel = k*k*c_in*c_out, for a 64x64 input:
    pixels = 64 * 64
    head = 9 * 9 * 3 * 64 * pixels
    res_blocks = 16 * 2 * (3 * 3 * 64 * 64 * pixels)
    body_tail = 3 * 3 * 64 * 64 * pixels
    up1 = 3 * 3 * 64 * 256 * pixels  # at 64x64
    up2 = 3 * 3 * 64 * 256 * pixels * 4  # at 128x128
    tail = 9 * 9 * 64 * 3 * pixels * 16  # at 256x256
    hand = 2 * (head + res_blocks + body_tail + up1 + up2 + tail)
    flops = srresnet_flops(64, 64, {"channels": 64, "blocks": 16, "scale": 4, **LEGACY_LAYOUT})
    assert flops == pytest.approx(hand)
    assert 17e9 < flops < 19e9  # ~18.2 GFLOP


LAYOUTS = [{"head_kernel": 9, "tail_kernel": 9, "upsample": "progressive"},
           {"head_kernel": 3, "tail_kernel": 3, "upsample": "progressive"},
           {"head_kernel": 3, "tail_kernel": 3, "upsample": "single"},
           {"head_kernel": 5, "tail_kernel": 1, "upsample": "single"}]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("scale", [2, 4])
def test_every_layout_upscales_any_size_and_starts_as_bicubic(layout, scale):
    torch.manual_seed(0)
    model = tiny(scale=scale, **layout).eval()
    x = torch.rand(2, 3, 7, 10)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 3, 7 * scale, 10 * scale)
    assert torch.equal(out, F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_flop_formula_equals_torch_flop_counter_for_every_layout(layout):
    from torch.utils.flop_counter import FlopCounterMode

    model = tiny(**layout, bicubic_skip=False).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.rand(1, 3, 12, 16))
    assert srresnet_flops(12, 16, {"channels": 8, "blocks": 2, "scale": 4, **layout}) == counter.get_total_flops()


def test_single_upsampler_and_small_kernels_cost_a_fraction_of_the_paper_layout():
    paper = srresnet_flops(64, 64, {"channels": 32, "blocks": 6, "scale": 4, **LEGACY_LAYOUT})
    fast = srresnet_flops(64, 64, {"channels": 32, "blocks": 6, "scale": 4, "head_kernel": 3, "tail_kernel": 3,
                                   "upsample": "single"})
    assert fast < paper / 3


def test_files_saved_before_the_layout_options_load_as_the_paper_layout():
    saved_config = {"arch": "srresnet", "in_channels": 3, "out_channels": 3, "channels": 8, "blocks": 1,
                    "scale": 4, "bicubic_skip": True}
    model = SRResNet.from_config(saved_config)
    assert model.head[0].kernel_size == (9, 9) and model.tail.kernel_size == (9, 9)
    assert len(model.upsample) == 2


@pytest.mark.parametrize("bad", [{"head_kernel": 4}, {"tail_kernel": 0}, {"upsample": "nearest"}])
def test_bad_layout_options_raise_naming_them(bad):
    with pytest.raises(ValueError, match=next(iter(bad)) if "kernel" in next(iter(bad)) else "upsample"):
        tiny(**bad)


def test_flops_scale_with_area():
    config = {"channels": 16, "blocks": 2, "scale": 2, **LEGACY_LAYOUT}
    assert srresnet_flops(32, 64, config) == pytest.approx(2 * srresnet_flops(32, 32, config))


@pytest.mark.parametrize("skip", [True, False])
def test_one_adam_step_lowers_mse_on_a_fixed_batch(skip):
    torch.manual_seed(0)
    model = tiny(scale=2, bicubic_skip=skip).train()
    lr_img = torch.rand(4, 3, 8, 8)
    # Nearest, not bicubic, upscaled targets: something left to learn even from the bicubic start.
    hr_img = F.interpolate(lr_img, scale_factor=2, mode="nearest")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loss() -> torch.Tensor:
        return F.mse_loss(model(lr_img), hr_img)

    before = loss()
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = loss()
    assert after.item() < before.item()
