"""Metrics of paired objects."""

from __future__ import annotations

import numpy as np

from perfekt_bench import Metric, MetricValue, batched


class MeanSquaredError(Metric):
    """MSE of refined fastsim against the fullsim object of the same GEN object (paper eq. 4).

    The mean over objects of the squared Euclidean distance over the refined features;
    weighted by the candidate's weights where it has them.
    """

    name = "mse"
    needs_pairs = True

    def compute(self, candidate, reference, *, settings, target=None) -> MetricValue | None:
        if target is None:
            return None

        def mse(c, t) -> float:
            squared = ((c.x.astype(np.float64) - t.x.astype(np.float64)) ** 2).sum(axis=1)
            return float(np.average(squared, weights=c.weight))

        return batched(mse, candidate, target, batch_size=settings.batch_size)
