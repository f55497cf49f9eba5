"""The Parquet cache of task splits."""

import numpy as np
import pytest

from perfekt_bench import DataError
from perfekt_bench.cache import DataCache, data_key, table_to_triplets
from perfekt_bench_tasks.analytic import AnalyticMixture


def test_key_depends_on_size_seed_and_parameters(monkeypatch):
    task = AnalyticMixture()
    base = data_key(task, 1000, 0)
    assert data_key(task, 1000, 0) == base
    assert data_key(task, 1001, 0) != base and data_key(task, 1000, 1) != base
    monkeypatch.setattr(AnalyticMixture, "parameters", lambda self: {"changed": True})
    assert data_key(task, 1000, 0) != base


def test_second_load_reads_the_cache(tmp_path, monkeypatch):
    task = AnalyticMixture()
    first = task.load(2000, 0, cache_dir=tmp_path)
    monkeypatch.setattr(AnalyticMixture, "generate",
                        lambda *a, **k: pytest.fail("generated again despite the cache"))
    second = task.load(2000, 0, cache_dir=tmp_path)
    np.testing.assert_array_equal(first.validation.h_full, second.validation.h_full)


def test_failed_generation_leaves_no_cache_entry(tmp_path, monkeypatch):
    def broken(self, size, seed, progress=False):
        raise RuntimeError("generator crashed")

    monkeypatch.setattr(AnalyticMixture, "generate", broken)
    with pytest.raises(RuntimeError):
        AnalyticMixture().load(100, 0, cache_dir=tmp_path)
    assert not list(tmp_path.rglob("*.parquet"))


def test_corrupt_cached_file_is_named(tmp_path):
    task = AnalyticMixture()
    task.load(1000, 0, cache_dir=tmp_path)
    folder = DataCache(tmp_path).path(task, data_key(task, 1000, 0))
    (folder / "test.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="test.parquet"):
        table_to_triplets(folder / "test.parquet")
