"""``collector hosts``: every inventory host as the collector resolves it, without connecting."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from collector.fleet.hostlist import HostRow, describe
from collector.fleet.live import plain
from shared.inventory import load_inventory


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "hosts", help="list every host as the collector resolves it (ssh config applied), without connecting",
        description="Read the inventory (the project's YAML, Ansible's YAML or INI, group_vars/ and "
                    "host_vars/; through ansible-inventory where Ansible is installed) and the SSH config "
                    "(through ssh -G where ssh is installed), and list each host: the address it connects "
                    "to, port, user, identity files, jump hosts, groups, transport, workdir and the sweep "
                    "settings it overrides, with where each value came from. Connects to nothing. "
                    "Exit 1 where a host has a problem (a missing identity file, an unresolvable alias).")
    parser.add_argument("--hosts", type=Path, metavar="INVENTORY", required=True,
                        help="inventory: the project's YAML, or an Ansible inventory (INI or YAML)")
    parser.add_argument("--limit", metavar="NAMES", help="only these hosts: comma-separated host or group names")
    parser.add_argument("--ssh-config", type=Path, metavar="FILE",
                        help="OpenSSH client config for host aliases (default: ~/.ssh/config)")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON array, one object a host (name, address, hostname, port, user, "
                             "groups, ...)")
    parser.set_defaults(execute=execute)


def list_hosts(inventory: Path, limit: str | None, ssh_config: Path | None) -> list[HostRow]:
    """The command's work, without argv: identity files are checked per host, not refused."""
    hosts = load_inventory(inventory, check_files=False)
    parts = [p.strip() for p in limit.split(",") if p.strip()] if limit else None
    return describe(list(hosts.select(parts)), ssh_config)


def format_table(rows: list[HostRow]) -> Table:
    """One line a host: ``user@hostname:port`` as ssh will connect, and which of its values
    the SSH config supplied (the others are the inventory's, or ssh's defaults)."""
    table = Table(title=f"{len(rows)} host(s), resolved without connecting")
    for name in ("host", "connects as", "key", "via", "groups", "workdir", "from ssh config", "notes"):
        table.add_column(name, overflow="fold")
    for row in rows:
        target = "local" if row.transport == "local" else \
            f"{row.user or '?'}@{row.hostname or row.address}:{row.port or '?'}"
        from_config = [k for k, v in row.sources.items() if v == "ssh config"]
        overrides = [f"extras={row.extras}"] * (row.extras != "full") + \
            [f"{k}={_short(v)}" for k, v in row.overrides.items()]
        notes = [*row.problems, *([f"same machine as {', '.join(row.same_machine_as)}"]
                                 if row.same_machine_as else []), *overrides]
        via = " -> ".join(row.jump) or "-"
        table.add_row(plain(row.name), plain(target), plain(", ".join(row.identity_files) or "-"), plain(via),
                      plain(", ".join(row.groups) or "-"), plain(row.workdir), plain(", ".join(from_config) or "-"),
                      plain("; ".join(notes), "red" if row.problems else ""))
    return table


def _short(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def execute(args: argparse.Namespace) -> int:
    rows = list_hosts(args.hosts, args.limit, args.ssh_config)
    if args.json:
        print(json.dumps([row.to_json() for row in rows], indent=2))
    else:
        Console(highlight=False).print(format_table(rows))
    return 1 if any(row.problems for row in rows) else 0
