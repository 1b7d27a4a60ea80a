"""SRGAN discriminator: one logit per image for any input size; layout as in the paper."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from faceless.models.discriminator import SRGANDiscriminator


@pytest.mark.parametrize(("h", "w"), [(32, 32), (96, 96), (100, 70)])
def test_one_logit_per_image_for_any_size(h, w):
    model = SRGANDiscriminator(channels=8, pooled_size=6).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, h, w))
    assert out.shape == (2, 1)
    assert torch.isfinite(out).all()


def test_paper_layout_eight_convs_four_of_them_stride_two():
    model = SRGANDiscriminator(channels=64, pooled_size=6)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.features) == 7
    dense = [m for m in model.classifier if isinstance(m, nn.Linear)]
    assert [d.out_features for d in dense] == [1024, 1]
    assert dense[0].in_features == 512 * 6 * 6  # the paper's flattened map at 96x96


def test_config_round_trip_gives_identical_outputs():
    torch.manual_seed(0)
    model = SRGANDiscriminator(in_channels=1, channels=4, pooled_size=4).eval()
    cfg = model.config()
    assert cfg == {"arch": "srgan_vgg", "in_channels": 1, "channels": 4, "pooled_size": 4}
    clone = SRGANDiscriminator.from_config(dict(cfg))
    clone.load_state_dict(model.state_dict())
    clone.eval()
    x = torch.rand(3, 1, 40, 40)
    with torch.no_grad():
        assert torch.equal(model(x), clone(x))
