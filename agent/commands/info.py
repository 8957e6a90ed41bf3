"""``agent info``: what this machine is (the hardware fingerprint and device class)."""
from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from agent.machine import machine_info


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "info", help="describe this machine",
        description="Print this machine's hardware fingerprint (CPU, caches, frequencies, memory, "
                    "board, GPU, OS, versions) and its device class. A value that could not be "
                    "read is null, and probe_errors says why.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(execute=execute)


def format_info(info: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, value) lines of the table; a null value shows why it is null."""
    reasons = info.get("probe_errors") or {}
    lines = []
    for key, value in info.items():
        if key == "probe_errors":
            continue
        if value is None:
            text = f"- ({reasons[key]})" if key in reasons else "-"
        elif isinstance(value, (list, dict)):
            text = json.dumps(value)
        else:
            text = str(value)
        lines.append((key, text))
    lines += [(key, f"? ({reason})") for key, reason in reasons.items() if key not in info]
    return lines


def execute(args: argparse.Namespace) -> int:
    info = machine_info()
    console = Console(highlight=False)
    if args.json:
        console.print_json(json.dumps(info))
        return 0
    table = Table(title="this machine", show_header=False)
    for key, text in format_info(info):
        table.add_row(key, text, style="dim" if text.startswith(("- (", "? (")) else None)
    console.print(table)
    return 0
