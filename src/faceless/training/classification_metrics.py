"""Frame- and sequence-level recognition metrics, and the challenge's score.

The challenge names the person of each test *sequence* with a top-5 list, best first, and scores
``100 - 10 * i`` when the true person is at rank ``i`` (0-based) of that list, else 0. Frame
predictions are aggregated per sequence by averaging log-probabilities (a product of per-frame
likelihoods, i.e. naive-Bayes over the frames of one sequence).

Standard metrics come from torchmetrics; the aggregation, the top-k lists and the score are ours.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
)

SEQUENCE_KEYS = ("person", "video", "sequence")


def sequence_ids(index: pd.DataFrame) -> np.ndarray:
    """An integer id per (person, video, sequence) of the index rows, in order of appearance."""
    keys = index[list(SEQUENCE_KEYS)].astype(str).agg("/".join, axis=1)
    return pd.factorize(keys)[0]


def aggregate_sequences(log_probs: torch.Tensor, seq_ids: np.ndarray, labels: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean log-probability per sequence, and each sequence's label (all its frames share one)."""
    ids = torch.as_tensor(seq_ids, dtype=torch.long)
    n_seq = int(ids.max()) + 1 if len(ids) else 0
    sums = torch.zeros(n_seq, log_probs.shape[1], dtype=torch.float64).index_add_(0, ids, log_probs.double())
    counts = torch.bincount(ids, minlength=n_seq).clamp(min=1).unsqueeze(1)
    seq_labels = torch.zeros(n_seq, dtype=torch.long).index_reduce_(0, ids, labels.long(), "amax",
                                                                     include_self=False)
    return (sums / counts).float(), seq_labels


def top_k_lists(scores: torch.Tensor, k: int = 5) -> torch.Tensor:
    """The k most likely classes per row, best first (the seed returned the k *least* likely)."""
    return scores.topk(min(k, scores.shape[1]), dim=1, largest=True, sorted=True).indices


def challenge_score(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean of 100 - 10 * rank of the true class within the top-5 (0 when not in it)."""
    if len(labels) == 0:
        return float("nan")
    top5 = top_k_lists(scores, 5)
    hits = top5 == labels.unsqueeze(1)
    rank = torch.where(hits.any(1), hits.float().argmax(1), torch.full_like(labels, -1))
    points = torch.where(rank >= 0, 100.0 - 10.0 * rank.float(), torch.zeros_like(rank, dtype=torch.float))
    return float(points.mean())


def classification_metrics(scores: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """Top-1/top-5 accuracy, macro F1, per-class recall and the confusion matrix."""
    labels = labels.long()
    top5 = min(5, num_classes)
    per_class = multiclass_accuracy(scores, labels, num_classes, average="none")
    return {
        "top1": float(multiclass_accuracy(scores, labels, num_classes, average="micro")),
        "top5": float(multiclass_accuracy(scores, labels, num_classes, top_k=top5, average="micro")),
        "macro_f1": float(multiclass_f1_score(scores, labels, num_classes, average="macro")),
        "per_class_recall": [float(v) for v in per_class],
        "confusion": multiclass_confusion_matrix(scores, labels, num_classes).tolist(),
        "count": int(len(labels)),
    }


def recognition_report(log_probs: torch.Tensor, labels: torch.Tensor, index: pd.DataFrame,
                       num_classes: int) -> dict[str, Any]:
    """Everything the comparison table needs, at frame and at sequence level."""
    frame = classification_metrics(log_probs, labels, num_classes)
    seq_scores, seq_labels = aggregate_sequences(log_probs, sequence_ids(index), labels)
    sequence = classification_metrics(seq_scores, seq_labels, num_classes)
    sequence["challenge_score"] = challenge_score(seq_scores, seq_labels)
    frame["challenge_score"] = challenge_score(log_probs, labels)
    return {"frame": frame, "sequence": sequence}
