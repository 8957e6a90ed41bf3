"""The adaptive sweep's goal, measured by replay on recorded full grids.

For each results folder given (a full grid recorded with `agent run` or `collector run`):
`collector replay --budget B` draws the adaptive planner's trials from the grid as if it ran
them, and random samples of the same size (seeded). The goal: every target effect of the full
grid recovered (the adaptive estimate inside the full grid's 95% CI, with the same verdict)
with at most 40% of the trials, and a smaller error than random sampling at that budget.

    .venv/bin/python benchmarks/bench_adaptive.py GRID_DIR [GRID_DIR ...] [--budget 0.4] [--seeds 5]

Prints one table a grid (an effect a line) and the totals; the figures go in docs/ANALYSIS.md.
Timing-free: replay runs no trial, so a loaded machine changes nothing here (it changed the
recorded grids themselves: say how each was recorded).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grids", nargs="+", type=Path)
    parser.add_argument("--budget", type=float, default=0.4)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    recovered = total = better = 0
    for grid in args.grids:
        done = subprocess.run([sys.executable, "-m", "collector.cli", "replay", "--results", str(grid), "--budget",
                               str(args.budget), "--seeds", str(args.seeds), "--json"],
                              capture_output=True, text=True, check=True)
        data = json.loads(done.stdout)
        print(f"\n{grid}: {data['trials_used']} of {data['trials_total']} trials "
              f"({data['trials_used'] / data['trials_total']:.0%})")
        print(f"  {'target effect':<70} {'full [95% CI]':>32} {'adaptive':>10} {'inside':>6} {'verdict':>7} "
              f"{'err adapt':>10} {'err random':>10}")
        for e in data["effects"]:
            full, adaptive = e["full"], e["adaptive"]
            ok = e["inside"] and e["same_verdict"]
            wins = (e["adaptive_abs_error"] is not None and e["random_abs_error"] is not None
                    and e["adaptive_abs_error"] < e["random_abs_error"])
            recovered, total, better = recovered + ok, total + 1, better + wins
            est = "-" if adaptive is None else f"{adaptive['estimate']:.4g}"
            print(f"  {e['target']:<70} {full['estimate']:>10.4g} [{full['ci_low']:.4g}, {full['ci_high']:.4g}]"
                  f"{est:>10} {str(e['inside']):>6} {str(e['same_verdict']):>7} "
                  f"{e['adaptive_abs_error'] if e['adaptive_abs_error'] is not None else float('nan'):>10.3g} "
                  f"{e['random_abs_error'] if e['random_abs_error'] is not None else float('nan'):>10.3g}")
    print(f"\nrecovered {recovered} of {total} target effects; adaptive error below random in {better} of {total}")


if __name__ == "__main__":
    main()
