"""The comparison across variants: one table (a DataFrame and markdown) with intervals and the
spread over seeds, the paired differences, a summary, the numbers worth tracking, and plots of
confusion, training curves and the differences.

Every interval is a cluster bootstrap over the test videos and, where a variant ran several
classifier seeds, over its seeds too (two levels; :mod:`faceless.recognition.stats`, read off as
``evaluation.bootstrap.interval``); every paired test is a sign-flip test over videos on the per-unit
outcomes averaged over seeds. ``evaluation.bootstrap`` fixes the draws, so the same videos are
redrawn for every variant and pair. The pairs of ``evaluation.comparisons`` are the pre-registered
family: per metric, Holm's correction runs over the pairs that ran, and a difference is "shown" only
where the adjusted p < 1 - confidence and the interval excludes 0.

Figures are built with matplotlib's object API, not pyplot: no global backend switch on import (a
notebook that imports this keeps its inline plots), no open-figure registry to leak.
"""
from __future__ import annotations

import dataclasses

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from faceless.recognition.config import EvaluationConfig
from faceless.recognition.metrics import CHALLENGE_TOP_K, SEED_METRICS
from faceless.recognition.stats import (
    EXACT_MAX_CLUSTERS,
    Interval,
    bootstrap_interval,
    holm_adjusted,
    paired_comparison,
    shown,
)
from faceless.recognition.variants import NOT_ASKED
from faceless.variants import POOLINGS, pooled_name, split_pooled


TABLE_COLUMNS = ["variant", "input_px", "frame_top1", "frame_top5", "sequence_top1", "sequence_top5",
                 "challenge_score", "frame_macro_f1", "sequence_macro_f1", "test_frames", "test_sequences",
                 "train_seconds", "best_epoch"]
#: The metrics with an interval, and the evaluation outcomes (kind, column) each is the mean of.
KEY_METRICS: dict[str, tuple[str, str]] = {
    "frame_top1": ("frame_outcomes", "top1"), "frame_top5": ("frame_outcomes", "top5"),
    "sequence_top1": ("sequence_outcomes", "top1"), "sequence_top5": ("sequence_outcomes", "top5"),
    "challenge_score": ("sequence_outcomes", "points"),
}
#: The metrics of the paired differences.
DIFFERENCE_METRICS = ("sequence_top1", "challenge_score")
INTERVAL_COLUMNS = [f"{metric}_{end}" for metric in KEY_METRICS for end in ("low", "high")]
SEED_COLUMNS = ["seeds"] + [f"{metric}_seed_{stat}" for metric in KEY_METRICS for stat in ("sd", "min", "max")]
#: The comparison table: today's columns (means over seeds), intervals, spread over seeds, note.
COMPARISON_COLUMNS = TABLE_COLUMNS + INTERVAL_COLUMNS + SEED_COLUMNS + ["note"]
#: The table's columns worth tracking per evaluated variant (``<variant>/<column>``); the seed
#: spread (``_seed_sd``) too where there are several seeds.
TRACKED_COLUMNS = TABLE_COLUMNS[2:9] + INTERVAL_COLUMNS
#: The table's fractions (0-1). Tracked in percent, named ``<metric>_pct[_low|_high|_seed_sd]``, so
#: every tracked number is on the challenge score's 0-100 scale and its name says so.
FRACTION_METRICS = ("frame_top1", "frame_top5", "sequence_top1", "sequence_top5", "frame_macro_f1",
                    "sequence_macro_f1")
DIFFERENCE_COLUMNS = (["variant", "baseline", "sequences", "videos"]
                      + [f"{metric}_{stat}" for metric in DIFFERENCE_METRICS
                         for stat in ("difference", "low", "high", "p", "p_adjusted", "shown")] + ["note"])
#: Per-unit outcomes: in each evaluation file, not repeated in the metrics summary.
OUTCOME_KEYS = ("sequence_outcomes", "frame_outcomes")


@dataclass
class Comparison:
    summary: dict[str, Any]          # per-variant evaluations, intervals, differences, chance, leakage, SR validation
    table: pd.DataFrame              # COMPARISON_COLUMNS, a row per variant
    markdown: str
    confusion: Figure
    curves: Figure
    tracked: dict[str, float]        # tracked_name's: "<variant>/<column>", "<a>_vs_<b>/<metric>...", 0-100
    differences: pd.DataFrame        # DIFFERENCE_COLUMNS, a row per pair of evaluation.comparisons
    forest: Figure                   # the differences and their intervals


def compare(sampling_report: Mapping[str, Any], sr_report: Mapping[str, Any],
            evaluations: Mapping[str, dict[str, Any]], train_reports: Mapping[str, dict[str, Any]],
            cfg: EvaluationConfig, sr_report_id: Mapping[str, Any] | None = None, pooling: str = "mean") -> Comparison:
    """``evaluations`` and ``train_reports`` by variant, in the order the table lists them;
    ``sr_report_id``: the recognition-aware generator's report (srgan_id), where it was trained;
    ``pooling``: the run's ``pooling.method``; a learned one gives every variant a second row
    (:func:`with_pooled_rows`), which ``cfg.comparisons`` may name."""
    sr_report_id = sr_report_id or {}
    evaluations, train_reports = with_pooled_rows(evaluations, train_reports, pooling)
    own = [v for v in evaluations if split_pooled(v)[1] is None]  # a row per classifier, for its figures
    rows, tracked, intervals = [], {}, {}
    for variant, ev in evaluations.items():
        if "skipped" in ev:
            rows.append({"variant": variant, "note": f"skipped: {ev['skipped']}"})
            continue
        intervals[variant] = variant_intervals(ev, cfg)
        row = _row(variant, ev, train_reports[variant], intervals[variant])
        rows.append(row)
        tracked.update(tracked_number(key, row[key], variant) for key in TRACKED_COLUMNS)
        if row["seeds"] > 1:
            tracked.update(tracked_number(f"{metric}_seed_sd", row[f"{metric}_seed_sd"], variant) for metric in KEY_METRICS)
    table = _frame(rows, COMPARISON_COLUMNS)
    differences = adjust_for_family(
        _frame([paired_row(a, b, evaluations, cfg) for a, b in cfg.comparisons], DIFFERENCE_COLUMNS),
        cfg.bootstrap.confidence)
    for _, d in differences[differences["note"] == ""].iterrows():
        pair = f"{d['variant']}_vs_{d['baseline']}"
        for metric in DIFFERENCE_METRICS:
            tracked.update([tracked_number(f"{metric}_difference", d[f"{metric}_difference"], pair),
                            tracked_number(f"{metric}_difference_low", d[f"{metric}_low"], pair),
                            tracked_number(f"{metric}_difference_high", d[f"{metric}_high"], pair),
                            (f"{pair}/{metric}_p_value", float(d[f"{metric}_p"])),
                            (f"{pair}/{metric}_p_adjusted", float(d[f"{metric}_p_adjusted"]))])
    present = _people_present(evaluations.values())
    leakage = sampling_report.get("leakage_split", {})
    summary = {"variants": {v: {k: x for k, x in ev.items() if k not in OUTCOME_KEYS} for v, ev in evaluations.items()},
               **chance_levels(present), "people_present": present,
               "intervals": {v: {m: vars(i) for m, i in by_metric.items()} for v, by_metric in intervals.items()},
               "differences": differences.astype(object).where(differences.notna(), None).to_dict("records"),
               "bootstrap": {"samples": cfg.bootstrap.samples, "confidence": cfg.bootstrap.confidence,
                             "seed": cfg.bootstrap.seed, "interval": cfg.bootstrap.interval,
                             "unit": "test video, and training seed where there are several"},
               # The pre-registered pairs, and those that ran: Holm's family (per metric).
               "family": {"declared": [list(pair) for pair in cfg.comparisons],
                          "ran": differences.loc[differences["note"] == "", ["variant", "baseline"]].values.tolist(),
                          "correction": "holm, per metric"},
               "permutations": cfg.permutations, "flip_tta": cfg.flip_tta, "pooling": pooling,
               "leakage_split": leakage, "split_by": sampling_report.get("split_by"),
               "split_policy": sampling_report.get("split_policy", {}).get("summary"),
               "sr_val": sr_report.get("val", {}), "sr_val_id": sr_report_id.get("val", {})}
    # What is printed and drawn leaves out the variants classifier.variants does not list, and the
    # pairs with one (the CSVs and metrics.json keep every row): a variant asked for but not run
    # keeps its row and says why.
    not_asked = [v for v, ev in evaluations.items() if ev.get("skipped") == NOT_ASKED]
    shown_table = table[~table["variant"].isin(not_asked)]
    shown_differences = differences[~(differences["variant"].isin(not_asked)
                                      | differences["baseline"].isin(not_asked))]
    markdown = _markdown(shown_table, shown_differences, evaluations, cfg, leakage, sampling_report, sr_report,
                         present, sr_report_id, not_asked, pooling)
    return Comparison(summary=summary, table=table, markdown=markdown,
                      confusion=confusion_figure([evaluations[v] for v in own]),
                      curves=curves_figure([train_reports[v] for v in own]), tracked=tracked,
                      differences=differences,
                      forest=differences_figure(shown_differences, cfg.bootstrap.confidence))


def tracked_number(column: str, value: float, group: str = "") -> tuple[str, float]:
    """``(name, value)`` of a table column as it is tracked: a fraction in percent and named ``_pct``,
    under ``<group>/`` if given (a variant, or ``<a>_vs_<b>`` for a difference, whose columns say
    ``_difference``): ``("sequence_top1_low", 0.25, "lr")`` -> ``("lr/sequence_top1_pct_low", 25.0)``."""
    name, value = column, float(value)
    for metric in FRACTION_METRICS:
        if column == metric or column.startswith(f"{metric}_"):
            name, value = f"{metric}_pct{column[len(metric):]}", 100 * value
            break
    return (f"{group}/{name}" if group else name), value


def with_pooled_rows(evaluations: Mapping[str, dict[str, Any]], train_reports: Mapping[str, dict[str, Any]],
                     pooling: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Each variant's evaluation and training report, each followed, where ``pooling`` is a learned
    pooling, by the row ``<variant>:<pooling>``: the same classifier and frames, the sequence side
    pooled by its trained head (the evaluation's ``<pooling>`` block,
    :func:`faceless.recognition.metrics.attention_report`), the head's training time added to the
    classifier's; a variant skipped, or evaluated without that pooling, gives a skipped row saying why."""
    rows: dict[str, dict[str, Any]] = {}
    reports: dict[str, dict[str, Any]] = {}
    for variant, ev in evaluations.items():
        rows[variant] = {k: x for k, x in ev.items() if k not in POOLINGS}  # the mean row: its own keys
        reports[variant] = train_reports[variant]
        if pooling == "mean":
            continue
        name, block, tr = pooled_name(variant, pooling), ev.get(pooling), train_reports[variant]
        if "skipped" in ev or block is None:
            reason = ev.get("skipped") or (f"{variant} was evaluated without {pooling} pooling (its pooling file says "
                                           f"mean): run its classifier's train_pooling with pooling.method={pooling}")
            rows[name] = reports[name] = {"variant": name, "skipped": reason}
            continue
        rows[name] = {**rows[variant], **{k: block[k] for k in ("sequence", "per_seed", "sequence_outcomes")},
                      "variant": name, "pooling": pooling}
        seconds = [tr.get("seconds"), *block.get("seconds", [None])]
        reports[name] = {**tr, "variant": name, "seconds": None if None in seconds else float(sum(seconds))}
    return rows, reports


def seed_outcomes(units: Mapping[str, Any], column: str) -> np.ndarray:
    """One outcome of every unit per seed, (seeds, units): from ``by_seed`` where the evaluation
    kept it, else the outcomes averaged over seeds as one row (an evaluation from before it)."""
    by_seed = units.get("by_seed", {}).get(column)
    return np.asarray(by_seed if by_seed is not None else [units[column]], dtype=np.float64)


def variant_intervals(ev: dict[str, Any], cfg: EvaluationConfig) -> dict[str, Interval]:
    """Each key metric's mean over the test units and seeds, and its interval over videos and seeds."""
    boot = cfg.bootstrap
    out = {}
    for metric, (kind, column) in KEY_METRICS.items():
        units = ev[kind]
        interval = bootstrap_interval(seed_outcomes(units, column), units["video"], boot.samples, boot.confidence,
                                      boot.seed, boot.interval)
        # A t interval of a mean of values in [0, top] may reach past its range; the mean cannot, so the
        # interval is cut there (its coverage is unchanged: the true mean lies inside the range).
        top = 100.0 if metric == "challenge_score" else 1.0
        out[metric] = dataclasses.replace(interval, low=float(np.clip(interval.low, 0.0, top)),
                                          high=float(np.clip(interval.high, 0.0, top)))
    return out


def paired_row(variant: str, baseline: str, evaluations: Mapping[str, dict[str, Any]],
               cfg: EvaluationConfig) -> dict[str, Any]:
    """``variant - baseline`` on the same test sequences: per metric the difference, its interval
    (over videos and seeds; seeds drawn as pairs where both ran the same seeds), the sign-flip p over
    videos and whether it is shown for a family of one; or why the pair is skipped. The family's
    adjusted p and verdict: :func:`adjust_for_family`."""
    row: dict[str, Any] = {"variant": variant, "baseline": baseline, "note": ""}
    skipped = [f"{v}: {evaluations[v]['skipped']}" if v in evaluations else f"{v}: not evaluated"
               for v in (variant, baseline) if "skipped" in evaluations.get(v, {"skipped": None})]
    if skipped:
        return {**row, "note": "skipped: " + "; ".join(skipped)}
    a, b = evaluations[variant]["sequence_outcomes"], evaluations[baseline]["sequence_outcomes"]
    if a["sequence"] != b["sequence"]:
        raise ValueError(f"paired difference {variant} vs {baseline}: not evaluated on the same test sequences")
    boot = cfg.bootstrap
    same_seeds = evaluations[variant].get("seeds") == evaluations[baseline].get("seeds")
    for metric in DIFFERENCE_METRICS:
        column = KEY_METRICS[metric][1]
        paired = paired_comparison(seed_outcomes(a, column), seed_outcomes(b, column), a["video"], boot.samples,
                                   boot.confidence, boot.seed, cfg.permutations, boot.interval, same_seeds)
        row.update({f"{metric}_difference": paired.difference.estimate, f"{metric}_low": paired.difference.low,
                    f"{metric}_high": paired.difference.high, f"{metric}_p": paired.p_value,
                    f"{metric}_shown": paired.shown})
        row.update(sequences=len(a["sequence"]), videos=paired.clusters)
    return row


def adjust_for_family(differences: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Per metric, Holm-adjusted p over the pairs that ran (skipped ones: NaN, not in the family),
    and "shown" from it: the adjusted p < 1 - confidence and the interval excludes 0."""
    differences = differences.copy()
    for metric in DIFFERENCE_METRICS:
        adjusted = holm_adjusted(differences[f"{metric}_p"].to_numpy(dtype=np.float64))
        differences[f"{metric}_p_adjusted"] = adjusted
        differences[f"{metric}_shown"] = [
            shown(low, high, p, confidence) if not np.isnan(p) else np.nan
            for low, high, p in zip(differences[f"{metric}_low"], differences[f"{metric}_high"], adjusted)]
    return differences


def pair_name(variant: str, baseline: str) -> str:
    return f"{variant} − {baseline}"


def chance_levels(people_present: list[int]) -> dict[str, float | None]:
    """What a uniform guess among the people present in the test side scores: the truth's rank is
    uniform over them."""
    n = len(people_present)
    if not n:
        return {"chance_top1": None, "chance_top5": None, "chance_challenge_score": None}
    ranks = range(min(CHALLENGE_TOP_K, n))
    return {"chance_top1": 1 / n, "chance_top5": len(ranks) / n,
            "chance_challenge_score": sum(100 - 10 * r for r in ranks) / n}


def _row(variant: str, ev: dict[str, Any], tr: dict[str, Any], intervals: Mapping[str, Interval]) -> dict[str, Any]:
    per_seed = ev["per_seed"]
    seconds = [tr.get("seconds")] + [repeat.get("seconds") for repeat in tr.get("repeats", [])]
    row = {
        "variant": variant, "input_px": ev["input_px"],
        # Means over the seeds (with one seed: that run's numbers).
        **{metric: float(np.mean([run[metric] for run in per_seed])) for metric in SEED_METRICS},
        "test_frames": ev["test_frames"], "test_sequences": ev["test_sequences"],
        # A report from before the key existed, or a skipped training, leaves the cell empty.
        "train_seconds": None if None in seconds else float(sum(seconds)), "best_epoch": tr.get("best_epoch"),
        "seeds": len(per_seed), "note": "",
    }
    for metric, interval in intervals.items():
        values = np.array([run[metric] for run in per_seed], dtype=float)
        row.update({f"{metric}_low": interval.low, f"{metric}_high": interval.high,
                    f"{metric}_seed_sd": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
                    f"{metric}_seed_min": float(values.min()), f"{metric}_seed_max": float(values.max())})
    return row


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    for column in columns:
        if column not in table:
            table[column] = np.nan if column != "note" else ""
    return table[columns]


def _people_present(evaluations) -> list[int]:
    return sorted({int(label) for ev in evaluations for label in ev.get("labels_present", [])})


def _fmt(value: Any, pct: bool = True, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{100 * value if pct else value:{'+' if sign else ''}.1f}"


def _with_interval(value: Any, low: Any, high: Any, pct: bool = True, sign: bool = False) -> str:
    return f"{_fmt(value, pct, sign)} [{_fmt(low, pct, sign)}, {_fmt(high, pct, sign)}]"


def _p(value: float) -> str:
    return "-" if np.isnan(value) else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def _interval_kind(method: str) -> str:
    return {"t_se": "interval: t times the bootstrap SE, corrected for few videos and seeds",
            "percentile": "percentile interval"}[method]


def _markdown(table: pd.DataFrame, differences: pd.DataFrame, evaluations: Mapping[str, dict[str, Any]],
              cfg: EvaluationConfig, leakage: Mapping, sampling_report: Mapping, sr_report: Mapping,
              present: list[int], sr_report_id: Mapping, not_asked: Sequence[str] = (), pooling: str = "mean") -> str:
    """The report: each part a list of lines, the parts after the table each led by a blank line."""
    lines = [*_intro(table, evaluations, cfg, sampling_report, present), *_variant_table(table),
             *_pooling_note(pooling), *_not_asked_note(not_asked), *_seed_spread(table),
             *_differences_table(differences, cfg),
             *_sr_validation(sr_report), *_sr_id_validation(sr_report_id), *_leakage_audit(leakage)]
    return "\n".join(lines) + "\n"


def _level(cfg: EvaluationConfig) -> str:
    """The intervals' confidence level, as printed."""
    return f"{100 * cfg.bootstrap.confidence:g} %"


def _intro(table: pd.DataFrame, evaluations: Mapping[str, dict[str, Any]], cfg: EvaluationConfig,
           sampling_report: Mapping, present: list[int]) -> list[str]:
    """The title (the LR frame size), the test side and its chance level, the split policy, and how
    every value and interval was computed."""
    chance = chance_levels(present)
    videos = max((ev.get("test_videos", 0) for ev in evaluations.values()), default=0)
    lr_px = table.set_index("variant")["input_px"].get("lr") if "lr" in set(table["variant"]) else None
    frames = f"{int(lr_px)} px" if lr_px is not None and pd.notna(lr_px) else "small"
    policy = sampling_report.get("split_policy", {}).get("summary")
    return [f"## faceless: does super-resolution help recognise people in {frames} frames?", "",
            f"Test side: held out by `{sampling_report.get('split_by', '?')}`; "
            f"chance top-1 = {_fmt(chance['chance_top1'])} %, top-5 = {_fmt(chance['chance_top5'])} %, "
            f"challenge score {_fmt(chance['chance_challenge_score'], False)} (a uniform guess among the "
            f"{len(present)} people present in the test side). Accuracies in %.", "",
            *([f"Split policy: {policy}.", ""] if policy else []),
            f"Each value is the mean over the variant's seeds, with its {_level(cfg)} interval [low, high]: a "
            f"cluster bootstrap over the {videos} test videos ({cfg.bootstrap.samples} redraws, seed "
            f"{cfg.bootstrap.seed}; every sequence and frame of a video moves with it), and over the training "
            f"seeds where a variant has several (two levels); {_interval_kind(cfg.bootstrap.interval)}. "
            f"Test-time flips: {'on' if cfg.flip_tta else 'off'}.", ""]


def _variant_table(table: pd.DataFrame) -> list[str]:
    """A row per variant: each key metric with its interval, then macro-F1, test size, seeds and time."""
    lines = ["| variant | px | frame top-1 | frame top-5 | seq top-1 | seq top-5 | challenge score | "
             "frame macro-F1 | seq macro-F1 | test frames | test seqs | seeds | train s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        if r["note"]:
            lines.append(f"| {r['variant']} | {r['note']} |" + " |" * 11)
            continue
        cells = [_with_interval(r[m], r[f"{m}_low"], r[f"{m}_high"], pct=m != "challenge_score") for m in KEY_METRICS]
        lines.append(
            f"| {r['variant']} | {int(r['input_px'])} | {' | '.join(cells)} | "
            f"{_fmt(r['frame_macro_f1'])} | {_fmt(r['sequence_macro_f1'])} | {int(r['test_frames'])} | "
            f"{int(r['test_sequences'])} | {int(r['seeds'])} | {_fmt(r['train_seconds'], False)} |")
    return lines


def _pooling_note(pooling: str) -> list[str]:
    """What the pooled rows are, where the run has them."""
    if pooling == "mean":
        return []
    row = pooled_name("<variant>", pooling)
    return ["", f"Rows `{row}`: the variant's classifier with each sequence's frames pooled by an {pooling} head "
                f"(pooling.method: {pooling}) trained on the training side's sequences, instead of the mean of "
                "their log-probabilities; its frame metrics are the variant's own, its train s adds the head's."]


def _not_asked_note(not_asked: Sequence[str]) -> list[str]:
    """The variants left out because classifier.variants does not list them, if any."""
    if not not_asked:
        return []
    return ["", f"Not in classifier.variants: {', '.join(not_asked)} (`kedro run --pipeline=full --env "
                "controls` runs the controls srgan_self and clean64 too)."]


def _seed_spread(table: pd.DataFrame) -> list[str]:
    """Mean ± sd (min–max) over seeds of the variants trained with several, if any."""
    repeated = table[table["seeds"] > 1]
    if not len(repeated):
        return []
    lines = ["", "Spread over seeds (classifier.seeds): mean ± sd (min–max).", "",
             "| variant | seeds | frame top-1 | frame top-5 | seq top-1 | seq top-5 | challenge score |",
             "|---|---|---|---|---|---|---|"]
    for _, r in repeated.iterrows():
        cells = [f"{_fmt(r[m], pct)} ± {_fmt(r[f'{m}_seed_sd'], pct)} "
                 f"({_fmt(r[f'{m}_seed_min'], pct)}–{_fmt(r[f'{m}_seed_max'], pct)})"
                 for m, pct in ((m, m != "challenge_score") for m in KEY_METRICS)]
        lines.append(f"| {r['variant']} | {int(r['seeds'])} | {' | '.join(cells)} |")
    return lines


def _differences_table(differences: pd.DataFrame, cfg: EvaluationConfig) -> list[str]:
    """How the paired differences were tested, then a row per pair (skipped pairs say why), if any."""
    if not len(differences):
        return []
    test = f"exact over every sign pattern up to {EXACT_MAX_CLUSTERS} videos, else {cfg.permutations} random patterns"
    family = int((differences["note"] == "").sum())
    lines = ["", f"Paired differences, variant − baseline, on the same test sequences: the difference with its "
                 f"{_level(cfg)} interval (the same bootstrap), p of a two-sided sign-flip permutation test over "
                 f"videos on the outcomes averaged over seeds ({test}), and Holm p: adjusted over the family "
                 f"of evaluation.comparisons, declared before the run, that ran ({family} pairs, per metric; "
                 f"skipped pairs are not in it). Shown: the interval excludes 0 and Holm p < "
                 f"{1 - cfg.bootstrap.confidence:.2g}.", "",
             "| variant − baseline | seq top-1 difference (points) [interval] | p | Holm p | shown? | "
             "challenge score difference [interval] | p | Holm p | shown? |",
             "|---|---|---|---|---|---|---|---|---|"]
    for _, d in differences.iterrows():
        name = pair_name(d["variant"], d["baseline"])
        if d["note"]:
            lines.append(f"| {name} | {d['note']} |" + " |" * 7)
        else:
            lines.append(f"| {name} | {_difference_cells(d)} |")
    return lines


def _difference_cells(d: pd.Series) -> str:
    """One pair's cells: per difference metric, the difference [interval], p, Holm p, shown or not."""
    cells = []
    for metric in DIFFERENCE_METRICS:
        pct = metric != "challenge_score"
        cells += [_with_interval(d[f"{metric}_difference"], d[f"{metric}_low"], d[f"{metric}_high"], pct, True),
                  _p(d[f"{metric}_p"]), _p(d[f"{metric}_p_adjusted"]),
                  "shown" if d[f"{metric}_shown"] else "not shown"]
    return " | ".join(cells)


def _psnr_ssim(val: Mapping[str, Any]) -> str:
    """PSNR and SSIM on validation, each against bicubic upscaling's."""
    nan = float("nan")
    return (f"PSNR {val.get('val_psnr', nan):.2f} dB vs bicubic {val.get('val_psnr_bicubic', nan):.2f} dB; "
            f"SSIM {val.get('val_ssim', nan):.4f} vs {val.get('val_ssim_bicubic', nan):.4f}")


def _sr_validation(sr_report: Mapping) -> list[str]:
    """The SR generator's validation numbers (and what they were measured on), if it has any."""
    val = _numbers(sr_report.get("val") or {})
    if not val:
        return []
    note = (sr_report.get("measure") or {}).get("note")
    return ["", f"SR generator on validation: {_psnr_ssim(val)}" + (f" (measured on {note})." if note else ".")]


def _sr_id_validation(sr_report_id: Mapping) -> list[str]:
    """The identity-loss generator's (srgan_id) validation numbers and its recogniser's top-1, if trained."""
    val_id = _numbers(sr_report_id.get("val") or {})
    if not val_id:
        return []
    line = f"srgan_id generator (with the identity loss) on validation: {_psnr_ssim(val_id)}."
    if "val_recogniser_top1_sr" in val_id:
        line += (" Its recogniser's top-1 on the validation crops: truth "
                 f"{_fmt(val_id['val_recogniser_top1_hr'])} %, SR {_fmt(val_id['val_recogniser_top1_sr'])} %, "
                 f"bicubic {_fmt(val_id['val_recogniser_top1_bicubic'])} %.")
    return ["", line]


def _leakage_audit(leakage: Mapping) -> list[str]:
    """What the split's sides share, per pair of sides (0 = none)."""
    return ["", "Leakage audit (shared between sides at the split; 0 = none):", "",
            "| sides | videos | sequences | frames |", "|---|---|---|---|",
            *(f"| {pair} | {c['videos']} | {c['sequences']} | {c['frames']} |" for pair, c in leakage.items())]


def _numbers(values: Mapping[str, Any]) -> dict[str, Any]:
    """A report's numbers with None (not computable) as NaN, so they format."""
    return {k: float("nan") if v is None else v for k, v in values.items()}


def differences_figure(differences: pd.DataFrame, confidence: float) -> Figure:
    """A forest plot: per pair of ``evaluation.comparisons`` (top to bottom) its difference and
    interval, sequence top-1 in points on the left, challenge score on the right; a filled marker
    where the difference is shown (interval excludes 0, Holm p < 1 - confidence), a hollow one where it is
    not; skipped pairs named, not drawn."""
    if differences.empty:
        fig = Figure(figsize=(4, 1))
        fig.text(0.5, 0.5, "no paired differences asked for", ha="center")
        return fig
    fig = Figure(figsize=(11, 1.5 + 0.45 * len(differences)))
    axes = fig.subplots(1, len(DIFFERENCE_METRICS), sharey=True)
    ys = np.arange(len(differences))[::-1]
    for ax, metric in zip(axes, DIFFERENCE_METRICS):
        scale = 100.0 if metric != "challenge_score" else 1.0
        for y, (_, d) in zip(ys, differences.iterrows()):
            if d["note"]:
                continue
            value, low, high = (scale * d[f"{metric}_{k}"] for k in ("difference", "low", "high"))
            ax.errorbar([value], [y], xerr=[[value - low], [high - value]], fmt="o", capsize=3, color="C0",
                        markerfacecolor="C0" if d[f"{metric}_shown"] else "white",
                        label=pair_name(d["variant"], d["baseline"]))
        ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel({"sequence_top1": "sequence top-1 difference (points)",
                       "challenge_score": "challenge score difference"}[metric])
        ax.grid(alpha=0.3, axis="x")
    names = [pair_name(d["variant"], d["baseline"]) + (" (skipped)" if d["note"] else "")
             for _, d in differences.iterrows()]
    axes[0].set_yticks(ys, names)
    axes[0].set_ylim(-0.7, len(differences) - 0.3)
    fig.suptitle(f"Paired differences with {100 * confidence:g} % intervals (bootstrap over test videos and seeds; "
                 "hollow: not shown, the interval includes 0 or Holm p >= "
                 f"{1 - confidence:.2g})")
    fig.tight_layout()
    return fig


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
