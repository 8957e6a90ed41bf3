"""The ``analyze`` command, shared by ``collector analyze`` (a fleet's merged results) and
``agent analyze`` (one device's): its options, and the work as a plain function.

Nothing heavy is imported at module level: ``agent --help`` must not wait for DoWhy.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any
from shared.cli import output_console

DESCRIPTION = (
    "Estimate what pruning causes, from the result rows in DIR/results.jsonl: the effect of the "
    "pruning ratio on accuracy, on latency (per backend and device class), on peak memory and on "
    "the probability of OOM, each adjusted for its confounders (batch size, device, model, method), "
    "refuted five ways and given a verdict; then, with dowhy.gcm, what drives latency and OOM and "
    "the highest ratio per device within the budgets. Writes DIR/analysis.json.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, metavar="DIR", required=True,
                        help="folder with results.jsonl (what `agent run --out DIR` wrote)")
    parser.add_argument("--graph", type=Path, metavar="FILE",
                        help="causal graph, DOT or GML, over result columns (default: the shipped one)")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="YAML: thresholds, budgets, refuters, questions (docs/ANALYSIS.md)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="where to write (default: DIR/analysis.json)")
    budgets = parser.add_argument_group("budgets for the recommended ratio (override the config)")
    budgets.add_argument("--max-accuracy-drop", type=float, metavar="X", help="top-1, e.g. 0.01")
    budgets.add_argument("--max-latency-ms", type=float, metavar="MS")
    budgets.add_argument("--max-memory-mb", type=float, metavar="MIB")
    budgets.add_argument("--max-p-oom", type=float, metavar="P")
    budgets.add_argument("--batch-size", type=int, metavar="N", help="batch size the budgets apply at")
    parser.add_argument("--explain", action="append", default=[], metavar="TRIAL_KEY",
                        help="attribute this trial's latency to its causes (repeatable)")
    parser.add_argument("--what-if", action="append", default=[], metavar="SETTING",
                        help="predict latency and P(OOM), e.g. "
                             "model=resnet18,ratio=0.5,batch_size=32,device_class=CLASS (repeatable)")
    parser.add_argument("--simulations", type=int, metavar="N", help="refuter simulations (default 100)")
    parser.add_argument("--no-gcm", action="store_true", help="effects only: no arrow strengths, "
                                                               "recommendations, what-if or attribution")
    parser.add_argument("--details", action="store_true", help="print every estimand and refutation")
    parser.add_argument("--json", action="store_true", help="print analysis.json instead of the summary")


def _config(args: argparse.Namespace) -> Any:
    from collector.analysis.config import load_config
    config = load_config(args.config)
    config = config.replace("budgets", max_accuracy_drop=args.max_accuracy_drop, max_latency_ms=args.max_latency_ms,
                            max_peak_mem_mb=args.max_memory_mb, max_p_oom=args.max_p_oom,
                            batch_size=args.batch_size)
    if args.simulations is not None:
        config = config.replace("refuters", simulations=args.simulations, bootstrap_simulations=args.simulations)
    if args.no_gcm:
        config = config.replace("gcm", enabled=False)
    return config


def run(args: argparse.Namespace) -> tuple[Any, Path]:
    """Analyse and write analysis.json; returns the Analysis and where it went."""
    config = _config(args)  # a bad config is one line before DoWhy is imported (seconds, 0.5 GB)
    from collector.analysis.api import analyze
    from collector.analysis.output import dump_analysis
    analysis = analyze(args.results, graph=args.graph, config=config, explain=args.explain,
                       what_ifs=args.what_if)
    return analysis, dump_analysis(analysis, args.out or args.results)


def execute(args: argparse.Namespace) -> int:
    from collector.analysis.format import format_summary
    analysis, path = run(args)
    console = output_console()
    if args.json:
        console.print_json(json.dumps(analysis.to_dict()))
        return 0
    for part in format_summary(analysis, details=args.details):
        console.print(part)
    console.print(f"analysis: {path}  ({sum(analysis.timings_s.values()):.1f} s)")
    return 0
