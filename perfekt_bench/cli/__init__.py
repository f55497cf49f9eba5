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
from . import catalogue, compare, data, leaderboard, plot, run, tune

COMMANDS = (catalogue, data, run, compare, leaderboard, plot, tune)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
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
    except KeyboardInterrupt:
        print("perfekt-bench: interrupted; nothing was written for this run", file=sys.stderr)
        return 130


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """perfekt-bench's own warnings as one line; others as Python prints them."""
    if issubclass(category, PerfektBenchWarning):
        print(f"perfekt-bench: warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
