"""``collector analyze``: causal analysis of a fleet's results (see collector/analysis/)."""
from __future__ import annotations

import argparse

from collector.analysis.command import DESCRIPTION, add_arguments, execute


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("analyze", help="what pruning causes, with DoWhy: effects, refutations, verdicts",
                                 description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(execute=execute)
