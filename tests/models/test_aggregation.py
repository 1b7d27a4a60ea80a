"""The NAN-style attention aggregator: weights over real frames only, order-invariant, any frame count."""
from __future__ import annotations

import pytest
import torch

from faceless.models import AGGREGATORS, build_model, load_model
from faceless.models.aggregation import AttentionAggregator

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DIM, CLASSES = 6, 4


def trained_like(blocks: int, seed: int = 0) -> AttentionAggregator:
    """An aggregator with random (non-zero) queries, so its weights are far from uniform."""
    torch.manual_seed(seed)
    model = AttentionAggregator(CLASSES, embed_dim=DIM, blocks=blocks)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 1)
        model.set_standardisation(torch.randn(DIM), torch.rand(DIM) + 0.5)
    return model.eval()


@pytest.mark.parametrize("blocks", [1, 2])
def test_weights_sum_to_one_over_real_frames_and_padding_gets_zero(blocks):
    model = trained_like(blocks)
    frames = torch.randn(3, 5, DIM)
    lengths = torch.tensor([5, 2, 1])
    mask = torch.arange(5).unsqueeze(0) < lengths.unsqueeze(1)
    frames[~mask] = 1e6  # padding's values must not matter
    logits, weights = model(frames, mask)
    assert logits.shape == (3, CLASSES) and weights.shape == (3, 5)
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    assert (weights[~mask] == 0).all()
    assert (weights[mask] > 0).all() and (weights[mask] < 1).sum() == 5 + 2  # a lone frame weighs exactly 1
    # A padded sequence scores as the same frames alone.
    for b, n in enumerate(lengths.tolist()):
        alone, alone_weights = model(frames[b, :n])
        torch.testing.assert_close(logits[b], alone, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(weights[b, :n], alone_weights, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("blocks", [1, 2])
def test_permuting_the_frames_permutes_the_weights_and_leaves_the_output(blocks):
    model = trained_like(blocks, seed=1)
    frames = torch.randn(7, DIM)
    logits, weights = model(frames)
    assert weights.max() > 2 * weights.min()  # not trivially uniform
    for seed in range(3):
        perm = torch.randperm(7, generator=torch.Generator().manual_seed(seed))
        permuted_logits, permuted_weights = model(frames[perm])
        torch.testing.assert_close(permuted_logits, logits, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(permuted_weights, weights[perm], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("frames_in_sequence", [1, 2, 9, 64])
def test_any_number_of_frames_from_one(frames_in_sequence):
    model = trained_like(2)
    logits, weights = model(torch.randn(frames_in_sequence, DIM))
    assert logits.shape == (CLASSES,) and weights.shape == (frames_in_sequence,)
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(weights.sum(), torch.tensor(1.0))


def test_a_sequence_without_real_frames_is_refused():
    model = trained_like(1)
    with pytest.raises(ValueError, match="at least one real frame"):
        model(torch.randn(2, 3, DIM), torch.tensor([[True, False, False], [False, False, False]]))
    with pytest.raises(ValueError, match="at least one real frame"):
        model(torch.zeros(0, DIM))


@pytest.mark.parametrize("blocks", [1, 2])
def test_untrained_it_is_mean_pooling_of_embeddings(blocks):
    # Queries and block 2's affine start at zero: every frame weighs alike until training says otherwise.
    model = AttentionAggregator(CLASSES, embed_dim=DIM, blocks=blocks)
    frames = torch.randn(5, DIM)
    logits, weights = model(frames)
    torch.testing.assert_close(weights, torch.full((5,), 0.2))
    torch.testing.assert_close(logits, model.head(frames.mean(0)))


def test_registered_and_rebuilt_from_its_saved_config():
    assert AGGREGATORS["nan_attention"] is AttentionAggregator
    model = trained_like(2)
    saved = {"config": model.config(), "state_dict": model.state_dict()}
    assert saved["config"] == {"arch": "nan_attention", "num_classes": CLASSES, "embed_dim": DIM, "blocks": 2}
    rebuilt = load_model("aggregator", saved)
    frames = torch.randn(4, DIM)
    torch.testing.assert_close(rebuilt(frames)[0], model(frames)[0])
    assert isinstance(build_model("aggregator", {"arch": "nan_attention", "num_classes": 3, "embed_dim": 2,
                                                 "blocks": 1}), AttentionAggregator)
    with pytest.raises(ValueError, match="blocks"):
        AttentionAggregator(3, embed_dim=2, blocks=3)
