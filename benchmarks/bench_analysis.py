"""P7: the full default causal analysis on 10,000 rows in <= 30 s on 2 cores.

"Full default" is what `collector analyze --results DIR` does with no options: the five
default questions (latency per backend and device class: 6 groups on the synthetic fleet,
so 10 effects), each estimated and refuted with random common cause, data subset and
placebo at 100 simulations, bootstrap at 100, the hidden-confounder sensitivity analysis;
then dowhy.gcm outcome models, arrow strengths for latency and OOM, and the per-device
recommendations. The rows are the synthetic fleet of tests/synthetic/known_effects.py
(six hosts, three device classes, ratio confounded by batch size, ~9% OOM).

    .venv/bin/python benchmarks/bench_analysis.py              # 10,000 rows, 3 runs
    .venv/bin/python benchmarks/bench_analysis.py --rows 3900 --runs 1

Each run is a fresh process (imports included, as a user waits for them), timed from
outside; the stage timings come from analysis.json. Not a test: the figures go in
docs/PERFORMANCE.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from shared.resultsdir import ResultsFolder

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the synthetic data is under tests/
from tests.synthetic.known_effects import (TRUE_LATENCY_MS_PER_RATIO, synthetic_rows,  # noqa: E402
                                           write_results)

GOAL_S = 30.0
RUN = ("from collector.cli import main; import sys; "
       "sys.exit(main(['analyze', '--results', sys.argv[1], '--json']))")


def one_run(folder: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", RUN, str(folder)], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    return wall, json.loads(ResultsFolder(folder).path(ResultsFolder.ANALYSIS).read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    console = Console(highlight=False)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_results(folder, synthetic_rows(args.rows, seed=0))
        runs = [one_run(folder) for _ in range(args.runs)]
    walls = [wall for wall, _ in runs]
    analysis = runs[-1][1]
    table = Table(title=f"P7: default analysis of {args.rows} rows, {args.runs} fresh processes")
    for header in ("run", "wall s", *analysis["timings_s"]):
        table.add_column(header)
    for i, (wall, result) in enumerate(runs, 1):
        table.add_row(str(i), f"{wall:.1f}", *(f"{v:.1f}" for v in result["timings_s"].values()))
    console.print(table)
    latency = [e for e in analysis["effects"] if e["outcome"] == "latency_p50_ms"]
    refits = sum(1 for e in analysis["effects"] if e["estimated"]) * 4 * 100
    console.print(f"{len(analysis['effects'])} effects, ~{refits} refuter refits; latency effects "
                  f"{min(e['estimate'] for e in latency):.2f}..{max(e['estimate'] for e in latency):.2f} "
                  f"(truth {TRUE_LATENCY_MS_PER_RATIO}), verdicts: "
                  f"{sorted({e['verdict']['label'] for e in analysis['effects']})}")
    median = statistics.median(walls)
    console.print(f"P7: median {median:.1f} s (goal <= {GOAL_S:.0f} s): {'met' if median <= GOAL_S else 'MISSED'}")
    return 0 if median <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
