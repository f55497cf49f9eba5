"""Downstream closure: the measurements each task publishes, their uncertainties, the pull
metric, and how the yardstick carries them."""

import json
import math

import numpy as np
import pytest

from perfekt_bench import (
    DownstreamClosure,
    EvaluationSettings,
    FeatureNames,
    Measurement,
    Pull,
    Sample,
    efficiency,
)
from perfekt_bench.plugins import default_host
from perfekt_bench.testing.toys import toy_settings
from perfekt_bench_plugins.metrics import ClosurePull
from perfekt_bench_tasks.analytic import FULLSIM_TEMPLATES, small_population_fraction
from perfekt_bench_tasks.deepjet.closure import WORKING_POINTS, btag_rates, reduce_mantissa
from perfekt_bench_tasks.jets.closure import working_point_rates


def test_efficiency_and_its_binomial_error():
    passed = np.array([1, 1, 1, 0] * 25, dtype=bool)
    value, error = efficiency(passed)
    assert value == 0.75 and error == pytest.approx(math.sqrt(0.75 * 0.25 / 100))
    # integer weights count objects: the same as repeating them
    w = np.array([2.0, 1.0, 1.0, 1.0] * 25)
    repeated = np.array([1, 1, 1, 1, 0] * 25, dtype=bool)
    assert efficiency(passed, w)[0] == pytest.approx(efficiency(repeated)[0])
    # none passing: zero, with the error of half an object rather than none
    value, error = efficiency(np.zeros(100, dtype=bool))
    assert value == 0 and 0 < error < 0.01
    assert all(math.isnan(v) for v in efficiency(np.zeros(0, dtype=bool)))


def test_pull_is_the_difference_over_the_combined_error():
    pull = Pull("q", Measurement("q", 0.5, 0.03), Measurement("q", 0.46, 0.04))
    assert pull.pull == pytest.approx(0.8)
    assert Pull("q", Measurement("q", 1.0, 0.0), Measurement("q", 1.0, 0.0)).pull == 0
    assert Pull("q", Measurement("q", 1.0, 0.0), Measurement("q", 0.0, 0.0)).pull == math.inf


def test_closure_travels_with_the_yardstick_document():
    settings = default_host().task("deepjet").evaluation()
    doc = json.loads(json.dumps(settings.to_dict()))
    back = EvaluationSettings.from_dict(doc)
    assert back == settings
    assert back.closure.resolve() is btag_rates
    assert back.conditional == settings.conditional and back.conditional[-1].name == "QG"
    old = {k: v for k, v in doc.items() if k not in ("closure", "conditional")}
    assert EvaluationSettings.from_dict(old).closure is None  # run folders written before
    with pytest.raises(ValueError, match="no_such_module"):
        DownstreamClosure("no_such_module:f").resolve()


def mixture(n, fraction, seed):
    rng = np.random.default_rng(seed)
    small = rng.random(n) < fraction
    (m_l, v_l), (m_s, v_s) = FULLSIM_TEMPLATES["large"], FULLSIM_TEMPLATES["small"]
    x = np.where(small, rng.normal(m_s, math.sqrt(v_s), n), rng.normal(m_l, math.sqrt(v_l), n))
    names = FeatureNames(g=("x_gen",), x=("x",), h=("h",))
    column = x.astype(np.float32)[:, None]
    return Sample(np.zeros_like(column), column, np.zeros_like(column), names)


def test_template_fit_recovers_the_fraction_with_an_honest_error():
    fits = [small_population_fraction(mixture(4000, 0.15, seed), **FULLSIM_TEMPLATES)[0]
            for seed in range(40)]
    values = np.array([f.value for f in fits])
    errors = np.array([f.error for f in fits])
    assert values.mean() == pytest.approx(0.15, abs=0.003)
    # the quoted uncertainty is the spread of the fitted values over independent samples
    assert errors.mean() == pytest.approx(values.std(ddof=1), rel=0.3)
    assert fits[0].name == "small-population fraction"


def test_template_fit_weights_and_boundaries():
    sample = mixture(20_000, 0.3, 1)
    small = sample.x[:, 0] > 2.0
    dropped = Sample(sample.g, sample.x, sample.h, sample.names, np.where(small, 0.0, 1.0))
    assert small_population_fraction(dropped, **FULLSIM_TEMPLATES)[0].value < 0.05
    # all objects far below the small template: the fraction sits on its boundary, 0
    below = Sample(sample.g, sample.x - 10, sample.h, sample.names)
    assert small_population_fraction(below, **FULLSIM_TEMPLATES)[0].value == 0.0


def test_reduce_mantissa_is_cmssws_rounding():
    x = np.array([0.0490, 0.2783, 0.71, 0.123456789, 0.0, 3.0, 1.0], np.float32)
    # round half up to 10 bits: float16's value for these
    np.testing.assert_array_equal(reduce_mantissa(x, 10), x.astype(np.float16).astype(np.float32))
    # a mantissa at 2^10 − 2 or above is truncated, not carried into the exponent
    np.testing.assert_array_equal(reduce_mantissa(np.array([0.99999, 0.9995], np.float32), 10),
                                  np.array([1 - 2**-11, 1 - 2 * 2**-11], np.float32))
    assert reduce_mantissa(np.array([0.049011], np.float32), 10)[0] > WORKING_POINTS["L"]
    y = np.random.default_rng(0).random(1000).astype(np.float32)
    np.testing.assert_array_equal(reduce_mantissa(y, 23), y)
    np.testing.assert_array_equal(reduce_mantissa(reduce_mantissa(y, 10), 10),
                                  reduce_mantissa(y, 10))
    assert np.abs(reduce_mantissa(y, 10) - y).max() <= 2**-11


def test_btag_rates_by_hand():
    names = FeatureNames(g=("gen_pt", "gen_eta", "hadron_flavour"), x=("B", "CvB", "CvL", "QG"),
                         h=("pt", "eta"))
    b = np.array([0.9, 0.5, 0.1, 0.01, 0.3, 0.02, 0.8, 0.0, 0.04], np.float32)
    flavour = np.array([5, 5, 5, 5, 4, 4, 0, 0, 0], np.float32)
    g = np.column_stack([np.full(9, 50.0), np.zeros(9), flavour]).astype(np.float32)
    x = np.column_stack([b, np.full((9, 3), 0.5)]).astype(np.float32)
    sample = Sample(g, x, np.zeros((9, 2), np.float32), names)
    rates = btag_rates(sample, working_points={"L": 0.049, "M": 0.2783, "T": 0.71},
                       flavours={"5": "b eff", "4": "c mis", "0": "l mis"})
    got = {m.name: m.value for m in rates}
    assert got == {"b eff L": 0.75, "b eff M": 0.5, "b eff T": 0.25, "c mis L": 0.5,
                   "c mis M": 0.5, "c mis T": 0.0, "l mis L": pytest.approx(1 / 3),
                   "l mis M": pytest.approx(1 / 3), "l mis T": pytest.approx(1 / 3)}


def test_working_point_rates_by_hand():
    names = FeatureNames(g=("gen_tau21", "gen_tau32", "gen_tau43"),
                         x=("tau21", "tau32", "tau43"), h=())
    gen = np.array([0.3, 0.4, 0.45, 0.7, 0.8, 0.9], np.float32)
    reco = np.array([0.5, 0.6, 0.55, 0.5, 0.7, 0.9], np.float32)
    g = np.column_stack([gen] * 3)
    x = np.column_stack([reco] * 3)
    sample = Sample(g, x, np.zeros((6, 0), np.float32), names)
    eff, mistag = working_point_rates(sample, feature="tau32", cut=0.558, gen_feature="gen_tau32",
                                      gen_cut=0.5)
    assert eff.value == pytest.approx(2 / 3) and mistag.value == pytest.approx(1 / 3)
    assert "efficiency" in eff.name and "mistag" in mistag.name


def test_closure_pull_metric_on_the_toy_yardstick():
    settings = toy_settings()
    pulls = ClosurePull()

    def sample(shift, seed, weight=None):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(4000, 2)).astype(np.float32) + shift
        names = FeatureNames(g=("g0", "g1"), x=("x0", "x1"), h=("h0",))
        return Sample(np.zeros_like(x), x, np.zeros((4000, 1), np.float32), names, weight)

    reference = sample(0.0, 1)
    same = pulls.compute(sample(0.0, 2), reference, settings=settings)
    shifted = pulls.compute(sample(0.3, 3), reference, settings=settings)
    assert same.value < 3 and shifted.value > 8 and shifted.error == 1.0
    # one quantity: the metric is |pull|
    p = settings.closure.pulls(sample(0.3, 3), reference)[0]
    assert shifted.value == pytest.approx(abs(p.pull))
    no_closure = EvaluationSettings(settings.batch_size, settings.mmd_bandwidths,
                                    settings.omniscient, settings.chi2_bins)
    assert pulls.compute(sample(0.0, 2), reference, settings=no_closure) is None
