"""``agent``: the command line of the agent. Each command lives in agent/commands/.

A user mistake (a UserError) ends as one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agent.commands import info, run
from shared.errors import UserError
from shared.version import __version__

COMMANDS = (run, info)
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent",
        description="edgeprune agent: build pruned variants of real networks on this device, "
                    "measure accuracy, latency, memory and FLOPs at several batch sizes, "
                    "one result row a trial.",
    )
    parser.add_argument("--version", action="version", version=f"edgeprune agent {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.execute(args) or 0)
    except UserError as exc:
        print(f"agent: error: {exc}", file=sys.stderr)  # one line, never wrapped
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("agent: interrupted; every completed row is kept, rerun the same command to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
