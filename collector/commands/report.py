"""``collector report``: the fleet's results as one HTML page, a Markdown summary and CSV tables
(collector/report/)."""
from __future__ import annotations

import argparse

from collector.report.command import DESCRIPTION, add_arguments, execute


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("report", help="one self-contained HTML report of a fleet's results",
                                 description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(execute=execute)
