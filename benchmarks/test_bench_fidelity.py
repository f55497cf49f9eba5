"""What the conditional-fidelity metrics and the non-neural baseline cost per call, at the quick
sizes: the classifier two-sample test (``c2st``) on one candidate of 5 000 jets-like objects
(9 columns, the jets quick test half) and of 10 000 (its cap per class, reached by the
analytic and deepjet halves), ``cond_mmd`` and ``cond_corr_diff`` on 5 000, and one ``qrc``
quantile regressor (scikit-learn's histogram gradient boosting, quantile loss, 100 trees) on
30 000 × 6, of which a quick jets fit trains 126.

Run with ``pytest benchmarks/test_bench_fidelity.py --benchmark-only``.
"""

from __future__ import annotations

import numpy as np
import pytest

from perfekt_bench import EvaluationSettings, FeatureNames, OmniscientColumn, Sample
from perfekt_bench_plugins.metrics import (
    ClassifierTwoSampleTest,
    ConditionalCorrelationDifference,
    ConditionalMMD,
)
from perfekt_bench_plugins.metrics import classifier as classifier_module
from perfekt_bench_plugins.qrc import QuantileRegressionChainRefiner

NAMES = FeatureNames(g=("g0", "g1", "g2"), x=("x0", "x1", "x2"),
                     h=("h0", "h1", "h2"))
SETTINGS = EvaluationSettings(
    batch_size=1024, mmd_bandwidths=(0.2, 0.2, 0.1),
    omniscient=tuple(OmniscientColumn(group, f"{group}{i}", 0.2)
                     for group in "gxh" for i in range(3)),
    chi2_bins=((0.0, 1.0),) * 3,
    conditional=(*(OmniscientColumn("g", f"g{i}", 0.2) for i in range(3)),
                 *(OmniscientColumn("x", f"x{i}", 0.05, minus=f"g{i}") for i in range(3))))


def make_sample(n: int, seed: int, spread: float = 0.05) -> Sample:
    rng = np.random.default_rng(seed)
    g = rng.uniform(0.2, 0.9, (n, 3))
    x = g + spread * rng.normal(size=(n, 3))
    h = g + 0.1 * rng.normal(size=(n, 3))
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    return Sample(f32(g), f32(x), f32(h), NAMES)


@pytest.mark.parametrize("n", [5000, 10_000])
def test_c2st_one_candidate(benchmark, n):
    metric = ClassifierTwoSampleTest()
    candidate, reference = make_sample(n, 1, spread=0.04), make_sample(n, 2)
    benchmark.group = "c2st per candidate"

    def compute():
        classifier_module._FITS.clear()  # time the fit, not the shared cache
        return metric.compute(candidate, reference, settings=SETTINGS)

    value = benchmark.pedantic(compute, rounds=1, iterations=1)
    assert 0 <= value.value <= 1


@pytest.mark.parametrize("metric", [ConditionalMMD, ConditionalCorrelationDifference])
def test_conditional_metrics(benchmark, metric):
    candidate, reference = make_sample(5000, 1, spread=0.04), make_sample(5000, 2)
    benchmark.group = "conditional metrics, 5000 objects"
    value = benchmark.pedantic(metric().compute, args=(candidate, reference),
                               kwargs={"settings": SETTINGS}, rounds=3, iterations=1)
    assert np.isfinite(value.value)


def test_qrc_one_quantile_regressor(benchmark):
    rng = np.random.default_rng(0)
    inputs, target = rng.random((30_000, 6)), rng.normal(size=30_000)
    regressor = QuantileRegressionChainRefiner(max_iter=100, min_samples_leaf=200)
    benchmark.group = "qrc regressor, 30000 x 6, 100 trees"
    benchmark.pedantic(lambda: regressor._regressor(0.5).fit(inputs, target), rounds=2,
                       iterations=1)
