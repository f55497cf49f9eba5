"""compare: the analytic smoke matrix one cell after another against ``--workers 2``, and the
per-cell cost of sending cells through Dask.

Run with ``pytest benchmarks/test_bench_compare.py --benchmark-only -s``:

- ``serial`` and ``workers_2``: the analytic smoke matrix of ``REFINERS`` × ``SEEDS`` (8 cells,
  every metric, no figures) into a fresh results folder per round, the data generated once
  beforehand; ``workers_2`` includes starting and stopping the LocalCluster (reported in
  ``extra_info``, as is the ratio serial / workers_2: above 1 means the parallel run is faster);
- ``dask_overhead``: ``N_TINY`` tiny cells (the identity refiner, one metric) in this process
  and on an already started one-worker Dask cluster, warmed up by a first round; the difference
  per cell is what going through Dask costs (scheduling, sending the cell, the worker's store
  checks), reported as ``overhead_per_cell_s``.
"""

from __future__ import annotations

import itertools
import time

import pytest

from perfekt_bench.cluster import threads_per_cell
from perfekt_bench.comparison import CompareConfig, compare

REFINERS = ["identity", "mse", "onestage", "twostage"]
SEEDS = [0, 1]
N_TINY = 8
GROUP = "compare, analytic smoke matrix 4 refiners x 2 seeds"
#: wall seconds of the rounds so far, by benchmark name
MEASURED: dict[str, float] = {}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-compare")
    counter = itertools.count()

    def fresh() -> str:
        return str(root / f"results-{next(counter)}")

    # generate the data once, outside every measurement
    compare(CompareConfig(tasks=["analytic"], refiners=["identity"], budget="smoke",
                          metrics=["mse"], results_dir=fresh(), cache_dir=str(root / "cache"),
                          progress=False, plots=False), log=lambda m: None)
    return root / "cache", fresh


def matrix(cache, fresh, **kw) -> CompareConfig:
    return CompareConfig(tasks=["analytic"], refiners=REFINERS, seeds=SEEDS, budget="smoke",
                         results_dir=fresh(), cache_dir=str(cache), progress=False, plots=False,
                         **kw)


def measure(benchmark, name, make_config):
    results = []

    def one_round():
        start = time.perf_counter()
        results.append(compare(make_config(), log=lambda m: None))
        MEASURED[name] = time.perf_counter() - start

    benchmark.pedantic(one_round, rounds=1, iterations=1)
    result = results[-1]
    assert result.counts()["ok"] == len(REFINERS) * len(SEEDS), result.failed
    benchmark.extra_info.update({k: round(v, 3) for k, v in result.timings.items()})
    return result


def test_serial(benchmark, folders):
    benchmark.group = GROUP
    cache, fresh = folders
    measure(benchmark, "serial", lambda: matrix(cache, fresh))


def test_workers_2(benchmark, folders):
    benchmark.group = GROUP
    cache, fresh = folders
    result = measure(benchmark, "workers_2", lambda: matrix(cache, fresh, workers=2))
    benchmark.extra_info["torch_threads_per_worker"] = threads_per_cell(2)
    if "serial" in MEASURED:
        ratio = MEASURED["serial"] / MEASURED["workers_2"]
        benchmark.extra_info["serial_over_workers_2"] = round(ratio, 3)
        print(f"\nserial {MEASURED['serial']:.1f} s, --workers 2 {MEASURED['workers_2']:.1f} s "
              f"(cluster start {result.timings['cluster_start_seconds']:.1f} s, stop "
              f"{result.timings['cluster_stop_seconds']:.1f} s): ratio {ratio:.2f}")


def test_dask_overhead(benchmark, folders):
    from distributed import LocalCluster

    benchmark.group = "compare, per-cell overhead of Dask"
    cache, fresh = folders

    def tiny(**kw) -> CompareConfig:
        return CompareConfig(tasks=["analytic"], refiners=["identity"],
                             seeds=list(range(N_TINY)), budget="smoke", metrics=["mse"],
                             results_dir=fresh(), cache_dir=str(cache), progress=False,
                             plots=False, **kw)

    def cells_seconds(config: CompareConfig) -> float:
        result = compare(config, log=lambda m: None)
        assert result.counts()["ok"] == N_TINY, result.failed
        return result.timings["cells_seconds"]

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        cells_seconds(tiny(scheduler=address))  # the worker imports torch and the plugins
        serial, on_dask = [], []

        def one_round():
            serial.append(cells_seconds(tiny()))
            on_dask.append(cells_seconds(tiny(scheduler=address)))

        benchmark.pedantic(one_round, rounds=3, iterations=1)
    overhead = (sum(on_dask) - sum(serial)) / len(serial) / N_TINY
    benchmark.extra_info.update({"serial_cell_s": sum(serial) / len(serial) / N_TINY,
                                 "dask_cell_s": sum(on_dask) / len(on_dask) / N_TINY,
                                 "overhead_per_cell_s": overhead})
    print(f"\nper tiny cell: {benchmark.extra_info['serial_cell_s'] * 1e3:.0f} ms in process, "
          f"{benchmark.extra_info['dask_cell_s'] * 1e3:.0f} ms through Dask: overhead "
          f"{overhead * 1e3:.0f} ms per cell")
