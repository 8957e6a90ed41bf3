"""What the agent's and the collector's command lines share: one subparser a command
module, and the rule that a user mistake is one line on stderr and exit code 2 (a missing
optional package too: the message names the extra that brings it)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from shared.errors import UserError, needs_module, no_space, optional_module
from shared.version import MIN_PYTHON_LIGHT, __version__

if TYPE_CHECKING:
    from rich.console import Console

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# where the output is not a terminal (a log, CI), rich would cut tables at 80 columns: as wide
# as this instead, so that a table takes its natural width and a line is never broken
LOG_WIDTH = 1000


def output_console() -> Console:
    """The console a command prints on: the terminal's width, or LOG_WIDTH into a file or pipe."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else LOG_WIDTH)


class CommandParser(argparse.ArgumentParser):
    """A command's parser whose options may be added when that command is chosen (``fill``),
    not when the command line is built: ``agent --help`` and ``agent run`` then never import
    the module that defines ``agent analyze``'s options (it lives on the operator's side)."""

    fill: Callable[[argparse.ArgumentParser], None] | None = None

    def _filled(self) -> None:
        fill, self.fill = self.fill, None
        if fill is not None:
            fill(self)

    def parse_known_args(self, args: Sequence[str] | None = None,
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        self._filled()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._filled()
        return super().format_usage()

    def format_help(self) -> str:
        self._filled()
        return super().format_help()


def build_parser(prog: str, description: str, commands: Sequence[ModuleType]) -> argparse.ArgumentParser:
    """Each command module has ``add_parser(subparsers)`` that sets ``execute`` (now, or in its
    parser's ``fill``: a :class:`CommandParser`), and may name the oldest Python it runs on
    (``MIN_PYTHON``; default: the light agent's)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"edgeprune {prog} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                       parser_class=CommandParser)
    for module in commands:
        module.add_parser(subparsers)
        newest = list(subparsers.choices.values())[-1]
        newest.set_defaults(min_python=getattr(module, "MIN_PYTHON", MIN_PYTHON_LIGHT))
    return parser


def check_python(command: str, needed: tuple[int, int]) -> None:
    """A command that needs a newer Python than this one is a user error, not a SyntaxError
    or an ImportError deep inside it."""
    if sys.version_info[:2] < needed:
        have = ".".join(map(str, sys.version_info[:2]))
        raise UserError(f"`{command}` needs Python {needed[0]}.{needed[1]} or newer (this is {have}); "
                        f"on this Python, edgeprune runs the light agent: `agent info`, "
                        f"`agent run --artifacts DIR` with onnxruntime")


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                interrupted: str = "interrupted") -> int:
    args = parser.parse_args(argv)
    try:
        check_python(f"{parser.prog} {args.command}", args.min_python)
        return int(args.execute(args) or 0)
    except UserError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)  # one line, never wrapped
        return EXIT_USAGE
    except ModuleNotFoundError as exc:
        if optional_module(exc) is None:  # not an optional extra: a bug, with its traceback
            raise
        print(f"{parser.prog}: error: {needs_module(f'{parser.prog} {args.command}', exc)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        full = no_space(exc)  # a full disk wherever it strikes: one line, and a rerun resumes
        if full is None:
            raise
        print(f"{parser.prog}: error: {full}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{parser.prog}: {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
