"""``collector``: the fleet side. Each command lives in collector/commands/ (one module each).

A user mistake (a UserError) ends as one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from collector.commands import analyze, deploy, fetch, hosts, replay, report, run, status
from shared import cli

COMMANDS = (run, deploy, status, fetch, hosts, analyze, report, replay)

DESCRIPTION = ("edgeprune collector: the fleet side. `collector run --hosts inventory.yml` deploys "
               "the agent over SSH, runs a sweep on every host, streams progress and merges every "
               "host's rows into one store; `collector analyze` says what pruning causes; "
               "`collector report` writes it all up as one HTML page. "
               "On one device, `agent run` does it all.")


def build_parser() -> argparse.ArgumentParser:
    return cli.build_parser("collector", DESCRIPTION, COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
