"""Frame- and sequence-level recognition metrics, and the challenge's score.

The challenge names the person of each test *sequence* with a top-5 list, best first, and scores
``100 - 10 * i`` when the true person is at rank ``i`` (0-based) of that list, else 0. Frames are
pooled per sequence by :func:`faceless.inference.pool_sequences` (mean log-probability), the same
pooling predict uses.

Standard metrics come from torchmetrics; the score is ours. :func:`evaluate_classifier` also keeps
every test unit's outcome (per sequence: its rank of the truth, hits and points; per frame: hits)
with its video, averaged over the classifier's seeds, for the intervals and paired tests of
:mod:`faceless.recognition.stats`.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from faceless.data.people import person_names
from faceless.inference import (
    attention_head,
    frame_embeddings,
    frame_log_probs,
    load_classifier,
    pool_sequences,
    pool_sequences_attention,
    sequence_ids,
    sequence_labels,
    to_nchw_uint8,
    top_k_lists,
)

logger = logging.getLogger(__name__)

#: The challenge's list length (and the top-k of the tables).
CHALLENGE_TOP_K = 5


#: The per-seed numbers a variant's evaluation lists (``per_seed``), and the table averages over seeds.
SEED_METRICS = ("frame_top1", "frame_top5", "sequence_top1", "sequence_top5", "challenge_score",
                "frame_macro_f1", "sequence_macro_f1")


def truth_ranks(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The 0-based rank of each row's true class in that row's ranking, best first (ties ordered as
    :func:`~faceless.inference.top_k_lists` orders them)."""
    order = top_k_lists(scores, scores.shape[1])
    return (order == labels.long().unsqueeze(1)).float().argmax(1)


def challenge_points(ranks: torch.Tensor) -> torch.Tensor:
    """100 - 10 * rank within the top-5, else 0 (float per row)."""
    ranks = ranks.float()
    return torch.where(ranks < CHALLENGE_TOP_K, 100.0 - 10.0 * ranks, torch.zeros_like(ranks))


def challenge_score(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean of 100 - 10 * rank of the true class within the top-5 (0 when not in it)."""
    if len(labels) == 0:
        return float("nan")
    return float(challenge_points(truth_ranks(scores, labels)).mean())


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
    # Imported here: torchmetrics brings torchvision and scipy, seconds of every process's start
    # (each kedro command, each distributed worker) that only evaluation needs.
    from torchmetrics.functional.classification import (multiclass_accuracy, multiclass_confusion_matrix,
                                                        multiclass_f1_score)

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


def classifier_seeds(classifier: dict[str, Any]) -> list[tuple[int | None, dict[str, torch.Tensor]]]:
    """(seed, weights) per training seed of a saved classifier: the first seed's under the keys of a
    single run, the others under ``repeats`` (:func:`faceless.recognition.trainer.train_seeds`).
    A file from before repeats has one, of an unrecorded seed (None)."""
    first = (classifier.get("seed"), classifier["state_dict"])
    return [first] + [(repeat["seed"], repeat["state_dict"]) for repeat in classifier.get("repeats", [])]


def unit_keys(index: pd.DataFrame) -> tuple[np.ndarray, list[str], list[str], list[str]]:
    """Each frame's sequence id, and the key of each sequence, of its video (``person/video``:
    video numbers repeat across people) and of each frame's video."""
    seq_ids = sequence_ids(index)
    keys = index[["person", "video", "sequence"]].astype(str)
    frame_videos = (keys["person"] + "/" + keys["video"]).tolist()
    frame_sequences = (keys["person"] + "/" + keys["video"] + "/" + keys["sequence"]).tolist()
    _, first = np.unique(seq_ids, return_index=True)
    return seq_ids, [frame_sequences[i] for i in first], [frame_videos[i] for i in first], frame_videos


def _outcomes(log_probs: torch.Tensor, labels: torch.Tensor, seq_ids: np.ndarray) -> dict[str, torch.Tensor]:
    """One seed's per-unit outcomes: the truth's rank, hits and points per sequence; hits per frame."""
    seq_scores, _ = pool_sequences(log_probs, seq_ids)
    frame_rank = truth_ranks(log_probs, labels)
    return {**_sequence_outcomes(seq_scores, sequence_labels(seq_ids, labels)),
            "frame_top1": (frame_rank == 0).float(), "frame_top5": (frame_rank < CHALLENGE_TOP_K).float()}


def _sequence_outcomes(seq_scores: torch.Tensor, seq_labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per sequence of pooled scores: the truth's rank, top-1/top-5 hits and challenge points."""
    seq_rank = truth_ranks(seq_scores, seq_labels).float()
    return {"rank": seq_rank, "top1": (seq_rank == 0).float(), "top5": (seq_rank < CHALLENGE_TOP_K).float(),
            "points": challenge_points(seq_rank)}


def _seed_summary(seed: int | None, report: dict[str, Any]) -> dict[str, Any]:
    frame, sequence = report["frame"], report["sequence"]
    return {"seed": seed, "frame_top1": frame["top1"], "frame_top5": frame["top5"], "sequence_top1": sequence["top1"],
            "sequence_top5": sequence["top5"], "challenge_score": sequence["challenge_score"],
            "frame_macro_f1": frame["macro_f1"], "sequence_macro_f1": sequence["macro_f1"]}


def evaluate_classifier(classifier: dict[str, Any], test_x: np.ndarray, test_index: pd.DataFrame, variant: str,
                        device: torch.device, dtype: torch.dtype | None, batch: int, flip_tta: bool,
                        pooling: dict[str, Any] | None = None) -> dict[str, Any]:
    """Test-side metrics of one variant's saved classifier, every seed of it.

    The keys of a single run (``frame``, ``sequence``, per-person accuracy, ...) are the first
    seed's; ``per_seed`` lists each seed's headline numbers; ``sequence_outcomes`` (sequence and
    video keys, true label, rank of the truth in the pooled scores, top-1/top-5 hit, challenge
    points) and ``frame_outcomes`` (video key, top-1/top-5 hit) are averaged over the seeds, and
    each holds ``by_seed``: per outcome, one list per seed (in ``seeds`` order) of whole numbers.
    Sequences pool by the mean frame log-probability.

    ``pooling``: the variant's pooling file (:mod:`faceless.recognition.pooling`). Where it holds
    attention heads, ``attention`` holds the same sequence-level keys (``sequence``, ``per_seed``,
    ``sequence_outcomes``) with the sequences pooled by each seed's head, from the same frame
    predictions (:func:`attention_report`), and ``seconds``: each head's training time.
    """
    if len(test_x) != len(test_index):
        raise ValueError(f"evaluation {variant}: {len(test_x)} test frames but {len(test_index)} index rows")
    labels = torch.tensor(test_index["label"].to_numpy(), dtype=torch.long)
    x_u8 = to_nchw_uint8(test_x)
    seq_ids, seq_keys, seq_videos, frame_videos = unit_keys(test_index)
    num_classes = classifier["config"]["num_classes"]
    report: dict[str, Any] = {}
    per_seed, outcomes, heads, attention = [], [], [], []
    for seed, state_dict in classifier_seeds(classifier):
        model = load_classifier({**classifier, "state_dict": state_dict}).to(device)
        head = attention_head(pooling, classifier, state_dict)
        if head is None:
            log_probs = frame_log_probs(model, x_u8, classifier["normalisation"], device, dtype, batch,
                                        flip_tta=flip_tta)
        else:  # one pass gives the embeddings the head reads and the frame predictions
            embedded, log_probs = frame_embeddings(model, x_u8, classifier["normalisation"], device, dtype, batch,
                                                   flip_tta=flip_tta)
            heads.append(head)
            attention.append(pool_sequences_attention(head, embedded, seq_ids)[0])
        seed_report = recognition_report(log_probs, labels, test_index, num_classes)
        report = report or seed_report
        per_seed.append(_seed_summary(seed, seed_report))
        outcomes.append(_outcomes(log_probs, labels, seq_ids))
    mean = {key: torch.stack([o[key] for o in outcomes]).mean(0).tolist() for key in outcomes[0]}
    # Each seed's outcomes too (whole numbers: hits, points), for the bootstrap over seeds.
    seeds = {key: torch.stack([o[key] for o in outcomes]).round().long().tolist() for key in outcomes[0]}
    label_to_person = dict(zip(test_index["label"].astype(int), person_names(test_index)))
    recall = report["frame"]["per_class_recall"]
    report["per_person_frame_accuracy"] = {label_to_person[c]: recall[c] for c in sorted(label_to_person)}
    report.update(variant=variant, input_px=int(test_x.shape[1]),
                  test_frames=len(test_index), test_sequences=len(seq_keys), test_videos=len(set(seq_videos)),
                  labels_present=sorted(label_to_person),
                  label_to_person={str(k): v for k, v in label_to_person.items()},
                  flip_tta=flip_tta, seeds=[seed for seed, _ in classifier_seeds(classifier)], per_seed=per_seed,
                  sequence_outcomes={"sequence": seq_keys, "video": seq_videos,
                                     "label": sequence_labels(seq_ids, labels).tolist(),
                                     "rank": mean["rank"], "top1": mean["top1"], "top5": mean["top5"],
                                     "points": mean["points"],
                                     "by_seed": {key: seeds[key] for key in ("top1", "top5", "points")}},
                  frame_outcomes={"video": frame_videos, "top1": mean["frame_top1"], "top5": mean["frame_top5"],
                                  "by_seed": {"top1": seeds["frame_top1"], "top5": seeds["frame_top5"]}})
    if attention:
        report["attention"] = {**attention_report(attention, per_seed, report["sequence_outcomes"], num_classes),
                               "seconds": [head.get("seconds") for head in heads]}
    logger.info("evaluation %s: sequence top-1 %.3f, frame top-1 %.3f, challenge score %.1f (first of %d seeds)%s",
                variant, report["sequence"]["top1"], report["frame"]["top1"], report["sequence"]["challenge_score"],
                len(per_seed), f"; by attention: sequence top-1 {report['attention']['sequence']['top1']:.3f}"
                if attention else "")
    return report


def attention_report(scores_by_seed: list[torch.Tensor], per_seed: list[dict[str, Any]],
                     mean_outcomes: dict[str, Any], num_classes: int) -> dict[str, Any]:
    """The sequence side of an evaluation again, with each seed's sequences scored by ``scores_by_seed``
    (sequences, classes; by an attention head): ``sequence`` (the first seed's metrics), ``per_seed``
    (the frame numbers of ``per_seed``, the frames being the same, with the new sequence numbers) and
    ``sequence_outcomes`` (the units of ``mean_outcomes``, the mean pooling's, with new outcomes)."""
    seq_labels = torch.as_tensor(mean_outcomes["label"], dtype=torch.long)
    reports, outcomes = [], []
    for scores in scores_by_seed:
        sequence = classification_metrics(scores, seq_labels, num_classes)
        sequence["challenge_score"] = challenge_score(scores, seq_labels)
        reports.append(sequence)
        outcomes.append(_sequence_outcomes(scores, seq_labels))
    stacked = {key: torch.stack([o[key] for o in outcomes]) for key in outcomes[0]}
    runs = [{**run, "sequence_top1": r["top1"], "sequence_top5": r["top5"], "challenge_score": r["challenge_score"],
             "sequence_macro_f1": r["macro_f1"]} for run, r in zip(per_seed, reports)]
    units = {key: mean_outcomes[key] for key in ("sequence", "video", "label")}
    return {"sequence": reports[0], "per_seed": runs,
            "sequence_outcomes": {**units, **{key: value.mean(0).tolist() for key, value in stacked.items()},
                                  "by_seed": {key: stacked[key].round().long().tolist()
                                              for key in ("top1", "top5", "points")}}}
