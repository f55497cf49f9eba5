"""Downstream closure: does a physics quantity measured on the refined sample agree with fullsim?

The question of the SRGN paper (A. Andreassen, S.-C. Hsu, B. Nachman, N. Suaysom, A. Suresh,
"Parameter estimation using neural networks in the presence of detector effects", Phys. Rev. D
103, 036001 (2021), arXiv:2010.03569): a fit of a physics parameter to detector-level data must
give the right answer. A task publishes its quantity as a :class:`DownstreamClosure` in its
yardstick (``EvaluationSettings.closure``): the import path of a function that measures it on
one sample, with its parameters. The ``closure_pull`` metric measures the candidate and the
independent fullsim reference and reports how far apart they are in units of their combined
uncertainty; fastsim shows the pull that refinement must remove.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .data import Sample


@dataclass(frozen=True)
class Measurement:
    """One physics quantity measured on one sample: its value and statistical uncertainty."""

    name: str
    value: float
    error: float


@dataclass(frozen=True)
class Pull:
    """A quantity on the candidate and on the reference, and their difference over the combined
    uncertainty, (candidate − reference)/√(σ_c² + σ_r²)."""

    name: str
    candidate: Measurement
    reference: Measurement

    @property
    def pull(self) -> float:
        difference = self.candidate.value - self.reference.value
        sigma = math.hypot(self.candidate.error, self.reference.error)
        if difference == 0:
            return 0.0
        return difference / sigma if sigma > 0 else math.copysign(math.inf, difference)


@dataclass(frozen=True)
class DownstreamClosure:
    """A task's downstream quantity: ``function`` is ``"module:attribute"``, called as
    ``function(sample, **params)`` and returning a list of :class:`Measurement` (one or more
    quantities, always in the same order); ``summary`` says in words what is measured.

    Kept as an import path and JSON values so that the yardstick stays a plain document
    (``evaluation.json``); the function belongs to the task's package.
    """

    function: str
    params: dict[str, Any] = field(default_factory=dict)
    summary: str = ""

    def resolve(self) -> Callable[..., list[Measurement]]:
        """The function named by :attr:`function`; a :class:`ValueError` naming it when it
        cannot be imported."""
        module_name, _, attribute = self.function.partition(":")
        try:
            function = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ValueError(f"downstream closure {self.function!r} cannot be imported: {exc}"
                             ) from exc
        if not callable(function):
            raise ValueError(f"downstream closure {self.function!r} is not callable")
        return function

    def measure(self, sample: Sample) -> list[Measurement]:
        return list(self.resolve()(sample, **self.params))

    def pulls(self, candidate: Sample, reference: Sample) -> list[Pull]:
        """Every quantity on ``candidate`` and on ``reference``, paired by name."""
        a, b = self.measure(candidate), self.measure(reference)
        if [m.name for m in a] != [m.name for m in b]:
            raise ValueError(f"downstream closure {self.function!r} measured different "
                             f"quantities on the two samples: {[m.name for m in a]} and "
                             f"{[m.name for m in b]}")
        return [Pull(c.name, c, r) for c, r in zip(a, b, strict=True)]


def efficiency(passed: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Fraction of (weighted) objects that pass, with its binomial uncertainty.

    ε = Σ_pass w / Σ w; σ² = Σ w² (1_pass − ε)² / (Σ w)², which is ε(1 − ε)/N unweighted. An
    efficiency of exactly 0 or 1 gets the binomial uncertainty of ε' = ½/N_eff (or 1 − ½/N_eff),
    N_eff = (Σw)²/Σw², half an object, so that a pull against it stays finite. An empty
    selection gives NaN ± NaN.
    """
    passed = np.asarray(passed, dtype=bool)
    w = np.ones(len(passed)) if weights is None else np.asarray(weights, dtype=np.float64)
    total = w.sum()
    if len(passed) == 0 or total <= 0:
        return math.nan, math.nan
    value = float(w[passed].sum() / total)
    if 0 < value < 1:
        variance = np.sum(np.square(w) * np.square(passed - value)) / total**2
    else:
        n_eff = total**2 / np.square(w).sum()
        edge = 0.5 / n_eff
        variance = edge * (1 - edge) / n_eff
    return value, float(math.sqrt(variance))
