"""``collector run``: run a sweep on every host of an inventory and merge their rows."""
from __future__ import annotations

import argparse
import contextlib
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live

from collector.fleet.deploy import built_wheel
from collector.fleet.hostplan import host_sweep
from collector.fleet.hostrun import OK, HostRun, HostView, RunSettings
from collector.fleet.live import outcome_table, plain, progress_table
from collector.fleet.orchestrate import (add_fleet_arguments, claim_out, console_log, on_every_host,
                                         selected_hosts, transport_factory)
from shared import strategy
from shared.cli import EXIT_INTERRUPTED, output_console
from shared.errors import UserError, require_modules
from shared.inventory import Inventory, safe_folder_name
from shared.profile import misfit_here
from shared.resultsdir import ResultsFolder
from shared.sweep import DEFAULT_SWEEP, parse_sweep, read_sweep_file

EXIT_HOSTS_FAILED = 1


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "run", help="run a sweep on every host of an inventory, stream progress, merge the rows",
        description="Deploy the agent where it is missing or older, push the sweep (with each host's "
                    "overrides from the inventory) and any prebuilt artifacts, start the agent "
                    "detached on every host (a dropped connection does not stop it), stream its "
                    "progress, copy its rows as they are written into OUT/<host>/, and merge every "
                    "host's rows into OUT/fleet.duckdb and OUT/results.parquet. A dropped host is "
                    "reconnected with backoff; a dead agent is restarted and resumes; rerunning the "
                    "same command attaches to agents still running and resumes the others. Exit "
                    "status 1 when any host did not finish (see the hosts table); Ctrl-C stops the "
                    "agents and keeps every completed row.")
    add_fleet_arguments(parser)
    parser.add_argument("--sweep", type=Path, metavar="FILE", default=DEFAULT_SWEEP,
                        help="sweep YAML file (default: the quick sweep, deploy/sweep.quick.yml)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="local results folder (default: results/fleet-<sweep name>)")
    parser.add_argument("--name", metavar="RUN",
                        help="the run's name: its folder on every host, <workdir>/runs/RUN/HOST "
                             "(default: the sweep's name); the same name resumes that run")
    parser.add_argument("--artifacts", type=Path, metavar="DIR",
                        help="a prebuilt artifact store (`agent build --out DIR`): pushed to every host "
                             "(skipping artifacts already there) and measured with `agent run --artifacts`; "
                             "light agents need this")
    parser.add_argument("--no-deploy", action="store_true",
                        help="use the agent already installed on each host (its version must match)")
    parser.add_argument("--pip-args", default="", metavar="ARGS",
                        help="extra arguments for pip on the hosts, e.g. '--index-url URL'")
    parser.add_argument("--reconnect-timeout", type=float, default=300.0, metavar="SECONDS",
                        help="keep trying to reconnect to a dropped host this long (default 300)")
    parser.add_argument("--max-restarts", type=int, default=2, metavar="N",
                        help="restart an agent that died without an exit status at most N times (default 2)")
    parser.add_argument("--poll", type=float, default=1.0, metavar="SECONDS",
                        help="how often each host's progress is read (default 1)")
    parser.add_argument("--no-analysis", action="store_true",
                        help="write the report without running the causal analysis first (it takes seconds "
                             "to a minute; `collector analyze --results OUT` runs it later)")
    parser.add_argument("--no-report", action="store_true",
                        help="neither the causal analysis nor OUT/report.html at the end")
    strategy.add_arguments(parser)  # each host's agent plans its own trials: none waits for another
    parser.set_defaults(execute=execute)


def _check_numbers(args: argparse.Namespace) -> None:
    for name in ("reconnect_timeout", "poll"):
        if getattr(args, name) <= 0:
            raise UserError("must be a positive number of seconds", field=f"--{name.replace('_', '-')}")
    if args.max_restarts < 0:
        raise UserError("must be 0 or more", field="--max-restarts")
    if args.artifacts is not None and not args.artifacts.is_dir():
        raise UserError("no such artifact folder", field="--artifacts", source=str(args.artifacts))


def _write_fleet_file(out: Path, args: argparse.Namespace, run_name: str, views: list[HostView],
                      started: float) -> None:
    """What the rows cannot say: which hosts were asked, and how each one ended."""
    fleet = {"run_name": run_name, "sweep": str(args.sweep), "inventory": str(args.hosts),
             "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
             "wall_s": round(time.time() - started, 1),
             "hosts": [{"name": v.name, "outcome": v.outcome, "reason": v.reason, "trials_done": v.done,
                        "trials_total": v.total, "not_ok": v.failures, "restarts": v.restarts,
                        "reconnects": v.reconnects} for v in views]}
    ResultsFolder(out).write_json(ResultsFolder.FLEET, fleet)  # a full disk leaves the last run's file


def _run_hosts(args: argparse.Namespace, console: Console, runs: list[HostRun], views: list[HostView],
               stop: threading.Event) -> bool:
    """Every host's run, with a live table on a terminal; True when Ctrl-C stopped it."""
    done = threading.Event()
    interrupted = False
    worker = threading.Thread(target=lambda: (on_every_host(runs, HostRun.run, args.parallel), done.set()),
                              daemon=True)
    live = Live(progress_table(views), console=console, refresh_per_second=2, transient=True) \
        if console.is_terminal else None
    if live:
        live.start()
    try:
        worker.start()
        while not done.wait(0.5):
            if live:
                live.update(progress_table(views))
    except KeyboardInterrupt:
        interrupted = True
        console.print("stopping: telling every agent to stop; completed rows are kept (Ctrl-C again quits at once)")
        stop.set()
        done.wait()
    finally:
        if live:
            live.stop()
    return interrupted


def execute(args: argparse.Namespace) -> int:
    _check_numbers(args)
    require_modules("collector run", "duckdb", "pandas", extra="collector")  # the merge at the end
    inventory = selected_hosts(args)
    data = read_sweep_file(args.sweep)
    if isinstance(data, dict) and (args.strategy is not None or args.budget is not None):
        data = {**data, "strategy": strategy.with_arguments(data.get("strategy"), args)}
    sweep = parse_sweep(data, source=str(args.sweep))
    run_name = args.name if args.name is not None else sweep.name
    if not run_name.strip():
        raise UserError("may not be empty", field="--name")
    plans = {host.name: host_sweep(data, args.sweep, host)[1] for host in inventory}
    _check_profiles(inventory)
    _warn_same_machine(args, inventory)
    out = args.out or Path("results") / f"fleet-{sweep.name}"
    claim_out(out)
    console = output_console()
    log = console_log(console)

    needs_wheel = not args.no_deploy and any(not h.is_local or h.venv_given for h in inventory)
    if needs_wheel:
        console.print("building the agent's wheel...")
    with contextlib.ExitStack() as wheel_folder:  # removed once no host can need the wheel any more
        wheel = wheel_folder.enter_context(built_wheel()) if needs_wheel else None
        settings = RunSettings(run_name=safe_folder_name(run_name), out_dir=out, wheel=wheel,
                               deploy=not args.no_deploy, artifacts=args.artifacts, pip_args=args.pip_args,
                               poll_s=args.poll, reconnect_timeout_s=args.reconnect_timeout,
                               max_restarts=args.max_restarts, log_rows=not console.is_terminal)
        stop = threading.Event()
        make = transport_factory(args, inventory, log)
        views = [HostView(host.name) for host in inventory]
        runs = [HostRun(host, [("sweep.yml", plans[host.name])], make(host), settings, view, stop, log)
                for host, view in zip(inventory, views)]
        console.print(f"run {run_name!r}: sweep {sweep.name} on {len(runs)} host(s), at most {args.parallel} "
                      f"at once; results into {out}", markup=False)  # --name and --out are data, not markup
        started = time.time()
        interrupted = _run_hosts(args, console, runs, views, stop)
        console.print(outcome_table(views))  # before anything more is written: a full disk stops that
    _write_fleet_file(out, args, run_name, views, started)

    from collector.fleet.store import merge  # duckdb and pandas: imported when needed, not for --help

    result = merge(out)
    console.print(f"merged {result.rows_total} rows ({result.rows_added} new) from {result.hosts} host "
                  f"folder(s): {result.store}  parquet: {result.parquet}", markup=False)
    for line in result.warnings():
        console.print(plain(line, "yellow"))
    if not args.no_report and result.rows_total:
        _analyse(console, out, not args.no_analysis)
        _report(console, out)
    if interrupted:
        return EXIT_INTERRUPTED
    return 0 if all(v.outcome == OK for v in views) else EXIT_HOSTS_FAILED


def _check_profiles(inventory: Inventory) -> None:
    """A local host's device profile must fit this machine: one line naming the host and the
    field, before anything runs (a remote host's agent checks its own, at its start)."""
    for host in inventory:
        if host.profile is not None and host.is_local:
            misfit_here(host.profile, source=inventory.source, field=f"host {host.name!r}: profile")


def _warn_same_machine(args: argparse.Namespace, inventory: Inventory) -> None:
    """Two names for one machine, user and workdir are allowed (one board, two sweeps): they
    share its venv, installed once under a lock, and each has its own run folder. Said at the
    start, since it is rarely meant; emulated devices (a profile) are one machine on purpose."""
    from collector.fleet.hostlist import describe, same_machine

    rows = describe(list(inventory), args.ssh_config)  # emulated hosts are left out there
    for names in same_machine([row for row in rows if row.same_machine_as]):
        Console(highlight=False, stderr=True).print(
            f"warning: {', '.join(names)} are one machine (same address, port, user and workdir): they "
            f"share its agent venv (one installs it under a lock, the others wait) and each has its own "
            f"run folder",
            markup=False)


def _analyse(console: Console, out: Path, enabled: bool) -> None:
    from collector.analysis.after_run import analyse_after_run

    if enabled:
        console.print("causal analysis of the merged rows (seconds to a minute; --no-analysis skips it)...")
    console.print(analyse_after_run(out, enabled), markup=False, soft_wrap=True)


def _report(console: Console, out: Path) -> None:
    try:
        from collector.report.api import write_report_and_headline
        from collector.report.findings import console_lines
        path, headline = write_report_and_headline(out)
    except Exception as exc:  # the rows are merged already; a report failure must not hide that
        console.print(plain(f"report not written: {type(exc).__name__}: {exc}", "yellow"))
        return
    console.print(f"report: {path}", markup=False)
    for line in console_lines(headline):
        console.print(line, markup=False, soft_wrap=True)
