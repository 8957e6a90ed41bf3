"""The one door from the agent to the operator's rooms (``collector.analysis``, ``collector.report``).

The light agent measures on a board that has neither pandas, DoWhy nor matplotlib, and its
measuring path must not even load a ``collector`` module: so no other agent module imports
``collector``, and this one does so only inside the functions below, each called only when
``agent analyze`` or ``agent report`` is chosen, when ``agent run`` ends (its report), or when
the adaptive strategy starts. tests/import_graph.py allows this module alone to import
``collector``; tests/e2e/test_light_agent.py runs the light agent with ``collector`` blocked.
"""
from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collector.analysis.adaptive import Planner
    from shared.strategy import Strategy


def _fill(parser: argparse.ArgumentParser, description: str, add_arguments: Callable[[argparse.ArgumentParser], None],
          execute: Callable[[argparse.Namespace], Any]) -> None:
    parser.description = description
    add_arguments(parser)
    parser.set_defaults(execute=execute)


def analyze_arguments(parser: argparse.ArgumentParser) -> None:
    """``agent analyze``'s options and work: ``collector analyze``'s, run on one device's folder."""
    from collector.analysis.command import DESCRIPTION, add_arguments, execute
    _fill(parser, DESCRIPTION, add_arguments, execute)


def report_arguments(parser: argparse.ArgumentParser) -> None:
    """``agent report``'s options and work: ``collector report``'s, run on one device's folder."""
    from collector.report.command import DESCRIPTION, add_arguments, execute
    _fill(parser, DESCRIPTION, add_arguments, execute)


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


def adaptive_planner(design: list[dict[str, Any]], strategy: Strategy) -> Planner:
    """The analysis's planner over this device's grid of trials (``design``: one dict a trial),
    with the shipped causal graph and the default analysis settings. An ImportError where the
    analysis packages are missing: the caller says what to install."""
    import pandas as pd

    from collector.analysis.adaptive import Planner
    from collector.analysis.config import AnalysisConfig
    from collector.analysis.frame import ANALYSIS_COLUMNS, DERIVED_FROM
    from collector.analysis.graph import load_graph
    return Planner(pd.DataFrame(design), strategy, load_graph(None, ANALYSIS_COLUMNS, DERIVED_FROM), AnalysisConfig())
