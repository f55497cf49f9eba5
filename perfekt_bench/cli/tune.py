"""``perfekt-bench tune``: search a refiner's hyperparameters with Optuna on the validation
split, then run the best settings on the test split."""

from __future__ import annotations

import argparse
import sys

from .options import (
    budget_option,
    dataset_option,
    fit_options,
    parse_set,
    size_option,
    storage_options,
)


def add_parser(sub) -> None:
    from ..studies import PRUNERS

    p = sub.add_parser(
        "tune", help="tune a refiner's hyperparameters with Optuna (validation split only)",
        description="Search the refiner's declared hyperparameters ('perfekt-bench plugins "
                    "--refiner NAME' lists them) with Optuna. Every trial is measured on the "
                    "validation split; the test split is read only by the final runs "
                    "(--final-seeds). Rerunning a command continues its study.")
    p.add_argument("--task", required=True)
    p.add_argument("--refiner", required=True)
    p.add_argument("--trials", type=int, default=20, metavar="N",
                   help="finished trials the study should hold in total (default 20); a "
                        "rerun adds trials up to N")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="start no new trial after S seconds")
    budget_option(p)
    p.add_argument("--storage", metavar="URL_OR_PATH",
                   help="an Optuna journal file (default: <results>/tuning/journal.log) or a "
                        "database URL (sqlite:///study.db, postgresql://user@host/db)")
    p.add_argument("--study", metavar="NAME",
                   help="study name (default: <task>-<refiner>-<budget>[-<objectives>])")
    p.add_argument("--workers", type=int, default=1, metavar="K",
                   help="processes that share the study (default 1)")
    p.add_argument("--objective", action="append", default=[], metavar="METRIC",
                   help="what to optimise on the validation split (repeatable: several give "
                        "a Pareto front; default: the task's primary metric)")
    p.add_argument("--pruner", choices=PRUNERS, default="median",
                   help="stop unpromising trials early (default median; a multi-objective "
                        "study cannot prune)")
    p.add_argument("--seed", type=int, default=0,
                   help="training seed of every trial, and the sampler's (default 0)")
    p.add_argument("--final-seeds", nargs="*", type=int, default=[], metavar="SEED",
                   help="run the best settings on the test split with these seeds, stored as "
                        "ordinary runs labelled with the study")
    p.add_argument("--final-trial", type=int, metavar="NUMBER",
                   help="run this trial's settings in the final runs instead of the best "
                        "(e.g. another point of a Pareto front)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="fix a hyperparameter for every trial (not searched; repeatable)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the task data (default 0)")
    size_option(p)
    dataset_option(p)
    fit_options(p)  # --no-plots: no study figures either
    storage_options(p)
    p.set_defaults(func=cmd_tune)


def cmd_tune(args: argparse.Namespace) -> int:
    from ..report import table
    from ..studies import is_url
    from ..tuning import TuneConfig, tune

    config = TuneConfig(
        task=args.task, refiner=args.refiner, trials=args.trials, timeout=args.timeout,
        budget=args.budget, storage=args.storage, study=args.study, workers=args.workers,
        objectives=args.objective, pruner=args.pruner, seed=args.seed,
        final_seeds=args.final_seeds, final_trial=args.final_trial,
        params=parse_set(args.set), size=args.size, data_seed=args.data_seed,
        dataset=args.dataset, device=args.device, transform=args.transform,
        results_dir=args.results_dir, cache_dir=args.cache_dir, progress=not args.quiet,
        plots=args.plots, command=args.command_line)
    try:
        result = tune(config)
    except KeyboardInterrupt:
        print("perfekt-bench: interrupted; the study keeps its finished trials: rerun the "
              "command to continue it", file=sys.stderr)
        return 130
    c = result.counts
    print(f"\nstudy {result.study!r} ({result.storage}): {c.get('complete', 0)} complete, "
          f"{c.get('pruned', 0)} pruned, {c.get('fail', 0)} failed trials; "
          f"{result.wall_seconds:.0f} s")
    print(result.pruning)
    names = [o.name for o in result.objectives]
    title = "best trial" if len(names) == 1 else "Pareto-optimal trials"
    print(f"\n{title} (validation split):")
    searched = sorted({k for b in result.best for k in b["searched"]})
    print(table(["trial", *names, *searched],
                [[str(b["number"]), *(_fmt(b["values"][n]) for n in names),
                  *(_fmt(b["searched"].get(k)) for k in searched)] for b in result.best]))
    print(f"\nsettings of the best trial(s): {result.summary_path}")
    for path in result.figures:
        print(f"figure: {path}")
    storage = result.storage if is_url(result.storage) else f"'{result.storage}'"
    print(f"dashboard: pip install optuna-dashboard && optuna-dashboard {storage}")
    for run in result.final_runs:
        primary = names[0]
        value = run.metrics.get(primary, {}).get("refined")
        shown = f"{primary} {value.value:.4g}" if value is not None else ""
        print(f"final run, seed {run.config.seed} (test split): {shown}  {run.run_dir}")
    return 0


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
