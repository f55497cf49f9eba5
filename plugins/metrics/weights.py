"""Metrics of the weights themselves: what reweighting refiners pay for their gain."""

from __future__ import annotations

import numpy as np

from perfekt_bench import Metric, MetricValue


def effective_fraction(weight: np.ndarray | None, n: int) -> float:
    """Kish's effective sample size as a fraction of the size: (Σw)²/(Σw²)/N; 1 unweighted."""
    if weight is None or n == 0:
        return 1.0
    w = np.asarray(weight, dtype=np.float64)
    total, squares = w.sum(), np.square(w).sum()
    return float(total * total / squares / n) if squares > 0 else 0.0


class EffectiveSampleSize(Metric):
    """Effective sample size of the candidate as a fraction of its size, (Σw)²/(Σw²)/N.

    The statistical price that refiners which move values instead of weighting them avoid:
    a weighted sample of N objects carries the statistical power of n_eff·N unweighted ones
    (DCTR, arXiv:1907.08209). 1 for unweighted samples, higher is better; it does not look at
    the reference. Computed on the whole candidate, not per batch: with heavy-tailed weights
    most batches miss the few large weights that dominate Σw², and a mean over batches
    overstates n_eff several-fold. The error is the standard deviation over
    ``BOOTSTRAP_RESAMPLES`` bootstrap resamples (fixed seed).
    """

    name = "n_eff"
    lower_is_better = False
    measures_distance = False
    BOOTSTRAP_RESAMPLES = 50

    def compute(self, candidate, reference, *, settings, target=None) -> MetricValue:
        n = len(candidate)
        value = effective_fraction(candidate.weight, n)
        if candidate.weight is None or n == 0:
            return MetricValue(value, 0.0)
        w = np.asarray(candidate.weight, dtype=np.float64)
        rng = np.random.default_rng(0)
        resampled = [effective_fraction(w[rng.integers(0, n, n)], n)
                     for _ in range(self.BOOTSTRAP_RESAMPLES)]
        return MetricValue(value, float(np.std(resampled, ddof=1)))
