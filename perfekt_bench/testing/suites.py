"""The conformance suites (pytest classes) behind :mod:`perfekt_bench.testing`."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from ..budgets import BUDGETS
from ..cache import DataCache
from ..data import Sample, Triplets
from ..hyperparameters import check_params, declaration_problems, declared, suggest, tuned
from ..metric import Metric, MetricValue
from ..refiner import Refiner
from ..task import Task
from ..yardstick import EvaluationSettings
from .toys import make_triplets, toy_settings


class RefinerTestCase:
    """The contract of :class:`perfekt_bench.Refiner`. Override the ``refiner`` fixture:
    return an unfitted instance with settings small enough to fit in about a second."""

    @pytest.fixture
    def refiner(self) -> Refiner:
        raise NotImplementedError("override the 'refiner' fixture")

    @pytest.fixture
    def data(self) -> tuple[Triplets, Triplets]:
        return make_triplets(1024, seed=1), make_triplets(512, seed=2)

    def _clone(self, refiner: Refiner) -> Refiner:
        return type(refiner)(**refiner.get_params())

    def test_declares_itself(self, refiner):
        cls = type(refiner)
        assert isinstance(cls.name, str) and cls.name
        assert isinstance(cls.needs_pairs, bool)
        assert isinstance(cls.outputs_weights, bool)
        assert {"seed", "device"} <= set(cls.param_names())

    def test_params_round_trip_through_constructor(self, refiner):
        params = refiner.get_params()
        assert self._clone(refiner).get_params() == params

    def test_budget_defaults_are_hyperparameters(self, refiner):
        for budget in BUDGETS:
            unknown = set(type(refiner).defaults(budget)) - set(type(refiner).param_names())
            assert not unknown, f"defaults({budget!r}) names unknown hyperparameters {unknown}"

    # -- the hyperparameter declarations (skipped for a refiner that declares none) --------

    def _declared(self, refiner) -> type[Refiner]:
        cls = type(refiner)
        if declared(cls) is None:
            pytest.skip(f"refiner {cls.name!r} declares no hyperparameters")
        return cls

    def test_declarations_are_sound(self, refiner):
        """Every constructor argument declared once; budget values, constructor defaults and
        search ranges inside the allowed values."""
        cls = self._declared(refiner)
        assert declaration_problems(cls) == []

    def test_budget_values_pass_their_declarations(self, refiner):
        cls = self._declared(refiner)
        for budget in BUDGETS:
            check_params(cls, cls.defaults(budget), source=f"defaults({budget!r})")
        check_params(cls, cls.tiny_params(), source="tiny_params()")

    def test_search_range_ends_pass_their_declarations(self, refiner):
        cls = self._declared(refiner)
        for end in ("low", "high"):
            point = {hp.name: (getattr(hp.search, end) if not hp.search.choices
                               else hp.search.choices[0 if end == "low" else -1])
                     for hp in tuned(cls)}
            check_params(cls, point, source=f"the search's {end} ends")

    def test_sampled_point_fits(self, refiner, data):
        """Points Optuna samples from the declared search space are valid values, and the
        refiner trains at one of them (on the tiny settings for everything not searched)."""
        import optuna

        cls = self._declared(refiner)
        searched = tuned(cls)
        if not searched:
            pytest.skip(f"refiner {cls.name!r} searches no hyperparameter")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        points = [suggest(study.ask(), searched) for _ in range(3)]
        for point in points:
            assert set(point) == {hp.name for hp in searched}
            check_params(cls, point, source="a sampled point")
        sampled = cls(**cls.tiny_params() | points[0]).fit(*data)
        out = sampled.refine(data[1].x_fast, data[1].g)
        assert np.isfinite(out.x).all()

    def test_fit_reports_epochs(self, refiner, data):
        """A refiner whose ``fit`` takes ``report`` calls it once per epoch with a number, and
        an exception raised by ``report`` (how ``tune`` prunes) stops ``fit``."""
        if not refiner.reports_epochs():
            pytest.skip(f"refiner {type(refiner).name!r} reports no epochs")
        calls = []
        refiner.fit(*data, report=lambda epoch, value: calls.append((epoch, value)))
        assert calls, "fit took a report but never called it"
        epochs = [epoch for epoch, _ in calls]
        assert all(isinstance(e, int) for e in epochs) and epochs == sorted(set(epochs))
        assert all(isinstance(v, float) for _, v in calls)

        class Stop(Exception):
            pass

        def stop(epoch, value):
            raise Stop

        with pytest.raises(Stop):
            self._clone(refiner).fit(*data, report=stop)

    def test_fit_returns_self_and_keeps_params(self, refiner, data):
        before = refiner.get_params()
        assert refiner.fit(*data) is refiner
        assert refiner.get_params() == before
        assert isinstance(refiner.history_, list)
        assert all(isinstance(record, dict) for record in refiner.history_)

    def test_refine_output(self, refiner, data):
        train, validation = data
        refiner.fit(train, validation)
        out = refiner.refine(validation.x_fast, validation.g)
        assert out.x.shape == validation.x_fast.shape
        assert np.isfinite(out.x).all()
        if type(refiner).outputs_weights:
            assert out.weight is not None and out.weight.shape == (len(validation),)
            assert np.isfinite(out.weight).all() and (out.weight >= 0).all()
        one = refiner.refine(validation.x_fast[:1], validation.g[:1])
        np.testing.assert_allclose(one.x, out.x[:1], rtol=1e-5, atol=1e-6)

    def test_same_seed_same_result(self, refiner, data):
        train, validation = data
        first = self._clone(refiner).fit(train, validation).refine(validation.x_fast,
                                                                   validation.g)
        second = self._clone(refiner).fit(train, validation).refine(validation.x_fast,
                                                                    validation.g)
        np.testing.assert_array_equal(first.x, second.x)
        if first.weight is not None:
            np.testing.assert_array_equal(first.weight, second.weight)

    def test_save_and_load(self, refiner, data, tmp_path):
        train, validation = data
        refiner.fit(train, validation)
        refiner.save(tmp_path / "model")
        loaded = type(refiner).load(tmp_path / "model")
        assert loaded.get_params() == refiner.get_params()
        np.testing.assert_array_equal(loaded.refine(validation.x_fast, validation.g).x,
                                      refiner.refine(validation.x_fast, validation.g).x)

    def test_export_reproduces_refine(self, refiner, data):
        """A refiner that offers :meth:`~perfekt_bench.Refiner.export_module` gives an ONNX
        graph that ONNX Runtime runs to the refiner's own numbers, for any batch size."""
        from ..errors import IncompatibleError
        from ..export import RTOL, OnnxRefiner, compare, onnx_model

        train, validation = data
        refiner.fit(train, validation)
        try:
            model = onnx_model(refiner, validation.x_fast, validation.g)
        except IncompatibleError as err:
            assert "\n" not in str(err), "say why it cannot export in one line"
            pytest.skip(f"{type(refiner).name} does not export: {err}")
        check = compare(model, refiner, validation.x_fast, validation.g)
        assert check.n == len(validation) and check.max_rel <= RTOL, str(check)
        one = OnnxRefiner(model).refine(validation.x_fast[:1], validation.g[:1])
        full = refiner.refine(validation.x_fast[:1], validation.g[:1])
        np.testing.assert_allclose(one.x, full.x, rtol=RTOL, atol=1e-6)
        if type(refiner).outputs_weights:
            np.testing.assert_allclose(one.weight, full.weight, rtol=RTOL)

    def test_pickles(self, refiner, data):
        train, validation = data
        refiner.fit(train, validation)
        clone = pickle.loads(pickle.dumps(refiner))
        np.testing.assert_array_equal(clone.refine(validation.x_fast, validation.g).x,
                                      refiner.refine(validation.x_fast, validation.g).x)


class TaskTestCase:
    """The contract of :class:`perfekt_bench.Task`. Override the ``task`` fixture (and
    ``size`` for a task that needs more objects to fill its splits)."""

    @pytest.fixture
    def task(self) -> Task:
        raise NotImplementedError("override the 'task' fixture")

    @pytest.fixture
    def size(self) -> int:
        return 2000

    def test_declares_itself(self, task):
        assert isinstance(task.name, str) and task.name
        assert isinstance(task.paired, bool)
        assert set(BUDGETS) <= set(task.sizes)
        card = task.data_card()
        assert card["name"] == task.name and card["version"] == task.version

    def test_splits(self, task, size, tmp_path):
        splits = DataCache(tmp_path).load(task, size, seed=0)
        parts = (splits.train, splits.validation, splits.test)
        assert sum(len(p) for p in parts) == size
        for part, fraction in zip(parts, task.split_fractions, strict=True):
            assert abs(len(part) - fraction * size) <= 1
            assert part.names == task.feature_names
            assert part.paired == task.paired
            for group in ("g", "x_fast", "x_full", "h_fast", "h_full"):
                assert getattr(part, group).dtype == np.float32
                assert np.isfinite(getattr(part, group)).all()

    def test_deterministic_and_cached(self, task, size, tmp_path):
        first = DataCache(tmp_path / "a").load(task, size, seed=0)
        second = DataCache(tmp_path / "b").load(task, size, seed=0)
        cached = DataCache(tmp_path / "a").load(task, size, seed=0)
        for other in (second, cached):
            np.testing.assert_array_equal(first.test.x_fast, other.test.x_fast)
            np.testing.assert_array_equal(first.train.x_full, other.train.x_full)
        assert first.key == second.key

    def test_seed_changes_data(self, task, size, tmp_path):
        a = DataCache(tmp_path).load(task, size, seed=0)
        b = DataCache(tmp_path).load(task, size, seed=1)
        assert a.key != b.key
        assert not np.array_equal(a.train.x_fast, b.train.x_fast)

    def test_evaluation_settings_fit_the_features(self, task):
        settings = task.evaluation()
        names = task.feature_names
        assert settings.batch_size > 0
        assert len(settings.mmd_bandwidths) == len(names.x)
        assert all(b > 0 for b in settings.mmd_bandwidths)
        assert len(settings.chi2_bins) == len(names.x)
        for edges in settings.chi2_bins:
            assert len(edges) >= 2 and np.all(np.diff(edges) > 0)
        for col in settings.omniscient + settings.conditional:
            assert col.name in names.of_group(col.group), col
            assert col.bandwidth > 0 and col.transform in (None, "log10")
            assert col.minus is None or col.minus in names.g, col
        if settings.closure is not None:
            assert callable(settings.closure.resolve()), settings.closure


class MetricTestCase:
    """The contract of :class:`perfekt_bench.Metric`. Override the ``metric`` fixture."""

    @pytest.fixture
    def metric(self) -> Metric:
        raise NotImplementedError("override the 'metric' fixture")

    @pytest.fixture
    def settings(self) -> EvaluationSettings:
        return toy_settings()

    @pytest.fixture
    def samples(self) -> dict[str, Sample]:
        """fullsim reference, an independent fullsim sample, fastsim and its paired target."""
        ref = make_triplets(1024, seed=10)
        other = make_triplets(1024, seed=11)
        return {"reference": ref.full, "same": other.full, "fast": other.fast,
                "target": other.full}

    def _compute(self, metric, candidate, samples, settings, target=None) -> MetricValue:
        value = metric.compute(candidate, samples["reference"], settings=settings,
                               target=target)
        assert isinstance(value, MetricValue)
        return value

    def test_declares_itself(self, metric):
        assert isinstance(metric.name, str) and metric.name
        assert isinstance(metric.lower_is_better, bool)
        assert isinstance(metric.needs_pairs, bool)
        assert isinstance(metric.opt_in, bool)

    def test_made_without_arguments(self, metric):
        """The harness instantiates every metric as ``MetricClass()``."""
        assert type(metric)().name == metric.name

    def test_value_and_error(self, metric, samples, settings):
        value = self._compute(metric, samples["fast"], samples, settings, samples["target"])
        assert math.isfinite(value.value)
        assert math.isnan(value.error) or value.error >= 0

    def test_fastsim_is_worse_than_fullsim(self, metric, samples, settings):
        if not metric.measures_distance:
            pytest.skip("metric does not measure a distance to fullsim")
        fast = self._compute(metric, samples["fast"], samples, settings, samples["target"])
        if metric.needs_pairs:
            full = self._compute(metric, samples["target"], samples, settings,
                                 samples["target"])
        else:
            full = self._compute(metric, samples["same"], samples, settings)
        worse = fast.value > full.value if metric.lower_is_better else fast.value < full.value
        assert worse, f"fastsim {fast} should be worse than fullsim {full}"

    def test_deterministic(self, metric, samples, settings):
        a = self._compute(metric, samples["fast"], samples, settings, samples["target"])
        b = self._compute(metric, samples["fast"], samples, settings, samples["target"])
        assert a == b or (math.isnan(a.error) and a.value == b.value)

    def test_pairs_needed_and_absent(self, metric, samples, settings):
        if not metric.needs_pairs:
            pytest.skip("metric does not need pairs")
        assert metric.compute(samples["fast"], samples["reference"], settings=settings,
                              target=None) is None
