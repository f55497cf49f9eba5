"""Metrics of the weights themselves: what reweighting refiners pay for their gain."""

from __future__ import annotations

import numpy as np

from perfekt_bench import Metric, MetricValue, batched


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
    the reference. Mean ± spread over batches of the task's batch size: with heavy-tailed
    weights the per-batch value is larger than that of the whole sample.
    """

    name = "n_eff"
    lower_is_better = False
    measures_distance = False

    def compute(self, candidate, reference, *, settings, target=None) -> MetricValue:
        return batched(lambda c: effective_fraction(c.weight, len(c)), candidate,
                       batch_size=settings.batch_size)

