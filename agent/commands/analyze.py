"""``agent analyze``: causal analysis of this device's results, the same analysis as
``collector analyze`` (collector/analysis/)."""
from __future__ import annotations

import argparse

from collector.analysis.command import DESCRIPTION, add_arguments, execute
from shared.version import MIN_PYTHON_FULL

MIN_PYTHON = MIN_PYTHON_FULL  # torch, DoWhy or pandas: not the light agent


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("analyze", help="what pruning causes on this device, with DoWhy",
                                 description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(execute=execute)
