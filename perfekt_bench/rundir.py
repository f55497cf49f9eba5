"""The run folder, ``<results>/runs/<run id>/``: its layout, written once and read back.

* ``config.json``: the resolved configuration (task, refiner, seed, budget, hyperparameters,
  data key, provenance, the plugins that supplied each part);
* ``result.json``: the measured numbers (as ``--json``);
* ``evaluation.json``: the task's yardstick (:class:`~perfekt_bench.EvaluationSettings`);
* ``evaluation.parquet``: the evaluated samples, half A's fastsim, refined and fullsim features
  with their conditioning and hidden features, and half B (the reference);
* ``history.csv``: the refiner's per-epoch history (``Refiner.history_``), when it kept one;
* ``model/``: the fitted refiner (:meth:`perfekt_bench.Refiner.save`);
* ``figures/``: figures drawn by plugins.

Figures and tables are drawn from these files alone, never by looking the task up again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataError
from .fileio import atomic_folder, atomic_write_json
from .runs import CANDIDATES
from .yardstick import EvaluationSettings

if TYPE_CHECKING:
    import pandas as pd

    from .data import Sample
    from .refiner import Refiner

CONFIG = "config.json"
RESULT = "result.json"
SETTINGS = "evaluation.json"
EVALUATION = "evaluation.parquet"
HISTORY = "history.csv"
MODEL = "model"
FIGURES = "figures"


def write_run_folder(run_dir: Path, *, refiner: Refiner, config: dict[str, Any],
                     result: dict[str, Any], settings: EvaluationSettings,
                     candidates: dict[str, Sample], reference: Sample) -> Path:
    """Assemble the whole run folder under a temporary name and rename it into place."""
    with atomic_folder(run_dir) as tmp:
        refiner.save(tmp / MODEL)
        history = getattr(refiner, "history_", [])
        if history:
            import pandas as pd

            pd.DataFrame(history).to_csv(tmp / HISTORY, index=False)
        atomic_write_json(tmp / CONFIG, config)
        atomic_write_json(tmp / RESULT, result)
        atomic_write_json(tmp / SETTINGS, settings.to_dict())
        evaluation_frame(candidates, reference).to_parquet(tmp / EVALUATION, index=False)
    return run_dir


def evaluation_frame(candidates: dict[str, Sample], reference: Sample) -> pd.DataFrame:
    """The evaluated samples as one table: a row per object of half A (columns ``g.*``,
    ``h_fast.*``, ``h_full.*``, ``<candidate>.<feature>`` for fastsim, refined and fullsim,
    ``refined.weight``) and, in ``reference.<group>.*`` columns, half B."""
    import pandas as pd

    columns: dict[str, np.ndarray] = {}
    a = candidates["fastsim"]
    for group, arr in (("g", a.g), ("h_fast", a.h), ("h_full", candidates["fullsim"].h)):
        for j, name in enumerate(a.names.of_group(group)):
            columns[f"{group}.{name}"] = arr[:, j]
    for cand in CANDIDATES:
        for j, name in enumerate(a.names.x):
            columns[f"{cand}.{name}"] = candidates[cand].x[:, j]
    weight = candidates["refined"].weight
    columns["refined.weight"] = np.ones(len(a), np.float32) if weight is None else weight
    n = min(len(a), len(reference))
    table = pd.DataFrame({k: v[:n] for k, v in columns.items()})
    for group, arr in (("x", reference.x), ("h", reference.h), ("g", reference.g)):
        for j, name in enumerate(reference.names.of_group(group)):
            table[f"reference.{group}.{name}"] = arr[:n, j]
    return table


class EvaluationTable:
    """Read access to ``evaluation.parquet`` (see :func:`evaluation_frame` for its columns).

    Runs written before half B was kept have no ``reference.*`` columns: the reference then
    falls back to fullsim of half A (:attr:`has_reference` says which).
    """

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.features = self._names("fullsim.")
        if not self.features:
            raise DataError("evaluation table has no fullsim.<feature> columns")
        self.conditioning = self._names("g.")
        self.hidden = self._names("h_fast.")
        self.has_reference = all(f"reference.x.{n}" in frame for n in self.features)

    def _names(self, prefix: str) -> list[str]:
        return [c[len(prefix):] for c in self.frame.columns if c.startswith(prefix)]

    def __len__(self) -> int:
        return len(self.frame)

    def _column(self, name: str) -> np.ndarray:
        return self.frame[name].to_numpy(np.float64)

    def x(self, candidate: str, name: str) -> np.ndarray:
        """Refined feature ``name`` of ``candidate`` (fastsim, refined or fullsim), half A."""
        return self._column(f"{candidate}.{name}")

    def inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """What the run refined: half A's fastsim features and conditioning (float32)."""
        return (self._stack([f"fastsim.{n}" for n in self.features]).astype(np.float32),
                self._stack([f"g.{n}" for n in self.conditioning]).astype(np.float32))

    def reference_x(self, name: str) -> np.ndarray:
        """Refined feature ``name`` of the reference (half B)."""
        col = f"reference.x.{name}"
        return self._column(col if col in self.frame else f"fullsim.{name}")

    def partners(self, group: str, candidate: str) -> tuple[list[str], np.ndarray]:
        """The ``group`` columns (``"h"`` hidden, ``"g"`` conditioning) that go with
        ``candidate``'s objects: fastsim and refined have fastsim's hidden features, fullsim
        its own; all share the conditioning. Names and an (n, d) array."""
        if group == "g":
            return self.conditioning, self._stack([f"g.{n}" for n in self.conditioning])
        prefix = "h_full." if candidate == "fullsim" else "h_fast."
        return self.hidden, self._stack([f"{prefix}{n}" for n in self.hidden])

    def candidate(self, candidate: str, group: str) -> np.ndarray:
        """(n, d) array of ``candidate``'s refined features followed by its ``group``
        partners."""
        names, partners = self.partners(group, candidate)
        x = self._stack([f"{candidate}.{n}" for n in self.features])
        return np.hstack([x, partners]) if names else x

    def reference(self, group: str) -> np.ndarray:
        """The reference's refined features followed by its ``group`` columns (half B; half A's
        fullsim for runs without it)."""
        if not self.has_reference:
            return self.candidate("fullsim", group)
        names = self.conditioning if group == "g" else self.hidden
        return self._stack([f"reference.x.{n}" for n in self.features]
                           + [f"reference.{group}.{n}" for n in names])

    def _stack(self, columns: list[str]) -> np.ndarray:
        if not columns:
            return np.zeros((len(self.frame), 0))
        return np.column_stack([self._column(c) for c in columns])

    def weights(self) -> np.ndarray | None:
        """The refined candidate's weights, None when it has none (or all are equal)."""
        if "refined.weight" not in self.frame:
            return None
        w = self._column("refined.weight")
        return None if not len(w) or np.allclose(w, w[0]) else w


def _require_folder(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run folder {run_dir} does not exist")
    return run_dir


def read_evaluation(run_dir: str | Path) -> EvaluationTable:
    """The run's evaluated samples; :class:`DataError` naming what is missing or broken."""
    import pandas as pd

    run_dir = _require_folder(Path(run_dir))
    path = run_dir / EVALUATION
    if not path.is_file():
        raise DataError(f"{path} not found: is {run_dir} a perfekt-bench run folder?")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # a truncated or foreign file
        raise DataError(f"cannot read {path}: {exc}") from exc
    return EvaluationTable(frame)


def read_history(run_dir: str | Path) -> pd.DataFrame | None:
    """The run's ``history.csv``, or None when the refiner kept none (or it is empty)."""
    import pandas as pd

    path = Path(run_dir) / HISTORY
    if not path.is_file():
        return None
    try:
        history = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None
    return None if history.empty else history


def read_config(run_dir: str | Path, *, required: bool = False) -> dict[str, Any]:
    """The run's ``config.json``; {} when it is missing or unreadable, unless ``required``
    (then a :class:`DataError` naming the file)."""
    path = Path(run_dir) / CONFIG
    try:
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        return doc
    except (OSError, ValueError) as exc:
        if required:
            raise DataError(f"cannot read {path} ({exc}): is {run_dir} a perfekt-bench run "
                            "folder?") from exc
        return {}


def read_settings(run_dir: str | Path) -> EvaluationSettings | None:
    """The yardstick the run was measured with; None for runs written before it was kept, or
    when the file is unreadable."""
    path = Path(run_dir) / SETTINGS
    try:
        return EvaluationSettings.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def run_title(config: dict[str, Any], run_dir: str | Path) -> str:
    """"task T · refiner R · seed S · B budget" for figure titles (the folder name without a
    configuration)."""
    if not config.get("task"):
        return Path(run_dir).name
    parts = [f"task {config['task']}", f"refiner {config.get('refiner', '?')}",
             f"seed {config.get('seed', '?')}"]
    if config.get("budget"):
        parts.append(f"{config['budget']} budget")
    return " · ".join(parts)
