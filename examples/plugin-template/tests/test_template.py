"""The template's refiner and metric pass perfekt-bench's conformance suites, and do what they
say on real perfekt-bench data."""

import numpy as np
import pytest
from perfekt_bench_template import KolmogorovSmirnov, MomentMatching
from perfekt_bench_template.metric import ks_statistic

from perfekt_bench import Sample
from perfekt_bench.testing import (
    MetricTestCase,
    RefinerTestCase,
    make_triplets,
    toy_settings,
)


class TestMomentMatching(RefinerTestCase):
    @pytest.fixture
    def refiner(self):
        return MomentMatching(**MomentMatching.tiny_params())


class TestKolmogorovSmirnov(MetricTestCase):
    @pytest.fixture
    def metric(self):
        return KolmogorovSmirnov()


def test_moments_are_matched():
    train = make_triplets(4000, seed=3, shift=0.8)
    refined = MomentMatching().fit(train, train).refine(train.x_fast, train.g).x
    np.testing.assert_allclose(refined.mean(0), train.x_full.mean(0), atol=1e-5)
    np.testing.assert_allclose(refined.std(0), train.x_full.std(0), rtol=1e-4)


def test_ks_of_known_samples():
    a, b = np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.5, 1.5, 2.5, 3.5])
    assert ks_statistic(a, b) == pytest.approx(0.25)
    assert ks_statistic(a, a) == 0.0
    assert ks_statistic(a, b + 10) == 1.0
    # weights: all weight on the largest value moves a's CDF to a step at 3
    assert ks_statistic(a, b, np.array([0.0, 0.0, 0.0, 1.0])) == pytest.approx(0.75)


def test_refinement_lowers_ks():
    data = make_triplets(4096, seed=5, shift=0.8)
    fitted = MomentMatching().fit(data, data)
    settings = toy_settings(batch_size=1024)
    reference = make_triplets(4096, seed=6).full
    refined = fitted.refine(data.x_fast, data.g)
    candidate = Sample(data.g, refined.x, data.h_fast, data.names)
    metric = KolmogorovSmirnov()
    before = metric.compute(data.fast, reference, settings=settings).value
    after = metric.compute(candidate, reference, settings=settings).value
    assert after < before / 3
