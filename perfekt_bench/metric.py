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
    from .task import EvaluationSettings, Task


@dataclass(frozen=True)
class MetricValue:
    """A measured value and its uncertainty (``nan`` where a metric has none)."""

    value: float
    error: float = math.nan


class Metric(abc.ABC):
    """Base class of every evaluation metric.

    :meth:`compute` compares a *candidate* sample (fastsim, refined, or an independent
    fullsim sample as the noise floor) with the *reference*, an independent fullsim sample.
    Metrics that need pairs (``needs_pairs``) also receive ``target``: the fullsim objects that
    share GEN objects with the candidate row by row, or ``None`` where no such pairing exists.
    Only ``settings`` (the task's fixed yardstick) may shape the measurement.
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    lower_is_better: ClassVar[bool] = True
    needs_pairs: ClassVar[bool] = False
    needs_hidden: ClassVar[bool] = False
    #: False for a metric of the candidate alone (e.g. its weights), not of its distance to fullsim
    measures_distance: ClassVar[bool] = True

    def applies_to(self, task: Task) -> bool:
        """Whether this metric can be measured on ``task`` at all."""
        if self.needs_pairs and not task.paired:
            return False
        return not (self.needs_hidden and not task.feature_names.h)

    @abc.abstractmethod
    def compute(self, candidate: Sample, reference: Sample, *, settings: EvaluationSettings,
                target: Sample | None = None) -> MetricValue | None:
        """The metric's value ± error, or ``None`` where it does not apply to this candidate."""


def batched(fn: Callable[..., float], *samples: Sample | None, batch_size: int) -> MetricValue:
    """Mean ± standard deviation of ``fn`` over consecutive batches of ``batch_size`` rows.

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
        values.append(fn(*(None if s is None else s.rows(index) for s in samples)))
    values = np.asarray(values, dtype=np.float64)
    error = float(values.std(ddof=1)) if n_batches > 1 else math.nan
    return MetricValue(float(values.mean()), error)


def pearson_matrix(columns: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(Weighted) Pearson correlation matrix of the columns of a 2-D array; NaN in the rows
    and columns of a constant feature."""
    cov = np.atleast_2d(np.cov(np.asarray(columns, dtype=np.float64), rowvar=False,
                               aweights=weights))
    sd = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        return cov / np.outer(sd, sd)


def pair_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a − b| over the pairs i < j of two square matrices (correlation coefficients)."""
    upper = np.triu_indices_from(a, k=1)
    return np.abs(a[upper] - b[upper])
