"""``perfekt-bench compare``: a matrix of tasks × refiners × seeds."""

from __future__ import annotations

import argparse
import sys

from ..errors import ConfigurationError, PerfektBenchError
from .leaderboard import write_boards
from .options import dataset_option, run_options, storage_options


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="run a matrix of tasks × refiners × seeds")
    p.add_argument("--task", nargs="+", required=True)
    p.add_argument("--refiner", nargs="+", required=True)
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    dataset_option(p)
    run_options(p)
    p.add_argument("--leaderboard", action="store_true",
                   help="write the leaderboard tables of these tasks afterwards")
    p.add_argument("--out", help="leaderboard folder (default: <results dir>/leaderboards)")
    storage_options(p)
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from ..plugins import default_host
    from ..runner import run
    from ..runs import RunConfig

    host = default_host()
    if args.dataset is not None and len(args.task) != 1:
        raise ConfigurationError("--dataset names a data set of one task; give one --task")
    for task in args.task:
        host.task(task)  # unknown names fail before any run starts
    for refiner in args.refiner:
        host.refiner_class(refiner)
    if args.dataset is not None:  # so does a data set that is not cached
        from ..cache import DataCache

        DataCache(args.cache_dir).load_dataset(host.task(args.task[0]), args.dataset)
    matrix = [(t, r, s) for t in args.task for r in args.refiner for s in args.seeds]
    failed = []
    for i, (task, refiner, seed) in enumerate(matrix, 1):
        print(f"[{i}/{len(matrix)}] {refiner} on {task}, seed {seed}", file=sys.stderr,
              flush=True)
        config = RunConfig(task=task, refiner=refiner, seed=seed, budget=args.budget,
                           device=args.device, results_dir=args.results_dir,
                           cache_dir=args.cache_dir, progress=not args.quiet,
                           plots=args.plots, workers=args.workers, dataset=args.dataset,
                           transform=args.transform, command=args.command_line)
        try:
            result = run(config, host=host)
        except PerfektBenchError as exc:
            failed.append((task, refiner, seed, str(exc)))
            print(f"perfekt-bench: error: {exc}", file=sys.stderr)
            continue
        print(f"    done: {result.run_dir}", file=sys.stderr)
    status = write_boards(args.task, args) if args.leaderboard else 0
    for task, refiner, seed, error in failed:
        print(f"failed: {refiner} on {task}, seed {seed}: {error}", file=sys.stderr)
    return 1 if failed or status else 0

