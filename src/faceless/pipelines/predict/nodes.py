"""Predict nodes: an unlabeled test set -> the chosen variant's input -> per-sequence top-5 names.

The test set is OrCam's test layout, ``seq_XXXX/frame_NNNNN.jpg`` (a folder or a ``.tar``), with no
person anywhere. Its frames go through the same cached upscaling as the training data, then through
the classifier an earlier ``full`` run trained for ``predict.variant``; frames of a sequence are
pooled as that run's pooling file says (``pooling.method``: the mean log-probability, or the
attention head trained for that classifier; a run from before pooling files existed: the mean), as in
evaluation (:mod:`faceless.inference`), and the five most likely people, best first, make one row of
``submission.csv``.

With ``predict.root: null`` the demo's test side is exported in that layout (sequences renamed and
shuffled, the answer key kept outside the tree), so the pipeline can be tried, and scored, offline.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from faceless.data.frame_tree import load_frames, scan_frame_tree
from faceless.data.people import class_names
from faceless.data.predict_config import PredictConfig
from faceless.data.unlabeled import export_unlabeled, sequence_name
from faceless.inference import UpscaleConfig, classify_sequences, name_sequences, top_k_lists, upscale_cached
from faceless.pipelines.tracking import MlflowTracker
from faceless.recognition.metrics import challenge_score
from faceless.recognition.report import tracked_number
from faceless.training.tracker import PrefixedTracker, metric_prefix
from faceless.utils.atomic import read_json
from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError
from faceless.variants import VariantSpec, answering_reason, variant_specs

logger = logging.getLogger(__name__)


def _config(params: dict[str, Any]) -> PredictConfig:
    return from_params(PredictConfig, params, "predict")


def prepare_predict_source(test_index: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """Where the unlabeled frames are: ``predict.root``, or the demo's test side exported unlabeled."""
    config = _config(params)
    if config.root:
        return {"root": str(config.root), "answer_key": None, "exported": False}
    return export_unlabeled(test_index, config.demo_export, config.seed)


def scan_unlabeled(source: dict[str, Any], params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Index and validate the unlabeled frames; bad ones are skipped and counted, as in ingestion."""
    config = _config(params)
    index, report = scan_frame_tree(source["root"], validate=config.validate, workers=config.workers,
                                    layout="sequences", sequence_length=None, config_name="predict.root")
    index["sequence_name"] = [sequence_name(path) for path in index["path"]]
    report["answer_key"] = source.get("answer_key")
    logger.info("predict: %d frames in %d sequences, %d skipped", report["frames_kept"], report["sequences"],
                report["frames_skipped"])
    return index, report


def load_unlabeled_frames(index: pd.DataFrame, params: dict[str, Any]) -> np.ndarray:
    return load_frames(index["path"].tolist(), workers=_config(params).workers)


def predict_input(lr: np.ndarray, predict_params: dict[str, Any], upscaling_params: dict[str, Any],
                  variants: dict[str, Any], sr_generator: dict[str, Any] | None = None,
                  classifier: dict[str, Any] | None = None) -> np.ndarray:
    """The frames as the chosen variant's classifier saw its training data, through the same cached
    upscaling (a rerun with the same frames and weights is a cache hit): as they are (``input:
    frames``), interpolated, or by the variant's generator (``sr_generator``). Frames of another size
    than ``classifier`` learned are refused before anything is upscaled."""
    variant = _config(predict_params).variant
    spec = answering_spec(variants, variant)
    upscaling = from_params(UpscaleConfig, upscaling_params, "upscaling")
    if classifier is not None and "skipped" not in classifier and len(lr):
        factor = 1 if spec.input == "frames" else upscaling.factor
        side = int(classifier["config"]["input_size"]) // factor
        if tuple(lr.shape[1:3]) != (side, side):
            raise ConfigError(f"predict.root: frames are {lr.shape[2]}x{lr.shape[1]} px, but the {variant} classifier "
                              f"learned {side}x{side} px frames (before its input step); nothing was upscaled")
    if spec.has_generator and (sr_generator is None or "skipped" in sr_generator):
        why = (sr_generator or {}).get("skipped", "no generator file")
        raise ConfigError(f"predict.variant={variant}: its generator was not trained ({why}); choose a variant the "
                          "last full run trained")
    factor = 1 if spec.input == "frames" else None  # the frames as they are
    upscaled, _ = upscale_cached(lr, sr_generator if spec.has_generator else None, upscaling, f"predict_{variant}",
                                 PrefixedTracker(MlflowTracker(), metric_prefix("predict", "upscaling")), factor=factor)
    return upscaled


def answering_spec(variants: dict[str, Any], variant: str) -> VariantSpec:
    """The spec of ``predict.variant``, which must be on and made from the frames alone."""
    specs = variant_specs(variants)
    reason = answering_reason(specs, variant)
    if reason:
        raise ConfigError(reason)
    return specs[variant]


def predict_sequences(frames: np.ndarray, index: pd.DataFrame, source: dict[str, Any], train_index: pd.DataFrame,
                      classifier: dict[str, Any], params: dict[str, Any], pooling: dict[str, Any] | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Top-k people per sequence with ``predict.variant``'s ``classifier`` and its ``pooling`` (None:
    the mean): the submission, the same with probabilities, and a report."""
    started = time.perf_counter()
    config = _config(params)
    if "skipped" in classifier:
        raise ConfigError(f"predict.variant={config.variant}: that classifier was not trained "
                          f"({classifier['skipped']}); choose one of the variants the last full run trained")
    if len(frames) != len(index):
        raise ValueError(f"predict: {len(frames)} frames but {len(index)} index rows")
    expected = classifier["config"]["input_size"]
    if int(frames.shape[1]) != int(expected):
        raise ConfigError(f"predict.root: frames are {frames.shape[2]}x{frames.shape[1]} after the {config.variant} "
                          f"input step, but the {config.variant} classifier was trained on {expected} px inputs")
    # Classifiers saved before they carried their names take them from the index they trained on.
    names = classifier.get("class_names") or class_names(int(classifier["config"]["num_classes"]), train_index)
    codes, seq_names = pd.factorize(index["sequence_name"], sort=True)
    scores, counts, device = classify_sequences(classifier, frames, codes, config.device, config.precision,
                                                config.batch_size, config.flip_tta, pooling=pooling)
    submission, detail = name_sequences(scores, counts, list(seq_names), names, config.top_k)
    report = {"variant": config.variant, **pooling_entry(pooling), "sequences": len(seq_names), "frames": len(index),
              "people": len(names),
              "top_k": config.top_k, "device": str(device), "seconds": round(time.perf_counter() - started, 3),
              "top1_counts": submission["person_1"].value_counts().to_dict()}
    if source.get("answer_key"):
        report.update(score_named(scores, list(seq_names), names, read_json(source["answer_key"]).get("answers", {})))
    logger.info("predict: named %d sequences with the %s classifier (%s pooling)%s", len(seq_names), config.variant,
                report.get("pooling", "mean"),
                f"; challenge score {report['challenge_score']:.1f}" if "challenge_score" in report else "")
    return submission, detail, report


def pooling_entry(pooling: dict[str, Any] | None) -> dict[str, str]:
    """A report's ``pooling`` where a pooling file holds a learned pooling; nothing for the mean (none,
    or a skip marker), so reports of runs that pool by the mean read as they always did."""
    method = (pooling or {}).get("method", "mean")
    return {} if method == "mean" else {"pooling": method}


def score_named(scores: torch.Tensor, seq_names: list[str], names: list[str], answers: dict[str, str]
                ) -> dict[str, Any]:
    """Against an answer key (the exported demo test side): challenge score and top-1/top-5."""
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
    """The report's numbers for the MLflow run (under ``predict/``: the catalog), fractions in percent
    as evaluation's."""
    keys = ("sequences", "frames", "seconds", "sequence_top1", "sequence_top5", "challenge_score")
    return {name: {"value": value, "step": 0} for name, value in (tracked_number(key, report[key]) for key in keys
                                                                  if key in report)}
