"""``perfekt-bench data generate|import|list``: the task data in the cache."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from ..errors import ConfigurationError
from .options import (
    CACHE_HELP,
    budget_option,
    parse_set,
    seed_option,
    size_option,
    storage_options,
    workers_option,
)


def add_parser(sub) -> None:
    data = sub.add_parser("data", help="generate or import task data")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    p = data_sub.add_parser("generate", help="generate a task's data once and cache it")
    p.add_argument("--task", required=True)
    size_option(p)
    budget_option(p)
    seed_option(p, "--seed", "seed of the task data")
    workers_option(p)
    storage_options(p, results=False)
    p.set_defaults(func=cmd_data_generate)

    p = data_sub.add_parser("import", help="import your own files (a full and a fast "
                            "simulation of the same events) and cache them")
    p.add_argument("--task", required=True)
    p.add_argument("--full", required=True, metavar="FILE", help="the full simulation")
    p.add_argument("--fast", required=True, metavar="FILE", help="the fast simulation")
    p.add_argument("--name", help="name to run it by (default: the full file's stem)")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="a task-specific import option (repeatable), e.g. gen_branch=GenFatJet")
    storage_options(p, results=False)
    p.set_defaults(func=cmd_data_import)

    p = data_sub.add_parser("list", help="the data sets in the cache")
    p.add_argument("--task", nargs="*")
    p.add_argument("--cache-dir", help=CACHE_HELP)
    p.set_defaults(func=cmd_data_list)


def cmd_data_generate(args: argparse.Namespace) -> int:
    from ..cache import DataCache, cache_label
    from ..fileio import check_output_dir
    from ..plugins import default_host

    task = default_host().task(args.task)
    cache = DataCache(args.cache_dir)
    check_output_dir(cache.root, cache_label(args.cache_dir))
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
    from ..cache import DataCache, cache_label
    from ..fileio import check_output_dir
    from ..plugins import default_host

    task = default_host().task(args.task)
    if not task.import_help:
        raise ConfigurationError(f"task {task.name!r} cannot import files")
    cache = DataCache(args.cache_dir)
    check_output_dir(cache.root, cache_label(args.cache_dir))
    key, folder = cache.import_files(task, args.full, args.fast, name=args.name,
                                     options=parse_set(args.option), progress=not args.quiet)
    splits = cache.read(task, key)
    print(f"task {task.name}: imported {args.full} (full) and {args.fast} (fast) → "
          f"train {len(splits.train)}, validation {len(splits.validation)}, "
          f"test {len(splits.test)}")
    print(f"cached in {folder}")
    _warn_if_too_small(task, splits, name=args.name or Path(args.full).stem)
    names = cache.names(cache.card(task, key))
    if len(names) > 1:
        print(f"these files were imported before; the data set answers to "
              f"{', '.join(map(repr, names))} and its key {key}")
    name = args.name or Path(args.full).stem
    refiner = task.recommended_refiner or "REFINER"
    print(f"use it with: perfekt-bench run --task {task.name} --dataset {shlex.quote(name)} "
          f"--refiner {refiner}" + ("" if task.recommended_refiner else
                                    "   (refiners: perfekt-bench plugins)"))
    return 0


def _warn_if_too_small(task, splits, *, name: str) -> None:
    """An imported data set that no run could evaluate is said at import time."""
    from ..errors import DataError
    from ..plugins import default_host
    from ..refiner import Refiner
    from ..runner import check_sizes, split_needs

    metrics = [m for m in default_host().metric_instances() if m.applies_to(task)]
    try:
        check_sizes(split_needs(Refiner.min_objects, metrics),
                    (len(splits.train), len(splits.validation), len(splits.test)),
                    f"data set {name!r}")
    except DataError as exc:
        print(f"perfekt-bench: warning: {exc}: too small to run on; import more events",
              file=sys.stderr)


def cmd_data_list(args: argparse.Namespace) -> int:
    from ..cache import DataCache, cache_label
    from ..plugins import default_host
    from ..report import table

    host = default_host()
    cache = DataCache(args.cache_dir)
    if cache.root.exists() and not cache.root.is_dir():
        raise ConfigurationError(f"{cache_label(args.cache_dir)} is a file, not a cache folder")
    rows = []
    for name in args.task or host.tasks.names():
        for card in cache.datasets(host.task(name)):
            rows.append([name, card.get("dataset", ""), card.get("key", ""),
                         card.get("size", ""), card.get("seed", "")])
    print(table(["task", "name", "key", "objects", "seed"], rows) if rows
          else f"nothing cached in {cache.root}")
    return 0
