"""``collector``: the fleet side. Each command lives in collector/commands/ (one module each).

A user mistake (a UserError) ends as one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from collector.commands import analyze
from shared import cli

COMMANDS = (analyze,)

DESCRIPTION = ("edgeprune collector: the fleet side. Today it analyses results "
               "(`collector analyze`); running sweeps on a fleet over SSH comes next. "
               "On one device, use `agent run`.")


def build_parser() -> argparse.ArgumentParser:
    return cli.build_parser("collector", DESCRIPTION, COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
