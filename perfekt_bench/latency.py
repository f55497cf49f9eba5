"""CPU latency and throughput of a refinement, measured the way production runs it.

Experiments run refinements inside their C++ frameworks through ONNX Runtime with one
intra-op thread (CMSSW's ``PhysicsTools/ONNXRuntime`` default). Every run therefore measures
its refiner on ONNX Runtime with one thread when it exports
(:meth:`~perfekt_bench.Refiner.export_module`; the graph is first compared with the refiner,
:mod:`.export`), else on the Python :meth:`~perfekt_bench.Refiner.refine` path with one torch
thread; the backend is recorded beside the numbers. The metrics, rows of the ``refined``
candidate:

* ``latency_p50_ms``, ``latency_p90_ms``: MLPerf's single-stream scenario, one object per
  query, each query issued when the previous one has returned, after a warm-up; the median
  and the 90th percentile over ``queries`` queries (1000 by default, the least MLPerf accepts
  for a stable p90). The error is half the width of the order-statistic interval of the
  percentile (ranks q·n ± √(n q (1 − q)), about 68 %).
* ``throughput``: objects per second at batch :data:`BATCH` on one thread, from the median
  time of repeated batches; the error is the standard deviation of the per-batch rates.

The numbers are of the machine the run ran on (``host`` in the store) and of what else ran
there: compare them within one machine.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .errors import IncompatibleError, PerfektBenchWarning
from .metric import MetricValue

if TYPE_CHECKING:
    from .refiner import Refiner

#: metric name → lower is better
LATENCY_METRICS = {"latency_p50_ms": True, "latency_p90_ms": True, "throughput": False}
#: objects per batch of the throughput measurement
BATCH = 1024
#: single-object queries per run (MLPerf single-stream's minimum); RunConfig.latency_repeats
DEFAULT_QUERIES = 1000
#: objects of the test split the exported graph is compared on before it is timed
CHECK_OBJECTS = 4096
ONNXRUNTIME, PYTHON = "onnxruntime", "python"


@dataclass(frozen=True)
class Latency:
    """What :func:`measure_latency` measured, on which backend (and why that one)."""

    backend: str
    metrics: dict[str, MetricValue]
    note: str = ""
    directions: dict[str, bool] = field(default_factory=lambda: dict(LATENCY_METRICS))


def measure_latency(refiner: Refiner, x_fast: np.ndarray, g: np.ndarray, *,
                    queries: int = DEFAULT_QUERIES, batch: int = BATCH) -> Latency:
    """Time a fitted refiner on objects ``x_fast``, ``g`` (the run's test split): see the
    module docstring. ``queries`` may be made small for tests; it must be positive."""
    if queries < 1:
        raise ValueError(f"queries must be positive, got {queries}")
    x_fast = np.ascontiguousarray(x_fast, dtype=np.float32)
    g = np.ascontiguousarray(g, dtype=np.float32)
    call, backend, note = _backend(refiner, x_fast, g)
    return Latency(backend, time_calls(call, x_fast, g, queries=queries, batch=batch), note)


def time_calls(call: Callable[[np.ndarray, np.ndarray], object], x_fast: np.ndarray,
               g: np.ndarray, *, queries: int = DEFAULT_QUERIES, batch: int = BATCH
               ) -> dict[str, MetricValue]:
    """The latency metrics of ``call(x_fast, g)`` (see the module docstring), one thread."""
    with _one_torch_thread():
        n = min(len(x_fast), queries)
        singles = [(x_fast[j:j + 1].copy(), g[j:j + 1].copy()) for j in range(n)]
        times = single_stream(call, singles, queries, warmup=min(queries, 100))
        rows = np.arange(batch) % len(x_fast)
        batched = batch_times(call, x_fast[rows], g[rows], repeats=max(3, queries // 100))
    p50, p90 = (MetricValue(*percentile(times, q)) for q in (0.5, 0.9))
    rates = batch / batched
    return {"latency_p50_ms": MetricValue(p50.value * 1e3, p50.error * 1e3),
            "latency_p90_ms": MetricValue(p90.value * 1e3, p90.error * 1e3),
            "throughput": MetricValue(float(batch / np.median(batched)), float(np.std(rates)))}


def _backend(refiner: Refiner, x_fast: np.ndarray, g: np.ndarray
             ) -> tuple[Callable[[np.ndarray, np.ndarray], object], str, str]:
    """ONNX Runtime (one thread) on the checked export, else the refiner's own ``refine``."""
    from .export import OnnxRefiner, compare, onnx_model

    sample = slice(0, CHECK_OBJECTS)
    try:
        model = onnx_model(refiner, x_fast[sample], g[sample])
    except IncompatibleError as err:
        return refiner.refine, PYTHON, str(err)
    try:
        check = compare(model, refiner, x_fast[sample], g[sample])
        problem = "" if check.ok else f"its ONNX graph does not reproduce it ({check})"
    except IncompatibleError as err:
        problem = str(err)
    if problem:
        note = f"latency of {refiner.name!r} measured on the Python path: {problem}"
        warnings.warn(note, PerfektBenchWarning, stacklevel=3)
        return refiner.refine, PYTHON, note
    return OnnxRefiner(model, threads=1).run, ONNXRUNTIME, str(check)


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def single_stream(call, inputs: list[tuple[np.ndarray, np.ndarray]], queries: int, *,
                   warmup: int) -> np.ndarray:
    """Seconds of each of ``queries`` one-object calls, issued one after the other."""
    clock = time.perf_counter_ns
    for i in range(warmup):
        call(*inputs[i % len(inputs)])
    times = np.empty(queries)
    for i in range(queries):
        x, g = inputs[i % len(inputs)]
        start = clock()
        call(x, g)
        times[i] = clock() - start
    return times * 1e-9


def batch_times(call, x: np.ndarray, g: np.ndarray, *, repeats: int) -> np.ndarray:
    """Seconds of each of ``repeats`` calls on the same batch, after one warm-up call."""
    clock = time.perf_counter_ns
    call(x, g)
    times = np.empty(repeats)
    for i in range(repeats):
        start = clock()
        call(x, g)
        times[i] = clock() - start
    return times * 1e-9


def percentile(times: np.ndarray, q: float) -> tuple[float, float]:
    """The q-quantile of ``times`` and half the width of its order-statistic interval."""
    ordered = np.sort(times)
    n = len(ordered)
    value = float(np.quantile(ordered, q))
    if n < 2:
        return value, math.nan
    spread = math.sqrt(n * q * (1 - q))
    lo = ordered[max(int(math.floor(q * n - spread)), 0)]
    hi = ordered[min(int(math.ceil(q * n + spread)), n - 1)]
    return value, float(hi - lo) / 2
