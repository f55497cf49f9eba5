"""The two-sample Kolmogorov–Smirnov statistic of the refined features."""

from __future__ import annotations

import numpy as np

from perfekt_bench import Metric, MetricValue, batched


def ks_statistic(a: np.ndarray, b: np.ndarray, a_weights: np.ndarray | None = None) -> float:
    """sup_t |F_a(t) − F_b(t)| of two samples' empirical CDFs, ``a`` weighted by
    ``a_weights`` (Kolmogorov 1933, Smirnov 1948)."""
    w = np.ones(len(a)) if a_weights is None else np.asarray(a_weights, dtype=np.float64)
    order = np.argsort(a, kind="stable")
    a, w = np.asarray(a, dtype=np.float64)[order], w[order]
    b = np.sort(np.asarray(b, dtype=np.float64))
    points = np.concatenate([a, b])
    cdf_a = np.concatenate([[0.0], np.cumsum(w)])[np.searchsorted(a, points, "right")] / w.sum()
    cdf_b = np.searchsorted(b, points, "right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


class KolmogorovSmirnov(Metric):
    """The largest two-sample Kolmogorov–Smirnov statistic over the refined features.

    Measured per test batch of the task's batch size (mean ± standard deviation over batches),
    weighted by the candidate's weights where it has them; 0 for identical distributions.
    """

    # the harness makes one instance per run with no arguments: settings are class attributes
    name = "ks_max"
    lower_is_better = True
    needs_pairs = False

    def compute(self, candidate, reference, *, settings, target=None):
        def worst(c, r) -> float:
            return max(ks_statistic(c.x[:, j], r.x[:, j], c.weight)
                       for j in range(c.x.shape[1]))

        value = batched(worst, candidate, reference, batch_size=settings.batch_size)
        return MetricValue(value.value, value.error)
