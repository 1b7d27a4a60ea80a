"""The comparison printed at the end of a run: the headline in lines of at most 100 characters."""
from __future__ import annotations

import numpy as np
import pandas as pd

from faceless.recognition.console_table import MAX_WIDTH, console_table
from faceless.recognition.report import COMPARISON_COLUMNS, DIFFERENCE_COLUMNS


def comparison_frames(names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    for i, name in enumerate(names):
        row = dict.fromkeys(COMPARISON_COLUMNS, np.nan)
        row.update(variant=name, note="", seeds=5, sequence_top1=0.2 + 0.1 * i, sequence_top1_low=0.1,
                   sequence_top1_high=0.456, challenge_score=51.9 + i, challenge_score_low=37.25,
                   challenge_score_high=65.9)
        rows.append(row)
    skipped = dict.fromkeys(COMPARISON_COLUMNS, np.nan)
    skipped.update(variant="srgan_pretrained", note="skipped: variants.srgan_pretrained.import names no file, "
                   "so there is no generator to import; name one with --params to get this row")
    table = pd.DataFrame([*rows, skipped], columns=COMPARISON_COLUMNS)
    pairs = []
    for name in names[1:]:
        pair = dict.fromkeys(DIFFERENCE_COLUMNS, np.nan)
        pair.update(variant=name, baseline=names[0], note="", sequences=192, videos=96,
                    sequence_top1_difference=0.172, sequence_top1_low=-0.105, sequence_top1_high=0.344,
                    sequence_top1_p=0.01, sequence_top1_p_adjusted=0.0004, sequence_top1_shown=True,
                    challenge_score_difference=-11.6, challenge_score_low=-24.1, challenge_score_high=0.5,
                    challenge_score_p=0.08, challenge_score_p_adjusted=0.24, challenge_score_shown=False)
        pairs.append(pair)
    missing = dict.fromkeys(DIFFERENCE_COLUMNS, np.nan)
    missing.update(variant="srgan_pretrained", baseline="bicubic", note="skipped: srgan_pretrained did not run")
    return table, pd.DataFrame([*pairs, missing], columns=DIFFERENCE_COLUMNS)


def test_every_line_fits_100_columns_and_carries_the_headline():
    table, differences = comparison_frames(["lr", "bicubic", "srgan", "srgan_other", "hr"])
    text = console_table(table, differences)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= MAX_WIDTH, max(lines, key=len)
    srgan = next(line for line in lines if line.startswith("srgan "))
    assert srgan.split() == ["srgan", "40.0", "[10.0,", "45.6]", "53.9", "[37.2,", "65.9]", "5"]
    pair = next(line for line in lines if line.startswith("srgan_other − lr"))
    assert "+17.2 [-10.5, +34.4]" in pair and "<0.001" in pair and "yes" in pair
    assert "-11.6 [-24.1, +0.5]" in pair and "0.240" in pair and pair.rstrip().endswith("no")
    assert any(line.startswith("srgan_pretrained") and "skipped" in line for line in lines)
    assert "comparison.md" in lines[0]


def test_long_names_are_cut_not_wrapped():
    table, differences = comparison_frames(["lr", "a_variant_with_a_really_long_name_from_someones_conf" * 2])
    lines = console_table(table, differences).splitlines()
    assert max(len(line) for line in lines) <= MAX_WIDTH
    assert any("…" in line for line in lines)


def test_no_differences_no_second_table():
    table, differences = comparison_frames(["lr"])
    text = console_table(table, differences.iloc[0:0])
    assert "Holm" not in text and text.splitlines()[2].startswith("variant")
