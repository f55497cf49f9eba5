"""The Task interface: a data set of matched objects and the fixed yardstick to judge it by."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from .budgets import check_budget
from .data import FeatureNames, Triplets
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .objectfiles import ObjectReader
    from .transform import FeatureTransform
    from .yardstick import EvaluationSettings


class Task(abc.ABC):
    """A source of (GEN, fullsim, fastsim) triplets and the settings to evaluate them.

    Subclasses set the class attributes and implement :meth:`evaluation` and :meth:`generate`;
    loading, splitting and the Parquet cache belong to :class:`perfekt_bench.DataCache`.
    Everything that shapes the data enters the cache key: :meth:`parameters`, the source of
    every module :meth:`source_modules` names (of the task's own module when it names none),
    the size, the seed and :attr:`split_fractions`.
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
    #: the refiner a user should try first on this task (shown in hints), if the task has one
    recommended_refiner: ClassVar[str | None] = None

    def parameters(self) -> dict[str, Any]:
        """Everything, besides size, seed and source code, that shapes the generated data."""
        return {}

    def source_modules(self) -> list[ModuleType]:
        """The modules whose code shapes the generated data: their source enters the cache
        key, so editing them regenerates the data. Empty (the default): the task's own module
        does. Name the generator's modules, and keep the yardstick out of them, so that
        tuning the evaluation does not regenerate the data."""
        return []

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
        raise ConfigurationError(f"task {self.name!r} cannot import files")

    #: what :meth:`import_files` reads and which options it takes (empty: it cannot import)
    import_help: ClassVar[str] = ""

    def object_reader(self, path: Path, *, tree: str | None = None) -> ObjectReader | None:
        """How ``perfekt-bench refine`` reads a user's file of fastsim objects that follows
        conventions of the task's own (e.g. NanoAOD: the ``Jet`` collection with GEN jets as
        conditioning), or None (the default) for a table or tree whose columns are the
        feature names (see :mod:`perfekt_bench.objectfiles`). Not called when the user names
        the columns. A reader's options are keyword-only arguments (``--option NAME=VALUE``;
        ``tree`` is ``--tree``); :attr:`refine_help` says what it reads."""
        return None

    #: what :meth:`object_reader` reads and which options it takes (empty: plain tables only)
    refine_help: ClassVar[str] = ""

    def feature_transform(self) -> FeatureTransform | None:
        """The pre- and post-processing every refiner learns through on this task, if any
        (see :mod:`perfekt_bench.transform`); ``None``: refiners see the raw features."""
        return None

    def refiner_hints(self) -> Mapping[str, Mapping[str, Any]]:
        """Settings this task publishes for families of refiners, by family name: e.g.
        ``{"network": {...}}``, the network its paper trained. A refiner reads the families it
        lists in :attr:`perfekt_bench.Refiner.hint_keys` and decides how they apply per budget;
        the user's ``--set`` values override them."""
        return {}

    def size_for(self, budget: str) -> int:
        """The number of objects a budget profile generates."""
        return self.sizes[check_budget(budget)]
