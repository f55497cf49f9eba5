"""``perfekt-bench export --quantize``: an exported graph with int8 weights, and what it costs.

ONNX Runtime's dynamic quantisation (``onnxruntime.quantization.quantize_dynamic``) stores the
weights of every matrix product as int8 and quantises the activations per call; the task's
pre/post-processing and the element-wise steps stay in float. What that costs is measured on
the run's own evaluation samples: the task's primary metric of the refined half A against the
reference half B, through the float graph and through the int8 graph (with the task's fixed
yardstick, ``evaluation.json``), beside the single-object p50 and the batch throughput of both
on one thread. A quantised graph is not held to the float check's 1e-5: its differences from
the torch refiner are reported instead.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import DataError
from .export import DEFAULT_OPSET, ExportCheck, OnnxRefiner, compare, export_checked

if TYPE_CHECKING:
    from .metric import MetricValue
    from .plugins import PluginHost
    from .rundir import EvaluationTable

#: the quantisation ``--quantize`` applies
SCHEME = ("dynamic int8: int8 weights, activations quantised per call (ONNX Runtime "
          "quantize_dynamic)")


@dataclass(frozen=True)
class Speed:
    p50_ms: float
    throughput: float

    def __str__(self) -> str:
        return f"p50 {self.p50_ms:.4f} ms, {self.throughput:.0f} objects/s at batch 1024"


@dataclass(frozen=True)
class QuantizeReport:
    """The float export's check, the quantised graph's differences, the task's primary metric
    through both graphs, and their speed."""

    check: ExportCheck
    quantized: ExportCheck
    metric: str
    before: MetricValue
    after: MetricValue
    speed_before: Speed
    speed_after: Speed

    def lines(self) -> list[str]:
        gain = self.speed_before.p50_ms / self.speed_after.p50_ms
        return [f"float graph: {self.check}",
                f"int8 graph, {SCHEME}: {self.quantized.differences}",
                f"primary metric {self.metric} (refined half A vs reference): float "
                f"{_value(self.before)}, int8 {_value(self.after)}",
                f"speed, one thread: float {self.speed_before}; int8 {self.speed_after} "
                f"(single object ×{gain:.2f})"]


def _value(v: MetricValue) -> str:
    return f"{v.value:.6g} ± {v.error:.2g}" if np.isfinite(v.error) else f"{v.value:.6g}"


def quantize_run(run_dir: str | Path, out: str | Path, *, opset: int = DEFAULT_OPSET,
                 host: PluginHost | None = None, queries: int = 1000) -> QuantizeReport:
    """Export the run's refiner, quantise the graph and write it to ``out`` (atomically);
    measure what it costs (see the module docstring)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .export import run_export_inputs
    from .fileio import atomic_write_bytes
    from .latency import time_calls
    from .plugins import default_host

    host = host or default_host()
    refiner, table, x_fast, g, meta = run_export_inputs(run_dir, host=host)
    model, check = export_checked(refiner, x_fast, g, opset=opset,
                                  metadata=meta | {"quantization": SCHEME})
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(model)
        with _quiet_root_logger():  # it advises shape pre-processing, moot for these graphs
            quantize_dynamic(source, target, weight_type=QuantType.QInt8)
        quantized = target.read_bytes()
    graphs = {"float": OnnxRefiner(model), "int8": OnnxRefiner(quantized)}
    metric, settings = _primary_metric(run_dir, host)
    values = {name: _measure(metric, settings, table, graph.refine(x_fast, g))
              for name, graph in graphs.items()}
    speeds = {}
    for name, graph in graphs.items():
        timed = time_calls(graph.run, x_fast, g, queries=queries)
        speeds[name] = Speed(timed["latency_p50_ms"].value, timed["throughput"].value)
    report = QuantizeReport(check, compare(quantized, refiner, x_fast, g), metric.name,
                            values["float"], values["int8"], speeds["float"], speeds["int8"])
    atomic_write_bytes(out, quantized)
    return report


@contextlib.contextmanager
def _quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _primary_metric(run_dir: str | Path, host: PluginHost):
    from .rundir import read_settings

    settings = read_settings(run_dir)
    if settings is None or not settings.primary_metric:
        raise DataError(f"{Path(run_dir) / 'evaluation.json'} is missing or names no primary "
                        "metric: the fidelity of a quantised graph cannot be measured")
    return host.metric_class(settings.primary_metric)(), settings


def _measure(metric, settings, table: EvaluationTable, refinement) -> MetricValue:
    """The metric of half A refined as ``refinement`` against the run's reference."""
    from .data import FeatureNames, Sample

    names = FeatureNames(g=tuple(table.conditioning), x=tuple(table.features),
                         h=tuple(table.hidden))
    _, g = table.partners("g", "refined")
    _, h_fast = table.partners("h", "refined")
    _, h_full = table.partners("h", "fullsim")
    d = len(table.features)
    full = np.column_stack([table.x("fullsim", n) for n in table.features])
    reference_g, reference_h = table.reference("g")[:, d:], table.reference("h")[:, d:]
    reference = Sample(reference_g, table.reference("g")[:, :d], reference_h, names)
    candidate = Sample(g, np.asarray(refinement.x, np.float64), h_fast, names,
                       refinement.weight)
    return metric.compute(candidate, reference, settings=settings,
                          target=Sample(g, full, h_full, names))
