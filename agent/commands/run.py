"""``agent run``: the standalone sweep on this device."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn, Task,
                           TextColumn, TimeElapsedColumn)
from rich.text import Text

from agent import seam
from agent.stages import format_breakdown
from agent.summary import status_line, summary_table
from shared import strategy
from shared.cli import output_console
from shared.errors import UserError
from shared.events import EventWriter
from shared.profile import DeviceProfile, misfit_here, parse_profile
from shared.resultsdir import ResultsFolder
from shared.sweep import DEFAULT_SWEEP, Sweep, load_sweep

if TYPE_CHECKING:
    from agent.measure_runner import MeasureRunner



def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "run", help="build and measure every variant of a sweep on this device",
        description="Build every pruned variant of the sweep into an artifact store (training and "
                    "caching the base model if needed; a variant already there is reused), measure "
                    "each artifact at every batch size on every backend, and append one row a trial "
                    "to OUT/results.jsonl (synced at once). With --artifacts DIR it only measures "
                    "what DIR holds. Rerunning into the same OUT resumes: completed trials are "
                    "skipped. OUT/results.csv is written at the end.")
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
    parser.add_argument("--profile", metavar="NAME|JSON",
                        help="measure as an emulated device: a preset (server, laptop, board) or JSON such as "
                             "'{\"cpus\": 1, \"cpu_quota\": 0.5, \"memory\": \"1GiB\", \"threads\": 1}': the "
                             "workers are pinned to that many cores, get that share of their time (a cgroup "
                             "CPU quota) and that memory cap; rows say emulated, and the device class "
                             "emu-<shape>@<this machine's class>")
    parser.add_argument("--trial-timeout", type=float, metavar="SECONDS",
                        help="kill a worker with no result for this long (default: the sweep's "
                             "trial_timeout_s, 600)")
    parser.add_argument("--artifacts", type=Path, metavar="DIR",
                        help="measure the prebuilt artifacts in DIR (what `agent build --out DIR` "
                             "wrote) and build nothing: needs no torch, works on a light agent; a "
                             "variant missing from DIR becomes skipped rows, tried again by the next "
                             "run (default: build what is missing into OUT/artifacts, then measure)")
    parser.add_argument("--events", type=Path, metavar="FILE",
                        help="also append progress events to FILE, one JSON object a line "
                             "(start, stage, row, end, error; see shared/events.py): what the "
                             "collector streams while the agent runs detached")
    parser.add_argument("--host-name", metavar="NAME",
                        help="the name written in every row's host column (default: this machine's "
                             "host name; the collector passes the inventory's name)")
    strategy.add_arguments(parser)
    parser.add_argument("--cpus", metavar="LIST",
                        help="pin the measuring workers to these cores, e.g. 0,1 or 2-3 (overrides the "
                             "sweep's cpus:; recorded in every row's cpus column)")
    parser.add_argument("--build-missing", action="store_true",
                        help="with --artifacts: build the variants DIR lacks into DIR first "
                             "(needs the full install)")
    parser.add_argument("--no-analysis", action="store_true",
                        help="write the report without running the causal analysis first "
                             "(`agent analyze --results OUT` runs it later)")
    parser.set_defaults(execute=execute)


class EtaColumn(ProgressColumn):
    """Time left from this session's pace: the trials done since it started over the time taken.

    rich's own column estimates speed over the last 30 s only, so with trials slower than that
    (or a long build before the first one) it never had two samples and showed -:--:--."""

    def render(self, task: Task) -> Text:
        first, began = task.fields.get("first_done"), task.fields.get("began")
        new = task.completed - first if first is not None else 0
        if not new or task.total is None or began is None:
            return Text("-", style="progress.remaining")
        seconds = int((task.total - task.completed) * (time.monotonic() - began) / new)
        minutes, secs = divmod(seconds, 60)
        return Text(f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}", style="progress.remaining")


def progress_bar(console: Console) -> Progress:
    """The rich progress bar of the long-running commands (run, build)."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), EtaColumn())
    return Progress(*columns, console=console, transient=False)


def needs_torch(what: str, error: ImportError) -> UserError:
    """The message for a light agent asked to do what only the full install can."""
    return UserError(f"{what} needs torch, which is not installed here ({error}): pip install "
                     f"'edgeprune[full]', or measure prebuilt artifacts with `agent run --artifacts DIR`")


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
        self._progress.update(self._task, total=total, completed=done, first_done=done, began=time.monotonic())
        if done and self._log_rows:  # a rerun: one line, not a replay of what is on disk already
            rest = "nothing left to run" if done >= total else f"{total - done} to run"
            self._progress.console.print(f"{done} of {total} trials already done; {rest}", markup=False,
                                         highlight=False)

    def stage(self, text: str) -> None:
        self._progress.update(self._task, description=text)

    def row(self, row: dict[str, Any]) -> None:
        self._progress.advance(self._task)
        task = self._progress.tasks[self._task]
        if row["status"] != "ok" or self._log_rows:
            line = f"[{task.completed:.0f}/{task.total:.0f}] {status_line(row)}"
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)


class Fanout:
    """Hands the runner's progress to several watchers (the rich bar and the event file)."""

    def __init__(self, *watchers: Any) -> None:
        self._watchers = watchers

    def start(self, total: int, done: int) -> None:
        for w in self._watchers:
            w.start(total, done)

    def stage(self, text: str) -> None:
        for w in self._watchers:
            w.stage(text)

    def row(self, row: dict[str, Any]) -> None:
        for w in self._watchers:
            w.row(row)


def _stop_on_sigterm() -> None:
    """SIGTERM (the collector stopping a detached agent) ends the run like Ctrl-C: workers
    are stopped and every completed row is already on disk."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _runner(args: argparse.Namespace, sweep: Sweep, out: Path, progress: Any,
            mem_limit: int | None, profile: DeviceProfile | None) -> MeasureRunner:
    """Measure-only from --artifacts (torch-free), else the runner that builds what is missing."""
    from agent.artifacts import ArtifactStore
    from agent.measure_runner import MeasureRunner

    if args.artifacts is not None and not args.build_missing:
        return MeasureRunner(sweep, out, ArtifactStore.existing(args.artifacts), progress, mem_limit, profile)
    if args.build_missing and args.artifacts is None:
        raise UserError("needs --artifacts DIR (the store to build into)", field="--build-missing")
    try:  # torch: seconds to import, absent on a light agent
        from agent.cache import default_cache_dir
        from agent.runner import SweepRunner
    except ImportError as exc:
        raise needs_torch("building variants", exc) from None
    return SweepRunner(sweep, out, args.cache_dir or default_cache_dir(), progress, mem_limit,
                       store_dir=args.artifacts, profile=profile)


def _profile(value: str | None) -> DeviceProfile | None:
    """The --profile, checked against this machine before anything runs (one line, exit 2)."""
    if value is None:
        return None
    profile = parse_profile(value, field="--profile")
    misfit_here(profile, field="--profile")
    return profile


def execute(args: argparse.Namespace) -> int:
    from shared.sizes import parse_size

    sweep = load_sweep(args.sweep)
    if args.trial_timeout is not None:
        if args.trial_timeout <= 0:
            raise UserError("must be a positive number of seconds", field="--trial-timeout")
        sweep = dataclasses.replace(sweep, trial_timeout_s=args.trial_timeout)
    if args.strategy is not None or args.budget is not None:
        chosen = strategy.with_arguments(sweep.strategy.to_json(), args)
        sweep = dataclasses.replace(sweep, strategy=strategy.parse_strategy(chosen, "command line"))
    if args.cpus is not None:
        from agent.affinity import check_cpus, parse_cpus
        sweep = dataclasses.replace(sweep, cpus=check_cpus(parse_cpus(args.cpus), "--cpus"))
    mem_limit = parse_size(args.mem_limit) if args.mem_limit else None
    profile = _profile(args.profile)
    out = args.out or Path("results") / sweep.name
    events = EventWriter(args.events) if args.events else None
    _stop_on_sigterm()
    console = output_console()
    with progress_bar(console) as bar:
        progress = RichProgress(bar)
        try:
            runner = _runner(args, sweep, out, Fanout(progress, events) if events else progress, mem_limit,
                             profile)
            if args.host_name:  # the fleet's name for this device, in every row and machine.json
                runner.machine["host"] = args.host_name
            summary = runner.run()
        except (Exception, KeyboardInterrupt) as exc:
            if events:
                with contextlib.suppress(OSError, UserError):  # a full disk: the error itself is what counts
                    events.error(str(exc) or type(exc).__name__)
            raise
    if events:
        events.end(summary.total, summary.statuses)
    console.print(summary_table(list(runner.out.results.rows())))
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.statuses.items())) or "nothing new"
    console.print(f"{summary.total} trials ({summary.already_done} already done; this run: {counts})")
    if sweep.strategy.adaptive:
        console.print(f"adaptive sweep: at most {sweep.strategy.budget:.0%} of the grid's trials, chosen by the "
                      f"causal model; why each was chosen: {runner.out.path(ResultsFolder.STRATEGY)}")
    if (disturbed := summary.disturbed_line()) is not None:
        console.print(disturbed, markup=False)
    if summary.timed_s > 0:
        console.print(f"artifacts (finding, building): {summary.build_wall_s:.0f} s; measuring: "
                      f"{summary.measure_wall_s:.1f} s for {summary.timed_s:.1f} s inside timed regions "
                      f"(+{summary.warmup_s:.1f} s warm-up; ratio {summary.measure_wall_s / summary.timed_s:.2f}, "
                      f"{(summary.measure_wall_s - summary.accuracy_s) / summary.timed_s:.2f} without the "
                      f"{summary.accuracy_s:.1f} s of the device-accuracy passes)")
        console.print("where the measuring time went (also in run.json, `overhead`):")
        for line in format_breakdown(summary.stages.seconds, summary.measure_wall_s):
            console.print(line, markup=False)
    console.print(f"results: {runner.out.results.path}  csv: {runner.out.path(ResultsFolder.RESULTS_CSV)}",
                  markup=False)
    console.print(f"artifacts: {runner.store.root} ({folder_mib(runner.store.root):,.0f} MiB; kept so that a rerun "
                  f"builds nothing, delete it to free the space)", markup=False)
    if not args.events:  # driven by a collector, which writes one report for the whole fleet
        for line in seam.after_run(runner.out.root, analysis=not args.no_analysis):
            console.print(line, markup=False, soft_wrap=True)


def folder_mib(folder: Path) -> float:
    """Disk taken by the files under ``folder`` (0 where it is missing)."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file() and not p.is_symlink()) / 2**20
    return 0
