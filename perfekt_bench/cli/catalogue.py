"""``perfekt-bench plugins`` (or ``list``): every task, refiner and metric and where it came
from."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("plugins", aliases=["list"],
                       help="list every task, refiner and metric and where it came from")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--refiner", metavar="NAME",
                   help="list this refiner's hyperparameters: allowed values, the value on "
                        "each budget, what 'tune' searches")
    p.add_argument("--task", metavar="NAME",
                   help="with --refiner: the budget values with this task's hints applied")
    p.set_defaults(func=cmd_plugins)


def cmd_plugins(args: argparse.Namespace) -> int:
    from ..plugins import default_host
    from ..report import table

    host = default_host()
    if args.refiner:
        return show_refiner(host, args)
    if args.task:
        from ..errors import ConfigurationError

        raise ConfigurationError("--task goes with --refiner NAME (the budget values of that "
                                 "refiner on the task)")
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


def show_refiner(host, args: argparse.Namespace) -> int:
    """One refiner's hyperparameters, from its declarations."""
    from ..budgets import BUDGETS
    from ..hyperparameters import declared, describe_rows
    from ..report import table

    cls = host.refiner_class(args.refiner)
    hints = host.task(args.task).refiner_hints() if args.task else {}
    where = f" on task {args.task!r} (its hints applied)" if args.task else ""
    if args.json:
        rows = describe_rows(cls, hints) if declared(cls) is not None else []
        keys = ["name", "allowed", *BUDGETS, "search", "help"]
        print(json.dumps({"refiner": cls.name, "task": args.task,
                          "declared": declared(cls) is not None, "hint_keys": list(cls.hint_keys),
                          "hyperparameters": [dict(zip(keys, r, strict=True)) for r in rows]},
                         indent=2))
        return 0
    print(f"refiner {cls.name!r}: {cls.__doc__.strip().splitlines()[0] if cls.__doc__ else ''}")
    if declared(cls) is None:
        print(f"\nno declared hyperparameters: values are not checked and 'tune' cannot "
              f"search it. Budget values{where}:")
        rows = [[name, *(repr(cls.defaults(b, hints).get(name, "")) for b in BUDGETS)]
                for name in cls.param_names() if name not in ("seed", "device")]
        print(table(["name", *BUDGETS], rows))
        return 0
    rows = describe_rows(cls, hints)
    if not rows:
        print("\nno hyperparameters besides seed and device (set by --seed and --device)")
        return 0
    print(f"\nhyperparameters{where}; --set NAME=VALUE overrides a value, 'tune' searches "
          "the ranges:")
    print(table(["name", "allowed", *BUDGETS, "search", "meaning"], rows))
    if cls.hint_keys:
        print(f"\ntask hints read (they override the budget values): "
              f"{', '.join(cls.hint_keys)}; --task NAME shows a task's values")
    print("seed and device are set by --seed and --device")
    return 0
