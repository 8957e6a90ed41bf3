"""``agent``: the command line of the agent. Each command lives in agent/commands/.

A user mistake (a UserError) ends as one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agent.commands import analyze, build, info, profile, report, run, validate
from shared import cli

COMMANDS = (run, build, info, profile, validate, analyze, report)

DESCRIPTION = ("edgeprune agent: build pruned variants of real networks on this device, "
               "measure accuracy, latency, memory and FLOPs at several batch sizes, "
               "one result row a trial.")


def build_parser() -> argparse.ArgumentParser:
    return cli.build_parser("agent", DESCRIPTION, COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    interrupted = "interrupted; every completed row is kept, rerun the same command to resume"
    return cli.run_command(build_parser(), argv, interrupted)


if __name__ == "__main__":
    sys.exit(main())
