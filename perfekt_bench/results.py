"""The results store: one Parquet file per run under ``<results>/store/``, read as one table.

This module owns the row schema (after benchopt's): one row per (run, metric, candidate) with

* identity columns (:data:`IDENTITY`): run id, task and its version, data key, refiner, seeds,
  budget, split sizes, status, the command line; ``tuning_study`` and ``tuning_trials`` (the
  Optuna study that chose the settings and its number of finished trials; NA for a run whose
  settings were not tuned);
* ``metric``, ``candidate``, ``value``, ``error``, and ``lower_is_better``, the metric's
  direction (so that tables rank without the metric's plugin installed);
* ``p_<name>`` hyperparameter columns;
* timings (``fit_seconds``, ``refine_*``);
* provenance: package and library versions, git revision, device, host, timestamp, and the
  distribution and version of the plugins that supplied the task, the refiner and the metric
  (``task_distribution``, ``refiner_distribution``, ``metric_distribution`` and their
  ``*_plugin_version``);
* ``run_dir`` and ``schema_version``.

Files are written atomically (a crash never leaves half a file), and concurrent runs never
write the same file. Reading names and skips a damaged or foreign file with a warning.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import PerfektBenchWarning
from .fileio import atomic_write_bytes
from .runs import RunResult

SCHEMA_VERSION = 2
#: the columns every stored row must have (older files without the others are still read)
REQUIRED = ("run_id", "task", "data_key", "refiner", "seed", "budget", "metric", "candidate",
            "value", "error")
IDENTITY = ("run_id", "task", "task_version", "data_key", "refiner", "seed", "data_seed",
            "budget", "n_train", "n_eval", "status", "command", "tuning_study", "tuning_trials")


def default_results_dir() -> Path:
    """``$PERFEKT_BENCH_RESULTS``, else ``./results`` in the working directory."""
    return Path(os.environ.get("PERFEKT_BENCH_RESULTS", "results"))


def results_root(results_dir: str | os.PathLike | None) -> Path:
    """``results_dir``, or the default results folder when it is None."""
    return Path(results_dir) if results_dir else default_results_dir()


def param_columns(params: dict[str, Any]) -> dict[str, Any]:
    """``p_<name>`` columns; values that are not scalars are stored as JSON text."""
    out = {}
    for key, value in params.items():
        if value is None or isinstance(value, bool | int | float | str):
            out[f"p_{key}"] = value
        else:
            out[f"p_{key}"] = json.dumps(value, default=str)
    return out


def plugin_columns(result: RunResult, metric: str) -> dict[str, Any]:
    """Which distribution (and version) supplied the task, the refiner and ``metric``."""
    out: dict[str, Any] = {}
    for origin in result.plugins:
        if origin.kind == "metric" and origin.name != metric:
            continue
        out[f"{origin.kind}_distribution"] = origin.distribution or origin.plugin
        out[f"{origin.kind}_plugin_version"] = origin.version
    return out


def rows_for(result: RunResult) -> list[dict[str, Any]]:
    """The store rows of one finished run: one per measured (metric, candidate)."""
    config = result.config
    identity = {"run_id": result.run_id, "task": config.task, "task_version": result.task_version,
                "data_key": result.data_key, "refiner": config.refiner, "seed": config.seed,
                "data_seed": config.data_seed, "budget": config.budget,
                "n_train": result.n_train, "n_eval": result.n_eval, "status": "ok",
                "command": config.command, "tuning_study": config.tuning_study,
                "tuning_trials": config.tuning_trials}
    rows = []
    for metric_name, per in result.metrics.items():
        for candidate, value in per.items():
            rows.append(identity | {"metric": metric_name, "candidate": candidate,
                                    "value": value.value, "error": value.error,
                                    "lower_is_better": result.directions.get(metric_name, True)}
                        | param_columns(result.params) | result.timings
                        | result.provenance | plugin_columns(result, metric_name)
                        | {"run_dir": str(result.run_dir), "schema_version": SCHEMA_VERSION})
    return rows


class ResultsStore:
    """Append-only store of result rows, one Parquet file per run, under ``root/store``."""

    def __init__(self, root: str | Path | None = None):
        self.root = results_root(root)
        self.folder = self.root / "store"

    def path(self, run_id: str) -> Path:
        return self.folder / f"{run_id}.parquet"

    def append(self, result: RunResult) -> Path:
        """Write the rows of ``result`` as one file, atomically."""
        return self.write_rows(result.run_id, rows_for(result))

    def write_rows(self, run_id: str, rows: list[dict[str, Any]]) -> Path:
        buffer = io.BytesIO()
        pd.DataFrame(rows).to_parquet(buffer, index=False)
        path = self.path(run_id)
        atomic_write_bytes(path, buffer.getvalue())
        return path

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("*.parquet"))

    def read(self) -> pd.DataFrame:
        """Every valid stored row. A file that cannot be read, or lacks a required column, is
        named in a :class:`~perfekt_bench.errors.PerfektBenchWarning` and skipped."""
        frames = [frame for path in self.files() if (frame := read_file(path)) is not None]
        if not frames:
            return pd.DataFrame(columns=list(REQUIRED))
        return pd.concat(frames, ignore_index=True)


def read_file(path: Path) -> pd.DataFrame | None:
    """One store file, or None (with a warning naming it and what is wrong) when it is damaged
    or not a perfekt-bench results file."""
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for broken files
        warnings.warn(f"skipping results file {path}: cannot read it ({type(exc).__name__}: "
                      f"{exc})", PerfektBenchWarning, stacklevel=3)
        return None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        warnings.warn(f"skipping results file {path}: {len(missing)} required column(s) "
                      f"missing ({', '.join(missing)}); not a perfekt-bench results file?",
                      PerfektBenchWarning, stacklevel=3)
        return None
    return frame
