"""Downstream closure: the pull of a physics quantity fitted on the candidate against fullsim."""

from __future__ import annotations

import math

import numpy as np

from perfekt_bench import Metric, MetricValue


class ClosurePull(Metric):
    """Root-mean-square pull of the task's downstream physics quantities (SRGN paper,
    Andreassen et al., Phys. Rev. D 103, 036001 (2021), arXiv:2010.03569: does a fit to
    detector-level data give the right answer?).

    The task publishes what to measure (``EvaluationSettings.closure``, a
    :class:`perfekt_bench.DownstreamClosure`: e.g. a population fraction from a template fit, a
    tagging efficiency at a working point); every quantity is measured on the candidate and on
    the independent fullsim reference, each with its statistical uncertainty (weighted for
    weighted candidates), and pulled: (candidate − reference)/√(σ_c² + σ_r²). The value is
    √(mean pull²) over the quantities (|pull| for one), 0 for perfect closure and about 1 for
    an independent fullsim sample (the floor); the error is 1/√k for k quantities, the spread
    of the root-mean-square of k unit-variance pulls (their correlations neglected).
    Measured on tasks that publish a closure.
    """

    name = "closure_pull"
    summary = "RMS pull of the task's downstream physics quantity, candidate vs fullsim (SRGN)"

    def applies_to(self, task) -> bool:
        return super().applies_to(task) and task.evaluation().closure is not None

    def compute(self, candidate, reference, *, settings, target=None) -> MetricValue | None:
        if settings.closure is None:
            return None
        pulls = np.array([p.pull for p in settings.closure.pulls(candidate, reference)])
        if len(pulls) == 0:
            return MetricValue(math.nan, math.nan)
        return MetricValue(float(np.sqrt(np.mean(np.square(pulls)))), 1 / math.sqrt(len(pulls)))
