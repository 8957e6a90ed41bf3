"""``collector fetch``: copy a run's rows from every host and merge them, agents left alone."""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from collector.commands.status import add_run_arguments
from collector.fleet.hostrun import HostRun, HostView, RunSettings
from collector.fleet.live import plain
from collector.fleet.orchestrate import (add_fleet_arguments, claim_out, console_log, on_every_host,
                                         selected_hosts, transport_factory)
from collector.fleet.transport import TransportError
from shared.cli import output_console
from shared.errors import require_modules
from shared.inventory import Host, safe_folder_name


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "fetch", help="copy a run's rows from every host into OUT/<host>/ and merge them",
        description="Copy the rows each host has written since the last fetch (complete rows only, "
                    "never twice) and its side files (machine.json, layers, telemetry, log) into "
                    "OUT/<host>/, then merge every host's rows into OUT/fleet.duckdb and "
                    "OUT/results.parquet. Running agents are not touched: fetch again later for more.")
    add_fleet_arguments(parser)
    add_run_arguments(parser)
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="local results folder (default: results/fleet-<RUN>)")
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    require_modules("collector fetch", "duckdb", "pandas", extra="collector")  # the merge at the end
    inventory = selected_hosts(args)
    out = args.out or Path("results") / f"fleet-{args.name}"
    claim_out(out)
    console = output_console()
    make = transport_factory(args, inventory, console_log(console))
    settings = RunSettings(run_name=safe_folder_name(args.name), out_dir=out, wheel=None, deploy=False)

    def one(host: Host) -> str:
        run = HostRun(host, [], make(host), settings, HostView(host.name))
        try:
            state = run.fetch()
        except TransportError as exc:
            return f"failed: {exc}"
        finally:
            run.t.close()
        return {"exit": f"agent exited ({state.code})", "none": "no run there"}.get(state.kind, f"agent {state.kind}")

    results = on_every_host(list(inventory), one, args.parallel)
    table = Table(title=plain(f"fetched run {args.name!r} into {out}"))
    table.add_column("host")
    table.add_column("state")
    for host, result in zip(inventory, results):
        table.add_row(plain(host.name), plain(result))
    console.print(table)
    from collector.fleet.store import merge  # duckdb and pandas: imported when needed, not for --help

    result = merge(out)
    console.print(f"merged {result.rows_total} rows ({result.rows_added} new): {result.store}  parquet: {result.parquet}",
                  markup=False)
    for line in result.warnings():
        console.print(plain(line, "yellow"))
    return 1 if any(r.startswith("failed") for r in results) else 0
