"""``perfekt-bench leaderboard``: tables regenerated from the results store."""

from __future__ import annotations

import argparse

from .options import RESULTS_HELP, budget_option


def add_parser(sub) -> None:
    p = sub.add_parser("leaderboard", help="write leaderboard tables from the results store")
    p.add_argument("--task", nargs="+", required=True)
    budget_option(p)
    p.add_argument("--out", default="leaderboards", help="output folder (default leaderboards)")
    p.add_argument("--results-dir", help=RESULTS_HELP)
    p.set_defaults(func=cmd_leaderboard)


def write_boards(task: str, args: argparse.Namespace) -> None:
    """The tables of ``task`` from the store in ``args.results_dir`` into ``args.out``."""
    from ..leaderboard import write_leaderboard
    from ..plugins import default_host

    t = default_host().task(task) if task in default_host().tasks else None
    paths = write_leaderboard(task, results_dir=args.results_dir, out_dir=args.out,
                              budget=args.budget,
                              preamble=getattr(t, "summary", "") if t else "",
                              paper=getattr(t, "reference_results", "") if t else "")
    for path in paths:
        print(f"wrote {path}")


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from ..fileio import check_output_dir

    check_output_dir(args.out, f"--out {args.out}")
    for task in args.task:
        write_boards(task, args)
    return 0
