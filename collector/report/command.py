"""The ``report`` command, shared by ``collector report`` (a fleet's results) and ``agent report``
(one device's): its options, and the work as a plain function.

Nothing heavy is imported at module level: ``agent --help`` must not wait for matplotlib.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shared.errors import UserError, needs_module

DESCRIPTION = (
    "Write one self-contained HTML page about the results in DIR (one device's folder, or a fleet's with a "
    "folder a host): the fleet and its outcomes, accuracy against sparsity, latency against batch size and "
    "parameters left, original vs mask-only vs really pruned, parameter counts, out-of-memory and memory use, "
    "the causal analysis (from DIR/analysis.json, when `analyze` has written one), the recommended pruning "
    "ratio per device within the budgets, and measurement quality. Beside it: a Markdown summary and every "
    "table as CSV. The page has no script and fetches nothing: it opens offline.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, metavar="DIR", required=True,
                        help="a results folder: `agent run --out DIR` (one device) or `collector run --out DIR` "
                             "(a fleet, one folder a host)")
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="the HTML file (default DIR/report.html); the Markdown summary (.md) and NAME-tables/ go "
                             "beside it")
    parser.add_argument("--analysis", type=Path, metavar="FILE",
                        help="the causal analysis to show (default DIR/analysis.json, if there is one)")
    budgets = parser.add_argument_group("budgets for the recommended pruning ratio")
    budgets.add_argument("--max-accuracy-drop", type=float, metavar="X",
                         help="top-1 lost against the unpruned model, 0..1 (default 0.01: one point)")
    budgets.add_argument("--max-latency-ms", type=float, metavar="MS", help="p50 latency (default: none)")
    budgets.add_argument("--max-memory-mb", type=float, metavar="MIB", help="peak memory (default: none)")
    budgets.add_argument("--batch-size", type=int, metavar="N",
                         help="batch size latency is judged at (default: the smallest measured)")


def budgets(args: argparse.Namespace) -> dict[str, Any]:
    """The budget options, checked: a bad one is a UserError naming the flag."""
    checks = (("--max-accuracy-drop", args.max_accuracy_drop, lambda v: 0 <= v <= 1, "a share of top-1 in 0..1"),
              ("--max-latency-ms", args.max_latency_ms, lambda v: v > 0, "a positive number of ms"),
              ("--max-memory-mb", args.max_memory_mb, lambda v: v > 0, "a positive number of MiB"),
              ("--batch-size", args.batch_size, lambda v: v >= 1, "a batch size of 1 or more"))
    for flag, value, valid, what in checks:
        if value is not None and not valid(value):
            raise UserError(f"must be {what}, got {value:g}", field=flag)
    return {"max_accuracy_drop": args.max_accuracy_drop, "max_latency_ms": args.max_latency_ms,
            "max_peak_mem_mb": args.max_memory_mb, "batch_size": args.batch_size}


def _write_report() -> Any:
    try:
        from collector.report.api import write_report
    except ImportError as exc:  # a light agent has neither pandas nor matplotlib
        raise needs_module("the report", exc) from None
    return write_report


def run(args: argparse.Namespace) -> Path:
    """Write the report; returns the HTML file."""
    out = args.out
    if out is not None and out.is_dir():
        out = out / "report.html"
    return _write_report()(args.results, out, analysis=args.analysis, **budgets(args))


def execute(args: argparse.Namespace) -> int:
    page = run(args)
    tables = page.with_name(f"{page.stem}-tables")
    print(f"report: {page}")
    print(f"summary: {page.with_suffix('.md')}  tables: {tables}/ ({len(list(tables.glob('*.csv')))} CSV files)")
    return 0
