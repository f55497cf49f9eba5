"""``perfekt-bench plot RUN_DIR``: a run's figures, redrawn from its folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("plot", help="draw a run's figures (distributions, scatter, "
                                    "correlations, loss)")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (results/runs/<run id>)")
    p.add_argument("--out", help="output folder (default: RUN_DIR/figures)")
    p.set_defaults(func=cmd_plot)


def cmd_plot(args: argparse.Namespace) -> int:
    from ..fileio import check_output_dir
    from ..plugins import default_host
    from ..rundir import FIGURES, read_evaluation

    read_evaluation(args.run_dir)  # not a run folder: a clear error before any plugin runs
    out = Path(args.out) if args.out else Path(args.run_dir) / FIGURES
    check_output_dir(out, f"--out {out}" if args.out else f"the figures folder {out}")
    paths = default_host().draw_figures(Path(args.run_dir), out)
    if not paths:
        print("perfekt-bench: no figure plugin drew anything (see 'perfekt-bench plugins')",
              file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0

