"""Hyperparameter declarations: each hyperparameter of a refiner declared once.

A refiner lists its hyperparameters in :attr:`perfekt_bench.Refiner.hyperparameters` as
:class:`Hyperparameter` objects: name, type, allowed range or choices, value per budget
profile, and how ``perfekt-bench tune`` searches it (:class:`Search`, or ``None``: not tuned).
That one declaration drives

* validation of every value before any data are loaded (:func:`check_params`): ``--set``,
  a task's hints and the budget's own values, each with a one-line error naming the
  hyperparameter, its range and where the value came from;
* the Optuna search space of ``perfekt-bench tune`` (:func:`suggest`);
* ``perfekt-bench plugins --refiner NAME`` (:func:`describe_rows`);
* the conformance suite's checks (defaults inside their ranges, search ranges inside the
  allowed ones, a sampled point that fits).

Declarations are optional: a refiner without them keeps working unchecked (``None``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

from .budgets import BUDGETS
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .task import Task

#: hyperparameters every refiner takes, set by the harness (``--seed``, ``--device``), not
#: declared and not given through ``--set``
HARNESS_PARAMS = ("seed", "device")
KINDS = ("int", "float", "bool", "str", "floats")
_KIND_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false",
               "str": "a string", "floats": "a list of numbers"}


@dataclass(frozen=True)
class Search:
    """How ``perfekt-bench tune`` explores one hyperparameter: a range from ``low`` to
    ``high`` (both included; ``log=True``: uniform in the logarithm, for learning rates and
    scales), or a tuple of ``choices``: ``Search(1e-5, 1e-2, log=True)``, ``Search(1, 6)``,
    ``Search(choices=(32, 64, 128))``."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.choices:
            return "{" + ", ".join(_show(c) for c in self.choices) + "}"
        return f"{'log' if self.log else 'linear'} [{_show(self.low)}, {_show(self.high)}]"


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a refiner.

    ``kind`` is ``"int"``, ``"float"``, ``"bool"``, ``"str"`` or ``"floats"`` (a list of
    numbers). ``value`` is its value on every budget profile, or a dict budget → value.
    Allowed values: between ``low`` and ``high`` (either may be None: unbounded;
    ``low_open``/``high_open`` exclude the bound itself), or one of ``choices``; ``nullable``
    admits ``None`` (whose meaning ``help`` states). A ``floats`` hyperparameter holds at
    least one number, each in the range; with ``per_feature="x"`` (or ``"g"``) exactly one per
    feature of that group. ``search`` is how ``tune`` explores it (None: not tuned).
    """

    name: str
    kind: str
    value: Any
    help: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] = ()
    nullable: bool = False
    per_feature: str | None = None
    search: Search | None = None

    def budget_value(self, budget: str) -> Any:
        """The declared value on ``budget``."""
        if isinstance(self.value, Mapping):
            return self.value[budget]
        return self.value

    # -- what is allowed -------------------------------------------------------------------

    def allowed(self, n_features: Mapping[str, int] | None = None) -> str:
        """The allowed values in words: ``a number > 0``, ``an integer ≥ 1, or null``."""
        if self.choices:
            text = "one of " + ", ".join(_show(c) for c in self.choices)
        else:
            text = _KIND_WORDS[self.kind] + self._range_words()
            if self.kind == "floats":
                count = (n_features or {}).get(self.per_feature or "")
                if self.per_feature:
                    text += (f", one per {_GROUP_WORDS.get(self.per_feature, self.per_feature)}"
                             + (f" ({count})" if count is not None else ""))
                else:
                    text += ", at least one"
        return text + (", or null" if self.nullable else "")

    def _range_words(self) -> str:
        lo = None if self.low is None else f"{'>' if self.low_open else '≥'} {_show(self.low)}"
        hi = None if self.high is None else f"{'<' if self.high_open else '≤'} {_show(self.high)}"
        if lo and hi:
            return (f" in {'(' if self.low_open else '['}{_show(self.low)}, "
                    f"{_show(self.high)}{')' if self.high_open else ']'}")
        each = " each" if self.kind == "floats" and (lo or hi) else ""
        return f"{each} {lo or hi}" if (lo or hi) else ""

    def check(self, value: Any, n_features: Mapping[str, int] | None = None) -> Any:
        """``value`` in its normal form (an integer given for a float becomes a float, a
        tuple of floats a list); :class:`ValueError` saying what is wrong otherwise."""
        if value is None:
            if self.nullable:
                return None
            raise ValueError("is not allowed")
        if self.kind == "floats":
            if not isinstance(value, list | tuple) or not all(_is_number(v) for v in value):
                raise ValueError("has the wrong type")
            if not value:
                raise ValueError("is empty")
            count = (n_features or {}).get(self.per_feature or "")
            if count is not None and len(value) != count:
                raise ValueError(f"has {len(value)} value(s), not {count}")
            return [self._in_range(float(v)) for v in value]
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, Integral):
                raise ValueError("has the wrong type")
            value = int(value)
        elif self.kind == "float":
            if not _is_number(value):
                raise ValueError("has the wrong type")
            value = float(value)
        elif self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError("has the wrong type")
        elif not isinstance(value, str):
            raise ValueError("has the wrong type")
        if self.choices:
            if value not in self.choices:
                raise ValueError("is not one of the choices")
            return value
        return self._in_range(value) if self.kind in ("int", "float") else value

    def _in_range(self, value: float) -> float:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("is not finite")
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise ValueError("is out of range")
        if self.high is not None and (value > self.high
                                      or (self.high_open and value == self.high)):
            raise ValueError("is out of range")
        return value

    # -- the search ------------------------------------------------------------------------

    def search_problems(self) -> list[str]:
        """What is wrong with :attr:`search` (empty when it is fine or there is none): an
        empty range, a log range reaching 0, ends or choices outside the allowed values."""
        s = self.search
        if s is None:
            return []
        if self.kind not in ("int", "float", "bool", "str"):
            return [f"{self.name}: a {self.kind} hyperparameter cannot be searched"]
        if s.choices:
            points, problems = list(s.choices), []
        elif s.low is None or s.high is None:
            return [f"{self.name}: a search range needs both ends"]
        else:
            points = [s.low, s.high]
            problems = [] if s.low < s.high else [f"{self.name}: empty search range "
                                                   f"{s.describe()}"]
            if s.log and s.low <= 0:
                problems.append(f"{self.name}: a log search range must stay above 0")
            if self.kind == "int" and not all(float(p).is_integer() for p in points):
                problems.append(f"{self.name}: an integer's search range needs integer ends")
            if self.kind not in ("int", "float"):
                problems.append(f"{self.name}: a {self.kind} is searched by choices")
        for point in points:
            try:
                self.check(point)
            except ValueError:
                problems.append(f"{self.name}: the search reaches {_show(point)}, which is not "
                                f"allowed ({self.allowed()})")
        return problems


_GROUP_WORDS = {"x": "refined feature", "g": "conditioning feature"}


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _show(value: Any) -> str:
    """A value as the user would type it after ``--set NAME=`` (JSON)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def with_values(declared: Iterable[Hyperparameter], **values: Any) -> tuple[Hyperparameter, ...]:
    """``declared`` with other budget values for some hyperparameters (a subclass that keeps
    the ranges but trains differently): ``with_values(BASE, max_batches={"quick": 24, ...})``."""
    out = []
    for hp in declared:
        out.append(replace(hp, value=values.pop(hp.name)) if hp.name in values else hp)
    if values:
        raise KeyError(f"not declared: {', '.join(values)}")
    return tuple(out)


# -- reading a refiner's declarations ------------------------------------------------------


def declared(cls: type) -> dict[str, Hyperparameter] | None:
    """A refiner class's declarations by name, or None when it declares none."""
    decls = getattr(cls, "hyperparameters", None)
    return None if decls is None else {hp.name: hp for hp in decls}


def declared_values(cls: type, budget: str) -> dict[str, Any]:
    """The declared value of every hyperparameter on ``budget`` (empty without declarations)."""
    return {name: hp.budget_value(budget) for name, hp in (declared(cls) or {}).items()}


def check_params(cls: type, params: Mapping[str, Any], *, source: str,
                 n_features: Mapping[str, int] | None = None) -> dict[str, Any]:
    """``params`` in normal form, each checked against ``cls``'s declarations; the first bad
    one is a one-line :class:`ConfigurationError` naming the refiner, the hyperparameter,
    the value, ``source`` (``"--set"``, ``"task 'jets' hint 'twostage'"``, …) and the
    allowed values. Names the refiner does not take are refused too. Without declarations
    the values pass unchecked (unknown names are still refused when they are set)."""
    decls = declared(cls)
    out = {}
    for name, value in params.items():
        if name in HARNESS_PARAMS:
            raise ConfigurationError(
                f"refiner {cls.name!r}: {name} ({source}) is set by --{name}, not as a "
                "hyperparameter")
        if decls is None:
            out[name] = value
            continue
        if name not in decls:
            raise ConfigurationError(
                f"refiner {cls.name!r} has no hyperparameter {name!r} ({source}); it has: "
                f"{', '.join(decls) or 'none'}")
        hp = decls[name]
        try:
            out[name] = hp.check(value, n_features)
        except ValueError as exc:
            raise ConfigurationError(
                f"refiner {cls.name!r}: {name}={_show(value)} ({source}) {exc}: {name} must "
                f"be {hp.allowed(n_features)}") from None
    return out


def resolve_params(cls: type, task: Task, budget: str, user: Mapping[str, Any]
                   ) -> dict[str, Any]:
    """The hyperparameters a run of ``cls`` on ``task`` uses, each checked (a cheap step: no
    data are loaded): the budget's values (:meth:`~perfekt_bench.Refiner.defaults`), over
    them the task's hints (each family checked on its own, so that an error names it), over
    those the user's values (``--set``)."""
    hints = task.refiner_hints()
    counts = {"x": len(task.feature_names.x), "g": len(task.feature_names.g)}
    for family in cls.hint_keys:
        if family in hints:
            check_params(cls, hints[family], n_features=counts,
                         source=f"task {task.name!r} hint {family!r}")
    params = check_params(cls, cls.defaults(budget, hints), n_features=counts,
                          source=f"the {budget} budget on task {task.name!r}")
    return params | check_params(cls, user, source="--set", n_features=counts)


def declaration_problems(cls: type) -> list[str]:
    """Everything wrong with a refiner's declarations (empty when they are sound, or when it
    declares none): unknown or undeclared hyperparameters, bad kinds, budget values and
    constructor defaults outside their ranges, search ranges outside the allowed ones."""
    decls = getattr(cls, "hyperparameters", None)
    if decls is None:
        return []
    problems = []
    names = [hp.name for hp in decls]
    taken = set(cls.param_names()) - set(HARNESS_PARAMS)
    if len(set(names)) != len(names):
        problems.append(f"declared twice: {sorted({n for n in names if names.count(n) > 1})}")
    if unknown := sorted(set(names) - taken):
        problems.append(f"declared but not taken by __init__: {unknown}")
    if missing := sorted(taken - set(names)):
        problems.append(f"taken by __init__ but not declared: {missing}")
    if harness := sorted(set(names) & set(HARNESS_PARAMS)):
        problems.append(f"set by the harness, not declared: {harness}")
    defaults = _constructor_defaults(cls)
    for hp in decls:
        if hp.kind not in KINDS:
            problems.append(f"{hp.name}: unknown kind {hp.kind!r}; use one of {KINDS}")
            continue
        if isinstance(hp.value, Mapping) and set(hp.value) != set(BUDGETS):
            problems.append(f"{hp.name}: values for budgets {sorted(hp.value)}, not "
                            f"{list(BUDGETS)}")
            continue
        for budget in BUDGETS:
            try:
                hp.check(hp.budget_value(budget))
            except ValueError as exc:
                problems.append(f"{hp.name}: the {budget} value {_show(hp.budget_value(budget))}"
                                f" {exc} ({hp.allowed()})")
        if hp.name in defaults:
            try:
                hp.check(defaults[hp.name])
            except ValueError as exc:
                problems.append(f"{hp.name}: the constructor's default "
                                f"{_show(defaults[hp.name])} {exc} ({hp.allowed()})")
        problems += hp.search_problems()
    return problems


def _constructor_defaults(cls: type) -> dict[str, Any]:
    import inspect

    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        init = vars(klass).get("__init__")
        if init is None or klass is object:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.default is not inspect.Parameter.empty:
                out[p.name] = p.default
    return out


# -- the search space ----------------------------------------------------------------------


def tuned(cls: type, fixed: Iterable[str] = ()) -> list[Hyperparameter]:
    """The hyperparameters ``tune`` searches: those with a :class:`Search`, minus ``fixed``."""
    fixed = set(fixed)
    return [hp for hp in (declared(cls) or {}).values()
            if hp.search is not None and hp.name not in fixed]


def suggest(trial: Any, searched: Iterable[Hyperparameter]) -> dict[str, Any]:
    """Values for ``searched`` from an Optuna ``trial`` (``suggest_int``/``suggest_float``/
    ``suggest_categorical`` as each :class:`Search` says)."""
    out = {}
    for hp in searched:
        s = hp.search
        assert s is not None
        if s.choices:
            out[hp.name] = trial.suggest_categorical(hp.name, list(s.choices))
        elif hp.kind == "int":
            out[hp.name] = trial.suggest_int(hp.name, int(s.low), int(s.high), log=s.log)
        else:
            out[hp.name] = trial.suggest_float(hp.name, float(s.low), float(s.high), log=s.log)
    return out


def describe_rows(cls: type, hints: Mapping[str, Mapping[str, Any]] | None = None
                  ) -> list[list[str]]:
    """Rows for ``plugins --refiner``: name, allowed values, the value on each budget (with a
    task's ``hints`` applied when given), the search, and the help text."""
    values = {b: cls.defaults(b, hints or {}) for b in BUDGETS}
    rows = []
    for name, hp in (declared(cls) or {}).items():
        rows.append([name, hp.allowed(), *(_show(values[b].get(name, hp.budget_value(b)))
                                           for b in BUDGETS),
                     hp.search.describe() if hp.search else "not tuned", hp.help])
    return rows
