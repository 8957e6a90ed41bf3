"""``collector deploy``: install (or update) the agent on every host of an inventory."""
from __future__ import annotations

import argparse

from rich.table import Table

from collector.fleet.deploy import built_wheel, deploy, remote_venv
from collector.fleet.live import one_line, plain
from collector.fleet.orchestrate import (add_fleet_arguments, console_log, on_every_host, selected_hosts,
                                         transport_factory)
from collector.fleet.transport import TransportError
from shared.cli import output_console
from shared.inventory import Host


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "deploy", help="install or update the agent on every host",
        description="Build this checkout's wheel, upload it over SFTP, make or update a venv on each "
                    "host (the inventory's venv, default <workdir>/venv) with the extras the host "
                    "needs (full, or agent: the light agent), and check that `agent --version` "
                    "matches. A host that already has this very build is skipped. `collector run` "
                    "does this itself; use this to prepare a fleet ahead of time.")
    add_fleet_arguments(parser)
    parser.add_argument("--pip-args", default="", metavar="ARGS",
                        help="extra arguments for pip on the hosts, e.g. '--index-url URL'")
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    inventory = selected_hosts(args)
    console = output_console()
    log = console_log(console)
    make = transport_factory(args, inventory, log)
    console.print("building the agent's wheel...")
    with built_wheel() as wheel:  # its temporary folder goes once every host has it

        def one(host: Host) -> tuple[str, str]:
            try:
                with make(host) as transport:
                    changed = deploy(host, transport, wheel, args.pip_args,
                                     log=lambda t: log(f"{host.name}: {t}"))
                    return ("installed" if changed else "up to date"), remote_venv(host, transport)
            except TransportError as exc:
                log(f"{host.name}: deploy failed: {exc}")  # the whole text; the table shows one line
                return "failed", str(exc)

        results = on_every_host(list(inventory), one, args.parallel)
    table = Table(title=f"agent {wheel.path.name}")
    for name in ("host", "result", "venv / reason"):
        table.add_column(name)
    for host, (result, detail) in zip(inventory, results):
        style = "red" if result == "failed" else "green"
        table.add_row(plain(host.name), plain(result, style), plain(one_line(detail)))
    console.print(table)
    return 1 if any(result == "failed" for result, _ in results) else 0
