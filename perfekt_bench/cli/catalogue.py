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
    p.set_defaults(func=cmd_plugins)


def cmd_plugins(args: argparse.Namespace) -> int:
    from ..plugins import default_host
    from ..report import table

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
