"""A task's yardstick: the evaluation settings every candidate is measured with.

Fixed from the task's reference data, never from a candidate (Fast Perfekt, SciPost Phys. Core
8, 021 (2025), Sec. 2.2), and written into each run folder (``evaluation.json``) so that
figures and tables can be redrawn from the run alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .closure import DownstreamClosure


@dataclass(frozen=True)
class OmniscientColumn:
    """One column of the omniscient set (Fast Perfekt paper, Sec. 2.2): its group
    (``g``, ``x`` or ``h``), name, kernel bandwidth and an optional transform (``"log10"``).

    ``minus`` names a conditioning column subtracted from this one after its transform: the
    detector response x − g where refined and conditioning features measure the same quantity
    (used by the conditional set, :attr:`EvaluationSettings.conditional`).
    """

    group: str
    name: str
    bandwidth: float
    transform: str | None = None
    minus: str | None = None


@dataclass(frozen=True)
class EvaluationSettings:
    """The yardstick of a task, fixed from its reference and never from a candidate.

    ``batch_size``: metrics are means ± standard deviations over test batches of this size;
    ``mmd_bandwidths``: one Gaussian-kernel bandwidth per refined feature;
    ``omniscient``: the columns of the omniscient MMD with their bandwidths and transforms;
    ``chi2_bins``: fixed bin edges per refined feature for the binned χ² (and the figures);
    ``primary_metric``: the metric a leaderboard ranks by;
    ``opt_in_metrics``: metrics that are measured only where a task asks for them (those whose
    class sets ``opt_in``, e.g. because they cost seconds per candidate);
    ``closure``: the task's downstream physics quantity (:class:`perfekt_bench.DownstreamClosure`)
    for the ``closure_pull`` metric, or None;
    ``conditional``: the columns of the conditional MMD (``cond_mmd``): the conditioning and the
    refined features, or their response x − g, with bandwidths that resolve the reference's
    spread of x at fixed g; empty where a task publishes none.
    """

    batch_size: int
    mmd_bandwidths: tuple[float, ...]
    omniscient: tuple[OmniscientColumn, ...]
    chi2_bins: tuple[tuple[float, ...], ...]
    primary_metric: str = "omniscient_mmd"
    opt_in_metrics: tuple[str, ...] = ()
    closure: DownstreamClosure | None = None
    conditional: tuple[OmniscientColumn, ...] = ()

    def omniscient_bandwidths(self) -> np.ndarray:
        return np.array([c.bandwidth for c in self.omniscient], dtype=np.float64)

    def conditional_bandwidths(self) -> np.ndarray:
        return np.array([c.bandwidth for c in self.conditional], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> EvaluationSettings:
        """The settings written by :meth:`to_dict`; a missing or malformed field is a
        :class:`ValueError` naming it."""
        try:
            return cls(
                batch_size=int(doc["batch_size"]),
                mmd_bandwidths=tuple(float(b) for b in doc["mmd_bandwidths"]),
                omniscient=tuple(OmniscientColumn(**c) for c in doc["omniscient"]),
                chi2_bins=tuple(tuple(float(e) for e in edges) for edges in doc["chi2_bins"]),
                primary_metric=str(doc.get("primary_metric", "omniscient_mmd")),
                opt_in_metrics=tuple(doc.get("opt_in_metrics", ())),
                closure=(DownstreamClosure(**doc["closure"]) if doc.get("closure") is not None
                         else None),
                conditional=tuple(OmniscientColumn(**c) for c in doc.get("conditional", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a perfekt-bench evaluation settings document: {exc!r}") from exc
