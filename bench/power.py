"""Power of the paired comparison by simulation: how often a true gain is "shown" for a test side of
N videos.

"Shown" is the evaluation's verdict (:mod:`faceless.recognition.stats`): the 95 % interval of the
mean difference (``t_se`` by default, from a cluster bootstrap over videos) excludes 0 AND the
sign-flip p over videos, Holm-adjusted over the family of ``evaluation.comparisons``, is below
0.05. Holm's threshold for one comparison depends on the others' p; this prints the power for a
family of one (no correction: the upper bound) and for ``--family`` comparisons at the Bonferroni
threshold 0.05 / family (Holm's first step: the lower bound; the issue's default table ran 8).

Per-video differences (variant - baseline, in points, a video's sequences averaged) are drawn as
N(effect, SD) (``--sd``), or resampled from a file of per-video differences (``--differences``,
centred and shifted to each effect: the observed shape, the asked-for mean).

The project's rule: nothing is chosen by looking at the test side. The input is therefore the
VALIDATION side's per-video differences (or an SD given on the command line). The default SD, 48.5
points, is the per-video SD of srgan - lr challenge-score differences quoted by issue 24 as measured
before; it serves to plan the size of a test side, not to pick anything that is then tested.

    python bench/power.py                                  # SD 48.5; 32, 64, 96, 128 videos
    python bench/power.py --sd 40 --videos 32 96 --effects 10 15
    python bench/power.py --differences val_differences.csv   # column "difference", or JSON list
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from faceless.recognition.stats import (  # noqa: E402 - after the path
    INTERVAL_METHODS,
    interval_bounds,
    resample,
    sign_flip_p_values,
)

#: The default per-video SD of the differences (challenge points; see the module's docstring).
DEFAULT_SD = 48.5
#: The default "observed" effect (points): srgan - lr's mean per-video difference quoted by issue 24.
DEFAULT_OBSERVED = 17.2


def read_differences(path: Path) -> np.ndarray:
    """Per-video differences from a CSV (column ``difference``, else the only numeric column) or a
    JSON list (or ``{"differences": [...]}``)."""
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        return np.asarray(data["differences"] if isinstance(data, dict) else data, dtype=np.float64)
    import pandas as pd

    table = pd.read_csv(path)
    if "difference" in table:
        return table["difference"].to_numpy(dtype=np.float64)
    numeric = table.select_dtypes("number")
    if numeric.shape[1] != 1:
        raise SystemExit(f"{path}: name the per-video difference column 'difference'")
    return numeric.iloc[:, 0].to_numpy(dtype=np.float64)


def simulate_power(videos: int, effect: float, rng: np.random.Generator, sims: int, redraws: int,
                   permutations: int, family: int, confidence: float, method: str, seed: int,
                   sd: float, pool: np.ndarray | None = None) -> tuple[float, float]:
    """The share of ``sims`` simulated test sides of ``videos`` videos where the difference is shown,
    for a family of one and at the Bonferroni threshold of ``family`` comparisons."""
    if pool is None:
        differences = rng.normal(effect, sd, size=(sims, videos))
    else:
        centred = pool - pool.mean()
        differences = effect + centred[rng.integers(0, len(pool), size=(sims, videos))]
    estimate = differences.mean(-1)
    draws = resample(differences[:, None, :], np.ones(videos), redraws, seed)  # one unit a video, one seed
    low, high = interval_bounds(estimate, draws, confidence, method)
    excludes_zero = (low > 0) | (high < 0)
    p = sign_flip_p_values(differences, permutations, seed)
    alpha = 1 - confidence
    return float(np.mean(excludes_zero & (p < alpha))), float(np.mean(excludes_zero & (p < alpha / family)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--sd", type=float, default=DEFAULT_SD,
                        help=f"per-video SD of the differences, points (default {DEFAULT_SD})")
    source.add_argument("--differences", type=Path,
                        help="validation-side per-video differences (CSV column 'difference', or JSON list)")
    parser.add_argument("--observed", type=float, default=None,
                        help=f"the observed effect, points (default: the file's mean, else {DEFAULT_OBSERVED})")
    parser.add_argument("--effects", type=float, nargs="+", default=[10.0, 15.0],
                        help="further effects, points (default 10 15)")
    parser.add_argument("--videos", type=int, nargs="+", default=[32, 64, 96, 128])
    parser.add_argument("--family", type=int, default=8,
                        help="comparisons in Holm's family (default 8: the default table's that ran)")
    parser.add_argument("--sims", type=int, default=2000, help="simulated test sides per cell")
    parser.add_argument("--redraws", type=int, default=500, help="bootstrap redraws per side")
    parser.add_argument("--permutations", type=int, default=4000, help="sign patterns per side")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--interval", choices=INTERVAL_METHODS, default=INTERVAL_METHODS[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    pool = read_differences(args.differences) if args.differences else None
    sd = float(pool.std(ddof=1)) if pool is not None else args.sd
    observed = args.observed if args.observed is not None else (
        float(pool.mean()) if pool is not None else DEFAULT_OBSERVED)
    effects = [("observed", observed)] + [(f"+{e:g}", e) for e in args.effects]
    source = f"{len(pool)} per-video differences from {args.differences}" if pool is not None else "normal"
    print(f"Power of 'shown' ({args.interval} {100 * args.confidence:g} % interval excludes 0 and sign-flip p "
          f"< {1 - args.confidence:.2g} / family); per-video SD {sd:.1f} points ({source}); "
          f"{args.sims} simulated sides a cell (Monte Carlo SE of a power <= {0.5 / np.sqrt(args.sims):.3f}).")
    print()
    print(f"| videos | effect (points) | power, family of 1 | power, family of {args.family} (Bonferroni bound) |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    for videos in args.videos:
        for name, effect in effects:
            single, family = simulate_power(videos, effect, rng, args.sims, args.redraws, args.permutations,
                                            args.family, args.confidence, args.interval, args.seed, sd, pool)
            label = f"{name} ({effect:+.1f})" if name == "observed" else name
            print(f"| {videos} | {label} | {single:.2f} | {family:.2f} |", flush=True)
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
