"""The Task interface: a data set of matched objects and the fixed yardstick to judge it by."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .data import FeatureNames, Splits, Triplets

if TYPE_CHECKING:
    from .transform import FeatureTransform

BUDGETS = ("smoke", "quick", "paper")


@dataclass(frozen=True)
class OmniscientColumn:
    """One column of the omniscient set (Fast Perfekt paper, Sec. 2.2): its group
    (``g``, ``x`` or ``h``), name, kernel bandwidth and an optional transform (``"log10"``)."""

    group: str
    name: str
    bandwidth: float
    transform: str | None = None


@dataclass(frozen=True)
class EvaluationSettings:
    """The yardstick of a task, fixed from its reference and never from a candidate.

    ``batch_size``: metrics are means ± standard deviations over test batches of this size;
    ``mmd_bandwidths``: one Gaussian-kernel bandwidth per refined feature;
    ``omniscient``: the columns of the omniscient MMD with their bandwidths and transforms;
    ``chi2_bins``: fixed bin edges per refined feature for the binned χ²;
    ``primary_metric``: the metric a leaderboard ranks by.
    """

    batch_size: int
    mmd_bandwidths: tuple[float, ...]
    omniscient: tuple[OmniscientColumn, ...]
    chi2_bins: tuple[tuple[float, ...], ...]
    primary_metric: str = "omniscient_mmd"

    def omniscient_bandwidths(self) -> np.ndarray:
        return np.array([c.bandwidth for c in self.omniscient], dtype=np.float64)


class Task(abc.ABC):
    """A source of (GEN, fullsim, fastsim) triplets and the settings to evaluate them.

    Subclasses set the class attributes and implement :meth:`generate`; loading, splitting
    and the Parquet cache are shared. Everything that shapes the data must be returned by
    :meth:`parameters`, so that it enters the cache key.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    summary: ClassVar[str] = ""
    paired: ClassVar[bool] = True
    feature_names: ClassVar[FeatureNames]
    #: number of objects generated per budget profile
    sizes: ClassVar[dict[str, int]] = {"smoke": 20_000, "quick": 100_000, "paper": 1_000_000}
    split_fractions: ClassVar[tuple[float, float, float]] = (0.6, 0.2, 0.2)
    #: the published numbers to show beside a leaderboard (Markdown), if any
    reference_results: ClassVar[str] = ""

    def parameters(self) -> dict[str, Any]:
        """Everything, besides size and seed, that shapes the generated data."""
        return {}

    def data_card(self) -> dict[str, Any]:
        """What the data is, how it was made and how big it is: shown by ``data generate``."""
        return {"name": self.name, "version": self.version, "summary": self.summary,
                "paired": self.paired, "sizes": dict(self.sizes),
                "parameters": self.parameters()}

    @abc.abstractmethod
    def evaluation(self) -> EvaluationSettings:
        """The fixed evaluation settings of this task."""

    @abc.abstractmethod
    def generate(self, size: int, seed: int, *, progress: bool = False, workers: int = 1,
                 workdir: Path | None = None) -> Triplets:
        """Make ``size`` triplets deterministically from ``seed`` (before splitting).

        Slow generators may use ``workers`` processes and keep finished pieces in ``workdir``
        (kept by the cache across interrupted calls with the same key, removed once the data
        is cached) so that an interrupted generation resumes. Both may be left out of the
        signature by tasks that need neither.
        """

    def import_files(self, full: Path, fast: Path, *, progress: bool = False,
                     **options: Any) -> Triplets:
        """Triplets from the user's own files: one simulated with the full and one with the
        fast simulation, of the same generated events. Tasks that can import say what in
        :attr:`import_help`."""
        from .errors import ConfigurationError

        raise ConfigurationError(f"task {self.name!r} cannot import files")

    #: what :meth:`import_files` reads and which options it takes (empty: it cannot import)
    import_help: ClassVar[str] = ""

    def feature_transform(self) -> FeatureTransform | None:
        """The pre- and post-processing every refiner learns through on this task, if any
        (see :mod:`perfekt_bench.transform`); ``None``: refiners see the raw features."""
        return None

    def size_for(self, budget: str) -> int:
        return self.sizes[budget]

    def load(self, size: int | None = None, seed: int = 0, *, budget: str = "quick",
             cache_dir: str | Path | None = None, progress: bool = False,
             workers: int = 1) -> Splits:
        """Train/validation/test splits, generated once and then read from the Parquet cache.

        The cache key hashes the task's name, version, parameters, source code, size, seed and
        split fractions, so any change to what shapes the data makes a new entry.
        """
        from .cache import DataCache

        size = self.size_for(budget) if size is None else int(size)
        return DataCache(cache_dir).load(self, size=size, seed=seed, progress=progress,
                                         workers=workers)

    def split(self, data: Triplets, seed: int) -> tuple[Triplets, Triplets, Triplets]:
        """Split by a seeded permutation into the fractions of :attr:`split_fractions`."""
        rng = np.random.default_rng([seed, 0x5B1])
        order = rng.permutation(len(data))
        n_train = int(round(self.split_fractions[0] * len(data)))
        n_val = int(round(self.split_fractions[1] * len(data)))
        parts = np.split(order, [n_train, n_train + n_val])
        return tuple(data.rows(np.sort(p)) for p in parts)  # type: ignore[return-value]

