"""Options and argument parsing that several commands share."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import Any

from ..budgets import BUDGET_HELP, BUDGETS, DEFAULT_BUDGET
from ..errors import ConfigurationError
from ..limits import (
    QUERIES_RANGE,
    SEED_RANGE,
    SIZE_RANGE,
    THREADS_RANGE,
    WORKERS_RANGE,
    check_int,
    describe,
)

RESULTS_HELP = "default: $PERFEKT_BENCH_RESULTS or ./results"
CACHE_HELP = "default: $PERFEKT_BENCH_CACHE or ~/.cache/perfekt-bench"


def parse_set(items: Sequence[str], option: str = "--set") -> dict[str, Any]:
    """``NAME=VALUE`` pairs; a value is read as JSON when it is JSON, else kept as text."""
    params = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigurationError(f"{option} expects NAME=VALUE, got {item!r}")
        if key in params:
            raise ConfigurationError(f"{option} gives {key!r} twice ({params[key]!r} and "
                                     f"{raw!r}); give it once")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def bounded_int(limits: tuple[int, int]):
    """An argparse type: an integer within ``limits`` (:mod:`perfekt_bench.limits`)."""

    def parse(text: str) -> int:
        try:
            return check_int("the value", text, limits)
        except ConfigurationError as exc:
            raise argparse.ArgumentTypeError(
                f"must be {describe(*limits)}, got {text!r}") from exc

    parse.__name__ = "integer"
    return parse


SEED = bounded_int(SEED_RANGE)
SIZE = bounded_int(SIZE_RANGE)
WORKERS = bounded_int(WORKERS_RANGE)
THREADS = bounded_int(THREADS_RANGE)
QUERIES = bounded_int(QUERIES_RANGE)


def seed_option(p: argparse.ArgumentParser, flag: str = "--seed", what: str = "seed") -> None:
    p.add_argument(flag, type=SEED, default=0, metavar="S",
                   help=f"{what} (default 0; {describe(*SEED_RANGE)})")


def budget_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget", default=DEFAULT_BUDGET, choices=BUDGETS,
                   help="; ".join(f"{name}: {text}" for name, text in BUDGET_HELP.items()))


def size_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", "--n-objects", "--n-jets", dest="size", type=SIZE, metavar="N",
                   help=f"number of objects (default: the budget's; {describe(*SIZE_RANGE)})")


def workers_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=WORKERS, default=os.cpu_count() or 1, metavar="W",
                   help="processes for data generation (default: all cores; tasks with a "
                        f"slow generator use them; {describe(*WORKERS_RANGE)})")


def dataset_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", metavar="NAME",
                   help="run on a cached data set (an import's name or key; see 'data list')")


def run_options(p: argparse.ArgumentParser, *, workers: bool = True) -> None:
    """What every fitting command shares: budget, device, figures, generation workers (unless
    ``workers`` is False: compare's ``--workers`` are its cell processes)."""
    budget_option(p)
    if workers:
        workers_option(p)
    fit_options(p)


def fit_options(p: argparse.ArgumentParser) -> None:
    """Device, figures and the task's transform: how a refiner is fitted and shown."""
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--no-plots", dest="plots", action="store_false",
                   help="do not draw the run's figures into RUN_DIR/figures")
    p.add_argument("--no-transform", dest="transform", action="store_false",
                   help="fit on the raw features even where the task offers pre- and "
                        "post-processing (see the task's data card)")


def storage_options(p: argparse.ArgumentParser, results: bool = True) -> None:
    if results:
        p.add_argument("--results-dir", help=RESULTS_HELP)
    p.add_argument("--cache-dir", help=CACHE_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress output")


