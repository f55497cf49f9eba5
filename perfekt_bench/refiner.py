"""The Refiner interface: a scikit-learn-shaped estimator that moves fastsim onto fullsim."""

from __future__ import annotations

import abc
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .errors import ConfigurationError, IncompatibleError
from .hyperparameters import declared_values

if TYPE_CHECKING:
    from torch import nn

    from .data import Triplets
    from .hyperparameters import Hyperparameter
    from .training import EpochReport

PARAMS_FILE = "params.json"


@dataclass(frozen=True)
class Refinement:
    """What :meth:`Refiner.refine` returns: refined features and/or per-object weights."""

    x: np.ndarray
    weight: np.ndarray | None = None


class Refiner(abc.ABC):
    """Base class of every refinement method.

    **Hyperparameters** (after scikit-learn's estimators) are keyword arguments of
    ``__init__``, stored unchanged under the same names, with no logic in the constructor.
    Every refiner takes ``seed`` and ``device``. Their values must be JSON values (numbers,
    strings, booleans, ``None``, lists, dicts) or tuples of them, so that :meth:`save` can
    write them and :meth:`load` give them back unchanged.

    **Declarations.** ``hyperparameters`` declares each hyperparameter once
    (:class:`perfekt_bench.Hyperparameter`: type, allowed range or choices, value per budget
    profile, search range of ``perfekt-bench tune``). Every value a run uses — the budget's,
    a task's hints, the user's ``--set`` — is checked against it before any data are loaded.
    Optional: a refiner that leaves it ``None`` runs unchecked and cannot be tuned.

    **Budgets and task hints.** :meth:`defaults` gives the hyperparameters of a budget profile
    (``smoke``, ``quick``, ``paper``): the declared values, overridden by the task's hints. A
    task may publish settings for families of refiners (:meth:`perfekt_bench.Task.refiner_hints`,
    e.g. the network its paper used); a refiner reads the families it names in ``hint_keys``.
    The user's own values come last.

    **Fitting.** ``fit`` returns ``self`` and leaves fitted state in attributes ending in
    ``_``. ``history_`` is a list of per-epoch dicts (empty for a refiner without epochs); the
    loss figure reads these keys: ``epoch``; ``train_<quantity>`` and ``val_<quantity>`` (one
    panel per quantity, training and validation drawn together, ``train_loss``/``val_loss``
    for what is minimised); ``stage`` (an integer: a change marks a stage switch); ``lambda``
    (a Lagrange multiplier, in its own panel). Other keys are kept in ``history.csv``.
    ``refine`` is deterministic for a fixed ``seed``.

    **Reporting epochs** (optional; for refiners that train in epochs). ``fit`` may take a
    keyword ``report``: when it is not None, call ``report(epoch, value)`` once after each
    epoch with a validation loss (lower is better) whose meaning is the same at every epoch and
    for every setting of the hyperparameters, so that values of different trials at one epoch
    compare. ``perfekt-bench tune`` prunes unpromising trials through it: ``report`` may raise,
    and the exception must leave ``fit`` unchanged. A refiner without epochs leaves it out.

    **Saving.** :meth:`save` writes ``params.json`` (the hyperparameters) and calls
    :meth:`_save_state`, which a refiner with fitted state overrides to write it into the
    folder; :meth:`load` rebuilds the refiner from ``params.json`` and calls
    :meth:`_load_state`. A run keeps the fitted refiner in ``RUN_DIR/model``;
    :func:`perfekt_bench.load_refiner` gives it back with the task's pre/post-processing.

    **Export.** :meth:`export_module` gives the fitted refinement as a torch module, which
    ``perfekt-bench export`` writes as one ONNX graph and the latency metrics time on ONNX
    Runtime; a refiner without one is timed on its Python :meth:`refine`.

    Class attributes declare what the method needs: ``needs_pairs`` (it uses fast/full rows
    that share a GEN object) and ``outputs_weights`` (it reweights instead of moving values).
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    needs_pairs: ClassVar[bool] = False
    outputs_weights: ClassVar[bool] = False
    #: the families of :meth:`perfekt_bench.Task.refiner_hints` this refiner reads
    hint_keys: ClassVar[tuple[str, ...]] = ()
    #: objects the training and the validation split must each hold at least
    min_objects: ClassVar[int] = 2
    #: each hyperparameter declared once (None: undeclared, unchecked, not tunable)
    hyperparameters: ClassVar[tuple[Hyperparameter, ...] | None] = None

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
        known = self.param_names()
        for key, value in params.items():
            if key not in known:
                raise ConfigurationError(
                    f"refiner {self.name!r} has no hyperparameter {key!r}; "
                    f"it has: {', '.join(known)}")
            setattr(self, key, value)
        return self

    @classmethod
    def defaults(cls, budget: str, hints: Mapping[str, Mapping[str, Any]] | None = None
                 ) -> dict[str, Any]:
        """Hyperparameters for a budget profile, given a task's ``hints`` (the result of
        :meth:`perfekt_bench.Task.refiner_hints`; empty for a task that publishes none): the
        declared values of ``budget``, then every family of ``hints`` named in ``hint_keys``,
        in that order. Override it for a rule of your own (the result is checked against the
        declarations all the same)."""
        params = declared_values(cls, budget)
        for family in cls.hint_keys:
            params |= dict((hints or {}).get(family, {}))
        return params

    @classmethod
    def tiny_params(cls) -> dict[str, Any]:
        """Settings small enough for the conformance suite to fit in about a second on CPU."""
        return cls.defaults("smoke")

    # -- fitting and refining --------------------------------------------------------------

    @abc.abstractmethod
    def fit(self, train: Triplets, validation: Triplets, *, progress: bool = False,
            report: EpochReport | None = None) -> Refiner:
        """Learn the refinement; return ``self``. ``report``: see "Reporting epochs" above
        (a refiner without epochs may leave the keyword out)."""

    def reports_epochs(self) -> bool:
        """Whether :meth:`fit` takes ``report`` (and so can be pruned by ``tune``)."""
        parameters = inspect.signature(self.fit).parameters
        return "report" in parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())

    @abc.abstractmethod
    def refine(self, x_fast: np.ndarray, g: np.ndarray) -> Refinement:
        """Refined features (and/or weights) of fastsim objects with conditioning ``g``."""

    # -- export ----------------------------------------------------------------------------

    def export_module(self) -> nn.Module:
        """The fitted refinement as a torch module, on the CPU, in evaluation mode.

        ``forward(x_fast, g)`` takes float32 tensors of shapes (n, d_x) and (n, d_g) and
        returns what :meth:`refine` computes, as float32: the refined features (n, d_x), or,
        for a refiner that ``outputs_weights`` (and leaves the features as they are), the
        weights (n,). It must be traceable by ``torch.onnx.export`` for any n: ONNX
        operations only and no branch on the data. Raises
        :class:`~perfekt_bench.IncompatibleError` with the reason when the refiner cannot be
        exported, which is the default.
        """
        raise IncompatibleError(f"refiner {self.name!r} cannot be exported to ONNX: it offers "
                                "no torch module (Refiner.export_module)")

    # -- persistence -----------------------------------------------------------------------

    def save(self, folder: str | Path) -> None:
        """Write the hyperparameters (``params.json``) and the fitted state to ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / PARAMS_FILE).write_text(json.dumps(encode_params(self.get_params()),
                                                     indent=2))
        self._save_state(folder)

    @classmethod
    def load(cls, folder: str | Path) -> Refiner:
        """Rebuild a fitted refiner written by :meth:`save`."""
        folder = Path(folder)
        refiner = cls(**decode_params(json.loads((folder / PARAMS_FILE).read_text())))
        refiner._load_state(folder)
        return refiner

    def _save_state(self, folder: Path) -> None:
        """Write the fitted state into ``folder`` (override when there is any)."""

    def _load_state(self, folder: Path) -> None:
        """Read the fitted state written by :meth:`_save_state`."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


_TUPLE = "__tuple__"


def encode_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Hyperparameters as JSON values, tuples tagged so that :func:`decode_params` restores
    them; any other type is a :class:`ConfigurationError` naming the hyperparameter."""

    def encode(name: str, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, tuple):
            return {_TUPLE: [encode(name, v) for v in value]}
        if isinstance(value, list):
            return [encode(name, v) for v in value]
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {k: encode(name, v) for k, v in value.items()}
        raise ConfigurationError(
            f"hyperparameter {name!r} holds a {type(value).__name__}, which cannot be saved: "
            "use numbers, strings, booleans, None, lists, tuples or dicts of them")

    return {name: encode(name, value) for name, value in params.items()}


def decode_params(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`encode_params`."""

    def decode(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {_TUPLE}:
                return tuple(decode(v) for v in value[_TUPLE])
            return {k: decode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    return {name: decode(value) for name, value in doc.items()}
