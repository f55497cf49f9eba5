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
    first = DataCache(tmp_path).load(task, 2000, 0)
    monkeypatch.setattr(AnalyticMixture, "generate",
                        lambda *a, **k: pytest.fail("generated again despite the cache"))
    second = DataCache(tmp_path).load(task, 2000, 0)
    np.testing.assert_array_equal(first.validation.h_full, second.validation.h_full)


def test_failed_generation_leaves_no_cache_entry(tmp_path, monkeypatch):
    def broken(self, size, seed, progress=False):
        raise RuntimeError("generator crashed")

    monkeypatch.setattr(AnalyticMixture, "generate", broken)
    with pytest.raises(RuntimeError):
        DataCache(tmp_path).load(AnalyticMixture(), 100, 0)
    assert not list(tmp_path.rglob("*.parquet"))


def test_corrupt_cached_file_is_named(tmp_path):
    task = AnalyticMixture()
    DataCache(tmp_path).load(task, 1000, 0)
    folder = DataCache(tmp_path).path(task, data_key(task, 1000, 0))
    (folder / "test.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="test.parquet"):
        table_to_triplets(folder / "test.parquet")


def test_key_follows_the_source_of_declared_modules(tmp_path, monkeypatch):
    """A task declares the modules that shape its data; editing one makes a new key."""
    import importlib.util
    import linecache

    source = tmp_path / "shaping_module.py"
    source.write_text("SCALE = 1.0\n")
    spec = importlib.util.spec_from_file_location("shaping_module", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(AnalyticMixture, "source_modules", lambda self: [module])
    task = AnalyticMixture()
    before = data_key(task, 1000, 0)
    assert data_key(task, 1000, 0) == before
    source.write_text("SCALE = 2.0\n")
    linecache.checkcache(str(source))
    assert data_key(task, 1000, 0) != before


def test_default_size_is_the_budgets(tmp_path):
    task = AnalyticMixture()
    splits = DataCache(tmp_path).load(task, budget="smoke")
    assert len(splits.train) + len(splits.validation) + len(splits.test) == task.sizes["smoke"]


def test_a_task_that_declares_its_modules_is_keyed_by_them_alone():
    """The analytic task names its generator module: its yardstick and closure (in the task
    module) can change without regenerating the data; a task naming none is keyed by its own
    module."""
    import hashlib
    import inspect

    from perfekt_bench.cache import source_digest
    from perfekt_bench_tasks.analytic import generation, task

    expected = hashlib.sha256(inspect.getsource(generation).encode()).hexdigest()
    assert source_digest(AnalyticMixture()) == expected
    undeclared = type("Undeclared", (AnalyticMixture,), {"source_modules": lambda self: []})
    assert source_digest(undeclared()) == hashlib.sha256(
        inspect.getsource(inspect.getmodule(undeclared)).encode()).hexdigest()
    assert task.__name__ != generation.__name__
