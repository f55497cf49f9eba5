"""FPD and KPD (arXiv:2211.10295) as jetnet computes them, on weighted candidates too."""

import builtins
import math
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from perfekt_bench import ConfigurationError, FeatureNames, IncompatibleError, Sample
from perfekt_bench_plugins.metrics import FrechetPhysicsDistance, KernelPhysicsDistance
from perfekt_bench_plugins.metrics.physics_distance import (
    SMALL_SAMPLE_WARNING,
    import_jetnet_evaluation,
)

NAMES = FeatureNames(g=("g",), x=("B", "CvB", "CvL", "QG"), h=())
N = 20_000
SHIFT = 0.05
#: the two components of the Beta mixture standing in for DeepJet discriminators
COMPONENTS = ((2.0, 5.0), (5.0, 2.0))


def beta_mixture(n: int, seed: int) -> np.ndarray:
    """n × 4 points in [0, 1]: an equal mixture of two products of Beta distributions."""
    rng = np.random.default_rng(seed)
    first = rng.random(n) < 0.5
    (a1, b1), (a2, b2) = COMPONENTS
    return np.where(first[:, None], rng.beta(a1, b1, (n, 4)), rng.beta(a2, b2, (n, 4)))


def mixture_density(x: np.ndarray) -> np.ndarray:
    return 0.5 * sum(stats.beta.pdf(x, a, b).prod(axis=1) for a, b in COMPONENTS)


def sample(x: np.ndarray, weight: np.ndarray | None = None) -> Sample:
    n = len(x)
    return Sample(np.zeros((n, 1)), x, np.zeros((n, 0)), NAMES, weight)


def shifted(x: np.ndarray) -> np.ndarray:
    out = x.copy()
    out[:, 0] += SHIFT
    return out


@pytest.fixture(scope="module")
def arrays():
    return {"reference": beta_mixture(N, seed=1), "same": beta_mixture(N, seed=2),
            "shifted": shifted(beta_mixture(N, seed=3))}


@pytest.fixture(scope="module")
def fpd_values(arrays):
    metric = FrechetPhysicsDistance()
    return {name: metric.compute(sample(arrays[name]), sample(arrays["reference"]),
                                 settings=None) for name in ("same", "shifted")}


@pytest.fixture(scope="module")
def kpd_values(arrays):
    metric = KernelPhysicsDistance()
    return {name: metric.compute(sample(arrays[name]), sample(arrays["reference"]),
                                 settings=None) for name in ("same", "shifted")}


def test_jetnet_evaluation_imports():
    try:
        import jetnet.evaluation  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"`import jetnet.evaluation` fails ({exc}): follow the README's set-up, "
                    "which puts wasserstein 1.1.0 in with `pip install --no-deps "
                    "wasserstein==1.1.0`")


def test_fpd_equals_jetnet(arrays, fpd_values):
    je = import_jetnet_evaluation()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=SMALL_SAMPLE_WARNING, category=RuntimeWarning)
        value, error = je.fpd(arrays["reference"], arrays["same"])
    assert (fpd_values["same"].value, fpd_values["same"].error) == (value, error)


@pytest.mark.slow
def test_kpd_equals_jetnet(arrays, kpd_values):
    value, error = import_jetnet_evaluation().kpd(arrays["reference"], arrays["same"])
    assert (kpd_values["same"].value, kpd_values["same"].error) == (value, error)


def test_fpd_sees_a_shift_and_not_a_second_sample(fpd_values):
    same, moved = fpd_values["same"], fpd_values["shifted"]
    # the intercept keeps the bias of two finite halves (~tr Σ·(1/n₁ + 1/n₂)), which the fit
    # error does not cover: two independent samples of 20 000 land 2–3 errors above 0
    assert same.value < 4 * same.error
    assert moved.value > 10 * same.value and moved.value > 10 * moved.error


@pytest.mark.slow
def test_kpd_sees_a_shift_and_not_a_second_sample(kpd_values):
    same, moved = kpd_values["same"], kpd_values["shifted"]
    assert abs(same.value) <= 3 * same.error
    assert moved.value > 10 * max(abs(same.value), same.error)


def test_only_the_small_sample_warning_is_silenced(arrays, monkeypatch):
    je = import_jetnet_evaluation()

    def fpd(real, generated, **kwargs):
        warnings.warn("Recommended number of samples for FPD estimation is 50,000",
                      RuntimeWarning, stacklevel=2)
        warnings.warn("something else", RuntimeWarning, stacklevel=2)
        return 0.0, 0.0

    monkeypatch.setattr(je, "fpd", fpd)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        FrechetPhysicsDistance().compute(sample(arrays["same"]), sample(arrays["reference"]),
                                         settings=None)
    assert [str(w.message) for w in caught] == ["something else"]


def test_jetnet_gets_the_reference_as_real_and_one_weighted_resample(arrays, monkeypatch):
    je = import_jetnet_evaluation()
    calls = []

    def record(real, generated, **kwargs):
        calls.append((real, generated, kwargs))
        return 1.0, 0.0

    monkeypatch.setattr(je, "fpd", record)
    monkeypatch.setattr(je, "kpd", record)
    x = arrays["same"].astype(np.float32)
    weight = np.where(x[:, 0] > 0.5, 3.0, 1.0)
    candidate, reference = sample(x, weight), sample(arrays["reference"].astype(np.float32))
    for metric in (FrechetPhysicsDistance(), KernelPhysicsDistance()):
        assert metric.compute(candidate, reference, settings=None).value == 1.0
    (real, fpd_gen, fpd_kw), (_, kpd_gen, kpd_kw) = calls
    assert real.dtype == fpd_gen.dtype == np.float64 and np.array_equal(real, reference.x)
    assert fpd_kw == kpd_kw == {"seed": 42}
    assert np.array_equal(fpd_gen, kpd_gen) and fpd_gen.shape == x.shape
    # a row of the resample is a row of the candidate, drawn in proportion to its weight
    assert np.isin(fpd_gen[:, 0], x[:, 0].astype(np.float64)).all()
    high = (fpd_gen[:, 0] > 0.5).mean()
    expected = 3 * (x[:, 0] > 0.5).sum() / weight.sum()
    assert high == pytest.approx(expected, abs=0.02)


def test_weights_bring_a_uniform_candidate_back_to_the_reference(arrays):
    uniform = np.random.default_rng(4).random((N, 4))
    reference = sample(arrays["reference"])
    metric = FrechetPhysicsDistance()
    unweighted = metric.compute(sample(uniform), reference, settings=None)
    weighted = metric.compute(sample(uniform, mixture_density(uniform)), reference,
                              settings=None)
    assert weighted.value < unweighted.value / 10


def test_non_finite_weights_give_nan(arrays):
    weight = np.ones(N)
    weight[7] = np.nan
    value = FrechetPhysicsDistance().compute(sample(arrays["same"], weight),
                                             sample(arrays["reference"]), settings=None)
    assert math.isnan(value.value) and math.isnan(value.error)


@pytest.mark.parametrize("weight", [-np.ones(N), np.r_[-1.0, np.ones(N - 1)], np.zeros(N)],
                         ids=["negative-sum", "one-negative", "zero-sum"])
def test_weights_that_are_no_distribution_are_refused(arrays, weight):
    with pytest.raises(IncompatibleError, match="non-negative weights"):
        KernelPhysicsDistance().compute(sample(arrays["same"], weight),
                                        sample(arrays["reference"]), settings=None)


@pytest.mark.parametrize("metric_cls", [FrechetPhysicsDistance, KernelPhysicsDistance])
def test_measured_where_a_task_opts_in(metric_cls, host):
    """Expensive metrics are measured only on tasks whose yardstick lists them (deepjet):
    the metric does not branch on task names."""
    metric = metric_cls()
    assert metric.opt_in
    assert metric.applies_to(host.task("deepjet"))
    assert not metric.applies_to(host.task("analytic"))
    assert not metric.applies_to(host.task("jets"))

    def task(opt_in):
        settings = SimpleNamespace(opt_in_metrics=opt_in)
        return SimpleNamespace(paired=True, feature_names=SimpleNamespace(h=("h",)),
                               evaluation=lambda: settings)

    assert metric.applies_to(task((metric.name,)))
    assert not metric.applies_to(task(()))


def _broken_wasserstein(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("jetnet"):
            raise ImportError("numpy.core.multiarray failed to import")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def _blocked_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "jetnet.evaluation", None)


@pytest.mark.parametrize("breakage", [_broken_wasserstein, _blocked_module],
                         ids=["numpy1-wasserstein", "blocked"])
def test_a_broken_jetnet_install_says_how_to_fix_it(breakage, arrays, monkeypatch):
    breakage(monkeypatch)
    with pytest.raises(ConfigurationError) as info:
        FrechetPhysicsDistance().compute(sample(arrays["same"]), sample(arrays["reference"]),
                                         settings=None)
    message = str(info.value)
    assert "pip install --no-deps wasserstein==1.1.0" in message
    assert "numpy<2" in message and "README" in message
    if breakage is _broken_wasserstein:
        assert "numpy.core.multiarray failed to import" in message
