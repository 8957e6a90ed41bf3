"""``collector``: drives a fleet of agents over SSH (see the collector issue for what is coming).

Today it only identifies itself; each command arrives as its own module in collector/commands/.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from shared.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="collector",
        description="edgeprune collector: runs sweeps on a fleet of devices over SSH and merges "
                    "their results. Fleet commands are not built yet; use `agent run` on one device.",
    )
    parser.add_argument("--version", action="version", version=f"edgeprune collector {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    build_parser().parse_args(argv)
    print("collector: no fleet commands yet; run `agent run --sweep deploy/sweep.quick.yml` on a device",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
