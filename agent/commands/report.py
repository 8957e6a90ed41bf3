"""``agent report``: this device's results as one HTML page, the same report as ``collector
report`` (collector/report/); ``agent run`` writes it at its end."""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from collector.report.command import DESCRIPTION, add_arguments, execute
from shared.version import MIN_PYTHON_FULL

MIN_PYTHON = MIN_PYTHON_FULL  # torch, DoWhy or pandas: not the light agent


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("report", help="one self-contained HTML report of this device's results",
                                 description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(execute=execute)


def after_run(results_dir: Path, analysis: bool = True) -> list[str]:
    """What ``agent run`` prints last: the causal analysis's line, then where the report went
    (or why there is none). Neither failing ever fails the run: its rows are already on disk."""
    missing = [name for name in ("pandas", "matplotlib") if importlib.util.find_spec(name) is None]
    if missing:  # a light agent: not even an attempt to import them (find_spec imports nothing)
        return [f"report: none here ({', '.join(missing)} not installed: pip install 'edgeprune[analysis]'; "
                f"or copy the folder and run `agent report --results DIR` where it is)"]
    from collector.analysis.after_run import analyse_after_run
    lines = [analyse_after_run(results_dir, analysis)]
    try:
        from collector.report.api import write_report_and_headline
        page, headline = write_report_and_headline(results_dir)
    except Exception as exc:  # noqa: BLE001 - any failure, a missing matplotlib included
        return lines + [f"warning: no report ({type(exc).__name__}: {exc}); the results are complete, "
                        f"`agent report --results {results_dir}` tries again"]
    from collector.report.findings import console_lines
    return lines + [f"report: {page}", *console_lines(headline)]
