"""Frame/sequence recognition metrics and the challenge score, on hand-computed cases."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import f1_score

from faceless.inference import sequence_ids, top_k_lists
from faceless.recognition.metrics import (
    CHALLENGE_TOP_K,
    accuracy_summary,
    challenge_points,
    challenge_score,
    classification_metrics,
    classifier_seeds,
    recognition_report,
    sequence_scores,
    truth_ranks,
    unit_keys,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------------------------
# top_k_lists
# ----------------------------------------------------------------------------------------------
def test_top_k_lists_returns_the_most_likely_classes_best_first():
    scores = torch.tensor([[0.1, 0.5, 0.2, 0.9, 0.0, 0.3]])
    assert top_k_lists(scores, 5).tolist() == [[3, 1, 5, 2, 0]]  # the seed returned [4, 0, 2, 5, 1]


def test_top_k_lists_per_row_and_the_challenge_lists_five():
    scores = torch.tensor([[0.1, 0.5, 0.2, 0.9, 0.0, 0.3, 0.05],
                           [-1.0, -7.0, -0.5, -3.0, -2.0, -6.0, -4.0]])  # log-probabilities work too
    assert CHALLENGE_TOP_K == 5
    assert top_k_lists(scores, CHALLENGE_TOP_K).tolist() == [[3, 1, 5, 2, 0], [2, 0, 4, 3, 6]]
    assert top_k_lists(scores, 1).tolist() == [[3], [2]]


def test_top_k_lists_with_fewer_classes_than_k_ranks_them_all():
    assert top_k_lists(torch.tensor([[0.2, 0.7, 0.1]]), 5).tolist() == [[1, 0, 2]]


# ----------------------------------------------------------------------------------------------
# sequence_ids
# ----------------------------------------------------------------------------------------------
def test_sequence_ids_group_by_person_video_and_sequence():
    index = pd.DataFrame({
        "person": [1, 2, 1, 1, 2, 1],
        "video": [0, 0, 0, 1, 0, 0],
        "sequence": [0, 0, 0, 0, 1, 0],
        "frame": [0, 0, 1, 0, 0, 2],
    })
    # (1,0,0) -> 0; (2,0,0) -> 1, not 0: another person with the same sequence number;
    # (1,1,0) -> 2: another video of person 1; (2,0,1) -> 3.
    assert sequence_ids(index).tolist() == [0, 1, 0, 2, 3, 0]


def test_sequence_ids_do_not_confuse_concatenations_of_keys():
    # (1, 12, 3) and (11, 2, 3) would collide if keys were joined without a separator.
    index = pd.DataFrame({"person": [1, 11], "video": [12, 2], "sequence": [3, 3]})
    assert sequence_ids(index).tolist() == [0, 1]


# ----------------------------------------------------------------------------------------------
# sequence_scores (the pooling of faceless.inference, with each sequence's label)
# ----------------------------------------------------------------------------------------------
def index_of(seq_ids) -> pd.DataFrame:
    """Index rows whose sequences appear in the order of ``seq_ids`` (one person per sequence id)."""
    return pd.DataFrame({"person": seq_ids, "video": 0, "sequence": 0})


def test_sequence_scores_mean_log_probs_over_unequal_sequences():
    log_probs = torch.tensor([
        [-1.0, -2.0, -3.0],   # seq 0
        [-0.5, -4.0, -8.0],   # seq 1 (its only frame)
        [-3.0, -2.0, -1.0],   # seq 0
        [-6.0, -1.0, -2.0],   # seq 2
        [-2.0, -2.0, -5.0],   # seq 0
        [-2.0, -3.0, -4.0],   # seq 2
    ])
    seq_ids = np.array([0, 1, 0, 2, 0, 2])
    labels = torch.tensor([2, 0, 2, 1, 2, 1])
    scores, seq_labels = sequence_scores(log_probs, labels, index_of(seq_ids))
    expected = torch.tensor([
        [(-1 - 3 - 2) / 3, (-2 - 2 - 2) / 3, (-3 - 1 - 5) / 3],   # [-2, -2, -3]
        [-0.5, -4.0, -8.0],
        [(-6 - 2) / 2, (-1 - 3) / 2, (-2 - 4) / 2],               # [-4, -2, -3]
    ])
    assert scores.shape == (3, 3) and scores.dtype == torch.float32
    assert torch.allclose(scores, expected)
    assert seq_labels.tolist() == [2, 0, 1]
    assert seq_labels.dtype == torch.long


def test_sequence_scores_of_single_frame_sequences_are_the_frames():
    log_probs = torch.log_softmax(torch.randn(4, 5, generator=torch.Generator().manual_seed(0)), 1)
    scores, seq_labels = sequence_scores(log_probs, torch.tensor([4, 0, 3, 0]), index_of(np.arange(4)))
    assert torch.allclose(scores, log_probs)
    assert seq_labels.tolist() == [4, 0, 3, 0]


# ----------------------------------------------------------------------------------------------
# challenge_score
# ----------------------------------------------------------------------------------------------
#: Six classes ranked 0 > 1 > 2 > 3 > 4 > 5 in every row.
RANKED = torch.tensor([0.6, 0.5, 0.4, 0.3, 0.2, 0.1])


@pytest.mark.parametrize("label, points", [(0, 100.0), (1, 90.0), (2, 80.0), (3, 70.0), (4, 60.0), (5, 0.0)])
def test_challenge_score_by_rank_of_the_true_class(label, points):
    assert challenge_score(RANKED.unsqueeze(0), torch.tensor([label])) == pytest.approx(points)


def test_challenge_score_is_the_mean_over_rows():
    scores = RANKED.repeat(4, 1)
    assert challenge_score(scores, torch.tensor([0, 2, 4, 5])) == pytest.approx((100 + 80 + 60 + 0) / 4)


def test_challenge_score_uses_the_row_own_ranking():
    scores = torch.tensor([[0.1, 0.5, 0.2, 0.9, 0.0, 0.3],   # order 3, 1, 5, 2, 0, 4
                           [0.9, 0.0, 0.1, 0.2, 0.3, 0.5]])  # order 0, 5, 4, 3, 2, 1
    # row 0: class 5 at rank 2 -> 80; row 1: class 1 is last (rank 5) -> 0
    assert challenge_score(scores, torch.tensor([5, 1])) == pytest.approx(40.0)


def test_challenge_score_with_fewer_than_five_classes():
    scores = torch.tensor([[0.2, 0.7, 0.1], [0.2, 0.7, 0.1], [0.2, 0.7, 0.1]])
    # order 1, 0, 2: label 1 -> 100, label 0 -> 90, label 2 -> 80
    assert challenge_score(scores, torch.tensor([1, 0, 2])) == pytest.approx(90.0)


def test_challenge_score_of_nothing_is_nan():
    assert math.isnan(challenge_score(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)))


def test_truth_ranks_and_their_points_per_row():
    scores = torch.tensor([[0.1, 0.5, 0.2, 0.9, 0.0, 0.3],   # order 3, 1, 5, 2, 0, 4
                           [0.9, 0.0, 0.1, 0.2, 0.3, 0.5]])  # order 0, 5, 4, 3, 2, 1
    ranks = truth_ranks(scores, torch.tensor([5, 1]))
    assert ranks.tolist() == [2, 5]
    assert challenge_points(ranks).tolist() == [80.0, 0.0]
    assert challenge_points(torch.arange(7)).tolist() == [100.0, 90.0, 80.0, 70.0, 60.0, 0.0, 0.0]


# ----------------------------------------------------------------------------------------------
# unit_keys, classifier_seeds
# ----------------------------------------------------------------------------------------------
def test_unit_keys_name_sequences_and_videos_by_person():
    index = pd.DataFrame({"person": [1, 2, 1, 1, 2], "video": [0, 0, 0, 1, 0], "sequence": [0, 0, 0, 0, 1]})
    seq_ids, sequences, videos, frame_videos = unit_keys(index)
    assert seq_ids.tolist() == [0, 1, 0, 2, 3]
    assert sequences == ["1/0/0", "2/0/0", "1/1/0", "2/0/1"]
    assert videos == ["1/0", "2/0", "1/1", "2/0"]  # video 0 of person 1 is not video 0 of person 2
    assert frame_videos == ["1/0", "2/0", "1/0", "1/1", "2/0"]


def test_classifier_seeds_first_the_single_run_then_the_repeats():
    first, second = {"w": torch.zeros(1)}, {"w": torch.ones(1)}
    saved = {"config": {}, "state_dict": first, "seed": 0, "repeats": [{"seed": 10, "state_dict": second}]}
    assert classifier_seeds(saved) == [(0, first), (10, second)]
    # a file from before repeats: one run, its seed not recorded
    assert classifier_seeds({"config": {}, "state_dict": first}) == [(None, first)]


# ----------------------------------------------------------------------------------------------
# classification_metrics
# ----------------------------------------------------------------------------------------------
def test_classification_metrics_on_a_hand_case():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    predicted = [0, 1, 1, 1, 0, 2]
    scores = torch.full((6, 3), -3.0)
    scores[torch.arange(6), torch.tensor(predicted)] = -0.1
    m = classification_metrics(scores, labels, 3)
    assert m["count"] == 6
    assert m["top1"] == pytest.approx(4 / 6)
    assert m["top5"] == pytest.approx(1.0)  # top-5 of 3 classes contains every class
    # rows = true label, columns = predicted label
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class_recall"] == pytest.approx([0.5, 1.0, 0.5])
    # precision 1/2, 2/3, 1/1; recall 1/2, 1, 1/2 -> F1 1/2, 4/5, 2/3
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["macro_f1"] == pytest.approx(f1_score(labels.numpy(), predicted, average="macro"))


def test_classification_metrics_top5_with_more_than_five_classes():
    scores = torch.tensor([0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]).repeat(4, 1)
    labels = torch.tensor([0, 4, 5, 6])  # ranks 0, 4, 5, 6: two in the top 5
    m = classification_metrics(scores, labels, 7)
    assert m["top1"] == pytest.approx(1 / 4)
    assert m["top5"] == pytest.approx(2 / 4)


def test_classification_metrics_macro_f1_matches_sklearn_on_random_predictions():
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 5, (60,), generator=gen)
    scores = torch.randn(60, 5, generator=gen)
    scores[torch.arange(60), labels] += 0.8  # better than chance, still many errors
    m = classification_metrics(scores, labels, 5)
    predicted = scores.argmax(1).numpy()
    assert m["top1"] == pytest.approx(float((scores.argmax(1) == labels).float().mean()))
    assert m["macro_f1"] == pytest.approx(f1_score(labels.numpy(), predicted, average="macro"), abs=1e-6)
    cm = np.zeros((5, 5), dtype=int)
    np.add.at(cm, (labels.numpy(), predicted), 1)
    assert m["confusion"] == cm.tolist()
    assert m["per_class_recall"] == pytest.approx((cm.diagonal() / cm.sum(1)).tolist())


# ----------------------------------------------------------------------------------------------
# recognition_report
# ----------------------------------------------------------------------------------------------
def test_recognition_report_sequence_level_differs_from_frame_level():
    """Three sequences of three people, rows interleaved:

    A (person 10, label 0): two frames lean wrongly to class 1, one is confidently right. Frame
      top-1: 1 of 3; the mean log-probability picks class 0 (-0.646 vs -1.461): right.
    B (person 30, label 2; same video and sequence *numbers* as A): two frames lean rightly to 2,
      one is confidently class 1. Frame top-1: 2 of 3; the mean picks class 1 (-0.618 vs -2.228):
      wrong, with class 2 second.
    C (person 20, label 1): two frames, both right.
    """
    probs = {
        "A": [[0.4, 0.5, 0.1], [0.4, 0.5, 0.1], [0.9, 0.05, 0.05]],
        "B": [[0.1, 0.4, 0.5], [0.1, 0.4, 0.5], [0.015, 0.98, 0.005]],
        "C": [[0.2, 0.7, 0.1], [0.2, 0.7, 0.1]],
    }
    keys = {"A": (10, 0, 0, 0), "B": (30, 0, 0, 2), "C": (20, 1, 0, 1)}  # person, video, sequence, label
    order = ["A", "B", "A", "C", "B", "A", "C", "B"]
    taken = {k: 0 for k in probs}
    rows, frames = [], []
    for seq in order:
        frames.append(probs[seq][taken[seq]])
        person, video, sequence, label = keys[seq]
        rows.append({"person": person, "video": video, "sequence": sequence, "frame": taken[seq], "label": label})
        taken[seq] += 1
    index = pd.DataFrame(rows)
    log_probs = torch.log(torch.tensor(frames))
    labels = torch.tensor(index["label"].to_numpy())

    report = recognition_report(log_probs, labels, index, 3)
    frame, sequence = report["frame"], report["sequence"]

    assert frame["count"] == 8 and sequence["count"] == 3
    assert frame["top1"] == pytest.approx(5 / 8)          # A 1/3, B 2/3, C 2/2
    assert sequence["top1"] == pytest.approx(2 / 3)       # A right, B wrong, C right
    assert frame["top5"] == sequence["top5"] == pytest.approx(1.0)
    # sequences in order of first appearance: A, B, C
    assert sequence["confusion"] == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]
    assert sequence["per_class_recall"] == pytest.approx([1.0, 1.0, 0.0])
    assert frame["confusion"] == [[1, 2, 0], [0, 2, 0], [0, 1, 2]]
    # sequence ranks: A 0, B 1, C 0 -> (100 + 90 + 100) / 3
    assert sequence["challenge_score"] == pytest.approx(290 / 3)
    # frame ranks: A 1, 1, 0; B 0, 0, 2; C 0, 0 -> (90 + 90 + 100 + 100 + 100 + 80 + 100 + 100) / 8
    assert frame["challenge_score"] == pytest.approx(95.0)
    # macro F1 at sequence level: class 0 P=1 R=1 -> 1; class 1 P=1/2 R=1 -> 2/3; class 2 -> 0
    assert sequence["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_recognition_report_sequence_level_can_beat_frame_level():
    """One sequence, majority of frames wrong, mean log-probability right: 1/3 vs 1."""
    log_probs = torch.log(torch.tensor([[0.4, 0.5, 0.1], [0.4, 0.5, 0.1], [0.9, 0.05, 0.05]]))
    index = pd.DataFrame({"person": [4, 4, 4], "video": [2, 2, 2], "sequence": [1, 1, 1], "frame": [0, 1, 2],
                          "label": [0, 0, 0]})
    report = recognition_report(log_probs, torch.zeros(3, dtype=torch.long), index, 3)
    assert report["frame"]["top1"] == pytest.approx(1 / 3)
    assert report["sequence"]["top1"] == pytest.approx(1.0)
    assert report["sequence"]["challenge_score"] == pytest.approx(100.0)
    assert report["frame"]["challenge_score"] == pytest.approx((90 + 90 + 100) / 3)


# ----------------------------------------------------------------------------------------------
# accuracy_summary (what model selection reads)
# ----------------------------------------------------------------------------------------------
def test_accuracy_summary_on_a_hand_case():
    """Sequence A (frames 0, 2: one right, one wrong, the mean right), B (frame 1: wrong)."""
    log_probs = torch.log(torch.tensor([[0.9, 0.1], [0.7, 0.3], [0.4, 0.6]]))
    index = pd.DataFrame({"person": [1, 2, 1], "video": 0, "sequence": 0})
    labels = torch.tensor([0, 1, 0])
    summary = accuracy_summary(log_probs, labels, index)
    assert summary["frame_top1"] == pytest.approx(1 / 3)
    assert summary["sequence_top1"] == pytest.approx(1 / 2)
    assert summary["nll"] == pytest.approx(-(math.log(0.9) + math.log(0.3) + math.log(0.4)) / 3, rel=1e-6)
