"""Pre- and post-processing a task may offer to every refiner (CMS FastSim refinement, Sec. 3.1).

A task whose features live in awkward coordinates (probabilities in [0, 1], pT spanning orders
of magnitude, flavour codes) returns a :class:`FeatureTransform` from
:meth:`perfekt_bench.Task.feature_transform`. The run then wraps the refiner in a
:class:`perfekt_bench.TransformedRefiner`, after scikit-learn's ``TransformedTargetRegressor``:
the refiner is fitted on transformed conditioning and features, and its refined values pass
back through :meth:`FeatureTransform.inverse_x`, which may also enforce a constraint of the
task (the CMS post-processing layer). Metrics always see the task's own coordinates.
``perfekt-bench run --no-transform`` runs a refiner on the raw features instead.
"""

from __future__ import annotations

import abc
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from .data import FeatureNames, Triplets

if TYPE_CHECKING:
    from torch import nn


class FeatureTransform(abc.ABC):
    """Maps a task's conditioning ``g`` and features ``x`` to the coordinates a refiner learns
    in, and refined features back. Hidden features are never transformed."""

    #: a short name, recorded with the run (``transform.json`` in the saved model)
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

    def torch_modules(self) -> tuple[nn.Module, nn.Module] | None:
        """The transform as two torch modules, for ``perfekt-bench export`` to put into the
        ONNX graph around the refiner's own module: ``pre(x, g)`` returns ``(forward_x(x),
        forward_g(g))`` and ``post(z)`` returns ``inverse_x(z)``. They are called with float64
        tensors (the precision of the numpy methods) and must be traceable: ONNX operations
        only (ONNX Runtime runs Log, Exp, Clip, Softmax, Sigmoid in float64, not Sinh) and no
        branch on the data. ``None`` (the default): refiners that learn through this transform
        cannot be exported, and their latency is measured on the Python path."""
        return None

    def apply(self, data: Triplets) -> Triplets:
        """``data`` with ``g``, ``x_fast`` and ``x_full`` transformed (float32, as every split)."""
        f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
        return replace(data, g=f32(self.forward_g(data.g)), x_fast=f32(self.forward_x(data.x_fast)),
                       x_full=f32(self.forward_x(data.x_full)), names=self.names(data.names))
