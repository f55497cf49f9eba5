"""Pre- and post-processing a task may offer to every refiner (CMS FastSim refinement, Sec. 3.1).

A task whose features live in awkward coordinates (probabilities in [0, 1], pT spanning orders
of magnitude, flavour codes) returns a :class:`FeatureTransform` from
:meth:`Task.feature_transform`. The run then wraps the refiner in a :class:`TransformedRefiner`,
after scikit-learn's ``TransformedTargetRegressor``: the refiner is fitted on transformed
conditioning and features, and its refined values pass back through :meth:`inverse_x`, which
may also enforce a constraint of the task (the CMS post-processing layer). Metrics always see
the task's own coordinates. ``perfekt-bench run --no-transform`` runs a refiner on the raw
features instead.
"""

from __future__ import annotations

import abc
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .data import FeatureNames, Triplets
from .refiner import Refinement, Refiner


class FeatureTransform(abc.ABC):
    """Maps a task's conditioning ``g`` and features ``x`` to the coordinates a refiner learns
    in, and refined features back. Hidden features are never transformed."""

    #: a short name, recorded with the run
    name: ClassVar[str]

    @abc.abstractmethod
    def forward_g(self, g: np.ndarray) -> np.ndarray:
        """Conditioning in the refiner's coordinates; may change the number of columns."""

    @abc.abstractmethod
    def forward_x(self, x: np.ndarray) -> np.ndarray:
        """Features in the refiner's coordinates (same number of columns)."""

    @abc.abstractmethod
    def inverse_x(self, z: np.ndarray) -> np.ndarray:
        """Refined features back in the task's coordinates, any constraint of the task
        enforced; defined for every finite ``z``."""

    @abc.abstractmethod
    def names(self, names: FeatureNames) -> FeatureNames:
        """The column names in the refiner's coordinates."""

    def apply(self, data: Triplets) -> Triplets:
        """``data`` with ``g``, ``x_fast`` and ``x_full`` transformed (float32, as every split)."""
        f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
        return replace(data, g=f32(self.forward_g(data.g)), x_fast=f32(self.forward_x(data.x_fast)),
                       x_full=f32(self.forward_x(data.x_full)), names=self.names(data.names))


class TransformedRefiner(Refiner):
    """A refiner that learns in a task's transformed coordinates (scikit-learn's
    ``TransformedTargetRegressor`` pattern): ``fit`` sees :meth:`FeatureTransform.apply`'d
    splits, ``refine`` returns ``inverse_x`` of the wrapped refiner's output; weights pass
    through unchanged. Hyperparameters, history and the fitted state are the wrapped refiner's.
    """

    def __init__(self, refiner: Refiner, transform: FeatureTransform):
        self.refiner = refiner
        self.transform = transform

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.refiner.name

    @property
    def needs_pairs(self) -> bool:  # type: ignore[override]
        return self.refiner.needs_pairs

    @property
    def outputs_weights(self) -> bool:  # type: ignore[override]
        return self.refiner.outputs_weights

    @property
    def history_(self) -> list[dict[str, float]]:
        return getattr(self.refiner, "history_", [])

    def get_params(self) -> dict[str, Any]:
        return self.refiner.get_params()

    def set_params(self, **params: Any) -> TransformedRefiner:
        self.refiner.set_params(**params)
        return self

    def fit(self, train: Triplets, validation: Triplets, *, progress: bool = False):
        self.refiner.fit(self.transform.apply(train), self.transform.apply(validation),
                         progress=progress)
        return self

    def refine(self, x_fast: np.ndarray, g: np.ndarray) -> Refinement:
        inner = self.refiner.refine(self.transform.forward_x(np.asarray(x_fast)),
                                    self.transform.forward_g(np.asarray(g)))
        x = np.asarray(self.transform.inverse_x(inner.x), dtype=np.float32)
        return Refinement(x, inner.weight)

    def save(self, folder: str | Path) -> None:
        """The wrapped refiner's files, and ``transform.json`` naming the transform."""
        self.refiner.save(folder)
        (Path(folder) / "transform.json").write_text(json.dumps({"transform":
                                                                 self.transform.name}))

    def __repr__(self) -> str:
        return f"TransformedRefiner({self.refiner!r}, {self.transform.name!r})"
