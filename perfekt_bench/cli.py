"""The ``perfekt-bench`` command line.

Heavy modules (torch, plugins' own dependencies) are imported only by the commands that need
them, so ``--help`` and ``plugins`` stay fast.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .budgets import BUDGET_HELP, BUDGETS, DEFAULT_BUDGET
from .errors import ConfigurationError, PerfektBenchError, PerfektBenchWarning

RESULTS_HELP = "default: $PERFEKT_BENCH_RESULTS or ./results"
CACHE_HELP = "default: $PERFEKT_BENCH_CACHE or ~/.cache/perfekt-bench"


def _parse_set(items: Sequence[str]) -> dict[str, Any]:
    params = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--set expects NAME=VALUE, got {item!r}")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def cmd_plugins(args: argparse.Namespace) -> int:
    from .plugins import default_host
    from .report import table

    host = default_host()
    rows = host.catalogue()
    if args.json:
        print(json.dumps({"plugins": rows, "failures": [f.__dict__ for f in host.failures]},
                         indent=2))
        return 0
    print(table(["kind", "name", "plugin", "distribution", "version", "summary"],
                [[r["kind"], r["name"], r["plugin"], r["distribution"] or "", r["version"] or "",
                  r["summary"]] for r in rows]))
    for failure in host.failures:
        print(f"perfekt-bench: warning: {failure.describe()}", file=sys.stderr)
    return 0


def cmd_data_generate(args: argparse.Namespace) -> int:
    from .cache import DataCache
    from .plugins import default_host

    task = default_host().task(args.task)
    if args.workers < 1:
        raise ConfigurationError(f"--workers must be at least 1, got {args.workers}")
    cache = DataCache(args.cache_dir)
    splits = cache.load(task, args.size, args.seed, budget=args.budget,
                        progress=not args.quiet, workers=args.workers)
    folder = cache.path(task, splits.key)
    size = len(splits.train) + len(splits.validation) + len(splits.test)
    print(f"task {task.name} v{task.version}: {size} objects (seed {args.seed}) → "
          f"train {len(splits.train)}, validation {len(splits.validation)}, "
          f"test {len(splits.test)}")
    print(f"cached in {folder}")
    print(json.dumps(task.data_card(), indent=2, default=str, ensure_ascii=False))
    return 0


def cmd_data_import(args: argparse.Namespace) -> int:
    from .cache import DataCache
    from .plugins import default_host

    task = default_host().task(args.task)
    if not task.import_help:
        raise ConfigurationError(f"task {task.name!r} cannot import files")
    cache = DataCache(args.cache_dir)
    key, folder = cache.import_files(task, args.full, args.fast, name=args.name,
                                     options=_parse_set(args.option), progress=not args.quiet)
    splits = cache.read(task, key)
    print(f"task {task.name}: imported {args.full} (full) and {args.fast} (fast) → "
          f"train {len(splits.train)}, validation {len(splits.validation)}, "
          f"test {len(splits.test)}")
    print(f"cached in {folder}")
    name = args.name or Path(args.full).stem
    refiner = task.recommended_refiner or "REFINER"
    print(f"use it with: perfekt-bench run --task {task.name} --dataset {shlex.quote(name)} "
          f"--refiner {refiner}" + ("" if task.recommended_refiner else
                                    "   (refiners: perfekt-bench plugins)"))
    return 0


def cmd_data_list(args: argparse.Namespace) -> int:
    from .cache import DataCache
    from .plugins import default_host
    from .report import table

    host = default_host()
    cache = DataCache(args.cache_dir)
    rows = []
    for name in args.task or host.tasks.names():
        for card in cache.datasets(host.task(name)):
            rows.append([name, card.get("dataset", ""), card.get("key", ""),
                         card.get("size", ""), card.get("seed", "")])
    print(table(["task", "name", "key", "objects", "seed"], rows) if rows
          else f"nothing cached in {cache.root}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .report import metrics_table
    from .runner import run
    from .runs import CANDIDATES, RunConfig

    config = RunConfig(task=args.task, refiner=args.refiner, seed=args.seed, budget=args.budget,
                       device=args.device, size=args.size, data_seed=args.data_seed,
                       params=_parse_set(args.set), metrics=args.metric or None,
                       results_dir=args.results_dir, cache_dir=args.cache_dir,
                       json_path=args.json, progress=not args.quiet, plots=args.plots,
                       dataset=args.dataset, workers=args.workers, transform=args.transform,
                       command=args.command_line)
    result = run(config)
    print(f"\n{config.refiner} on {config.task} (seed {config.seed}, {config.budget} budget, "
          f"{config.device}); reference: an independent fullsim sample")
    print(metrics_table(result.metrics, CANDIDATES))
    t = result.timings
    print(f"\nfit {t['fit_seconds']:.1f} s; refine {t['refine_seconds_per_object'] * 1e6:.3g} µs "
          f"per object batched, {t['refine_single_object_seconds'] * 1e3:.3f} ms for one object")
    print(f"run folder: {result.run_dir}")
    if (result.run_dir / "figures").is_dir():
        print(f"figures: {result.run_dir / 'figures'}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .plugins import default_host
    from .runner import run
    from .runs import RunConfig

    host = default_host()
    if args.dataset is not None and len(args.task) != 1:
        raise ConfigurationError("--dataset names a data set of one task; give one --task")
    for task in args.task:
        host.task(task)  # unknown names fail before any run starts
    for refiner in args.refiner:
        host.refiner_class(refiner)
    if args.dataset is not None:  # so does a data set that is not cached
        from .cache import DataCache

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
    if args.leaderboard:
        for task in args.task:
            _leaderboard(task, args)
    for task, refiner, seed, error in failed:
        print(f"failed: {refiner} on {task}, seed {seed}: {error}", file=sys.stderr)
    return 1 if failed else 0


def _leaderboard(task: str, args: argparse.Namespace) -> None:
    from .leaderboard import write_leaderboard
    from .plugins import default_host

    t = default_host().task(task) if task in default_host().tasks else None
    paths = write_leaderboard(task, results_dir=args.results_dir, out_dir=args.out,
                              budget=args.budget,
                              preamble=getattr(t, "summary", "") if t else "",
                              paper=getattr(t, "reference_results", "") if t else "")
    for path in paths:
        print(f"wrote {path}")


def cmd_leaderboard(args: argparse.Namespace) -> int:
    for task in args.task:
        _leaderboard(task, args)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .plugins import default_host
    from .rundir import FIGURES, read_evaluation

    read_evaluation(args.run_dir)  # not a run folder: a clear error before any plugin runs
    out = Path(args.out) if args.out else Path(args.run_dir) / FIGURES
    paths = default_host().draw_figures(Path(args.run_dir), out)
    if not paths:
        print("perfekt-bench: no figure plugin drew anything (see 'perfekt-bench plugins')",
              file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0


def _budget_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget", default=DEFAULT_BUDGET, choices=BUDGETS,
                   help="; ".join(f"{name}: {text}" for name, text in BUDGET_HELP.items()))


def _size_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", "--n-objects", "--n-jets", dest="size", type=int, metavar="N",
                   help="number of objects (default: the budget's)")


def _workers_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="W",
                   help="processes for data generation (default: all cores; tasks with a "
                        "slow generator use them)")


def _dataset_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", metavar="NAME",
                   help="run on a cached data set (an import's name or key; see 'data list')")


def _run_options(p: argparse.ArgumentParser) -> None:
    """What every fitting command shares: budget, device, figures, generation workers."""
    _budget_option(p)
    _workers_option(p)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--no-plots", dest="plots", action="store_false",
                   help="do not draw the run's figures into RUN_DIR/figures")
    p.add_argument("--no-transform", dest="transform", action="store_false",
                   help="fit on the raw features even where the task offers pre- and "
                        "post-processing (deepjet: logit in, six-node constraint out)")


def _storage_options(p: argparse.ArgumentParser, results: bool = True) -> None:
    if results:
        p.add_argument("--results-dir", help=RESULTS_HELP)
    p.add_argument("--cache-dir", help=CACHE_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress output")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="perfekt-bench",
        description="Benchmark methods that refine fast simulation towards full simulation.")
    parser.add_argument("--version", action="version", version=f"perfekt-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("plugins", aliases=["list"],
                       help="list every task, refiner and metric and where it came from")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_plugins)

    data = sub.add_parser("data", help="generate or import task data")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    p = data_sub.add_parser("generate", help="generate a task's data once and cache it")
    p.add_argument("--task", required=True)
    _size_option(p)
    _budget_option(p)
    p.add_argument("--seed", type=int, default=0)
    _workers_option(p)
    _storage_options(p, results=False)
    p.set_defaults(func=cmd_data_generate)

    p = data_sub.add_parser("import", help="import your own files (a full and a fast "
                            "simulation of the same events) and cache them")
    p.add_argument("--task", required=True)
    p.add_argument("--full", required=True, metavar="FILE", help="the full simulation")
    p.add_argument("--fast", required=True, metavar="FILE", help="the fast simulation")
    p.add_argument("--name", help="name to run it by (default: the full file's stem)")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="a task-specific import option (repeatable), e.g. gen_branch=GenFatJet")
    _storage_options(p, results=False)
    p.set_defaults(func=cmd_data_import)

    p = data_sub.add_parser("list", help="the data sets in the cache")
    p.add_argument("--task", nargs="*")
    p.add_argument("--cache-dir", help=CACHE_HELP)
    p.set_defaults(func=cmd_data_list)

    p = sub.add_parser("run", help="fit a refiner on a task and evaluate it")
    p.add_argument("--task", required=True)
    p.add_argument("--refiner", required=True)
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the task data (default 0)")
    _run_options(p)
    _size_option(p)
    _dataset_option(p)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a refiner hyperparameter (repeatable; JSON values)")
    p.add_argument("--metric", action="append", metavar="NAME",
                   help="evaluate only these metrics (repeatable; default: all)")
    p.add_argument("--json", metavar="PATH", help="also write the numbers to PATH as JSON")
    _storage_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compare", help="run a matrix of tasks × refiners × seeds")
    p.add_argument("--task", nargs="+", required=True)
    p.add_argument("--refiner", nargs="+", required=True)
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    _dataset_option(p)
    _run_options(p)
    p.add_argument("--leaderboard", action="store_true",
                   help="write the leaderboard tables of these tasks afterwards")
    p.add_argument("--out", default="leaderboards", help="leaderboard folder")
    _storage_options(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("leaderboard", help="write leaderboard tables from the results store")
    p.add_argument("--task", nargs="+", required=True)
    _budget_option(p)
    p.add_argument("--out", default="leaderboards", help="output folder (default leaderboards)")
    p.add_argument("--results-dir", help=RESULTS_HELP)
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("plot", help="draw a run's figures (distributions, scatter, "
                                    "correlations, loss)")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (results/runs/<run id>)")
    p.add_argument("--out", help="output folder (default: RUN_DIR/figures)")
    p.set_defaults(func=cmd_plot)
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


if __name__ == "__main__":
    sys.exit(main())
