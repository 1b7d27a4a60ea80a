"""Frame- and sequence-level recognition metrics, and the challenge's score.

The challenge names the person of each test *sequence* with a top-5 list, best first, and scores
``100 - 10 * i`` when the true person is at rank ``i`` (0-based) of that list, else 0. Frames are
pooled per sequence by :func:`faceless.inference.pool_sequences` (mean log-probability), the same
pooling predict uses.

Standard metrics come from torchmetrics; the score is ours.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
)

from faceless.data.people import person_names
from faceless.inference import (
    frame_log_probs,
    pool_sequences,
    sequence_ids,
    sequence_labels,
    to_nchw_uint8,
    top_k_lists,
)

logger = logging.getLogger(__name__)

#: The challenge's list length (and the top-k of the tables).
CHALLENGE_TOP_K = 5


def challenge_score(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean of 100 - 10 * rank of the true class within the top-5 (0 when not in it)."""
    if len(labels) == 0:
        return float("nan")
    top5 = top_k_lists(scores, CHALLENGE_TOP_K)
    hits = top5 == labels.unsqueeze(1)
    rank = torch.where(hits.any(1), hits.float().argmax(1), torch.full_like(labels, -1))
    points = torch.where(rank >= 0, 100.0 - 10.0 * rank.float(), torch.zeros_like(rank, dtype=torch.float))
    return float(points.mean())


def sequence_scores(log_probs: torch.Tensor, labels: torch.Tensor, index: pd.DataFrame
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each sequence's pooled scores (sequences, classes) and its label, sequences in order of appearance."""
    seq_ids = sequence_ids(index)
    scores, _ = pool_sequences(log_probs, seq_ids)
    return scores, sequence_labels(seq_ids, labels)


def accuracy_summary(log_probs: torch.Tensor, labels: torch.Tensor, index: pd.DataFrame) -> dict[str, float]:
    """Frame and sequence top-1 and the mean NLL: what model selection looks at."""
    seq_scores, seq_labels = sequence_scores(log_probs, labels, index)
    return {
        "frame_top1": float((log_probs.argmax(1) == labels).float().mean()),
        "sequence_top1": float((seq_scores.argmax(1) == seq_labels).float().mean()),
        "nll": float(F.nll_loss(log_probs, labels)),
    }


def classification_metrics(scores: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """Top-1/top-5 accuracy, macro F1, per-class recall and the confusion matrix."""
    labels = labels.long()
    top5 = min(CHALLENGE_TOP_K, num_classes)
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
    seq_scores, seq_labels = sequence_scores(log_probs, labels, index)
    sequence = classification_metrics(seq_scores, seq_labels, num_classes)
    sequence["challenge_score"] = challenge_score(seq_scores, seq_labels)
    frame["challenge_score"] = challenge_score(log_probs, labels)
    return {"frame": frame, "sequence": sequence}


def evaluate_classifier(model: torch.nn.Module, normalisation: dict[str, float], test_x: np.ndarray,
                        test_index: pd.DataFrame, variant: str, device: torch.device, dtype: torch.dtype | None,
                        batch: int) -> dict[str, Any]:
    """Test-side metrics of one variant's classifier: frame and sequence metrics, per-person
    accuracy, and who each label is."""
    if len(test_x) != len(test_index):
        raise ValueError(f"evaluation {variant}: {len(test_x)} test frames but {len(test_index)} index rows")
    labels = torch.tensor(test_index["label"].to_numpy(), dtype=torch.long)
    log_probs = frame_log_probs(model, to_nchw_uint8(test_x), normalisation, device, dtype, batch)
    report = recognition_report(log_probs, labels, test_index, model.config()["num_classes"])
    label_to_person = dict(zip(test_index["label"].astype(int), person_names(test_index)))
    recall = report["frame"]["per_class_recall"]
    report["per_person_frame_accuracy"] = {label_to_person[c]: recall[c] for c in sorted(label_to_person)}
    report.update(variant=variant, input_px=int(test_x.shape[1]),
                  test_frames=len(test_index), test_sequences=int(sequence_ids(test_index).max() + 1),
                  labels_present=sorted(label_to_person),
                  label_to_person={str(k): v for k, v in label_to_person.items()})
    logger.info("evaluation %s: sequence top-1 %.3f, frame top-1 %.3f, challenge score %.1f", variant,
                report["sequence"]["top1"], report["frame"]["top1"], report["sequence"]["challenge_score"])
    return report
