"""``collector status``: how far a run is on every host, without touching it."""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from collector.fleet.hostrun import HostRun, HostView, RunSettings
from collector.fleet.live import plain
from collector.fleet.orchestrate import (add_fleet_arguments, console_log, on_every_host, selected_hosts,
                                         transport_factory)
from collector.fleet.transport import AuthFailed, TransportError
from shared.cli import output_console
from shared.inventory import Host, safe_folder_name

DEFAULT_RUN = "quick"
EXIT_UNREACHED = 1  # a host could not be asked: a script must not read "all well"
NOT_ASKED = ("auth-failed", "unreachable")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", metavar="RUN", default=DEFAULT_RUN,
                        help=f"the run's name, as `collector run --name` gave it (default: {DEFAULT_RUN}, "
                             f"the quick sweep's)")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "status", help="how far a run is on every host (agent running, exited or gone; trials done)",
        description="Connect to every host and read the run's state there: whether its agent is "
                    "running, exited (with its status) or gone, and how many trials it has done. "
                    "Changes nothing, here or there. Exit status 1 when a host could not be reached "
                    "(or refused the login).")
    add_fleet_arguments(parser)
    add_run_arguments(parser)
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    inventory = selected_hosts(args)
    console = output_console()
    make = transport_factory(args, inventory, console_log(console))
    settings = RunSettings(run_name=safe_folder_name(args.name), out_dir=Path("."), wheel=None, deploy=False)

    def one(host: Host) -> tuple[str, HostView]:
        view = HostView(host.name)
        run = HostRun(host, [], make(host), settings, view)
        try:
            state = run.peek()
        except AuthFailed as exc:
            return f"auth-failed: {exc}", view
        except TransportError as exc:
            return f"unreachable: {exc}", view
        finally:
            run.t.close()
        agent = {"exit": f"exited ({state.code})", "none": "not started"}.get(state.kind, state.kind)
        return agent, view

    results = on_every_host(list(inventory), one, args.parallel)
    table = Table(title=plain(f"run {args.name!r}"))
    for name in ("host", "agent", "trials", "last"):
        table.add_column(name, justify="right" if name == "trials" else "left")
    for agent, view in results:
        trials = f"{view.done}/{view.total}" if view.total is not None else "-"
        table.add_row(plain(view.name), plain(agent), trials, plain(view.last[-80:]))
    console.print(table)
    unreached = [view.name for agent, view in results if agent.startswith(NOT_ASKED)]
    if unreached:
        console.print(plain(f"{len(unreached)} host(s) not reached: {', '.join(unreached)}", "yellow"))
        return EXIT_UNREACHED
    return 0
