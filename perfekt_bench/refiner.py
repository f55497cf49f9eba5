"""The Refiner interface: a scikit-learn-shaped estimator that moves fastsim onto fullsim."""

from __future__ import annotations

import abc
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from .data import Triplets
    from .task import Task


@dataclass(frozen=True)
class Refinement:
    """What :meth:`Refiner.refine` returns: refined features and/or per-object weights."""

    x: np.ndarray
    weight: np.ndarray | None = None


class Refiner(abc.ABC):
    """Base class of every refinement method.

    The contract (after scikit-learn's estimators): hyperparameters are keyword arguments of
    ``__init__``, stored unchanged under the same names, with no logic in the constructor;
    ``fit`` returns ``self`` and leaves fitted state in attributes ending in ``_``, among them
    ``history_``, a list of per-epoch dicts; ``refine`` is deterministic for a fixed ``seed``.

    Class attributes declare what the method needs: ``needs_pairs`` (it uses fast/full rows
    that share a GEN object) and ``outputs_weights`` (it reweights instead of moving values).
    Every refiner takes ``seed`` and ``device`` hyperparameters.
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    needs_pairs: ClassVar[bool] = False
    outputs_weights: ClassVar[bool] = False

    # -- hyperparameters -------------------------------------------------------------------

    @classmethod
    def param_names(cls) -> list[str]:
        """Hyperparameter names: the keyword arguments of ``__init__``, following ``**kwargs``
        up the class hierarchy (a subclass adds its own and passes the rest to ``super``)."""
        kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        names: list[str] = []
        for klass in cls.__mro__:
            if "__init__" not in vars(klass) or klass is Refiner:
                continue
            params = inspect.signature(vars(klass)["__init__"]).parameters.values()
            names += [p.name for p in params
                      if p.name != "self" and p.kind in kinds and p.name not in names]
            if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
                break
        return names

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self, **params: Any) -> Refiner:
        from .errors import ConfigurationError

        known = self.param_names()
        for key, value in params.items():
            if key not in known:
                raise ConfigurationError(
                    f"refiner {self.name!r} has no hyperparameter {key!r}; "
                    f"it has: {', '.join(known)}")
            setattr(self, key, value)
        return self

    @classmethod
    def defaults(cls, budget: str, task: Task | None = None) -> dict[str, Any]:
        """Hyperparameters for a budget profile (``smoke``, ``quick``, ``paper``) on a task."""
        return {}

    @classmethod
    def tiny_params(cls) -> dict[str, Any]:
        """Settings small enough for the conformance suite to fit in about a second on CPU."""
        return cls.defaults("smoke")

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """Hyperparameters suggested from an Optuna ``trial`` (used by ``perfekt-bench tune``)."""
        return {}

    # -- fitting and refining --------------------------------------------------------------

    @abc.abstractmethod
    def fit(self, train: Triplets, validation: Triplets, *, progress: bool = False) -> Refiner:
        """Learn the refinement; return ``self``."""

    @abc.abstractmethod
    def refine(self, x_fast: np.ndarray, g: np.ndarray) -> Refinement:
        """Refined features (and/or weights) of fastsim objects with conditioning ``g``."""

    # -- persistence -----------------------------------------------------------------------

    def save(self, folder: str | Path) -> None:
        """Write hyperparameters and fitted state to ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "params.json").write_text(json.dumps(self.get_params(), indent=2, default=str))
        self._save_state(folder)

    @classmethod
    def load(cls, folder: str | Path) -> Refiner:
        """Rebuild a fitted refiner written by :meth:`save`."""
        folder = Path(folder)
        refiner = cls(**json.loads((folder / "params.json").read_text()))
        refiner._load_state(folder)
        return refiner

    def _save_state(self, folder: Path) -> None:
        """Write fitted state (override when there is any)."""

    def _load_state(self, folder: Path) -> None:
        """Read the fitted state written by :meth:`_save_state`."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
