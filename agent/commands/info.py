"""``agent info``: what this machine is (CPU, cores, memory, GPU, device class)."""
from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from agent.machine import machine_info


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("info", help="describe this machine",
                                 description="Print a summary of this machine and its device class.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    info = machine_info()
    console = Console(highlight=False)
    if args.json:
        console.print_json(json.dumps(info))
        return 0
    table = Table(title="this machine", show_header=False)
    for key, value in info.items():
        table.add_row(key, json.dumps(value) if isinstance(value, (list, dict)) else str(value))
    console.print(table)
    return 0
