"""``perfekt_bench.load_refiner(RUN_DIR)`` gives back exactly the refiner a run evaluated."""

import json
import shutil

import numpy as np
import pytest

from perfekt_bench import (
    ConfigurationError,
    DataError,
    PluginHost,
    Refinement,
    Refiner,
    RunConfig,
    load_refiner,
    run,
)
from perfekt_bench.cache import DataCache
from perfekt_bench.rundir import read_evaluation

HOST = PluginHost(autoload=False)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("loading")
    return {"results_dir": str(root / "results"), "cache_dir": str(root / "cache")}


def refined_again(result, dirs):
    """The run's half A refined by the loaded refiner, and what the run stored for it."""
    table = read_evaluation(result.run_dir)
    task = HOST.task(result.config.task)
    test = DataCache(dirs["cache_dir"]).read(task, result.data_key).test
    half = len(table)
    out = load_refiner(result.run_dir, host=HOST).refine(test.x_fast[:half], test.g[:half])
    stored = np.column_stack([table.x("refined", n) for n in table.features])
    return out, stored, table


@pytest.mark.parametrize("refiner", HOST.refiners.names())
def test_round_trip_of_every_builtin(refiner, dirs):
    result = run(RunConfig("analytic", refiner, budget="smoke", progress=False, plots=False,
                           metrics=["mse"], latency_repeats=0, **dirs), host=HOST)
    out, stored, table = refined_again(result, dirs)
    np.testing.assert_array_equal(out.x.astype(np.float64), stored)
    if HOST.refiner_class(refiner).outputs_weights:
        np.testing.assert_array_equal(out.weight, table.frame["refined.weight"].to_numpy())


@pytest.mark.slow
@pytest.mark.parametrize("refiner", ["mse", "dctr"])
def test_round_trip_with_the_tasks_transform(refiner, dirs):
    """deepjet's runs learn through its pre/post-processing: the loaded refiner has it too."""
    result = run(RunConfig("deepjet", refiner, budget="smoke", progress=False, plots=False,
                           metrics=["mse"], latency_repeats=0, workers=1, **dirs), host=HOST)
    loaded = load_refiner(result.run_dir, host=HOST)
    assert type(loaded).__name__ == "TransformedRefiner"
    assert loaded.transform.name == HOST.task("deepjet").feature_transform().name
    out, stored, _ = refined_again(result, dirs)
    np.testing.assert_array_equal(out.x.astype(np.float64), stored)


def test_not_a_run_folder_is_a_clear_error(tmp_path, dirs):
    with pytest.raises(DataError, match="config.json"):
        load_refiner(tmp_path, host=HOST)
    result = run(RunConfig("analytic", "identity", budget="smoke", progress=False, plots=False,
                           metrics=["mse"], latency_repeats=0, **dirs), host=HOST)
    broken = tmp_path / "run"
    shutil.copytree(result.run_dir, broken)
    shutil.rmtree(broken / "model")
    with pytest.raises(DataError, match="no saved model"):
        load_refiner(broken, host=HOST)


class TupleRefiner(Refiner):
    """Shifts fastsim by per-feature offsets given as a tuple."""

    name = "tuple-test"

    def __init__(self, *, offsets=(0.0,), options=None, seed=0, device="cpu"):
        self.offsets, self.options, self.seed, self.device = offsets, options, seed, device

    def fit(self, train, validation, *, progress=False):
        self.history_ = []
        return self

    def refine(self, x_fast, g):
        return Refinement(x_fast + np.asarray(self.offsets, dtype=np.float32))


def test_hyperparameters_round_trip_with_their_types(tmp_path):
    refiner = TupleRefiner(offsets=(0.5, -1.0), options={"nested": (1, [2, 3])})
    refiner.save(tmp_path / "model")
    loaded = TupleRefiner.load(tmp_path / "model")
    assert loaded.get_params() == refiner.get_params()
    assert isinstance(loaded.offsets, tuple) and isinstance(loaded.options["nested"], tuple)
    json.loads((tmp_path / "model" / "params.json").read_text())  # plain JSON on disk


def test_a_hyperparameter_that_cannot_be_saved_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match="'offsets' holds a set"):
        TupleRefiner(offsets={1.0}).save(tmp_path / "model")
