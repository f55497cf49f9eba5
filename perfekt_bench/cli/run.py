"""``perfekt-bench run``: fit one refiner on one task and evaluate it."""

from __future__ import annotations

import argparse

from .options import (
    QUERIES,
    dataset_option,
    parse_set,
    run_options,
    seed_option,
    size_option,
    storage_options,
)


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="fit a refiner on a task and evaluate it")
    p.add_argument("--task", required=True)
    p.add_argument("--refiner", required=True)
    seed_option(p, "--seed", "training seed")
    seed_option(p, "--data-seed", "seed of the task data")
    run_options(p)
    size_option(p)
    dataset_option(p)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a refiner hyperparameter (repeatable; JSON values)")
    p.add_argument("--metric", action="append", metavar="NAME",
                   help="evaluate only these metrics (repeatable; default: all)")
    p.add_argument("--json", metavar="PATH", help="also write the numbers to PATH as JSON")
    p.add_argument("--latency-queries", type=QUERIES, default=1000, metavar="N",
                   help="single-object queries of the latency metrics (default 1000, MLPerf "
                        "single-stream's minimum; 0: do not measure latency)")
    storage_options(p)
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from ..errors import ConfigurationError
    from ..report import metrics_table
    from ..runner import run
    from ..runs import CANDIDATES, RunConfig

    if args.dataset is not None:
        given = [flag for flag, value in (("--size", args.size), ("--data-seed", args.data_seed))
                 if value not in (None, 0)]
        if given:
            raise ConfigurationError(f"{' and '.join(given)} shape generated data and do not "
                                     f"apply to --dataset {args.dataset}; leave them out")

    config = RunConfig(task=args.task, refiner=args.refiner, seed=args.seed, budget=args.budget,
                       device=args.device, size=args.size, data_seed=args.data_seed,
                       params=parse_set(args.set), metrics=args.metric or None,
                       results_dir=args.results_dir, cache_dir=args.cache_dir,
                       json_path=args.json, progress=not args.quiet, plots=args.plots,
                       dataset=args.dataset, workers=args.workers, transform=args.transform,
                       latency_repeats=args.latency_queries, command=args.command_line)
    result = run(config)
    print(f"\n{config.refiner} on {config.task} (seed {config.seed}, {config.budget} budget, "
          f"{config.device}); reference: an independent fullsim sample")
    print(metrics_table(result.metrics, CANDIDATES))
    t = result.timings
    print(f"\nfit {t['fit_seconds']:.1f} s; refine {t['refine_seconds_per_object'] * 1e6:.3g} µs "
          "per object batched (Python, the evaluation's own call)")
    if "latency_p50_ms" in result.metrics:
        latency = {name: result.metrics[name]["refined"].value
                   for name in ("latency_p50_ms", "latency_p90_ms", "throughput")}
        print(f"latency on {result.backends['latency_p50_ms']}, one thread: one object p50 "
              f"{latency['latency_p50_ms']:.3f} ms, p90 {latency['latency_p90_ms']:.3f} ms; "
              f"{latency['throughput']:.0f} objects/s at batch 1024")
    print(f"run folder: {result.run_dir}")
    if (result.run_dir / "figures").is_dir():
        print(f"figures: {result.run_dir / 'figures'}")
    return 0
