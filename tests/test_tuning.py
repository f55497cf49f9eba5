"""``perfekt-bench tune`` in one process on toy data: the validation split only, resuming,
pruning, several objectives, the final runs on the test split, and what it refuses."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from test_hyperparameters import Shift

from perfekt_bench import (
    ConfigurationError,
    DataCache,
    DataError,
    FeatureTransform,
    Hyperparameter,
    IncompatibleError,
    PluginHost,
    Refinement,
    Refiner,
    RunConfig,
    Search,
    TransformedRefiner,
    UnknownNameError,
    hookimpl,
    run,
)
from perfekt_bench.hyperparameters import check_params
from perfekt_bench.leaderboard import labelled
from perfekt_bench.results import ResultsStore
from perfekt_bench.studies import default_storage, open_storage
from perfekt_bench.testing import make_triplets
from perfekt_bench.tuning import TuneConfig, tune

from plugin_fixtures import ToyTask, toy_plugin

#: a small network, so that a trial takes a second
SMALL = {"n_blocks": 1, "width": 16}


class Steady(Refiner):
    """Moves fastsim part of the way to fullsim's mean; ``badness`` is the part it leaves, and
    the validation loss it reports at every epoch (so the pruner has something to judge)."""

    name = "steady"
    hyperparameters = (
        Hyperparameter("badness", "float", 0.5, "the part of the shift left undone", low=0,
                       high=1, search=Search(0.0, 1.0)),
        Hyperparameter("epochs", "int", 10, "epochs reported", low=1),
    )

    def __init__(self, *, badness=0.5, epochs=10, seed=0, device="cpu"):
        self.badness, self.epochs, self.seed, self.device = badness, epochs, seed, device

    def fit(self, train, validation, *, progress=False, report=None):
        self.history_ = []
        for epoch in range(self.epochs):
            self.history_.append({"epoch": epoch, "val_loss": self.badness})
            if report is not None:
                report(epoch, float(self.badness))
        self.shift_ = (train.x_full.mean(0) - train.x_fast.mean(0)) * (1 - self.badness)
        return self

    def refine(self, x_fast, g):
        return Refinement((x_fast + self.shift_).astype(np.float32))


@pytest.fixture
def host():
    extra = type("P", (), {"perfekt_bench_register_refiners": staticmethod(hookimpl(
        lambda registry: [registry.add(Steady), registry.add(Shift)]))})
    return PluginHost(plugins=[("toy", toy_plugin()), ("extra", extra)])


def config(tmp_path, **kw):
    kw.setdefault("task", "toy")
    kw.setdefault("refiner", "twostage")
    kw.setdefault("budget", "smoke")
    kw.setdefault("params", dict(SMALL) if kw["refiner"] == "twostage" else {})
    kw.setdefault("plots", False)
    return TuneConfig(results_dir=str(tmp_path / "results"), cache_dir=str(tmp_path / "cache"),
                      progress=False, **kw)


def load(result, tmp_path):
    import optuna

    return optuna.load_study(study_name=result.study,
                             storage=open_storage(default_storage(str(tmp_path / "results"))))


def test_tuning_never_reads_the_test_split(tmp_path, host):
    """The test split of the cached data is made unreadable: tuning still works, while a run
    (which must read it) fails on it."""
    splits = DataCache(tmp_path / "cache").load(ToyTask(), budget="smoke")
    test_file = Path(DataCache(tmp_path / "cache").path(ToyTask(), splits.key)) / "test.parquet"
    test_file.write_bytes(b"not a parquet file: reading the test split fails")
    result = tune(config(tmp_path, trials=2), host=host)
    assert result.counts == {"complete": 2}
    assert all(math.isfinite(b["values"]["mmd"]) for b in result.best)
    with pytest.raises(DataError, match="test.parquet"):
        run(RunConfig("toy", "twostage", budget="smoke", progress=False, plots=False,
                      cache_dir=str(tmp_path / "cache"), results_dir=str(tmp_path / "results"),
                      params=dict(SMALL)), host=host)
    with pytest.raises(DataError, match="test.parquet"):  # the final runs do read it
        tune(config(tmp_path, trials=2, final_seeds=[0]), host=host)


def test_the_objective_is_measured_on_the_validation_split(tmp_path, host):
    """The best trial's value is what its settings give on the validation split's halves."""
    from perfekt_bench.objectives import measure, resolve_objectives
    from perfekt_bench.study_report import trial_params

    result = tune(config(tmp_path, refiner="steady", trials=3, pruner="none"), host=host)
    study = load(result, tmp_path)
    trial = study.best_trial
    splits = DataCache(tmp_path / "cache").load(ToyTask(), budget="smoke")
    refiner = Steady(**trial_params(trial)).fit(splits.train, splits.validation)
    objectives = resolve_objectives(["mmd"], host, ToyTask())
    assert measure(objectives, refiner, splits.validation, ToyTask(), 0.0) == [trial.value]
    on_test = measure(objectives, refiner, splits.test, ToyTask(), 0.0)
    assert on_test != [trial.value]


def test_rerun_continues_until_n_trials_and_writes_summary_and_figures(tmp_path, host):
    first = tune(config(tmp_path, trials=2), host=host)
    assert first.counts == {"complete": 2}
    second = tune(config(tmp_path, trials=3, plots=True), host=host)
    assert second.counts == {"complete": 3} and second.study == first.study == "toy-twostage-smoke"
    study = load(second, tmp_path)
    assert [t.number for t in study.trials] == [0, 1, 2]
    best = second.best[0]
    assert best["values"]["mmd"] == study.best_value
    assert set(best["searched"]) == {"lr", "lr_lambda", "damping", "mmd_scale"}
    params = check_params(Refiner_of(host, "twostage"), best["params"], source="best.json")
    assert params["n_blocks"] == 1 and params["epochs"] == 2  # fixed, and the budget's
    assert second.summary_path.is_file()
    names = {p.name for p in second.figures}
    assert {"history.png", "importances.png", "parallel_coordinates.png",
            "intermediate_values.png"} <= names
    assert all(p.stat().st_size > 1000 for p in second.figures)
    third = tune(config(tmp_path, trials=3), host=host)  # nothing left to do
    assert third.counts == {"complete": 3}


def Refiner_of(host, name):  # noqa: N802 - reads as the class it returns
    return host.refiner_class(name)


def test_final_runs_are_stored_runs_labelled_with_the_study(tmp_path, host):
    result = tune(config(tmp_path, trials=2, final_seeds=[0, 1]), host=host)
    assert [r.config.seed for r in result.final_runs] == [0, 1]
    best = result.best[0]["params"]
    for final in result.final_runs:
        assert final.params["lr"] == best["lr"] and final.params["mmd_scale"] == best["mmd_scale"]
    run(RunConfig("toy", "twostage", budget="smoke", progress=False, plots=False,
                  cache_dir=str(tmp_path / "cache"), results_dir=str(tmp_path / "results"),
                  params=dict(SMALL)), host=host)
    rows = ResultsStore(tmp_path / "results").read()
    tuned = rows[rows["tuning_study"].notna()]
    assert set(tuned["tuning_study"]) == {"toy-twostage-smoke"}
    assert set(tuned["tuning_trials"]) == {2} and tuned["run_id"].nunique() == 2
    assert rows["tuning_study"].isna().sum() > 0  # the untuned run
    labels = set(labelled(rows[rows["candidate"] == "refined"])["label"])
    assert labels == {"twostage (tuned, 2 trials)", "twostage"}


@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_pruning_stops_bad_trials_and_keeps_them_as_pruned(tmp_path, host, pruner):
    from optuna.trial import TrialState

    result = tune(config(tmp_path, refiner="steady", trials=12, pruner=pruner), host=host)
    study = load(result, tmp_path)
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(pruned) + len(complete) == 12 and pruned, result.counts
    summary = json.loads(result.summary_path.read_text())
    assert summary["pruned_share"] == len(pruned) / 12 and summary["wall_seconds"] > 0
    best_badness = min(t.params["badness"] for t in complete)
    for trial in pruned:
        assert "fit_seconds" not in trial.user_attrs  # stopped inside fit, never measured
        assert sorted(trial.intermediate_values) == list(range(len(trial.intermediate_values)))
        assert trial.params["badness"] > best_badness
    assert "pruning: " + pruner in result.pruning


def test_wall_time_counts_the_time_trials_ran_not_a_pause_between_sessions():
    import datetime as dt

    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import FrozenTrial, TrialState

    from perfekt_bench.study_report import busy_seconds

    t0 = dt.datetime(2026, 11, 30, 22, 0)

    def trial(number, state, start, seconds):
        return FrozenTrial(number=number, state=state, value=1.0 if state is TrialState.COMPLETE
                           else None, values=None, datetime_start=t0 + dt.timedelta(seconds=start),
                           datetime_complete=t0 + dt.timedelta(seconds=start + seconds),
                           params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
                           user_attrs={}, system_attrs={}, intermediate_values={}, trial_id=number)

    study = optuna.create_study()
    assert busy_seconds(study) is None
    # first session: two workers, overlapping trials 0-100 s and 50-160 s
    study.add_trial(trial(0, TrialState.COMPLETE, 0, 100))
    study.add_trial(trial(1, TrialState.PRUNED, 50, 110))
    # a trial whose worker was killed, marked failed when the study resumed two hours later
    study.add_trial(trial(2, TrialState.FAIL, 120, 7200))
    # second session: one trial inside another
    study.add_trial(trial(3, TrialState.COMPLETE, 7300, 300))
    study.add_trial(trial(4, TrialState.COMPLETE, 7400, 60))
    assert busy_seconds(study) == pytest.approx(160 + 300)


def test_several_objectives_give_a_pareto_front_and_no_pruning(tmp_path, host):
    result = tune(config(tmp_path, trials=4, objectives=["mmd", "mse"], plots=True), host=host)
    assert "cannot prune" in result.pruning
    assert result.study == "toy-twostage-smoke-mmd+mse"
    study = load(result, tmp_path)
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert all(not t.intermediate_values for t in study.trials)
    front = [(b["values"]["mmd"], b["values"]["mse"]) for b in result.best]
    assert front and all(not (o[0] <= p[0] and o[1] <= p[1] and o != p)
                         for p in front for o in front)
    assert (result.folder / "pareto_front.png").is_file()


def test_a_measure_as_objective(tmp_path, host):
    result = tune(config(tmp_path, refiner="steady", trials=2, objectives=["fit_seconds"],
                         pruner="none"), host=host)
    study = load(result, tmp_path)
    for trial in study.trials:
        assert trial.value == trial.user_attrs["fit_seconds"]
    assert result.objectives[0].direction == "minimize"


def test_latency_as_an_objective_where_the_run_path_measures_it(tmp_path, host):
    """Latency metrics (CONTRACTS item 1) are objectives once perfekt_bench.latency exists."""
    latency = pytest.importorskip("perfekt_bench.latency")
    result = tune(config(tmp_path, refiner="steady", trials=2, pruner="none",
                         objectives=["mmd", "latency_p50_ms"]), host=host)
    directions = {o.name: o.lower_is_better for o in result.objectives}
    assert directions == {"mmd": True, "latency_p50_ms": latency.LATENCY_METRICS[
        "latency_p50_ms"]}
    assert all(b["values"]["latency_p50_ms"] > 0 for b in result.best)


def test_refusals_come_before_any_data(tmp_path, host):
    cases = [
        (dict(objectives=["nope"]), UnknownNameError,
         r"unknown objective 'nope'.*fit_seconds.*mmd"),
        (dict(objectives=["fpd"]), IncompatibleError, "not measured on task 'toy'"),
        (dict(objectives=["mmd", "mmd"]), ConfigurationError, "given twice"),
        (dict(refiner="identity"), ConfigurationError, "no hyperparameter to search"),
        (dict(refiner="shift"), ConfigurationError, "declares no hyperparameters"),
        (dict(refiner="steady", params={"badness": 0.1}), ConfigurationError,
         r"all of them fixed by --set: badness"),
        (dict(params={"lr": -1}), ConfigurationError, "lr=-1"),
        (dict(trials=0), ConfigurationError, "--trials must be at least 1"),
        (dict(final_trial=3), ConfigurationError, "give --final-seeds too"),
    ]
    for options, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            tune(config(tmp_path, **options), host=host)
    assert not (tmp_path / "cache").exists()


def test_a_study_is_continued_only_with_its_own_settings(tmp_path, host):
    tune(config(tmp_path, refiner="steady", trials=1, seed=0), host=host)
    with pytest.raises(ConfigurationError, match=r"study 'toy-steady-smoke' was started with "
                                                 r"other settings \(seed: 0 then, 1 now\)"):
        tune(config(tmp_path, refiner="steady", trials=2, seed=1), host=host)
    other = tune(config(tmp_path, refiner="steady", trials=1, seed=1, study="again"), host=host)
    assert other.study == "again" and other.counts == {"complete": 1}


class Doubling(FeatureTransform):
    """x → 2x (a stand-in for a task's pre-processing)."""

    name = "doubling"

    def forward_g(self, g):
        return g

    def forward_x(self, x):
        return 2 * x

    def inverse_x(self, z):
        return z / 2

    def names(self, names):
        return names


def test_transformed_refiner_passes_the_report_on():
    train, validation = make_triplets(256, seed=1), make_triplets(128, seed=2)
    calls = []
    wrapped = TransformedRefiner(Steady(epochs=3), Doubling())
    assert wrapped.reports_epochs()
    wrapped.fit(train, validation, report=lambda e, v: calls.append(e))
    assert calls == [0, 1, 2]
    plain = TransformedRefiner(Shift(), Doubling())  # its fit takes no report
    assert not plain.reports_epochs()
    plain.fit(train, validation, report=lambda e, v: calls.append(e))
    assert calls == [0, 1, 2]
