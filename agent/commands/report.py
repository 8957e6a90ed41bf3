"""``agent report``: this device's results as one HTML page, the same report as ``collector
report`` (collector/report/), reached through agent/seam.py when chosen; ``agent run`` writes
it at its end (:func:`agent.seam.after_run`)."""
from __future__ import annotations

import argparse

from agent import seam
from shared.version import MIN_PYTHON_FULL

MIN_PYTHON = MIN_PYTHON_FULL  # torch, DoWhy or pandas: not the light agent


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("report", help="one self-contained HTML report of this device's results")
    parser.fill = seam.report_arguments  # its options and description: when `agent report` is chosen
