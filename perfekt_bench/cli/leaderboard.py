"""``perfekt-bench leaderboard``: tables, figures and an HTML site from the results store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..budgets import BUDGETS
from .options import RESULTS_HELP


def add_parser(sub) -> None:
    p = sub.add_parser(
        "leaderboard", help="write ranked leaderboards (Markdown, CSV, HTML) from the results "
                            "store",
        description="Rank the stored runs of each task by its primary metric and write "
                    "<task>.md, <task>.csv, <task>-seeds.csv, figures and plots; with --html "
                    "also a static site. --check compares instead of writing.")
    p.add_argument("--task", nargs="+", help="tasks (default: every task in the store)")
    p.add_argument("--budget", choices=BUDGETS,
                   help="only runs of this budget (default: all; each data set and budget "
                        "gets a table of its own)")
    p.add_argument("--results-dir", help=RESULTS_HELP)
    p.add_argument("--out", help="folder for the Markdown, CSV and figures (default: "
                                 "<results dir>/leaderboards)")
    p.add_argument("--html", metavar="DIR",
                   help="also write the static HTML site into DIR (may be the --out folder)")
    p.add_argument("--force", action="store_true",
                   help="overwrite leaderboards made from another results store")
    p.add_argument("--check", action="store_true",
                   help="write nothing: fail, printing the first difference, unless the files "
                        "on disk are exactly what the store gives")
    p.set_defaults(func=cmd_leaderboard)


def task_infos(tasks: list[str] | None, results_dir) -> list:
    """What each task's plugin says about its leaderboard (primary metric, summary, the
    paper's table) and every installed metric's direction; ``tasks`` None: every task in the
    store whose plugin is installed."""
    from ..board import TaskInfo
    from ..plugins import default_host
    from ..results import ResultsStore

    host = default_host()
    if not tasks:
        rows = ResultsStore(results_dir).read()
        tasks = sorted(set(rows["task"].dropna().astype(str)) & set(host.tasks.names()))
        if not tasks:
            from ..errors import DataError

            raise DataError(f"no stored runs of an installed task in "
                            f"{ResultsStore(results_dir).folder}")
    directions = {name: bool(host.metric_class(name).lower_is_better)
                  for name in host.metrics.names()}
    infos = []
    for name in tasks:
        task = host.task(name)
        infos.append(TaskInfo(name, task.evaluation().primary_metric,
                              getattr(task, "summary", ""),
                              getattr(task, "reference_results", ""), directions))
    return infos


def write_boards(tasks: list[str] | None, args: argparse.Namespace) -> int:
    """The leaderboards of ``tasks`` from the store in ``args.results_dir``: written into
    ``args.out`` (and ``args.html``), or with ``args.check`` compared with what is there."""
    from ..fileio import check_output_dir
    from ..leaderboard import build, publish
    from ..results import results_root

    out = Path(args.out) if args.out else results_root(args.results_dir) / "leaderboards"
    html = getattr(args, "html", None)
    if not getattr(args, "check", False):  # where the files go, before any work
        check_output_dir(out, f"--out {out}" if args.out else f"the leaderboards folder {out}")
        if html:
            check_output_dir(html, f"--html {html}")
    infos = task_infos(tasks, args.results_dir)
    others = ([i for i in task_infos(None, args.results_dir) if i.name not in tasks]
              if html and tasks else [])
    outputs = build(infos, results_dir=args.results_dir, out_dir=out, html_dir=html,
                    budget=getattr(args, "budget", None), others=others)
    if getattr(args, "check", False):
        differences = [d for o in outputs for d in o.differences()]
        if differences:
            print(f"perfekt-bench: leaderboard check failed: {len(differences)} file(s) differ "
                  "from what the store gives; the first:", file=sys.stderr)
            print(f"  {differences[0]}", file=sys.stderr)
            for d in differences[1:]:
                print(f"  also: {d.split(': ', 1)[0]}", file=sys.stderr)
            return 1
        print(f"leaderboards up to date: {sum(len(o.files) for o in outputs)} files checked in "
              f"{', '.join(str(o.root) for o in outputs)}")
        return 0
    for output, written in zip(outputs, publish(outputs, force=getattr(args, "force", False)),
                               strict=True):
        print(f"{output.root}: {len(written)} file(s) written, "
              f"{len(output.files) - len(written)} unchanged")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    return write_boards(args.task, args)
