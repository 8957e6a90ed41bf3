"""``collector replay``: simulate an adaptive sweep on a recorded full grid (collector/analysis/replay.py)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

DESCRIPTION = (
    "Replay a sweep strategy offline on a recorded full grid: draw trials from DIR's rows as if "
    "they were run, chosen by the adaptive planner (a space-filling start, then where the target "
    "effects' confidence intervals are widest), and compare, per target effect, the full grid's "
    "estimate and CI with the adaptive one (inside the full CI? same verdict?) and with uniform "
    "random samples of the same size (seeded, averaged over --seeds). Runs no trial.")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("replay", help="an adaptive sweep simulated on a recorded full grid",
                                 description=DESCRIPTION)
    parser.add_argument("--results", type=Path, metavar="FULL_DIR", required=True,
                        help="a folder with a full grid's results.jsonl (an agent's or a fleet's)")
    parser.add_argument("--strategy", choices=("adaptive",), default="adaptive", help="the strategy replayed")
    parser.add_argument("--budget", type=float, default=0.4, metavar="SHARE",
                        help="share of the grid's trials the strategy may use (default 0.4)")
    parser.add_argument("--tolerance", type=float, default=0.25, metavar="REL",
                        help="a target is done when its CI half-width is this share of its estimate (0.25)")
    parser.add_argument("--target", action="append", default=[], metavar="QUESTION",
                        help="a question of the analysis to target (repeatable; default: all)")
    parser.add_argument("--seeds", type=int, default=5, metavar="N", help="random-sampling seeds (default 5)")
    parser.add_argument("--graph", type=Path, metavar="FILE", help="causal graph (default: the shipped one)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from shared.strategy import parse_strategy
    strategy = parse_strategy({"kind": args.strategy, "budget": args.budget, "tolerance": args.tolerance,
                               "targets": args.target}, "command line", "strategy")
    if args.seeds < 1:
        from shared.errors import UserError
        raise UserError("wants at least 1", source="command line", field="--seeds")
    from collector.analysis.replay import format_replay, replay
    result = replay(args.results, strategy, seeds=args.seeds, graph_path=args.graph)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print("\n".join(format_replay(result)))
    return 0
