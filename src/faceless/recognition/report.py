"""The comparison across variants: one table (a DataFrame and markdown), a summary, the numbers
worth tracking, and plots of confusion and training curves.

Figures are built with matplotlib's object API, not pyplot: no global backend switch on import (a
notebook that imports this keeps its inline plots), no open-figure registry to leak.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

TABLE_COLUMNS = ["variant", "input_px", "frame_top1", "frame_top5", "sequence_top1", "sequence_top5",
                 "challenge_score", "frame_macro_f1", "sequence_macro_f1", "test_frames", "test_sequences",
                 "train_seconds", "best_epoch"]
#: The table's columns worth tracking per evaluated variant (``<variant>.<column>``).
TRACKED_COLUMNS = TABLE_COLUMNS[2:9]


@dataclass
class Comparison:
    summary: dict[str, Any]          # per-variant evaluations, chance level, leakage audit, SR validation
    table: pd.DataFrame              # TABLE_COLUMNS + ["note"], a row per variant
    markdown: str
    confusion: Figure
    curves: Figure
    tracked: dict[str, float]        # "<variant>.<column>" -> value, evaluated variants only


def compare(sampling_report: Mapping[str, Any], sr_report: Mapping[str, Any],
            evaluations: Mapping[str, dict[str, Any]], train_reports: Mapping[str, dict[str, Any]]) -> Comparison:
    """``evaluations`` and ``train_reports`` by variant, in the order the table lists them."""
    rows, tracked = [], {}
    for variant, ev in evaluations.items():
        if "skipped" in ev:
            rows.append({"variant": variant, "note": f"skipped: {ev['skipped']}"})
            continue
        row = _row(variant, ev, train_reports[variant])
        rows.append(row)
        tracked.update({f"{variant}.{key}": float(row[key]) for key in TRACKED_COLUMNS})
    table = pd.DataFrame(rows)
    for column in TABLE_COLUMNS + ["note"]:
        if column not in table:
            table[column] = np.nan if column != "note" else ""
    table = table[TABLE_COLUMNS + ["note"]]
    num_classes = _num_classes(evaluations.values())
    leakage = sampling_report.get("leakage_split", {})
    summary = {"variants": dict(evaluations), "chance_top1": 1 / num_classes if num_classes else None,
               "leakage_split": leakage, "split_by": sampling_report.get("split_by"),
               "sr_val": sr_report.get("val", {})}
    return Comparison(summary=summary, table=table,
                      markdown=_markdown(table, leakage, sampling_report, sr_report, num_classes),
                      confusion=confusion_figure(list(evaluations.values())),
                      curves=curves_figure(list(train_reports.values())), tracked=tracked)


def _row(variant: str, ev: dict[str, Any], tr: dict[str, Any]) -> dict[str, Any]:
    return {
        "variant": variant, "input_px": ev["input_px"],
        "frame_top1": ev["frame"]["top1"], "frame_top5": ev["frame"]["top5"],
        "sequence_top1": ev["sequence"]["top1"], "sequence_top5": ev["sequence"]["top5"],
        "challenge_score": ev["sequence"]["challenge_score"],
        "frame_macro_f1": ev["frame"]["macro_f1"], "sequence_macro_f1": ev["sequence"]["macro_f1"],
        "test_frames": ev["test_frames"], "test_sequences": ev["test_sequences"],
        # A report from before the key existed, or a skipped training, leaves the cell empty.
        "train_seconds": tr.get("seconds"), "best_epoch": tr.get("best_epoch"), "note": "",
    }


def _num_classes(evaluations) -> int:
    for ev in evaluations:
        if "frame" in ev:
            return len(ev["frame"]["per_class_recall"])
    return 0


def _fmt(value: Any, pct: bool = True) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{100 * value:.1f}" if pct else f"{value:.1f}"


def _markdown(table: pd.DataFrame, leakage: Mapping, sampling_report: Mapping, sr_report: Mapping,
              num_classes: int) -> str:
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
        nan = float("nan")
        lines += ["", f"SR generator on validation: PSNR {val.get('val_psnr', nan):.2f} dB vs bicubic "
                      f"{val.get('val_psnr_bicubic', nan):.2f} dB; SSIM {val.get('val_ssim', nan):.4f} "
                      f"vs {val.get('val_ssim_bicubic', nan):.4f}."]
    lines += ["", "Leakage audit (shared between sides at the split; 0 = none):", "",
              "| sides | videos | sequences | frames |", "|---|---|---|---|"]
    for pair, counts in leakage.items():
        lines.append(f"| {pair} | {counts['videos']} | {counts['sequences']} | {counts['frames']} |")
    return "\n".join(lines) + "\n"


def confusion_figure(evaluations: list[dict[str, Any]]) -> Figure:
    """One row-normalised test-side confusion matrix per evaluated variant."""
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


def curves_figure(train_reports: list[dict[str, Any]]) -> Figure:
    """Validation sequence top-1 and training loss per epoch, a line per trained variant."""
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
        if ax.get_lines():
            ax.legend()
    fig.tight_layout()
    return fig
