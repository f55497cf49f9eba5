"""Measuring a refinement: the candidates of a run's test split, and every metric on them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .data import Sample, Triplets

if TYPE_CHECKING:
    from .metric import Metric, MetricValue
    from .yardstick import EvaluationSettings


def evaluation_candidates(test: Triplets, refined_x: np.ndarray,
                          refined_weight: np.ndarray | None):
    """Split the test set into halves A and B and build what the metrics compare.

    Candidates are made from half A: fastsim, refined fastsim and fullsim (the noise floor);
    the reference is fullsim of the independent half B, so every candidate, the floor included,
    is compared with a statistically independent sample. Paired metrics compare fastsim and
    refined with fullsim of half A row by row; the floor has no such partner.
    """
    half = len(test) // 2
    a, b = test.rows(slice(0, half)), test.rows(slice(half, 2 * half))
    weight = None if refined_weight is None else refined_weight[:half]
    refined = Sample(a.g, refined_x[:half], a.h_fast, a.names, weight)
    candidates = {"fastsim": a.fast, "refined": refined, "fullsim": a.full}
    targets = {"fastsim": a.full, "refined": a.full, "fullsim": None}
    return candidates, targets, b.full


def evaluate(metrics: list[Metric], settings: EvaluationSettings,
             candidates: dict[str, Sample], targets: dict[str, Sample | None],
             reference: Sample, *, progress: bool = False) -> dict[str, dict[str, MetricValue]]:
    """Every metric for every candidate, with the task's fixed ``settings`` (the caller keeps
    only the metrics that apply to the task)."""
    from tqdm.auto import tqdm

    out: dict[str, dict[str, MetricValue]] = {}
    for metric in tqdm(metrics, desc="evaluating", disable=not progress, unit="metric",
                       leave=False):
        per: dict[str, MetricValue] = {}
        for name, candidate in candidates.items():
            if metric.needs_pairs and targets[name] is None:
                continue
            value = metric.compute(candidate, reference, settings=settings,
                                   target=targets[name])
            if value is not None:
                per[name] = value
        out[metric.name] = per
    return out
