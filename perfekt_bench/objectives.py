"""What ``perfekt-bench tune`` optimises, measured on the validation split only.

An objective is a metric of the refined validation objects (any registered metric that the
task measures, with the metric's own direction), or a measure of the refiner itself, named as
the run path names its timing columns (:data:`MEASURES`). The task's primary metric is the
default (:attr:`perfekt_bench.EvaluationSettings.primary_metric`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ConfigurationError, IncompatibleError, UnknownNameError
from .evaluation import evaluate, evaluation_candidates

if TYPE_CHECKING:
    from .data import Triplets
    from .metric import Metric
    from .plugins import PluginHost
    from .refiner import Refiner
    from .task import Task

#: measures of a fitted refiner that are not metrics of its output: name → lower is better.
#: They are the timing columns of a run (``fit_seconds`` and those of
#: :func:`perfekt_bench.runner.time_refine`), taken on the validation split, and the latency
#: metrics of the run path (:func:`latency_measures`).
MEASURES = {"fit_seconds": True, "refine_seconds_per_object": True}


def latency_measures() -> dict[str, bool]:
    """The latency metrics a run measures (``latency_p50_ms``, ``latency_p90_ms``,
    ``throughput``): name → lower is better."""
    from .latency import LATENCY_METRICS

    return dict(LATENCY_METRICS)


def measures() -> dict[str, bool]:
    """Every measure that can be an objective: name → lower is better."""
    return MEASURES | latency_measures()


@dataclass(frozen=True)
class Objective:
    """One objective: its name, its direction and the metric that computes it (None for a
    measure of the refiner)."""

    name: str
    lower_is_better: bool
    metric: Metric | None = None

    @property
    def direction(self) -> str:
        """Optuna's word for the direction."""
        return "minimize" if self.lower_is_better else "maximize"


def resolve_objectives(names: Sequence[str], host: PluginHost, task: Task) -> list[Objective]:
    """The objectives ``names`` (the task's primary metric when empty), each known and
    measured on ``task``; else a one-line error listing what can be optimised."""
    names = list(names) or [task.evaluation().primary_metric]
    if duplicated := sorted({n for n in names if names.count(n) > 1}):
        raise ConfigurationError(f"--objective {', '.join(duplicated)} given twice")
    out, known_measures = [], measures()
    for name in names:
        if name in known_measures:
            out.append(Objective(name, known_measures[name]))
            continue
        try:
            metric = host.metric_instances([name])[0]
        except UnknownNameError:
            known = sorted({*host.metrics.names(), *known_measures})
            raise UnknownNameError("objective", name, known) from None
        if not metric.applies_to(task):
            raise IncompatibleError(
                f"objective {name!r}: the metric is not measured on task {task.name!r} (it "
                "needs pairs, hidden features, or the task's opt-in); see 'perfekt-bench "
                "plugins' for the metrics")
        out.append(Objective(name, metric.lower_is_better, metric))
    return out


def measure(objectives: Sequence[Objective], refiner: Refiner, validation: Triplets,
            task: Task, fit_seconds: float) -> list[float]:
    """The value of each objective for a fitted ``refiner`` on the ``validation`` split: a
    metric of the refined objects of its half A against the fullsim of its half B, as a run
    measures the test split (:func:`perfekt_bench.evaluation.evaluation_candidates`), or a
    timing (latency as the run path measures it). NaN where a metric gives no value."""
    from .runner import time_refine

    names = {o.name for o in objectives}
    refinement, timings = time_refine(refiner, validation)
    timings = {"fit_seconds": fit_seconds} | timings
    if names & set(latency_measures()):
        from .latency import measure_latency

        latency = measure_latency(refiner, validation.x_fast, validation.g)
        timings |= {name: value.value for name, value in latency.metrics.items()}
    metrics = [o.metric for o in objectives if o.metric is not None]
    values: dict[str, float] = {}
    if metrics:
        candidates, targets, reference = evaluation_candidates(validation, refinement.x,
                                                               refinement.weight)
        measured = evaluate(metrics, task.evaluation(), {"refined": candidates["refined"]},
                            {"refined": targets["refined"]}, reference)
        values = {name: per["refined"].value if "refined" in per else math.nan
                  for name, per in measured.items()}
    return [float(values[o.name] if o.metric is not None else timings[o.name])
            for o in objectives]
