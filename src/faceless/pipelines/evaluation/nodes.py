"""Evaluate every variant on the test side and put the answers side by side.

Per variant: frame and sequence top-1/top-5, the challenge score, macro F1, per-person accuracy
and a confusion matrix. Then one comparison table (csv, markdown, MLflow), printed at the end of
the run with the sampling leakage audit beside it, and plots of confusion and training curves.
"""
from __future__ import annotations

import logging
from typing import Any

# Figures are built with the object API, not pyplot: no global backend switch on import (a
# notebook that imports the pipelines keeps its inline plots), no open-figure registry to leak.
from matplotlib.figure import Figure
import numpy as np
import pandas as pd
import torch

from faceless.pipelines.classifier.nodes import (
    VARIANTS,
    load_classifier,
    predict_log_probs,
    to_tensor,
)
from faceless.training.classification_metrics import recognition_report, sequence_ids
from faceless.training.device import autocast_dtype, select_device

logger = logging.getLogger(__name__)

TABLE_COLUMNS = ["variant", "input_px", "frame_top1", "frame_top5", "sequence_top1", "sequence_top5",
                 "challenge_score", "frame_macro_f1", "sequence_macro_f1", "test_frames", "test_sequences",
                 "train_seconds", "best_epoch"]


def evaluate_variant(classifier: dict[str, Any], test_x: np.ndarray, test_index: pd.DataFrame,
                     params: dict[str, Any], variant: str) -> dict[str, Any]:
    """Test-side metrics of one variant's classifier (or why there are none)."""
    if "skipped" in classifier:
        return {"variant": variant, "skipped": classifier["skipped"]}
    if len(test_x) != len(test_index):
        raise ValueError(f"evaluation {variant}: {len(test_x)} test frames but {len(test_index)} index rows")
    device = select_device(params.get("device", "auto"))
    dtype = autocast_dtype(device, params.get("precision", "auto"))
    model = load_classifier(classifier).to(device)
    num_classes = model.config()["num_classes"]
    labels = torch.as_tensor(test_index["label"].to_numpy(), dtype=torch.long)
    log_probs = predict_log_probs(model, to_tensor(test_x), device, dtype)
    report = recognition_report(log_probs, labels, test_index, num_classes)
    names = test_index["person_name"] if "person_name" in test_index else test_index["person"].astype(str)
    label_to_person = dict(zip(test_index["label"].astype(int), names.astype(str)))
    recall = report["frame"]["per_class_recall"]
    report["per_person_frame_accuracy"] = {label_to_person[c]: recall[c] for c in sorted(label_to_person)}
    report.update(variant=variant, input_px=int(test_x.shape[1]),
                  test_frames=len(test_index), test_sequences=int(sequence_ids(test_index).max() + 1),
                  labels_present=sorted(label_to_person),
                  label_to_person={str(k): v for k, v in label_to_person.items()})
    logger.info("evaluation %s: sequence top-1 %.3f, frame top-1 %.3f, challenge score %.1f", variant,
                report["sequence"]["top1"], report["frame"]["top1"], report["sequence"]["challenge_score"])
    return report


def compare_variants(sampling_report: dict[str, Any], sr_report: dict[str, Any], *evaluations_and_reports: Any
                     ) -> tuple[dict, pd.DataFrame, str, Figure, Figure, dict]:
    """The comparison across variants: metrics json, table (csv + markdown), plots, MLflow metrics.

    ``evaluations_and_reports`` are the per-variant evaluations followed by the per-variant
    training reports, both in ``VARIANTS`` order.
    """
    n = len(VARIANTS)
    evaluations, train_reports = evaluations_and_reports[:n], evaluations_and_reports[n:2 * n]
    rows, metrics, mlflow_metrics = [], {}, {}
    for ev, tr in zip(evaluations, train_reports):
        variant = ev["variant"]
        metrics[variant] = ev
        if "skipped" in ev:
            rows.append({"variant": variant, "note": f"skipped: {ev['skipped']}"})
            continue
        row = {
            "variant": variant, "input_px": ev["input_px"],
            "frame_top1": ev["frame"]["top1"], "frame_top5": ev["frame"]["top5"],
            "sequence_top1": ev["sequence"]["top1"], "sequence_top5": ev["sequence"]["top5"],
            "challenge_score": ev["sequence"]["challenge_score"],
            "frame_macro_f1": ev["frame"]["macro_f1"], "sequence_macro_f1": ev["sequence"]["macro_f1"],
            "test_frames": ev["test_frames"], "test_sequences": ev["test_sequences"],
            "train_seconds": tr.get("seconds"), "best_epoch": tr.get("best_epoch"), "note": "",
        }
        rows.append(row)
        for key in TABLE_COLUMNS[2:9]:
            mlflow_metrics[f"{variant}.{key}"] = {"value": float(row[key]), "step": 0}
    table = pd.DataFrame(rows)
    for column in TABLE_COLUMNS + ["note"]:
        if column not in table:
            table[column] = np.nan if column != "note" else ""
    table = table[TABLE_COLUMNS + ["note"]]
    num_classes = _num_classes(evaluations)
    leakage = sampling_report.get("leakage_split", {})
    markdown = _markdown(table, leakage, sampling_report, sr_report, num_classes)
    summary = {"variants": metrics, "chance_top1": 1 / num_classes if num_classes else None,
               "leakage_split": leakage, "split_by": sampling_report.get("split_by"),
               "sr_val": sr_report.get("val", {})}
    # Printed so the answer is the last thing a `kedro run --pipeline=full` shows.
    print("\n" + markdown, flush=True)
    return (summary, table, markdown, _confusion_figure(evaluations), _curves_figure(train_reports),
            mlflow_metrics)


def _num_classes(evaluations) -> int:
    for ev in evaluations:
        if "frame" in ev:
            return len(ev["frame"]["per_class_recall"])
    return 0


def _fmt(value: Any, pct: bool = True) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{100 * value:.1f}" if pct else f"{value:.1f}"


def _markdown(table: pd.DataFrame, leakage: dict, sampling_report: dict, sr_report: dict, num_classes: int) -> str:
    lines = ["## faceless: does super-resolution help recognise people in 64 px frames?", "",
             f"Test side: held out by `{sampling_report.get('split_by', '?')}`; "
             f"chance top-1 = {_fmt(1 / num_classes) if num_classes else '-'} %. Accuracies in %.", "",
             "| variant | px | frame top-1 | frame top-5 | seq top-1 | seq top-5 | challenge score | "
             "frame macro-F1 | seq macro-F1 | test frames | test seqs | train s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        if r["note"]:
            lines.append(f"| {r['variant']} | {r['note']} |" + " |" * 10)
            continue
        lines.append(
            f"| {r['variant']} | {int(r['input_px'])} | {_fmt(r['frame_top1'])} | {_fmt(r['frame_top5'])} | "
            f"{_fmt(r['sequence_top1'])} | {_fmt(r['sequence_top5'])} | {_fmt(r['challenge_score'], False)} | "
            f"{_fmt(r['frame_macro_f1'])} | {_fmt(r['sequence_macro_f1'])} | {int(r['test_frames'])} | "
            f"{int(r['test_sequences'])} | {_fmt(r['train_seconds'], False)} |")
    val = sr_report.get("val", {})
    if val:
        lines += ["", f"SR generator on validation: PSNR {val.get('val_psnr', float('nan')):.2f} dB vs bicubic "
                      f"{val.get('val_psnr_bicubic', float('nan')):.2f} dB; SSIM {val.get('val_ssim', float('nan')):.4f} "
                      f"vs {val.get('val_ssim_bicubic', float('nan')):.4f}."]
    lines += ["", "Leakage audit (shared between sides at the split; 0 = none):", "",
              "| sides | videos | sequences | frames |", "|---|---|---|---|"]
    for pair, counts in leakage.items():
        lines.append(f"| {pair} | {counts['videos']} | {counts['sequences']} | {counts['frames']} |")
    return "\n".join(lines) + "\n"


def _confusion_figure(evaluations) -> Figure:
    done = [ev for ev in evaluations if "frame" in ev]
    if not done:
        fig = Figure(figsize=(4, 1))
        fig.text(0.5, 0.5, "no variant evaluated", ha="center")
        return fig
    fig = Figure(figsize=(4 * len(done), 4))
    axes = fig.subplots(1, len(done), squeeze=False)
    for ax, ev in zip(axes[0], done):
        cm = np.asarray(ev["frame"]["confusion"], dtype=float)
        cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(cm, vmin=0, vmax=1, cmap="viridis")
        ax.set_title(f"{ev['variant']}: frame top-1 {100 * ev['frame']['top1']:.0f} %")
        names = ev.get("label_to_person", {})
        if 0 < len(cm) <= 30:  # people by name where they stay legible
            ticks = [names.get(str(c), str(c)) for c in range(len(cm))]
            ax.set_xticks(range(len(cm)), ticks, rotation=90, fontsize=6)
            ax.set_yticks(range(len(cm)), ticks, fontsize=6)
        ax.set_xlabel("predicted person")
        ax.set_ylabel("true person")
    fig.suptitle("Test-side confusion (rows normalised)")
    fig.tight_layout()
    return fig


def _curves_figure(train_reports) -> Figure:
    fig = Figure(figsize=(11, 4))
    ax_acc, ax_loss = fig.subplots(1, 2)
    for tr in train_reports:
        if "skipped" in tr or not tr.get("history"):
            continue
        epochs = np.arange(1, len(tr["history"]) + 1)
        ax_acc.plot(epochs, [h.get("val_sequence_top1", np.nan) for h in tr["history"]], label=tr["variant"])
        losses = tr.get("train_loss", [])
        ax_loss.plot(np.arange(1, len(losses) + 1), [h["loss"] for h in losses], label=tr["variant"])
    ax_acc.set(xlabel="epoch", ylabel="validation sequence top-1", title="Validation accuracy")
    ax_loss.set(xlabel="epoch", ylabel="training loss (last step of the epoch)", title="Training loss")
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig
