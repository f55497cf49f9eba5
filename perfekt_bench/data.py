"""Containers for matched (GEN, fullsim, fastsim) objects: the data every task hands over.

Vocabulary (after the Fast Perfekt paper, SciPost Phys. Core 8, 021 (2025), Fig. 1): ``g`` is
the ground truth used as conditioning, ``x_fast``/``x_full`` are the features to refine and
their target, and ``h_fast``/``h_full`` are hidden features never shown to a refiner but used
to judge correlations. A *triplet* is one matched object; a set is *paired* when fast and full
rows of the same index share one GEN object.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import DataError

GROUPS = ("g", "x_fast", "x_full", "h_fast", "h_full")


@dataclass(frozen=True)
class FeatureNames:
    """Column names of the conditioning ``g``, refined ``x`` and hidden ``h`` features."""

    g: tuple[str, ...]
    x: tuple[str, ...]
    h: tuple[str, ...] = ()

    def of_group(self, group: str) -> tuple[str, ...]:
        return {"g": self.g, "x": self.x, "h": self.h}[group.split("_")[0]]


@dataclass(frozen=True)
class Sample:
    """One simulation's view of a set of objects: what a metric compares.

    ``x`` are the (possibly refined) features, ``g`` and ``h`` the conditioning and hidden
    features of the same objects, ``weight`` optional per-object weights.
    """

    g: np.ndarray
    x: np.ndarray
    h: np.ndarray
    names: FeatureNames
    weight: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.x)

    def columns(self, group: str) -> np.ndarray:
        return {"g": self.g, "x": self.x, "h": self.h}[group]

    def rows(self, index: slice | np.ndarray) -> Sample:
        w = None if self.weight is None else self.weight[index]
        return replace(self, g=self.g[index], x=self.x[index], h=self.h[index], weight=w)


@dataclass(frozen=True)
class Triplets:
    """Matched objects of one split: arrays of shape (n, d) per group, float32.

    ``weight`` is an optional per-object weight of the fastsim objects.
    """

    g: np.ndarray
    x_fast: np.ndarray
    x_full: np.ndarray
    h_fast: np.ndarray
    h_full: np.ndarray
    names: FeatureNames
    paired: bool = True
    weight: np.ndarray | None = None
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], names: FeatureNames, *,
                    paired: bool = True, source: str = "") -> Triplets:
        """Triplets from a dict of the :data:`GROUPS` arrays (any float dtype → float32)."""
        f32 = {k: np.asarray(arrays[k], dtype=np.float32) for k in GROUPS}
        return cls(**f32, names=names, paired=paired, source=source)

    def __len__(self) -> int:
        return len(self.x_fast)

    @property
    def fast(self) -> Sample:
        return Sample(self.g, self.x_fast, self.h_fast, self.names, self.weight)

    @property
    def full(self) -> Sample:
        return Sample(self.g, self.x_full, self.h_full, self.names)

    def rows(self, index: slice | np.ndarray) -> Triplets:
        arrays = {name: getattr(self, name)[index] for name in GROUPS}
        w = None if self.weight is None else self.weight[index]
        return replace(self, weight=w, **arrays)

    def validate(self) -> None:
        """Check shapes against the feature names and that every value is finite.

        Raises :class:`DataError` naming the column and the count of bad values.
        """
        where = f" in {self.source}" if self.source else ""
        n = len(self.x_fast)
        for group in GROUPS:
            arr = getattr(self, group)
            names = self.names.of_group(group)
            if arr.ndim != 2:
                raise DataError(f"{group}{where} must be 2-dimensional, got shape {arr.shape}")
            if arr.shape != (n, len(names)):
                raise DataError(
                    f"{group}{where} has shape {arr.shape}, expected ({n}, {len(names)}) "
                    f"for columns {list(names)}"
                )
            _check_finite(arr, group, names, where)
        if self.weight is not None:
            if self.weight.shape != (n,):
                raise DataError(f"weight{where} has shape {self.weight.shape}, expected ({n},)")
            _check_finite(self.weight[:, None], "weight", ("weight",), where)


def _check_finite(arr: np.ndarray, group: str, names: tuple[str, ...], where: str) -> None:
    bad = ~np.isfinite(arr)
    if not bad.any():
        return
    problems = []
    for j, name in enumerate(names):
        n_nan = int(np.isnan(arr[:, j]).sum())
        n_inf = int(bad[:, j].sum()) - n_nan
        if n_nan or n_inf:
            problems.append(f"column {group}.{name}: {n_nan} NaN and {n_inf} infinite values")
    raise DataError(f"non-finite values{where}: " + "; ".join(problems))


@dataclass(frozen=True)
class Splits:
    """The train, validation and test splits of one task at one size and seed; a split that
    was not asked for (``DataCache.load(parts=...)``) is None."""

    train: Triplets
    validation: Triplets
    test: Triplets
    key: str = ""
