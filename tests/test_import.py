"""Importing the user's own files, running on them, and resumable generation: the harness side
(tasks supply the readers; a toy task reading .npy files stands in for them here)."""

import types

import numpy as np
import pytest

from perfekt_bench import DataError, PluginHost, RunConfig, Triplets, hookimpl, run
from perfekt_bench.cache import DataCache
from perfekt_bench.cli import main
from perfekt_bench.testing import make_triplets

from plugin_fixtures import ToyTask


class FileToyTask(ToyTask):
    """Toy triplets read from two .npy files (full: g, x_full, h; fast: x_fast, h)."""

    name = "toy-files"
    import_help = "two .npy files"
    imports = 0
    generate_calls: list = []

    def import_files(self, full, fast, *, progress=False, scale=1.0):
        type(self).imports += 1
        a, b = np.load(full), np.load(fast)
        if len(a) != len(b):
            raise DataError(f"{full} has {len(a)} rows, {fast} has {len(b)}")
        return Triplets(a[:, :2], b[:, :2] * scale, a[:, 2:4], b[:, 2:3], a[:, 4:5],
                        self.feature_names)

    def generate(self, size, seed, *, progress=False, workers=1, workdir=None):
        type(self).generate_calls.append((workers, workdir, workdir.is_dir()))
        return super().generate(size, seed, progress=progress)


@pytest.fixture
def host():
    plugin = types.SimpleNamespace(
        perfekt_bench_register_tasks=hookimpl(lambda registry: registry.add(FileToyTask)))
    return PluginHost(plugins=[("files", plugin)])


@pytest.fixture
def files(tmp_path):
    t = make_triplets(3000, seed=4)
    full = np.column_stack([t.g, t.x_full, t.h_full])
    fast = np.column_stack([t.x_fast, t.h_fast])
    np.save(tmp_path / "full.npy", full)
    np.save(tmp_path / "fast.npy", fast)
    return tmp_path / "full.npy", tmp_path / "fast.npy"


def test_import_is_cached_by_content_and_found_by_name(tmp_path, files):
    cache, task = DataCache(tmp_path / "cache"), FileToyTask()
    FileToyTask.imports = 0
    key, folder = cache.import_files(task, *files, name="mine")
    again, _ = cache.import_files(task, *files, name="mine")
    assert again == key and FileToyTask.imports == 1
    by_name, by_key = cache.load_dataset(task, "mine"), cache.load_dataset(task, key)
    assert len(by_name.train) + len(by_name.validation) + len(by_name.test) == 3000
    np.testing.assert_array_equal(by_name.test.x_fast, by_key.test.x_fast)
    # other contents or options make another entry
    other, _ = cache.import_files(task, *files, name="mine-scaled", options={"scale": 2.0})
    assert other != key


def test_failed_import_caches_nothing(tmp_path, files):
    short = tmp_path / "short.npy"
    np.save(short, np.load(files[1])[:10])
    with pytest.raises(DataError, match="short.npy has 10"):
        DataCache(tmp_path / "cache").import_files(FileToyTask(), files[0], short)
    assert not list((tmp_path / "cache").rglob("*.parquet"))


def test_missing_file_is_named(tmp_path, files):
    with pytest.raises(DataError, match="fast file .*nope.npy does not exist"):
        DataCache(tmp_path).import_files(FileToyTask(), files[0], tmp_path / "nope.npy")


def test_unknown_dataset_lists_the_known_ones(tmp_path, files):
    cache = DataCache(tmp_path / "cache")
    cache.import_files(FileToyTask(), *files, name="mine")
    with pytest.raises(DataError, match="no cached data set 'yours'.*known: mine"):
        cache.load_dataset(FileToyTask(), "yours")


def test_run_on_an_imported_dataset(tmp_path, files, host):
    cache_dir = tmp_path / "cache"
    key, _ = DataCache(cache_dir).import_files(FileToyTask(), *files, name="mine")
    result = run(RunConfig("toy-files", "identity", budget="smoke", dataset="mine",
                           cache_dir=str(cache_dir), results_dir=str(tmp_path / "res"),
                           progress=False, plots=False, latency_repeats=0, metrics=["mse"]),
                 host=host)
    assert result.data_key == key
    assert result.metrics["mse"]["refined"] == result.metrics["mse"]["fastsim"]


def test_generation_gets_workers_and_a_workdir_removed_afterwards(tmp_path):
    FileToyTask.generate_calls = []
    splits = DataCache(tmp_path).load(FileToyTask(), 2000, 0, workers=3)
    ((workers, workdir, existed),) = FileToyTask.generate_calls
    assert workers == 3 and existed and workdir.name == f".{splits.key}.parts"
    assert not workdir.exists()


def test_cli_import_for_a_task_that_cannot(tmp_path, files, capsys):
    assert main(["data", "import", "--task", "analytic", "--full", str(files[0]),
                 "--fast", str(files[1]), "--cache-dir", str(tmp_path)]) == 2
    assert "task 'analytic' cannot import files" in capsys.readouterr().err


def test_cli_run_with_unknown_dataset(tmp_path, capsys):
    assert main(["run", "--task", "analytic", "--refiner", "identity", "--dataset", "nope",
                 "--cache-dir", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no cached data set 'nope'" in err and "Traceback" not in err


def test_cli_data_list_shows_every_task_by_default(tmp_path, files, capsys):
    assert main(["data", "list", "--cache-dir", str(tmp_path)]) == 0
    assert f"nothing cached in {tmp_path}" in capsys.readouterr().out
    assert main(["data", "generate", "--task", "analytic", "--size", "1000", "--quiet",
                 "--cache-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["data", "list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "analytic" in out and "1000" in out


class UnpairedFileToyTask(FileToyTask):
    """A paired task whose imported files turn out not to be paired."""

    name = "toy-files-unpaired"

    def import_files(self, full, fast, *, progress=False, scale=1.0):
        data = super().import_files(full, fast, progress=progress, scale=scale)
        return Triplets(data.g, data.x_fast, data.x_full, data.h_fast, data.h_full, data.names,
                        paired=False)


def test_pairs_are_checked_on_the_data_set_loaded(tmp_path, files):
    """The task says paired, the imported data set is not: a refiner that needs pairs is
    refused before training, naming the data set."""
    from perfekt_bench import IncompatibleError

    plugin = types.SimpleNamespace(perfekt_bench_register_tasks=hookimpl(
        lambda registry: registry.add(UnpairedFileToyTask)))
    host = PluginHost(plugins=[("unpaired", plugin)])
    cache_dir = tmp_path / "cache"
    DataCache(cache_dir).import_files(UnpairedFileToyTask(), *files, name="loose")
    with pytest.raises(IncompatibleError, match="data set 'loose' .* is not paired"):
        run(RunConfig("toy-files-unpaired", "mse", budget="smoke", dataset="loose",
                      cache_dir=str(cache_dir), results_dir=str(tmp_path / "res"),
                      progress=False, plots=False, latency_repeats=0), host=host)
    assert not (tmp_path / "res").exists()


def test_reimport_under_a_new_name_adds_the_name(tmp_path, files, capsys):
    cache = DataCache(tmp_path / "cache")
    key, _ = cache.import_files(FileToyTask(), *files, name="first")
    again, _ = cache.import_files(FileToyTask(), *files, name="second")
    assert again == key
    assert cache.names(cache.card(FileToyTask(), key)) == ["first", "second"]
    np.testing.assert_array_equal(cache.load_dataset(FileToyTask(), "second").test.x_fast,
                                  cache.load_dataset(FileToyTask(), "first").test.x_fast)
