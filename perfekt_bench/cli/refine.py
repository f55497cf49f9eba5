"""``perfekt-bench refine``: a run's refiner applied to the user's own Parquet or ROOT file."""

from __future__ import annotations

import argparse
import warnings

from ..errors import PerfektBenchWarning


def add_parser(sub) -> None:
    from ..refining import DEFAULT_CHUNK, FRIEND_TREE

    p = sub.add_parser(
        "refine", help="refine the objects of a Parquet or ROOT file with a run's refiner",
        description="Refine the fastsim objects of a file with the refiner of a finished run, "
                    "exactly as the run evaluated it, a chunk of entries at a time. A Parquet "
                    "output holds the input's columns and <column>_refined (and weight for "
                    f"reweighting refiners); a ROOT output a tree {FRIEND_TREE!r} with the new "
                    "branches only, to add to the input tree as a friend. Columns default to "
                    "the task's feature names; a task whose files have conventions of their "
                    "own (Task.refine_help) reads files that follow them its own way (see "
                    "the README).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (results/runs/<run id>)")
    p.add_argument("--input", required=True, metavar="FILE", help="a .parquet or .root file")
    p.add_argument("--output", required=True, metavar="OUT",
                   help="OUT.parquet or OUT.root (written only when complete)")
    p.add_argument("--columns", nargs="+", action="extend", metavar="GROUP=COL,…",
                   help="the file's columns of the fastsim features and the conditioning, in "
                        "the task's order: x=COL,COL,… g=COL,COL,… (default: the task's "
                        "feature names, or the task's own ROOT conventions)")
    p.add_argument("--tree", metavar="NAME", help="the ROOT tree to read (default: the task's, "
                                                  "or the file's only tree)")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="an option of the task's own file reader (repeatable), e.g. "
                        "gen_branch=GenFatJet for Delphes files")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, metavar="N",
                   help=f"entries per chunk (default {DEFAULT_CHUNK}); memory grows with it")
    p.add_argument("--onnx", metavar="MODEL.onnx",
                   help="refine with this run's exported graph on ONNX Runtime instead")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_refine)


def cmd_refine(args: argparse.Namespace) -> int:
    from ..refining import parse_columns, refine_file
    from .options import parse_set

    summary = refine_file(args.run_dir, args.input, args.output,
                          columns=parse_columns(args.columns) if args.columns else None,
                          chunk_size=args.chunk_size, tree=args.tree,
                          options=parse_set(args.option), onnx=args.onnx,
                          progress=not args.quiet)
    print(f"wrote {summary.output}: {summary.entries} entries, {summary.refined} of "
          f"{summary.objects} objects refined ({summary.backend})")
    if summary.objects and not summary.refined:
        warnings.warn("no object of the file could be refined; the output holds the input "
                      "values (see 'perfekt-bench refine --help' and the README for which "
                      "objects are refined)", PerfektBenchWarning, stacklevel=1)
    return 0
