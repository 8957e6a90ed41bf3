"""How far the numbers can be trusted (issue 15): percentile backing and speed-up intervals.

    .venv/bin/python benchmarks/bench_trust.py [--sweep deploy/sweep.quick.yml] [--artifacts DIR]
        [--percentiles 50 90 99] [--processes N] [--out DIR]
    .venv/bin/python benchmarks/bench_trust.py --results DIR      # a folder measured before

Runs the sweep (from the artifacts in --artifacts where given, else building what its store
lacks; --percentiles and --processes override its timing section) and prints:
- per model and batch size, how many ok trials back p50, p90 and p99 (timing.min_samples_pNN),
  and the median sample count: "how often a default sweep's p99 is now backed";
- every structured variant's speed-up over the original and the mask-only one over the
  original, with its 95% interval and verdict (the seed comparison, shared/stats.speedup);
- with 2+ processes, the between-process spread of the medians (latency_p50_process_cv);
- the measuring time, against the timed regions (what the longer timing costs).
Timings are only worth comparing on a quiet machine.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.comparison import seed_comparisons
from shared.resultsdir import load_results, load_samples
from shared.sweep import PERCENTILES, Sweep, load_sweep


def run(args: argparse.Namespace, out: Path, console: Console) -> None:
    """Measure the sweep into ``out`` with the timing overrides; print what it cost."""
    sweep: Sweep = load_sweep(args.sweep)
    timing = sweep.timing
    if args.percentiles:
        timing = dataclasses.replace(timing, percentiles=tuple(args.percentiles))
    if args.processes:
        timing = dataclasses.replace(timing, processes=args.processes)
    sweep = dataclasses.replace(sweep, timing=timing)
    started = time.perf_counter()
    if args.artifacts:
        from agent.artifacts import ArtifactStore
        from agent.measure_runner import MeasureRunner
        summary = MeasureRunner(sweep, out, ArtifactStore.existing(args.artifacts)).run()
    else:
        from agent.cache import default_cache_dir  # torch: only when building
        from agent.runner import SweepRunner
        summary = SweepRunner(sweep, out, default_cache_dir()).run()
    console.print(f"timing {timing}; wall {time.perf_counter() - started:.1f} s, measuring "
                  f"{summary.measure_wall_s:.1f} s for {summary.timed_s:.1f} s inside the timed regions")


def backing_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="percentiles backed by enough samples (ok trials)")
    for name in ("model", "batch", "trials", *(f"p{p}" for p in PERCENTILES), "median n", "processes"):
        table.add_column(name, justify="left" if name == "model" else "right")
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["batch_size"]), []).append(row)
    for (model, batch), group in [*sorted(groups.items()), (("all", 0), rows)]:
        backed = [sum(r[f"latency_p{p}_ms"] is not None for r in group) for p in PERCENTILES]
        table.add_row(model, str(batch) if batch else "", str(len(group)), *map(str, backed),
                      f"{statistics.median(r['n_samples'] or 0 for r in group):.0f}",
                      str(max(r["process_count"] or 1 for r in group)))
    return table


def interval_table(rows: list[dict[str, Any]], folder: Path) -> Table:
    table = Table(title="speed-up over the original, 95% interval and verdict (seed comparison)")
    for name in ("model", "ratio", "batch", "structured", "mask only", "basis"):
        table.add_column(name, justify="left" if name in ("model", "structured", "mask only") else "right")
    for c in seed_comparisons(rows, load_samples(folder)):
        table.add_row(c.model, f"{c.target_ratio:g}", str(c.batch_size), c.pruned_interval.describe(),
                      c.mask_interval.describe(), c.pruned_interval.basis)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", type=Path, default=Path("deploy/sweep.quick.yml"))
    parser.add_argument("--artifacts", type=Path, help="measure these prebuilt artifacts (agent build)")
    parser.add_argument("--results", type=Path, help="only read this results folder")
    parser.add_argument("--out", type=Path, help="results folder (default: a temporary one)")
    parser.add_argument("--percentiles", type=int, nargs="+", choices=PERCENTILES)
    parser.add_argument("--processes", type=int)
    args = parser.parse_args()
    console = Console()
    folder = args.results or args.out or Path(tempfile.mkdtemp(prefix="bench-trust-"))
    if not args.results:
        run(args, folder, console)
    rows = [r for r in load_results(folder).rows if r["status"] == "ok"]
    console.print(backing_table(rows))
    console.print(interval_table(rows, folder))
    spread = [r["latency_p50_process_cv"] for r in rows if r["latency_p50_process_cv"] is not None]
    if spread:
        console.print(f"between-process CV of the medians: median {statistics.median(spread):.2%}, "
                      f"max {max(spread):.2%} over {len(spread)} trials")


if __name__ == "__main__":
    main()
