"""``agent run``: the standalone sweep on this device."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from agent.summary import status_line, summary_table
from shared.errors import UserError
from shared.sweep import load_sweep

DEFAULT_SWEEP = Path(__file__).parents[2] / "shared" / "sweeps" / "quick.yml"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "run", help="build and measure every variant of a sweep on this device",
        description="Build every pruned variant of the sweep (training and caching the base model "
                    "if needed), measure it at every batch size, and append one row a trial to "
                    "OUT/results.jsonl (synced at once). Rerunning into the same OUT resumes: "
                    "completed trials are skipped. OUT/results.csv is written at the end.")
    parser.add_argument("--sweep", type=Path, metavar="FILE", default=DEFAULT_SWEEP,
                        help="sweep YAML file (default: the quick sweep, deploy/sweep.quick.yml)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="output folder (default: results/<sweep name>)")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help="where trained base models are cached "
                             "(default: $EDGEPRUNE_CACHE or ~/.cache/edgeprune)")
    parser.add_argument("--mem-limit", metavar="SIZE",
                        help="cap each measuring worker's memory, e.g. 2GiB, to emulate a smaller "
                             "device (a cgroup where the agent may make one, else RLIMIT_AS); "
                             "the runtime the worker shares with the agent counts towards it")
    parser.add_argument("--trial-timeout", type=float, metavar="SECONDS",
                        help="kill a worker with no result for this long (default: the sweep's "
                             "trial_timeout_s, 600)")
    parser.set_defaults(execute=execute)


class RichProgress:
    """The runner's progress, drawn as a rich progress bar; unusual outcomes are logged.

    Where the output is not a terminal (a CI log, a file), a live bar draws nothing until
    the end, so every finished trial is logged as one line instead.
    """

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = progress.add_task("starting", total=None)
        self._log_rows = not progress.console.is_terminal

    def start(self, total: int, done: int) -> None:
        self._progress.update(self._task, total=total, completed=done)

    def stage(self, text: str) -> None:
        self._progress.update(self._task, description=text)

    def row(self, row: dict[str, Any]) -> None:
        self._progress.advance(self._task)
        task = self._progress.tasks[self._task]
        if row["status"] != "ok" or self._log_rows:
            line = f"[{task.completed:.0f}/{task.total:.0f}] {status_line(row)}"
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)


def execute(args: argparse.Namespace) -> int:
    # Imported here so that `agent --help` and `agent info` stay fast (torch takes seconds).
    from agent.basemodel import default_cache_dir
    from agent.memlimit import parse_size
    from agent.runner import SweepRunner

    sweep = load_sweep(args.sweep)
    if args.trial_timeout is not None:
        if args.trial_timeout <= 0:
            raise UserError("must be a positive number of seconds", field="--trial-timeout")
        sweep = dataclasses.replace(sweep, trial_timeout_s=args.trial_timeout)
    mem_limit = parse_size(args.mem_limit) if args.mem_limit else None
    out = args.out or Path("results") / sweep.name
    console = Console(highlight=False)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        runner = SweepRunner(sweep, out, args.cache_dir or default_cache_dir(), RichProgress(bar), mem_limit)
        summary = runner.run()
    console.print(summary_table(list(runner.out.results.rows())))
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.statuses.items())) or "nothing new"
    console.print(f"{summary.total} trials ({summary.already_done} already done; this run: {counts})")
    if summary.timed_s > 0:
        console.print(f"building: {summary.build_wall_s:.0f} s; measuring: {summary.measure_wall_s:.1f} s "
                      f"for {summary.timed_s:.1f} s inside timed regions "
                      f"(+{summary.warmup_s:.1f} s warm-up, ratio {summary.measure_wall_s / summary.timed_s:.2f})")
    console.print(f"results: {runner.out.results.path}  csv: {runner.out.results_csv}")
    return 0
