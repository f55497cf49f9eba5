"""The latency metrics: which backend times a refiner, and how the numbers are made.

Only what can fail is checked here (backends, directions, the percentile error, one thread);
how fast anything is is measured in benchmarks/test_bench_latency.py, never asserted.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_export import PythonOnly, WrongGraph

from perfekt_bench import PerfektBenchWarning, PluginHost
from perfekt_bench.latency import (
    LATENCY_METRICS,
    ONNXRUNTIME,
    PYTHON,
    measure_latency,
    percentile,
)
from perfekt_bench.testing import make_triplets

HOST = PluginHost(autoload=False)
TRAIN, TEST = make_triplets(1024, seed=1), make_triplets(300, seed=2)


def fitted(cls):
    return cls(**cls.tiny_params()).fit(TRAIN, TRAIN)


def check_values(latency):
    assert set(latency.metrics) == set(LATENCY_METRICS) and latency.directions == LATENCY_METRICS
    p50, p90 = latency.metrics["latency_p50_ms"], latency.metrics["latency_p90_ms"]
    assert 0 < p50.value <= p90.value and p50.error >= 0
    assert latency.metrics["throughput"].value > 0


@pytest.mark.parametrize("name", ["identity", "twostage", "dctr"])
def test_exporting_refiners_are_timed_on_onnxruntime(name):
    latency = measure_latency(fitted(HOST.refiner_class(name)), TEST.x_fast, TEST.g, queries=20)
    assert latency.backend == ONNXRUNTIME and "max relative" in latency.note
    check_values(latency)


def test_a_refiner_without_export_is_timed_in_python_with_one_thread(monkeypatch):
    threads = []
    refiner = PythonOnly().fit(TRAIN, TRAIN)
    original = refiner.refine
    monkeypatch.setattr(refiner, "refine",
                        lambda x, g: threads.append(torch.get_num_threads()) or original(x, g))
    before = torch.get_num_threads()
    latency = measure_latency(refiner, TEST.x_fast, TEST.g, queries=30)
    assert latency.backend == PYTHON and "cannot be exported" in latency.note
    check_values(latency)
    # warm-up and queries (min(queries, 100) + queries) and 1 + max(3, queries // 100) batches
    assert len(threads) == 30 + 30 + 1 + 3 and set(threads) == {1}
    assert torch.get_num_threads() == before


def test_a_graph_that_does_not_reproduce_the_refiner_falls_back_with_a_warning():
    with pytest.warns(PerfektBenchWarning, match="Python path: its ONNX graph does not"):
        latency = measure_latency(WrongGraph().fit(TRAIN, TRAIN), TEST.x_fast, TEST.g,
                                  queries=5)
    assert latency.backend == PYTHON


def test_fewer_objects_than_a_batch_are_reused():
    latency = measure_latency(fitted(HOST.refiner_class("mse")), TEST.x_fast[:7], TEST.g[:7],
                              queries=12, batch=64)
    check_values(latency)


def test_queries_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        measure_latency(PythonOnly(), TEST.x_fast, TEST.g, queries=0)


def test_percentile_and_its_order_statistic_error():
    times = np.arange(1000.0)[::-1]  # order must not matter
    value, error = percentile(times, 0.5)
    assert value == 499.5
    spread = math.sqrt(1000 * 0.25)  # ranks 500 ± 15.8 → ordered[484] … ordered[516]
    assert error == (math.ceil(500 + spread) - math.floor(500 - spread)) / 2 == 16.0
    value, error = percentile(times, 0.9)
    assert value == pytest.approx(899.1) and error == (910 - 890) / 2  # 900 ± 9.5 ranks
    assert math.isnan(percentile(np.array([1.0]), 0.5)[1])
