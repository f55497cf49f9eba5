"""A trained refinement as one ONNX graph, checked against the refiner it came from.

The graph is the refiner's :meth:`~perfekt_bench.Refiner.export_module` (for the Fast Perfekt
network: input standardisation, the residual network and the residual) inside the task's
pre/post-processing (:meth:`~perfekt_bench.FeatureTransform.torch_modules`), traced by
``torch.onnx.export`` with a dynamic batch axis. Its interface, the same for every refiner:

* inputs ``x_fast`` (float32, [batch, d_x]) and ``g`` (float32, [batch, d_g]), in the task's
  own coordinates and column order (the ``x_names`` and ``g_names`` metadata);
* output ``x_refined`` (float32, [batch, d_x]), or ``weight`` (float32, [batch]) for a
  reweighting refiner, whose features stay as they are;
* metadata (``onnx.ModelProto.metadata_props``): ``perfekt_bench_version``, ``task``,
  ``refiner``, ``run_id``, ``x_names``, ``g_names``, ``output``.

The default opset is :data:`DEFAULT_OPSET`, 11, as the Fast Perfekt authors export. Every
export is compared with the torch refiner on the run's own test objects through ONNX Runtime
(:func:`compare`): an export whose largest relative difference exceeds :data:`RTOL` is
refused. :func:`session` opens a graph the way CMSSW's ``PhysicsTools/ONNXRuntime`` does,
with one intra-op thread.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import IncompatibleError
from .refiner import Refinement

if TYPE_CHECKING:
    from .plugins import PluginHost
    from .refiner import Refiner

#: ONNX opset of exported graphs: the Fast Perfekt authors' (read by every ONNX Runtime
#: release since 1.0, so by every CMSSW release that has ONNX Runtime)
DEFAULT_OPSET = 11
#: the names of the graph's inputs
INPUTS = ("x_fast", "g")
#: the name of the output of refiners that move values, and of reweighting refiners
OUTPUT_X, OUTPUT_WEIGHT = "x_refined", "weight"
#: largest relative difference between ONNX Runtime and torch an export may show (float32)
RTOL = 1e-5


def output_name(refiner: Refiner) -> str:
    return OUTPUT_WEIGHT if refiner.outputs_weights else OUTPUT_X


def onnx_model(refiner: Refiner, x_fast: np.ndarray, g: np.ndarray, *,
               opset: int = DEFAULT_OPSET, metadata: dict[str, str] | None = None) -> bytes:
    """The serialised ONNX graph of a fitted refiner; ``x_fast`` and ``g`` are a few objects
    to trace with. :class:`IncompatibleError` (one line) when it cannot be exported."""
    import io

    import onnx
    import torch

    module = refiner.export_module()
    example = (torch.as_tensor(np.asarray(x_fast[:2], dtype=np.float32)),
               torch.as_tensor(np.asarray(g[:2], dtype=np.float32)))
    output = output_name(refiner)
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # the TorchScript exporter announces its deprecation; tracing warnings are moot
            # because every graph is compared with the refiner itself
            warnings.simplefilter("ignore")
            torch.onnx.export(module, example, buffer, dynamo=False, opset_version=opset,
                              input_names=list(INPUTS), output_names=[output],
                              dynamic_axes={name: {0: "batch"} for name in (*INPUTS, output)})
    except Exception as err:
        raise IncompatibleError(f"refiner {refiner.name!r} cannot be exported to ONNX "
                                f"(opset {opset}): {_describe(err)}") from err
    model = onnx.load_from_string(buffer.getvalue())
    _keep_both_inputs(model, x_fast.shape[1], g.shape[1])
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=str(value))
    model.metadata_props.add(key="output", value=output)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _describe(err: Exception) -> str:
    """An exception's type and the last line of its message (torch's and ONNX Runtime's
    messages end with the reason)."""
    text = [line for line in str(err).strip().splitlines() if line.strip()]
    return f"{type(err).__name__}: {text[-1].strip()}" if text else type(err).__name__


def _keep_both_inputs(model, n_x: int, n_g: int) -> None:
    """The tracer drops an input the refinement does not read (the identity's ``g``): put it
    back, so that every graph takes the same two inputs."""
    from onnx import TensorProto, helper

    present = [i.name for i in model.graph.input]
    for position, (name, width) in enumerate(zip(INPUTS, (n_x, n_g), strict=True)):
        if name not in present:
            info = helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", width])
            model.graph.input.insert(position, info)


def session(model: bytes | str | Path, *, threads: int = 1):
    """An ONNX Runtime CPU session as CMSSW opens one: ``threads`` intra-op threads (CMSSW's
    default is 1), one inter-op thread, sequential execution, every graph optimisation."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's own exception types, one per status code
        what = "the exported graph" if isinstance(model, bytes) else str(model)
        raise IncompatibleError(f"ONNX Runtime {ort.__version__} cannot load {what}: "
                                f"{_describe(err)}") from err


def metadata(model: bytes | str | Path) -> dict[str, str]:
    """The metadata of an exported graph (see the module docstring)."""
    import onnx

    proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))
    return {p.key: p.value for p in proto.metadata_props}


class OnnxRefiner:
    """An exported graph on ONNX Runtime with :meth:`refine` as the refiner's."""

    def __init__(self, model: bytes | str | Path, *, threads: int = 1):
        self.session = session(model, threads=threads)
        self.output = self.session.get_outputs()[0].name
        self.outputs_weights = self.output == OUTPUT_WEIGHT

    def run(self, x_fast: np.ndarray, g: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"x_fast": x_fast, "g": g})[0]

    def refine(self, x_fast: np.ndarray, g: np.ndarray) -> Refinement:
        x_fast = np.ascontiguousarray(x_fast, dtype=np.float32)
        out = self.run(x_fast, np.ascontiguousarray(g, dtype=np.float32))
        if self.output == OUTPUT_WEIGHT:
            return Refinement(x_fast.copy(), out.astype(np.float64))
        return Refinement(out)


@dataclass(frozen=True)
class ExportCheck:
    """ONNX Runtime against the torch refiner on ``n`` objects: the largest absolute
    difference, and the largest relative one (per output column, the largest absolute
    difference over the largest magnitude of the refiner's values in that column)."""

    n: int
    output: str
    max_abs: float
    max_rel: float

    @property
    def ok(self) -> bool:
        return self.max_rel <= RTOL

    @property
    def differences(self) -> str:
        return (f"ONNX Runtime vs torch on {self.n} test objects ({self.output}): max |diff| "
                f"{self.max_abs:.3g}, max relative {self.max_rel:.3g}")

    def __str__(self) -> str:
        return f"{self.differences} (limit {RTOL:g})"


def compare(model: bytes | str | Path, refiner: Refiner, x_fast: np.ndarray,
            g: np.ndarray) -> ExportCheck:
    """Run the graph and the refiner on the same objects (:class:`ExportCheck`)."""
    onnx_out = OnnxRefiner(model).refine(x_fast, g)
    torch_out = refiner.refine(x_fast, g)
    if refiner.outputs_weights:
        ours, theirs, output = onnx_out.weight[:, None], torch_out.weight[:, None], OUTPUT_WEIGHT
    else:
        ours, theirs, output = onnx_out.x, torch_out.x, OUTPUT_X
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if ours.shape != theirs.shape:
        raise IncompatibleError(f"the ONNX graph of refiner {refiner.name!r} gives {output} "
                                f"of shape {ours.shape}, the refiner {theirs.shape}")
    diff = np.abs(ours - theirs)
    diff[np.isnan(ours) != np.isnan(theirs)] = math.inf
    diff = np.nan_to_num(diff, nan=0.0, posinf=math.inf)
    if not len(diff):
        return ExportCheck(0, output, 0.0, 0.0)
    scale = np.max(np.abs(np.nan_to_num(theirs)), axis=0)
    rel = np.where(scale > 0, diff.max(0) / np.where(scale > 0, scale, 1.0), diff.max(0))
    return ExportCheck(len(diff), output, float(diff.max()), float(rel.max()))


def export_checked(refiner: Refiner, x_fast: np.ndarray, g: np.ndarray, **kwargs: Any
                   ) -> tuple[bytes, ExportCheck]:
    """:func:`onnx_model` and :func:`compare` on the same objects; an export that differs
    from the refiner by more than :data:`RTOL` is an :class:`IncompatibleError`."""
    model = onnx_model(refiner, x_fast, g, **kwargs)
    check = compare(model, refiner, x_fast, g)
    if not check.ok:
        raise IncompatibleError(f"the ONNX graph of refiner {refiner.name!r} does not "
                                f"reproduce it: {check}")
    return model, check


def run_export_inputs(run_dir: str | Path, *, host: PluginHost | None = None):
    """What exporting a run needs: its refiner (:func:`perfekt_bench.load_refiner`), its
    evaluation table, half A's inputs (the run's own test objects) and the graph's metadata."""
    from .loading import load_refiner
    from .provenance import distribution_version
    from .rundir import read_config, read_evaluation

    refiner = load_refiner(run_dir, host=host)
    config = read_config(run_dir, required=True)
    table = read_evaluation(run_dir)
    x_fast, g = table.inputs()
    meta = {"perfekt_bench_version": distribution_version("perfekt-bench"), "task": config["task"],
            "refiner": config["refiner"], "run_id": Path(run_dir).resolve().name,
            "x_names": ",".join(table.features), "g_names": ",".join(table.conditioning)}
    return refiner, table, x_fast, g, meta


def export_run(run_dir: str | Path, out: str | Path, *, opset: int = DEFAULT_OPSET,
               host: PluginHost | None = None) -> ExportCheck:
    """Export the refiner of the run in ``run_dir`` to ``out`` (written atomically, only when
    it reproduces the refiner on the run's own test objects, half A of ``evaluation.parquet``)."""
    from .fileio import atomic_write_bytes

    refiner, _, x_fast, g, meta = run_export_inputs(run_dir, host=host)
    model, check = export_checked(refiner, x_fast, g, opset=opset, metadata=meta)
    atomic_write_bytes(out, model)
    return check
