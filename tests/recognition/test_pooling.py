"""Sequence pooling by a trained attention head: its config, its contract beside mean pooling, the
per-seed heads of a saved classifier, and a small problem it must learn (one clean frame among
corrupted ones) where mean pooling of the same frame predictions fails."""
from __future__ import annotations

import dataclasses
import io

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from faceless import inference
from faceless.inference import (attention_head, classify_sequences, frame_embeddings, frame_log_probs, pool_sequences,
                                sequence_attention, sequence_ids, to_nchw_uint8)
from faceless.models.aggregation import AttentionAggregator
from faceless.models.classifier import FrameClassifier
from faceless.recognition.pooling import (PoolingConfig, draw_sets, pool_sequences_attention, train_attention_pooling,
                                          train_pooling_heads)
from faceless.training.tracker import MemoryTracker
from faceless.utils.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PARAMS = {"method": "attention", "blocks": 2, "steps": 150, "lr": 0.05, "weight_decay": 0.0, "batch_sequences": 32,
          "set_frames": [3, 6], "eval_every_steps": 50, "selection": "best_val", "seed": 0, "device": "cpu",
          "precision": "fp32", "frame_batch_size": 64}


# ----------------------------------------------------------------------------------------------
# The config
# ----------------------------------------------------------------------------------------------
def test_config_from_params_and_one_line_errors_naming_the_key():
    cfg = PoolingConfig.from_params(PARAMS)
    assert cfg.method == "attention" and cfg.blocks == 2 and cfg.set_frames == [3, 6]
    with pytest.raises(ValueError, match=r"unknown parameter pooling\.blcks") as err:
        PoolingConfig.from_params({**PARAMS, "blcks": 1})
    assert isinstance(err.value, ConfigError) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"missing parameter pooling\.steps"):
        PoolingConfig.from_params({k: v for k, v in PARAMS.items() if k != "steps"})
    for key, value in [("method", "max"), ("blocks", 3), ("set_frames", [4, 2]), ("steps", 0), ("lr", 0)]:
        with pytest.raises(ValueError, match=rf"pooling\.{key}"):
            PoolingConfig.from_params({**PARAMS, key: value})
    # Nested under another section, the messages name where it sits.
    with pytest.raises(ValueError, match=r"missing parameter classifier\.pooling\.seed"):
        PoolingConfig.from_params({k: v for k, v in PARAMS.items() if k != "seed"}, "classifier.pooling")


# ----------------------------------------------------------------------------------------------
# The contract of pool_sequences
# ----------------------------------------------------------------------------------------------
def random_head(classes: int, dim: int, blocks: int = 2, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    model = AttentionAggregator(classes, embed_dim=dim, blocks=blocks)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 1)
    return {"config": model.config(), "state_dict": model.state_dict()}


def interleaved_ids(lengths: list[int], seed: int = 0) -> np.ndarray:
    """Sequence ids 0..S-1 in order of first appearance (as sequence_ids gives), frames interleaved."""
    rng = np.random.default_rng(seed)
    ids = np.concatenate([np.full(n, s) for s, n in enumerate(lengths)])
    rng.shuffle(ids)
    first = pd.factorize(ids)[0]  # renumber by first appearance
    return first


def test_pooled_scores_follow_pool_sequences_contract():
    lengths = [3, 1, 5, 2, 4]
    ids = interleaved_ids(lengths)
    embeddings = torch.randn(len(ids), 6)
    head = random_head(4, 6)
    scores, counts = pool_sequences_attention(head, embeddings, ids)
    mean_scores, mean_counts = pool_sequences(torch.randn(len(ids), 4).log_softmax(1), ids)
    assert scores.shape == mean_scores.shape == (5, 4) and scores.dtype == mean_scores.dtype == torch.float32
    assert counts.tolist() == mean_counts.tolist()
    # Log-probabilities, each sequence's the head applied to its own frames alone, in id order.
    torch.testing.assert_close(scores.exp().sum(1), torch.ones(5))
    model = inference.load_model("aggregator", head)
    for s in range(5):
        logits, _ = model(embeddings[torch.as_tensor(ids == s)])
        torch.testing.assert_close(scores[s], logits.log_softmax(0), rtol=1e-5, atol=1e-5)


def test_frame_weights_sum_to_one_per_sequence_and_chunks_do_not_change_a_thing(monkeypatch):
    lengths = [3, 1, 5, 2, 4, 7, 1]
    ids = interleaved_ids(lengths, seed=1)
    embeddings = torch.randn(len(ids), 6)
    head = random_head(3, 6, blocks=1)
    scores, counts, weights = sequence_attention(head, embeddings, ids)
    sums = torch.zeros(len(lengths)).index_add_(0, torch.as_tensor(ids), weights)
    torch.testing.assert_close(sums, torch.ones(len(lengths)))
    singles = np.flatnonzero(np.bincount(ids) == 1)
    assert len(singles) == 2 and (weights[torch.as_tensor(np.isin(ids, singles))] == 1.0).all()
    monkeypatch.setattr(inference, "ATTENTION_CHUNK_SLOTS", 8)  # a few sequences a chunk
    assert len(inference._sequence_chunks(counts)) > 2
    chunked, _, chunked_weights = sequence_attention(head, embeddings, ids)
    torch.testing.assert_close(chunked, scores)
    torch.testing.assert_close(chunked_weights, weights)


def test_ids_with_a_gap_are_refused():
    with pytest.raises(ValueError, match="every id present"):
        pool_sequences_attention(random_head(3, 4), torch.randn(3, 4), np.array([0, 2, 2]))


def test_draw_sets_takes_random_subsets_of_real_frames_of_the_sizes_asked():
    lengths = torch.tensor([1, 2, 6, 9])
    draws = torch.Generator().manual_seed(0)
    rows, mask = draw_sets(lengths, 400, [3, 5], draws)
    n, size = lengths[rows], mask.sum(1)
    assert not (mask & (torch.arange(9).unsqueeze(0) >= n.unsqueeze(1))).any()  # padding never drawn
    assert (size == torch.clamp(n, max=3)).logical_or((size >= 3) & (size <= torch.clamp(n, max=5))).all()
    assert set(size[n == 9].tolist()) == {3, 4, 5}
    assert set(mask[n == 9].float().argmax(1).tolist()) > {0}  # not always the first frames
    again = draw_sets(lengths, 400, [3, 5], torch.Generator().manual_seed(0))
    assert torch.equal(again[0], rows) and torch.equal(again[1], mask)


# ----------------------------------------------------------------------------------------------
# A small learning problem: one clean frame among corrupted ones
# ----------------------------------------------------------------------------------------------
CLASSES, FRAMES, CONTENT = 4, 6, 8


def clean_among_corrupted(sequences: int, seed: int) -> tuple[torch.Tensor, pd.DataFrame, torch.Tensor]:
    """Embeddings of ``sequences`` sequences of FRAMES frames: one clean frame (its class's prototype,
    a little noise) at a random place, the others corrupted (strong noise that carries no class).
    One channel tells quality (as a blurred frame's weaker edges would), not identity. Returns the
    embeddings (N, D), the index rows and each frame's cleanliness."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(CLASSES, (sequences,), generator=g)
    clean = torch.zeros(sequences, FRAMES, dtype=torch.bool)
    clean[torch.arange(sequences), torch.randint(FRAMES, (sequences,), generator=g)] = True
    prototypes = 2.0 * torch.eye(CLASSES, CONTENT)
    content = torch.where(clean.unsqueeze(2), prototypes[labels].unsqueeze(1).expand(-1, FRAMES, -1)
                          + 0.3 * torch.randn(sequences, FRAMES, CONTENT, generator=g),
                          3.0 * torch.randn(sequences, FRAMES, CONTENT, generator=g))
    quality = torch.where(clean, 1.0, -1.0) + 0.2 * torch.randn(sequences, FRAMES, generator=g)
    spare = torch.randn(sequences, FRAMES, 3, generator=g)
    embeddings = torch.cat([content, quality.unsqueeze(2), spare], 2).reshape(sequences * FRAMES, -1)
    index = pd.DataFrame({"person": np.repeat(labels.numpy(), FRAMES), "video": np.repeat(np.arange(sequences), FRAMES),
                          "sequence": 0, "label": np.repeat(labels.numpy(), FRAMES)})
    return embeddings, index, clean.reshape(-1)


def frame_classifier(embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A linear frame classifier fitted on every training frame (a backbone's head): (weight, bias)."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(embeddings.shape[1], CLASSES)
    optimiser = torch.optim.Adam(linear.parameters(), lr=0.05)
    for _ in range(200):
        optimiser.zero_grad()
        F.cross_entropy(linear(embeddings), labels).backward()
        optimiser.step()
    return linear.weight.detach(), linear.bias.detach()


@pytest.fixture(scope="module", params=[1, 2], ids=["one_block", "two_blocks"])
def learned(request):
    train, train_index, _ = clean_among_corrupted(240, seed=1)
    val, val_index, _ = clean_among_corrupted(60, seed=2)
    test, test_index, test_clean = clean_among_corrupted(300, seed=3)
    weight, bias = frame_classifier(train, torch.tensor(train_index["label"].to_numpy()))
    cfg = PoolingConfig.from_params({**PARAMS, "blocks": request.param})
    head, report = train_attention_pooling(cfg, train, train_index, val, val_index, num_classes=CLASSES,
                                           head_init=(weight, bias))
    ids = sequence_ids(test_index)
    labels = torch.tensor(test_index.groupby("video", sort=False)["label"].first().to_numpy())
    attention, _, frame_weights = sequence_attention(head, test, ids)
    mean, _ = pool_sequences(F.log_softmax(test @ weight.T + bias, 1), ids)
    return {"head": head, "report": report, "labels": labels, "attention": attention, "mean": mean,
            "weights": frame_weights.reshape(-1, FRAMES), "clean": test_clean.reshape(-1, FRAMES)}


def test_after_training_the_clean_frame_weighs_most(learned):
    weights, clean = learned["weights"], learned["clean"]
    assert (weights.argmax(1) == clean.float().argmax(1)).float().mean() >= 0.95
    assert weights[clean].mean() > 0.8  # most of the mass, not merely a little more than the rest


def test_attention_beats_mean_pooling_of_the_same_frame_predictions(learned):
    labels = learned["labels"]
    attention = (learned["attention"].argmax(1) == labels).float().mean().item()
    mean = (learned["mean"].argmax(1) == labels).float().mean().item()
    print(f"\nsequence top-1 on held-out sequences ({learned['head']['config']['blocks']} block(s)): "
          f"attention {attention:.3f}, mean pooling {mean:.3f}")
    assert attention >= 0.9
    assert attention >= mean + 0.3


def test_training_reports_and_keeps_a_validated_step(learned):
    report = learned["report"]
    assert [h["step"] for h in report["history"]] == [50, 100, 150]
    best = max(report["history"], key=lambda h: h["sequence_top1"] - 1e-3 * h["nll"])
    assert report["kept_step"] == best["step"]
    assert report["train_sequences"] == 240 and report["val_sequences"] == 60


def test_training_is_deterministic_from_the_seed_and_leaves_the_global_stream():
    train, train_index, _ = clean_among_corrupted(40, seed=4)
    val, val_index, _ = clean_among_corrupted(10, seed=5)
    cfg = PoolingConfig.from_params({**PARAMS, "steps": 20, "eval_every_steps": 0, "blocks": 1})
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first, _ = train_attention_pooling(cfg, train, train_index, val, val_index, num_classes=CLASSES)
    assert torch.equal(torch.rand(1), expected_next)
    second, _ = train_attention_pooling(cfg, train, train_index, val, val_index, num_classes=CLASSES)
    other, _ = train_attention_pooling(dataclasses.replace(cfg, seed=1), train, train_index, val, val_index,
                                       num_classes=CLASSES)
    assert all(torch.equal(first["state_dict"][k], second["state_dict"][k]) for k in first["state_dict"])
    assert not torch.equal(first["state_dict"]["query"], other["state_dict"]["query"])


def test_without_a_validation_side_the_last_step_is_kept_and_the_loss_still_reported():
    train, train_index, _ = clean_among_corrupted(20, seed=6)
    cfg = PoolingConfig.from_params({**PARAMS, "steps": 12, "eval_every_steps": 5})
    tracker = MemoryTracker()
    _, report = train_attention_pooling(cfg, train, train_index, train[:0], train_index[:0], num_classes=CLASSES,
                                        tracker=tracker, metric_prefix="pooling.lr.")
    assert report["kept_step"] == 12 and report["history"] == [] and report["val_sequences"] == 0
    assert [step for step, _ in tracker.history["pooling.lr.loss"]] == [5, 10, 12]


# ----------------------------------------------------------------------------------------------
# A saved classifier's heads, and the one path predict and serving take
# ----------------------------------------------------------------------------------------------
def tiny_classifier() -> dict:
    def weights(seed: int) -> dict:
        torch.manual_seed(seed)
        return FrameClassifier(3, input_size=8, width=4, depth=1, dropout=0.0, base_size=8).state_dict()

    config = FrameClassifier(3, input_size=8, width=4, depth=1, dropout=0.0, base_size=8).config()
    return {"variant": "lr", "config": config, "state_dict": weights(0), "normalisation": {"mean": 0.5, "std": 0.25},
            "class_names": ["a", "b", "c"], "seed": 0, "repeats": [{"seed": 10, "state_dict": weights(10)}]}


def tiny_split(sequences: int, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 5, sequences)
    index = pd.DataFrame({"person": np.repeat(np.arange(sequences) % 3, lengths),
                          "video": np.repeat(np.arange(sequences), lengths), "sequence": 1,
                          "label": np.repeat(np.arange(sequences) % 3, lengths)})
    return rng.integers(0, 256, (len(index), 8, 8, 3), dtype=np.uint8), index


def test_embeddings_are_what_the_head_reads():
    classifier = tiny_classifier()
    model = inference.load_classifier(classifier)
    x = to_nchw_uint8(tiny_split(6, 0)[0])
    for flip in (False, True):
        embedded, log_probs = frame_embeddings(model, x, classifier["normalisation"], torch.device("cpu"), None, 5,
                                               flip_tta=flip)
        assert embedded.shape == (len(x), model.embed_dim)
        torch.testing.assert_close(log_probs, frame_log_probs(model, x, classifier["normalisation"],
                                                              torch.device("cpu"), None, 7, flip_tta=flip))
    plain, _ = frame_embeddings(model, x, classifier["normalisation"], torch.device("cpu"), None, 5, flip_tta=False)
    with torch.no_grad():
        torch.testing.assert_close(F.log_softmax(model.head(plain), 1),
                                   frame_log_probs(model, x, classifier["normalisation"], torch.device("cpu"), None, 5,
                                                   flip_tta=False))
    empty, empty_log_probs = frame_embeddings(model, x[:0], classifier["normalisation"], torch.device("cpu"), None, 5,
                                              flip_tta=False)
    assert empty.shape == (0, model.embed_dim) and empty_log_probs.shape == (0, 3)


def test_a_head_per_classifier_seed_saved_as_plain_tensors_and_used_by_classify_sequences():
    classifier = tiny_classifier()
    (train_x, train_index), (val_x, val_index) = tiny_split(12, 1), tiny_split(4, 2)
    cfg = PoolingConfig.from_params({**PARAMS, "steps": 10, "eval_every_steps": 5})
    pooling, report = train_pooling_heads(cfg, classifier, train_x, train_index, val_x, val_index)
    assert pooling["method"] == "attention" and [h["seed"] for h in pooling["heads"]] == [0, 10]
    assert pooling["config"] == PARAMS | {"steps": 10, "eval_every_steps": 5}
    assert [s["seed"] for s in report["seeds"]] == [0, 10]
    assert set(report["seeds"][0]["val_sequence_top1"]) == {"attention", "mean"}
    buffer = io.BytesIO()
    torch.save(pooling, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    # Each seed's weights find their own head.
    second = {**classifier, "state_dict": classifier["repeats"][0]["state_dict"]}
    assert attention_head(loaded, classifier, classifier["state_dict"])["seed"] == 0
    assert attention_head(loaded, second, second["state_dict"])["seed"] == 10
    test_x, test_index = tiny_split(5, 3)
    ids = sequence_ids(test_index)
    scores, counts, _ = classify_sequences(classifier, test_x, ids, "cpu", "fp32", 4, False, pooling=loaded)
    model = inference.load_classifier(classifier)
    embedded, log_probs = frame_embeddings(model, to_nchw_uint8(test_x), classifier["normalisation"],
                                           torch.device("cpu"), None, 4, flip_tta=False)
    expected, _ = pool_sequences_attention(loaded["heads"][0], embedded, ids)
    torch.testing.assert_close(scores, expected)
    assert counts.tolist() == np.bincount(ids).tolist()
    # Without a pooling, or with the mean, it is mean pooling as before.
    mean, _ = pool_sequences(log_probs, ids)
    mean_pooling, _ = train_pooling_heads(dataclasses.replace(cfg, method="mean"), classifier, train_x, train_index,
                                          val_x, val_index)
    assert "heads" not in mean_pooling
    for plain in (None, mean_pooling):
        torch.testing.assert_close(classify_sequences(classifier, test_x, ids, "cpu", "fp32", 4, False,
                                                      pooling=plain)[0], mean)
    # A pooling trained on other weights is one line, not a silent mismatch.
    retrained = {**classifier, "state_dict": {k: v + 1 if v.is_floating_point() else v
                                              for k, v in classifier["state_dict"].items()}}
    with pytest.raises(ConfigError, match="another classifier's weights"):
        classify_sequences(retrained, test_x, ids, "cpu", "fp32", 4, False, pooling=loaded)
