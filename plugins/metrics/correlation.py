"""How well refinement keeps correlations between refined and hidden features."""

from __future__ import annotations

import numpy as np

from perfekt_bench import Metric, MetricValue, batched


def pearson_matrix(columns: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(Weighted) Pearson correlation matrix of the columns of a 2-D array."""
    cov = np.cov(columns.astype(np.float64), rowvar=False, aweights=weights)
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


class CorrelationDifference(Metric):
    """Mean absolute difference of Pearson coefficients over refined and hidden features.

    Pairs of distinct columns of (x, h) are compared between candidate and fullsim, as in the
    correlation-matrix difference plots of the Fast Perfekt paper (Fig. 7).
    """

    name = "corr_diff"
    needs_hidden = True

    def compute(self, candidate, reference, *, settings, target=None) -> MetricValue:
        def diff(c, r) -> float:
            rc = pearson_matrix(np.hstack([c.x, c.h]), c.weight)
            rr = pearson_matrix(np.hstack([r.x, r.h]))
            upper = np.triu_indices_from(rc, k=1)
            return float(np.abs(rc[upper] - rr[upper]).mean())

        return batched(diff, candidate, reference, batch_size=settings.batch_size)
