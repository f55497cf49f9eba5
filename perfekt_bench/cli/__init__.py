"""The ``perfekt-bench`` command line: argparse into configurations, one module per command.

Heavy modules (torch, plugins' own dependencies) are imported only by the commands that need
them, so ``--help`` and ``plugins`` stay fast. A command module offers ``add_parser(sub)``;
:data:`COMMANDS` lists them in ``--help`` order.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from collections.abc import Sequence

from ..errors import PerfektBenchError, PerfektBenchWarning
from . import catalogue, compare, data, export, leaderboard, plot, refine, run, tune

COMMANDS = (catalogue, data, run, compare, tune, leaderboard, plot, export, refine)

#: exit codes (README, "Errors and exit codes"); user errors exit with 2
#: (``PerfektBenchError.exit_code``), a command whose cells partly failed with 1
EXIT_OS_ERROR = 3
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse with perfekt-bench's one-line errors: the option, what is wrong, exit 2."""

    def error(self, message: str):
        self.exit(2, f"perfekt-bench: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = Parser(
        prog="perfekt-bench",
        description="Benchmark methods that refine fast simulation towards full simulation.")
    parser.add_argument("--version", action="version", version=f"perfekt-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    words = sys.argv[1:] if argv is None else list(argv)
    args.command_line = "perfekt-bench " + " ".join(shlex.quote(w) for w in words)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except PerfektBenchError as exc:
        print(f"perfekt-bench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a full disk, a file that vanished: the place and the reason
        where = f" {exc.filename}" if exc.filename else ""
        print(f"perfekt-bench: error: cannot read or write{where}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return EXIT_OS_ERROR
    except KeyboardInterrupt:
        print("perfekt-bench: interrupted; no run was stored", file=sys.stderr)
        return EXIT_INTERRUPTED


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """perfekt-bench's own warnings as one line; others as Python prints them."""
    if issubclass(category, PerfektBenchWarning):
        print(f"perfekt-bench: warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
