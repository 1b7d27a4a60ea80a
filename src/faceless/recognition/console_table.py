"""The comparison as a run prints it last: a compact table that fits a terminal.

The full table (13 columns, every metric with its interval, the spread over seeds, the notes) stays
in ``comparison.md``; the console gets the headline only: per variant the sequence top-1 and the
challenge score with their intervals, then per pair of the declared family the difference with its
interval, the Holm-adjusted p and the verdict. Read from the comparison's two DataFrames
(:data:`faceless.recognition.report.COMPARISON_COLUMNS` and ``DIFFERENCE_COLUMNS``); no kedro here.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: The widest line printed (the issue's limit: a 100-column terminal).
MAX_WIDTH = 100
#: (column of the table or difference, header, in percent): fractions are printed as percent/points.
HEADLINE = (("sequence_top1", "seq top-1 %", True), ("challenge_score", "challenge score", False))


def console_table(table: pd.DataFrame, differences: pd.DataFrame, *, confidence: float = 0.95,
                  full_table: str = "data/08_reporting/comparison.md", width: int = MAX_WIDTH) -> str:
    """The headline of a comparison in lines of at most ``width`` characters."""
    level = f"{100 * confidence:g} %"
    lines = [_fit(f"faceless: the answer (mean [{level} interval]); every metric: {full_table}", width), ""]
    rows = []
    for _, r in table.iterrows():
        if _text(r.get("note")):
            rows.append([str(r["variant"]), _text(r["note"])])
            continue
        rows.append([str(r["variant"]), *(_with_interval(r[m], r[f"{m}_low"], r[f"{m}_high"], pct)
                                          for m, _, pct in HEADLINE), _int(r.get("seeds"))])
    lines += _grid(["variant", *(header for _, header, _ in HEADLINE), "seeds"], rows, width)
    if len(differences):
        lines += ["", _fit("Differences, variant − baseline, in points; Holm p: adjusted over the declared family;",
                           width),
                  _fit(f"shown: the interval excludes 0 and Holm p < {1 - confidence:.2g}.", width)]
        rows = []
        for _, d in differences.iterrows():
            pair = f"{d['variant']} − {d['baseline']}"
            if _text(d.get("note")):
                rows.append([pair, _text(d["note"])])
                continue
            cells = [pair]
            for metric, _, pct in HEADLINE:
                cells += [_with_interval(d[f"{metric}_difference"], d[f"{metric}_low"], d[f"{metric}_high"], pct,
                                         sign=True),
                          _p(d[f"{metric}_p_adjusted"]), _verdict(d[f"{metric}_shown"])]
            rows.append(cells)
        lines += _grid(["pair", "seq top-1", "Holm p", "shown", "challenge", "Holm p", "shown"], rows, width)
    return "\n".join(line.rstrip() for line in lines)


def _grid(header: Sequence[str], rows: list[list[str]], width: int) -> list[str]:
    """Left-aligned columns two spaces apart; a row of two cells (a name and a note) spans the rest.
    Where the lines would pass ``width`` the first column (names) is cut, then any line."""
    full = [row for row in rows if len(row) == len(header)]
    widths = [max(len(cell) for cell in column) for column in zip(header, *full)]
    widths[0] = max([widths[0], *(len(row[0]) for row in rows)])
    rest = sum(widths[1:]) + 2 * (len(widths) - 1)
    widths[0] = max(8, min(widths[0], width - rest))
    lines = []
    for row in [list(header), *rows]:
        cells = [_fit(row[0], widths[0]).ljust(widths[0])]
        if len(row) == len(header):
            cells += [cell.ljust(w) for cell, w in zip(row[1:], widths[1:])]
        else:
            cells += row[1:]
        lines.append(_fit("  ".join(cells), width))
    return lines


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _number(value: Any, pct: bool, sign: bool = False) -> str:
    if value is None or pd.isna(value):
        return "-"
    return f"{100 * float(value) if pct else float(value):{'+' if sign else ''}.1f}"


def _with_interval(value: Any, low: Any, high: Any, pct: bool, sign: bool = False) -> str:
    return f"{_number(value, pct, sign)} [{_number(low, pct, sign)}, {_number(high, pct, sign)}]"


def _p(value: Any) -> str:
    if value is None or pd.isna(value):
        return "-"
    return "<0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def _verdict(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return "yes" if bool(value) else "no"


def _int(value: Any) -> str:
    return "-" if value is None or pd.isna(value) else str(int(value))
