"""The Metric interface: a value and its uncertainty, measured with the task's fixed settings."""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:
    from .data import Sample
    from .task import Task
    from .yardstick import EvaluationSettings


@dataclass(frozen=True)
class MetricValue:
    """A measured value and its uncertainty (``nan`` where a metric has none)."""

    value: float
    error: float = math.nan


class Metric(abc.ABC):
    """Base class of every evaluation metric.

    The harness makes one instance per run with **no arguments** (``MetricClass()``): a
    metric's settings are class attributes, and everything that may differ between tasks comes
    from ``settings``, the task's fixed yardstick.

    :meth:`compute` compares a *candidate* sample (fastsim, refined, or an independent
    fullsim sample as the noise floor) with the *reference*, an independent fullsim sample.
    Metrics that need pairs (``needs_pairs``) also receive ``target``: the fullsim objects that
    share GEN objects with the candidate row by row, or ``None`` where no such pairing exists.
    ``lower_is_better`` says which way is better; ``opt_in`` metrics (expensive ones) are
    measured only on tasks that list them in ``EvaluationSettings.opt_in_metrics``.
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    lower_is_better: ClassVar[bool] = True
    needs_pairs: ClassVar[bool] = False
    needs_hidden: ClassVar[bool] = False
    opt_in: ClassVar[bool] = False
    #: objects each sample (a test half) must hold at least for the metric to be defined
    min_objects: ClassVar[int] = 2
    #: False for a metric of the candidate alone (e.g. its weights), not of its distance to fullsim
    measures_distance: ClassVar[bool] = True

    def applies_to(self, task: Task) -> bool:
        """Whether this metric is measured on ``task``."""
        return self.why_not(task) is None

    def why_not(self, task: Task) -> str | None:
        """Why this metric is not measured on ``task`` (None: it is)."""
        if self.needs_pairs and not task.paired:
            return "it needs paired fastsim/fullsim objects"
        if self.needs_hidden and not task.feature_names.h:
            return "it needs hidden features"
        if self.opt_in and self.name not in task.evaluation().opt_in_metrics:
            return "it is measured only where a task opts in (EvaluationSettings.opt_in_metrics)"
        return None

    @abc.abstractmethod
    def compute(self, candidate: Sample, reference: Sample, *, settings: EvaluationSettings,
                target: Sample | None = None) -> MetricValue | None:
        """The metric's value ± error, or ``None`` where it does not apply to this candidate."""


def batched(fn: Callable[..., float], *samples: Sample | np.ndarray | None,
            batch_size: int) -> MetricValue:
    """Mean ± standard deviation of ``fn`` over consecutive batches of ``batch_size`` rows of
    ``samples`` (:class:`~perfekt_bench.Sample` objects or arrays; None passes through).

    This is the uncertainty the Fast Perfekt paper quotes (Tables 1, 2): the spread over
    batches. A trailing partial batch is dropped; a sample shorter than one batch is measured
    once, with no error.
    """
    n = min(len(s) for s in samples if s is not None)
    n_batches = n // batch_size
    if n_batches == 0:
        return MetricValue(float(fn(*samples)), math.nan)
    values = []
    for b in range(n_batches):
        index = slice(b * batch_size, (b + 1) * batch_size)
        values.append(fn(*(_rows(s, index) for s in samples)))
    values = np.asarray(values, dtype=np.float64)
    error = float(values.std(ddof=1)) if n_batches > 1 else math.nan
    return MetricValue(float(values.mean()), error)


def _rows(sample: Sample | np.ndarray | None, index: slice):
    if sample is None:
        return None
    return sample[index] if isinstance(sample, np.ndarray) else sample.rows(index)
