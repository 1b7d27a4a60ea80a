"""Predict nodes: an unlabeled test set -> the chosen variant's input -> per-sequence top-5 names.

The test set is OrCam's test layout, ``seq_XXXX/frame_NNNNN.jpg`` (a folder or a ``.tar``), with no
person anywhere. Its frames go through the same cached upscaling as the training data (a
``sr_generator`` or bicubic job, or unchanged for ``lr``), then through the classifier that an
earlier ``full`` run trained for ``predict.variant``. Frames of a sequence are pooled by mean
log-probability, as in evaluation, and the five most likely people, best first, make one row of
``submission.csv``: ``sequence, person_1 .. person_5``, sequences by folder name, people by the
names of the training data (``person_0013``, ``Aaron_Eckhart``, ...).

With ``predict.root: null`` the demo's test side is exported in that layout (sequences renamed and
shuffled, the answer key kept outside the tree), so the pipeline can be tried, and scored, offline.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from faceless.config import ConfigError, choice
from faceless.data.atomic import atomic_path
from faceless.data.frame_store import open_frame, split_locator
from faceless.data.frame_tree import load_frames, scan_frame_tree
from faceless.data.upscale_cache import UpscaleJob
from faceless.pipelines.classifier.nodes import class_names, load_classifier, predict_log_probs, to_tensor
from faceless.pipelines.sampling.nodes import person_name_of
from faceless.pipelines.upscaling.nodes import upscale_bicubic, upscale_with_generator
from faceless.training.classification_metrics import challenge_score, top_k_lists
from faceless.training.device import autocast_dtype, select_device

logger = logging.getLogger(__name__)

#: Variants that can answer for frames without truth (``hr`` needs 256 px truth frames).
PREDICT_VARIANTS = ("lr", "bicubic", "srgan")
DEMO_EXPORT = "data/01_raw/demo_unlabeled"
TOP_K = 5


# ----------------------------------------------------------------------------------------------
# The unlabeled frames
# ----------------------------------------------------------------------------------------------
def prepare_predict_source(test_index: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """Where the unlabeled frames are: ``predict.root``, or the demo's test side exported as an
    unlabeled tree (its answer key written beside the tree, never inside it)."""
    root = params.get("root")
    if root:
        return {"root": str(root), "answer_key": None, "exported": False}
    export = Path(params.get("demo_export", DEMO_EXPORT))
    answers_path = export.with_name(export.name + "_answers.json")
    sequences = test_index.groupby(["person", "video", "sequence"], sort=True)
    # Shuffled names: a sequence's number says nothing about who is in it.
    order = np.random.default_rng(int(params.get("seed", 0))).permutation(sequences.ngroups)
    names = {key: f"seq_{order[i]:04d}" for i, key in enumerate(sequences.groups)}
    fingerprint = hashlib.sha256(json.dumps([sorted(test_index["path"].tolist()), order.tolist()]).encode()
                                 ).hexdigest()
    answers = {"fingerprint": fingerprint, "answers": {}}
    current = _read_json(answers_path)
    if current.get("fingerprint") == fingerprint and export.is_dir():
        logger.info("predict: demo test side already exported to %s", export)
        return {"root": str(export), "answer_key": str(answers_path), "exported": False}
    # Written beside, then renamed: an interrupted export is never taken for a finished one.
    temporary = export.with_name(export.name + ".partial")
    shutil.rmtree(temporary, ignore_errors=True)
    for key, rows in sequences:
        seq_dir = temporary / names[key]
        seq_dir.mkdir(parents=True)
        for position, path in enumerate(rows.sort_values("frame")["path"]):
            with open_frame(path) as source:
                (seq_dir / f"frame_{position:05d}{Path(_member(path)).suffix}").write_bytes(source.read())
        answers["answers"][names[key]] = person_name_of(rows, key[0])
    shutil.rmtree(export, ignore_errors=True)
    os.replace(temporary, export)
    with atomic_path(answers_path) as key_file:
        key_file.write_text(json.dumps(answers, indent=1))
    logger.info("predict: exported the demo test side (%d sequences) to %s; answers in %s",
                len(names), export, answers_path)
    return {"root": str(export), "answer_key": str(answers_path), "exported": True}


def _member(path: str) -> str:
    parts = split_locator(path)
    return parts[1] if parts else path


def _read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def scan_unlabeled(source: dict[str, Any], params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Index and validate the unlabeled frames (``seq_XXXX/frame_NNNNN.jpg``); bad ones are skipped
    and counted, as in ingestion."""
    index, report = scan_frame_tree(source["root"], validate=params.get("validate", "full"),
                                    workers=int(params.get("workers", 2)), layout="sequences",
                                    config_name="predict.root")
    index["sequence_name"] = [_sequence_name(path) for path in index["path"]]
    report["answer_key"] = source.get("answer_key")
    logger.info("predict: %d frames in %d sequences, %d skipped", report["frames_kept"], report["sequences"],
                report["frames_skipped"])
    return index, report


def _sequence_name(path: str) -> str:
    """The ``seq_XXXX`` folder a frame is in (a file path, or an archive member's name)."""
    return os.path.basename(os.path.dirname(_member(path)))


def load_unlabeled_frames(index: pd.DataFrame, params: dict[str, Any]) -> np.ndarray:
    return load_frames(index["path"].tolist(), workers=int(params.get("workers", 2)))


# ----------------------------------------------------------------------------------------------
# The chosen variant's input
# ----------------------------------------------------------------------------------------------
def predict_input(lr: np.ndarray, sr_generator: dict[str, Any], predict_params: dict[str, Any],
                  upscaling_params: dict[str, Any]) -> UpscaleJob:
    """The frames as the chosen variant's classifier saw its training data, through the same cached
    upscaling (a rerun with the same frames and weights is a cache hit)."""
    variant = choice(predict_params.get("variant", "srgan"), "predict.variant", PREDICT_VARIANTS)
    if variant == "srgan":
        return upscale_with_generator(lr, sr_generator, upscaling_params, name="predict_srgan")
    if variant == "bicubic":
        return upscale_bicubic(lr, upscaling_params, name="predict_bicubic")
    return upscale_bicubic(lr, {**upscaling_params, "factor": 1}, name="predict_lr")  # factor 1: as they are


# ----------------------------------------------------------------------------------------------
# Naming the people
# ----------------------------------------------------------------------------------------------
def predict_sequences(frames: np.ndarray, index: pd.DataFrame, source: dict[str, Any], train_index: pd.DataFrame,
                      classifier_lr: dict[str, Any], classifier_bicubic: dict[str, Any],
                      classifier_srgan: dict[str, Any], params: dict[str, Any]
                      ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Top-5 people per sequence: the submission, the same with probabilities, and a report."""
    started = time.perf_counter()
    variant = choice(params.get("variant", "srgan"), "predict.variant", PREDICT_VARIANTS)
    classifier = {"lr": classifier_lr, "bicubic": classifier_bicubic, "srgan": classifier_srgan}[variant]
    if "skipped" in classifier:
        raise ConfigError(f"predict.variant={variant}: that classifier was not trained ({classifier['skipped']}); "
                          f"choose one of the variants the last full run trained")
    if len(frames) != len(index):
        raise ValueError(f"predict: {len(frames)} frames but {len(index)} index rows")
    expected = classifier["config"].get("input_size")
    if expected is not None and int(frames.shape[1]) != int(expected):
        raise ConfigError(f"predict.root: frames are {frames.shape[2]}x{frames.shape[1]} after the {variant} "
                          f"input step, but the {variant} classifier was trained on {expected} px inputs")
    # Classifiers saved before they carried their names take them from the index they trained on.
    names = classifier.get("class_names") or class_names(int(classifier["config"]["num_classes"]), train_index)
    device = select_device(params.get("device", "auto"))
    dtype = autocast_dtype(device, params.get("precision", "auto"))
    model = load_classifier(classifier).to(device)
    log_probs = predict_log_probs(model, to_tensor(frames), device, dtype)

    seq_codes, seq_names = pd.factorize(index["sequence_name"], sort=True)
    ids = torch.as_tensor(seq_codes, dtype=torch.long)
    sums = torch.zeros(len(seq_names), log_probs.shape[1], dtype=torch.float64).index_add_(0, ids, log_probs.double())
    counts = torch.bincount(ids, minlength=len(seq_names)).unsqueeze(1)
    scores = (sums / counts).float()
    k = int(params.get("top_k", TOP_K))
    top = top_k_lists(scores, k)
    probs = torch.softmax(scores, dim=1).gather(1, top)
    columns = [f"person_{r + 1}" for r in range(k)]
    submission = pd.DataFrame({"sequence": list(seq_names)})
    detail = submission.assign(frames=counts.squeeze(1).numpy())
    for r, column in enumerate(columns):
        have = r < top.shape[1]
        submission[column] = [names[c] for c in top[:, r].tolist()] if have else ""
        detail[column] = submission[column]
        detail[f"probability_{r + 1}"] = probs[:, r].numpy().round(6) if have else np.nan
    report = {
        "variant": variant, "sequences": len(seq_names), "frames": len(index), "people": len(names),
        "top_k": k, "device": str(device), "seconds": round(time.perf_counter() - started, 3),
        "top1_counts": submission["person_1"].value_counts().to_dict(),
    }
    report.update(_score(submission, scores, seq_names, names, source.get("answer_key")))
    logger.info("predict: named %d sequences with the %s classifier%s", len(seq_names), variant,
                f"; challenge score {report['challenge_score']:.1f}" if "challenge_score" in report else "")
    return submission, detail, report


def _score(submission: pd.DataFrame, scores: torch.Tensor, seq_names, names: list[str],
           answer_key: str | None) -> dict[str, Any]:
    """Against an answer key (the exported demo test side): challenge score and top-1/top-5."""
    if not answer_key:
        return {}
    answers = _read_json(Path(answer_key)).get("answers", {})
    known = [(row, answers[name]) for row, name in enumerate(seq_names) if name in answers]
    if not known:
        return {}
    lookup = {name: label for label, name in enumerate(names)}
    rows = torch.as_tensor([row for row, _ in known])
    labels = torch.as_tensor([lookup.get(name, -1) for _, name in known])
    top5 = top_k_lists(scores[rows], 5)
    return {"scored_sequences": len(known),
            "sequence_top1": float((top5[:, 0] == labels).float().mean()),
            "sequence_top5": float((top5 == labels.unsqueeze(1)).any(1).float().mean()),
            "challenge_score": challenge_score(scores[rows], labels)}


def predict_metrics(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    keys = ("sequences", "frames", "seconds", "sequence_top1", "sequence_top5", "challenge_score")
    return {key: {"value": float(report[key]), "step": 0} for key in keys if key in report}
