"""``agent info``: what this machine is (the hardware fingerprint and device class)."""
from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from agent.fingerprint import machine_info
from agent.runtime import runtime_support


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "info", help="describe this machine",
        description="Print this machine's hardware fingerprint (CPU, caches, frequencies, memory, "
                    "board, GPU, OS, versions) and its device class. A value that could not be "
                    "read is null, and probe_errors says why.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--runtime", action="store_true",
                        help="instead: whether the installed torch and onnxruntime can run this machine's "
                             "GPUs (JSON; exit 1 where torch cannot, with what to install; the collector's "
                             "deploy runs this)")
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
    console = Console(highlight=False)
    if args.runtime:
        support = runtime_support()
        console.print_json(json.dumps(support))
        return 1 if support["problems"] else 0
    info = machine_info()
    if args.json:
        console.print_json(json.dumps(info))
        return 0
    table = Table(title="this machine", show_header=False)
    for key, text in format_info(info):
        table.add_row(key, text, style="dim" if text.startswith(("- (", "? (")) else None)
    console.print(table)
    return 0
