"""``perfekt-bench compare``: a matrix of tasks × refiners × seeds (see
:mod:`perfekt_bench.comparison`); this module only parses and prints."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .leaderboard import write_boards
from .options import (
    SEED,
    THREADS,
    WORKERS,
    dataset_option,
    parse_set,
    run_options,
    seed_option,
    size_option,
    storage_options,
)


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="run a matrix of tasks × refiners × seeds, resumably, "
                                       "in parallel on Dask if asked")
    p.add_argument("--task", nargs="+", action="extend", required=True,
                   help="task(s) (several values or repeated)")
    p.add_argument("--refiner", nargs="+", action="extend", required=True)
    p.add_argument("--seeds", "--seed", nargs="+", action="extend", type=SEED, metavar="S",
                   help="training seeds (default 0)")
    seed_option(p, "--data-seed", "seed of the task data")
    dataset_option(p)
    size_option(p)
    run_options(p, workers=False)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a hyperparameter of every refiner that has it (repeatable; "
                        "JSON values)")
    p.add_argument("--metric", nargs="+", action="extend", metavar="NAME",
                   help="evaluate only these metrics (default: all)")
    p.add_argument("--rerun", action="store_true",
                   help="run every cell again, even those the results store has (the new run "
                        "replaces the stored one)")
    p.add_argument("--workers", type=WORKERS, default=1, metavar="N",
                   help="run cells in N processes on this machine (a Dask LocalCluster; "
                        "default 1: one after another in this process)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run cells on an existing Dask cluster (e.g. tcp://host:8786)")
    p.add_argument("--scheduler-file", metavar="FILE",
                   help="run cells on the Dask cluster whose scheduler wrote FILE")
    p.add_argument("--threads-per-cell", type=THREADS, metavar="T",
                   help="torch threads of each cell on Dask (default: with --workers N, the "
                        "usable cores divided by N; with --scheduler, 1)")
    p.add_argument("--data-workers", type=WORKERS, default=os.cpu_count() or 1, metavar="W",
                   help="processes that generate data before the cells start (default: all "
                        "cores)")
    p.add_argument("--json", metavar="PATH", help="also write every cell and number as JSON")
    p.add_argument("--leaderboard", action="store_true",
                   help="write the leaderboard tables of these tasks afterwards")
    p.add_argument("--out", help="leaderboard folder (default: <results dir>/leaderboards)")
    storage_options(p)
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from ..comparison import CompareConfig, compare
    from ..fileio import atomic_write_json, check_output_dir, check_output_file

    if args.json:
        check_output_file(args.json, f"--json {args.json}")
    if args.leaderboard and args.out:
        check_output_dir(args.out, f"--out {args.out}")

    config = CompareConfig(
        tasks=args.task, refiners=args.refiner, seeds=args.seeds or [0], budget=args.budget,
        device=args.device, params=parse_set(args.set), metrics=args.metric,
        dataset=args.dataset, size=args.size, data_seed=args.data_seed,
        results_dir=args.results_dir, cache_dir=args.cache_dir, rerun=args.rerun,
        workers=args.workers, scheduler=args.scheduler, scheduler_file=args.scheduler_file,
        threads_per_cell=args.threads_per_cell, data_workers=args.data_workers,
        progress=not args.quiet, plots=args.plots, transform=args.transform,
        command=args.command_line)
    try:
        result = compare(config)
    except KeyboardInterrupt:
        print("perfekt-bench: interrupted; the cells that finished are stored, and the same "
              "command resumes from them", file=sys.stderr)
        return 130
    for title, table in result.tables().items():
        print(f"\n## {title}\n\n{table}")
    counts = result.counts()
    print(f"\n{len(result.cells)} cells: {counts['ok']} run, {counts['cached']} cached, "
          f"{counts['failed']} failed, {counts['skipped']} skipped")
    if args.json:
        atomic_write_json(Path(args.json), result.to_json())
    status = write_boards(list(dict.fromkeys(args.task)), args) if args.leaderboard else 0
    for cell in result.failed:
        print(f"failed: {cell.label}: {cell.error_message} (run {cell.run_id})",
              file=sys.stderr)
    return 1 if result.failed or status else 0
