"""Options and argument parsing that several commands share."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import Any

from ..budgets import BUDGET_HELP, BUDGETS, DEFAULT_BUDGET
from ..errors import ConfigurationError

RESULTS_HELP = "default: $PERFEKT_BENCH_RESULTS or ./results"
CACHE_HELP = "default: $PERFEKT_BENCH_CACHE or ~/.cache/perfekt-bench"


def parse_set(items: Sequence[str]) -> dict[str, Any]:
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


def budget_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget", default=DEFAULT_BUDGET, choices=BUDGETS,
                   help="; ".join(f"{name}: {text}" for name, text in BUDGET_HELP.items()))


def size_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", "--n-objects", "--n-jets", dest="size", type=int, metavar="N",
                   help="number of objects (default: the budget's)")


def workers_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="W",
                   help="processes for data generation (default: all cores; tasks with a "
                        "slow generator use them)")


def dataset_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", metavar="NAME",
                   help="run on a cached data set (an import's name or key; see 'data list')")


def run_options(p: argparse.ArgumentParser) -> None:
    """What every fitting command shares: budget, device, figures, generation workers."""
    budget_option(p)
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


