"""How well refinement keeps correlations: between refined and hidden features, and between
refined features and the conditioning."""

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


class ConditionalCorrelationDifference(Metric):
    """Mean absolute difference, against fullsim, of the Pearson coefficients between each
    refined feature and each conditioning feature: the refined × conditioning block of the
    CMS FastSim refinement paper's Fig. 4 (Bein et al., EPJ Web Conf. 295, 09032 (2024)).

    A refinement that pulls objects towards their conditional mean given GEN makes them *more*
    correlated with GEN than fullsim is; one that ignores GEN makes them less. Both show here,
    where the marginal metrics (MMD, χ²) can be at the noise floor. Mean ± standard deviation
    over test batches; weighted Pearson for weighted candidates. ``correlations_conditioning.png``
    shows the same number from the same function
    (:func:`perfekt_bench.mean_correlation_difference` with ``cross``).
    """

    name = "cond_corr_diff"
    summary = "|Δ Pearson(refined, conditioning)| against fullsim (CMS FastSim refinement Fig. 4)"

    def compute(self, candidate, reference, *, settings, target=None) -> MetricValue:
        n_x = candidate.x.shape[1]

        def diff(c, r) -> float:
            return mean_correlation_difference(np.hstack([c.x, c.g]), np.hstack([r.x, r.g]),
                                               c.weight, cross=n_x)

        return batched(diff, candidate, reference, batch_size=settings.batch_size)
