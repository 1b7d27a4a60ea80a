"""Evaluation stage: every variant's classifier on the test side, and the answers side by side.

Per variant (every training seed of it): frame and sequence top-1/top-5, the challenge score,
macro F1, per-person accuracy, a confusion matrix, and every test unit's outcome
(:mod:`faceless.recognition.metrics`). Then the comparison (:mod:`faceless.recognition.report`):
one table with 95 % cluster-bootstrap intervals and the spread over seeds, the paired differences
of ``evaluation.comparisons`` with their intervals and sign-flip p (csv, markdown, MLflow), and plots
of confusion, training curves and the differences. With ``pooling.method: attention`` every variant
has a second row, ``<variant>:attention`` (its sequences pooled by the head its classifier's
``train_pooling`` trained), and ``evaluation.pooling_comparisons`` join the family. The run ends by
printing the headline of it, a table that fits 100 columns (:mod:`faceless.recognition.console_table`);
the full table is the markdown file.
"""
from __future__ import annotations

import dataclasses

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from faceless.recognition.config import EvaluationConfig
from faceless.recognition.console_table import console_table
from faceless.recognition.metrics import evaluate_classifier
from faceless.recognition.pooling import PoolingConfig
from faceless.recognition.report import compare
from faceless.training.device import autocast_dtype, select_device
from faceless.utils.config import from_params
from faceless.variants import pooled_name



def evaluate_variant(classifier: dict[str, Any], test_x: np.ndarray, test_index: pd.DataFrame,
                     params: dict[str, Any], variant: str, pooling: dict[str, Any] | None = None) -> dict[str, Any]:
    """Test-side metrics of one variant's classifier, every seed of it (or why there are none); with
    the sequences pooled by attention too where ``pooling`` (its pooling file) holds heads."""
    cfg = from_params(EvaluationConfig, params, "evaluation")
    if "skipped" in classifier:
        return {"variant": variant, "skipped": classifier["skipped"]}
    device = select_device(cfg.device)
    dtype = autocast_dtype(device, cfg.precision)
    return evaluate_classifier(classifier, test_x, test_index, variant, device, dtype, cfg.batch_size, cfg.flip_tta,
                               pooling=pooling)


def compare_variants(sampling_report: dict[str, Any], params: dict[str, Any], variants: list[str],
                     pooling_params: dict[str, Any] | None = None, sr_variant: str | None = None,
                     identity_variant: str | None = None, **reports: dict[str, Any]
                     ) -> tuple[dict, pd.DataFrame, str, Figure, Figure, dict, pd.DataFrame, Figure]:
    """The comparison across ``variants`` (those that are on, in conf's order): metrics json, table
    (csv + markdown), plots, MLflow metrics, and the paired differences of the declared family
    (``evaluation.comparisons`` whose two variants are on, and ``evaluation.pooling_comparisons`` where
    ``pooling.method`` is a learned pooling) with csv and forest plot. ``pooling_params``: None (a
    caller from before pooling) is the mean.

    ``reports`` are named ``evaluation_<variant>``, ``classifier_report_<variant>`` (one each per
    variant) and ``sr_report_<variant>`` (one per generator variant); ``sr_variant`` and
    ``identity_variant`` name the generator variants whose reports the validation sections show
    (the pipeline chooses them by what the variants are; None: no such section).
    """
    cfg = from_params(EvaluationConfig, params, "evaluation")
    expected = {f"{kind}_{v}" for kind in ("evaluation", "classifier_report") for v in variants}
    if not expected <= set(reports):
        raise TypeError(f"compare_variants: expected reports {sorted(expected)}, got {sorted(reports)}")
    pooling = "mean" if pooling_params is None else PoolingConfig.from_params(pooling_params).method
    rows = list(variants) + ([pooled_name(v, pooling) for v in variants] if pooling != "mean" else [])
    declared = cfg.comparisons + (cfg.pooling_comparisons if pooling != "mean" else [])
    cfg = dataclasses.replace(cfg, comparisons=declared_family(declared, rows))
    comparison = compare(sampling_report, reports.get(f"sr_report_{sr_variant}", {}),
                         evaluations={v: reports[f"evaluation_{v}"] for v in variants},
                         train_reports={v: reports[f"classifier_report_{v}"] for v in variants}, cfg=cfg,
                         sr_report_id=reports.get(f"sr_report_{identity_variant}"), pooling=pooling)
    # Printed so the answer is the last thing a `kedro run --pipeline=full` shows: the headline, in
    # 100 columns (the full table, 13 columns wide, is comparison.md).
    print("\n" + console_table(comparison.table, comparison.differences, confidence=cfg.bootstrap.confidence),
          flush=True)
    # <variant>/<metric> and <a>_vs_<b>/<metric>, under evaluation/ (the catalog): an MLflow chart section each.
    mlflow_metrics = {name: {"value": value, "step": 0} for name, value in comparison.tracked.items()}
    return (comparison.summary, comparison.table, comparison.markdown, comparison.confusion, comparison.curves,
            mlflow_metrics, comparison.differences, comparison.forest)


def declared_family(comparisons: list[list[str]], variants: list[str]) -> list[list[str]]:
    """The pairs of ``comparisons`` whose two rows are in the run (``variants``: the variants that are
    on, and their pooled rows where there are): the family of tests this run makes (declared in conf
    before it; a pair with a variant that is off is not part of it)."""
    return [list(pair) for pair in comparisons if pair[0] in variants and pair[1] in variants]
