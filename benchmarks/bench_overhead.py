"""P3: how much of a sweep's measuring time is spent inside the timed regions.

    .venv/bin/python benchmarks/bench_overhead.py [--sweep deploy/sweep.quick.yml]

Runs the sweep into a fresh folder (base models come from the cache when they are there:
run the sweep once before, or the first figure includes training) and prints:
- measuring wall time / sum of timed regions: the worker design's overhead (goal <= 1.3);
- the same without the warm-up the timing spec asks for (what the design itself adds);
- the same with the whole sweep's wall time, building (pruning, fine-tuning) included;
- where the measuring time went, stage by stage (agent/stages.py; also in run.json).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agent.cache import default_cache_dir
from agent.fingerprint import machine_info
from agent.runner import SweepRunner
from agent.stages import format_breakdown
from shared.sweep import load_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", type=Path, default=Path("deploy/sweep.quick.yml"))
    args = parser.parse_args()
    sweep = load_sweep(args.sweep)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        summary = SweepRunner(sweep, Path(out), default_cache_dir()).run()
        wall = time.perf_counter() - started
    info = machine_info()
    table = Table(title=f"P3 on {args.sweep} ({summary.total} trials)")
    for col in ("wall s", "building s", "measuring s", "warm-up s", "timed s", "measuring / timed",
                "without warm-up", "whole / timed"):
        table.add_column(col, justify="right")
    timed = summary.timed_s
    table.add_row(f"{wall:.1f}", f"{summary.build_wall_s:.1f}", f"{summary.measure_wall_s:.1f}",
                  f"{summary.warmup_s:.1f}", f"{timed:.1f}", f"{summary.measure_wall_s / timed:.2f}",
                  f"{(summary.measure_wall_s - summary.warmup_s) / timed:.2f}", f"{wall / timed:.2f}")
    console = Console()
    console.print(f"machine: {info['cpu_model']}, {info['cores_logical']} cores; statuses: {dict(summary.statuses)}")
    console.print(table)
    console.print("where the measuring time went:")
    for line in format_breakdown(summary.stages.seconds, summary.measure_wall_s):
        console.print(line, markup=False)
    console.print("goal: measuring / timed <= 1.3")


if __name__ == "__main__":
    main()
