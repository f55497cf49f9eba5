"""The built-in metrics against hand computations."""

import math

import numpy as np
import pytest

from perfekt_bench import EvaluationSettings, FeatureNames, OmniscientColumn, Sample
from perfekt_bench_plugins.metrics import (
    MMD,
    Chi2PerNdof,
    CorrelationDifference,
    MeanSquaredError,
    OmniscientMMD,
)
from perfekt_bench_plugins.metrics.binned import chi2_ndof
from perfekt_bench_plugins.metrics.distribution import omniscient_columns

NAMES = FeatureNames(g=("g",), x=("x",), h=("mass",))


def sample(x, h=None, g=None, weight=None):
    x = np.asarray(x, dtype=np.float32).reshape(-1, 1)
    h = np.ones_like(x) if h is None else np.asarray(h, np.float32).reshape(-1, 1)
    g = np.zeros_like(x) if g is None else np.asarray(g, np.float32).reshape(-1, 1)
    return Sample(g, x, h, NAMES, weight)


def settings(batch_size=4, edges=(0.0, 1.0, 2.0), omniscient=None):
    return EvaluationSettings(batch_size, (1.0,), omniscient or (OmniscientColumn("x", "x", 1.0),),
                              (edges,))


def test_chi2_by_hand():
    # candidate counts per bin (under, [0,1), [1,2), over) = (0, 3, 1, 0); reference (0, 1, 3, 0)
    chi2, ndof = chi2_ndof(np.array([0.5, 0.5, 0.5, 1.5]), np.array([0.5, 1.5, 1.5, 1.5]),
                           np.array([0.0, 1.0, 2.0]))
    expected = 2 * (0.75 - 0.25) ** 2 / (3 / 16 + 1 / 16)
    assert ndof == 2 and chi2 == pytest.approx(expected)


def test_chi2_counts_the_tails_outside_the_binning():
    inside = np.full(100, 0.5)
    chi2_in, _ = chi2_ndof(inside, inside, np.array([0.0, 1.0]))
    chi2_out, ndof = chi2_ndof(np.r_[inside[:90], np.full(10, 7.0)], inside,
                               np.array([0.0, 1.0]))
    assert chi2_in == 0 and chi2_out > 5 and ndof == 2


def test_chi2_metric_error_follows_noncentral_chi2():
    cand, ref = sample([0.5, 0.5, 0.5, 1.5]), sample([0.5, 1.5, 1.5, 1.5])
    value = Chi2PerNdof().compute(cand, ref, settings=settings())
    chi2 = 2 * 0.25 / 0.25
    assert value.value == pytest.approx(chi2 / 2)
    assert value.error == pytest.approx(math.sqrt(2 * (2 + 2 * (chi2 - 2))) / 2)


def test_mse_is_mean_squared_distance_with_batch_spread():
    cand, target = sample([0, 0, 0, 0, 1, 1, 1, 1]), sample([1, 1, 1, 1, 1, 1, 1, 1])
    value = MeanSquaredError().compute(cand, target, settings=settings(), target=target)
    assert value.value == pytest.approx(0.5)
    assert value.error == pytest.approx(np.std([1.0, 0.0], ddof=1))


def test_weights_enter_mmd():
    rng = np.random.default_rng(0)
    ref = sample(rng.normal(size=400))
    cand_x = np.r_[rng.normal(size=200), rng.normal(3, 1, size=200)]
    plain = MMD().compute(sample(cand_x), ref, settings=settings(batch_size=400)).value
    w = np.r_[np.ones(200), np.zeros(200)]
    weighted = MMD().compute(sample(cand_x, weight=w), ref, settings=settings(batch_size=400))
    assert weighted.value < plain / 5


def test_omniscient_columns_apply_log10():
    s = sample([1.0, 2.0], h=[10.0, 1000.0])
    cols = omniscient_columns(s, settings(omniscient=(
        OmniscientColumn("x", "x", 1.0), OmniscientColumn("h", "mass", 1.0, "log10"))))
    np.testing.assert_allclose(cols, [[1.0, 1.0], [2.0, 3.0]])


def test_omniscient_mmd_sees_broken_hidden_correlation():
    rng = np.random.default_rng(1)
    h = rng.normal(size=2048)
    ref = sample(h + 0.1 * rng.normal(size=2048), h=h)
    scrambled = sample(rng.permutation(ref.x[:, 0]), h=h)  # same x marginal, no correlation
    omni = settings(batch_size=2048, omniscient=(OmniscientColumn("x", "x", 1.0),
                                                 OmniscientColumn("h", "mass", 1.0)))
    h2 = rng.normal(size=2048)
    fresh = sample(h2 + 0.1 * rng.normal(size=2048), h=h2)  # same distribution, independent
    floor = OmniscientMMD().compute(fresh, ref, settings=omni).value
    assert MMD().compute(scrambled, ref, settings=omni).value < 0.01
    assert OmniscientMMD().compute(scrambled, ref, settings=omni).value > 20 * floor
    assert CorrelationDifference().compute(scrambled, ref, settings=omni).value > 0.9


def test_log10_omniscient_column_of_a_massless_jet_stays_finite():
    from perfekt_bench import EvaluationSettings, FeatureNames, OmniscientColumn, Sample
    from perfekt_bench_plugins.metrics.distribution import LOG10_FLOOR, omniscient_columns

    names = FeatureNames(g=("g",), x=("x",), h=("mass",))
    sample = Sample(g=np.ones((3, 1)), x=np.ones((3, 1)),
                    h=np.array([[0.0], [1e-5], [173.0]]), names=names)
    settings = EvaluationSettings(batch_size=3, mmd_bandwidths=(1.0,), chi2_bins=((0.0, 1.0),),
                                  omniscient=(OmniscientColumn("h", "mass", 0.2, "log10"),))
    values = omniscient_columns(sample, settings)[:, 0]
    np.testing.assert_allclose(values, [np.log10(LOG10_FLOOR)] * 2 + [np.log10(173.0)])
