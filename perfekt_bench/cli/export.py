"""``perfekt-bench export``: a run's refiner as one ONNX graph, checked against the refiner."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    from ..export import DEFAULT_OPSET, RTOL

    p = sub.add_parser(
        "export", help="write a run's refiner as one ONNX graph (checked against torch)",
        description="Write the refinement of a finished run (the task's pre-processing, the "
                    "input standardisation, the network, the residual, the post-processing) "
                    "as one ONNX graph with inputs x_fast [batch, d_x] and g [batch, d_g] "
                    "(float32) and output x_refined [batch, d_x] (weight [batch] for "
                    "reweighting refiners). It is compared with the torch refiner on the "
                    f"run's own test objects through ONNX Runtime; above {RTOL:g} relative "
                    "difference nothing is written.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (results/runs/<run id>)")
    p.add_argument("--onnx", required=True, metavar="OUT.onnx", help="the graph to write")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset (default {DEFAULT_OPSET}, as the Fast Perfekt authors)")
    p.add_argument("--quantize", action="store_true",
                   help="write the graph with int8 weights (ONNX Runtime dynamic quantisation) "
                        "and report what it costs: the task's primary metric through the float "
                        "and the int8 graph, and the speed of both")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from ..export import export_run, metadata
    from ..fileio import check_output_file

    check_output_file(args.onnx, f"--onnx {args.onnx}")

    if args.quantize:
        from ..quantize import quantize_run

        report = quantize_run(args.run_dir, args.onnx, opset=args.opset)
        check = "\n".join(report.lines())
    else:
        check = export_run(args.run_dir, args.onnx, opset=args.opset)
    meta = metadata(args.onnx)
    print(f"wrote {args.onnx}: refiner {meta['refiner']!r} of task {meta['task']!r}, opset "
          f"{args.opset}; inputs x_fast [batch, {len(meta['x_names'].split(','))}] "
          f"({meta['x_names']}) and g [batch, {len(meta['g_names'].split(','))}] "
          f"({meta['g_names']}), output {meta['output']}")
    print(check)
    return 0
