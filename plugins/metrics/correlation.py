"""How well refinement keeps correlations between refined and hidden features."""

from __future__ import annotations

import numpy as np

from perfekt_bench import Metric, MetricValue, batched, mean_correlation_difference


class CorrelationDifference(Metric):
    """Mean absolute difference of Pearson coefficients over refined and hidden features.

    Pairs of distinct columns of (x, h) are compared between candidate and fullsim, as in the
    correlation-matrix difference plots of the Fast Perfekt paper (Fig. 7); a constant column
    counts as uncorrelated (:func:`perfekt_bench.mean_correlation_difference`, which the
    correlation figures use too).
    """

    name = "corr_diff"
    needs_hidden = True

    def compute(self, candidate, reference, *, settings, target=None) -> MetricValue:
        def diff(c, r) -> float:
            return mean_correlation_difference(np.hstack([c.x, c.h]), np.hstack([r.x, r.h]),
                                               c.weight)

        return batched(diff, candidate, reference, batch_size=settings.batch_size)
