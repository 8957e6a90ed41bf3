"""``agent analyze``: causal analysis of this device's results, the same analysis as
``collector analyze`` (collector/analysis/), reached through agent/seam.py when chosen."""
from __future__ import annotations

import argparse

from agent import seam
from shared.version import MIN_PYTHON_FULL

MIN_PYTHON = MIN_PYTHON_FULL  # torch, DoWhy or pandas: not the light agent


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("analyze", help="what pruning causes on this device, with DoWhy")
    parser.fill = seam.analyze_arguments  # its options and description: when `agent analyze` is chosen
