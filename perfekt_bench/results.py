"""The results store: one Parquet file per run under ``<results>/store/``, read as one table.

This module owns the row schema (after benchopt's): one row per (run, metric, candidate) with

* identity columns (:data:`IDENTITY`): run id, task and its version, data key, refiner, seeds,
  budget, split sizes, status, the command line; ``tuning_study`` and ``tuning_trials`` (the
  Optuna study that chose the settings and its number of finished trials; NA for a run whose
  settings were not tuned);
* ``metric``, ``candidate``, ``value``, ``error``, and ``lower_is_better``, the metric's
  direction (so that tables rank without the metric's plugin installed);
* ``backend``: what timed the latency metrics (``latency_p50_ms``, ``latency_p90_ms``,
  ``throughput``; "onnxruntime" or "python", :mod:`perfekt_bench.latency`), NA on other rows;
* ``p_<name>`` hyperparameter columns;
* timings (``fit_seconds``, ``refine_*``);
* provenance: package and library versions, git revision, device, host, timestamp, and the
  distribution and version of the plugins that supplied the task, the refiner and the metric
  (``task_distribution``, ``refiner_distribution``, ``metric_distribution`` and their
  ``*_plugin_version``);
* ``run_dir`` and ``schema_version``;
* ``run_key``: a hash of what defines the run's numbers (:func:`run_key`), by which ``compare``
  finds a cell that was already run;
* ``error_message`` and ``error_traceback``, on the one row of a **failed** run (``status``
  ``"failed"``): its ``metric`` and ``candidate`` are None, ``value`` and ``error`` NaN, and the
  identity and ``p_*`` columns are those of the run that was asked for. Tables that rank drop
  such rows (:func:`measured`) and count them (:func:`failures`).

Files are written atomically (a crash never leaves half a file), and concurrent runs never
write the same file. Reading names and skips a damaged or foreign file with a warning. A run is
removed only when a later run of the same ``run_key`` replaces it (``compare`` does this).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import PerfektBenchWarning
from .fileio import atomic_write_bytes, remove_stale_temporaries, writer_alive
from .runs import RunConfig, RunResult

#: 3: ``run_key``, failed runs (``error_message``, ``error_traceback``)
SCHEMA_VERSION = 3
#: the columns every stored row must have (older files without the others are still read)
REQUIRED = ("run_id", "task", "data_key", "refiner", "seed", "budget", "metric", "candidate",
            "value", "error")
IDENTITY = ("run_id", "task", "task_version", "data_key", "refiner", "seed", "data_seed",
            "budget", "n_train", "n_eval", "status", "command", "run_key", "tuning_study",
            "tuning_trials")
#: hyperparameters that do not change a run's numbers, left out of its :func:`run_key`
NOT_IN_RUN_KEY = ("device",)


def default_results_dir() -> Path:
    """``$PERFEKT_BENCH_RESULTS``, else ``./results`` in the working directory."""
    return Path(os.environ.get("PERFEKT_BENCH_RESULTS", "results"))


def results_root(results_dir: str | os.PathLike | None) -> Path:
    """``results_dir``, or the default results folder when it is None."""
    return Path(results_dir) if results_dir else default_results_dir()


def results_label(results_dir: str | os.PathLike | None) -> str:
    """The results folder as the user named it, for messages: ``--results-dir X``,
    ``PERFEKT_BENCH_RESULTS=X`` or the default."""
    if results_dir:
        return f"--results-dir {results_dir}"
    if env := os.environ.get("PERFEKT_BENCH_RESULTS"):
        return f"PERFEKT_BENCH_RESULTS={env}"
    return f"the results folder {default_results_dir()} (the default)"


def param_columns(params: dict[str, Any]) -> dict[str, Any]:
    """``p_<name>`` columns; values that are not scalars are stored as JSON text."""
    out = {}
    for key, value in params.items():
        if value is None or isinstance(value, bool | int | float | str):
            out[f"p_{key}"] = value
        else:
            out[f"p_{key}"] = json.dumps(value, default=str)
    return out


def run_key(*, task: str, task_version: str, data_key: str, refiner: str,
            refiner_version: str | None, params: dict[str, Any], seed: int, budget: str,
            package_version: str | None) -> str:
    """A hash of what defines a run's numbers: the task and its version, the data set's key,
    the refiner and the version of the distribution that supplied it, the resolved
    hyperparameters (all but :data:`NOT_IN_RUN_KEY`), the seed, the budget and perfekt-bench's
    version. Two runs with one key are the same cell of a comparison."""
    identity = {"task": task, "task_version": str(task_version), "data_key": data_key,
                "refiner": refiner, "refiner_version": refiner_version,
                "params": {k: v for k, v in params.items() if k not in NOT_IN_RUN_KEY},
                "seed": int(seed), "budget": budget, "package_version": package_version}
    blob = json.dumps(identity, sort_keys=True, default=_plain).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers; anything else JSON cannot write as its ``str``."""
    return value.item() if hasattr(value, "item") else str(value)


def result_run_key(result: RunResult) -> str:
    """:func:`run_key` of a finished run."""
    refiner = next((p for p in result.plugins if p.kind == "refiner"), None)
    return run_key(task=result.config.task, task_version=result.task_version,
                   data_key=result.data_key, refiner=result.config.refiner,
                   refiner_version=refiner.version if refiner else None, params=result.params,
                   seed=result.config.seed, budget=result.config.budget,
                   package_version=result.provenance.get("package_version"))


def failed_row(*, run_id: str, config: RunConfig, key: str, task_version: str | None,
               data_key: str | None, params: dict[str, Any], error_message: str,
               error_traceback: str, provenance: dict[str, Any]) -> dict[str, Any]:
    """The one store row of a run that failed: who it was (as far as known) and why."""
    return ({"run_id": run_id, "task": config.task, "task_version": task_version,
             "data_key": data_key, "refiner": config.refiner, "seed": config.seed,
             "data_seed": config.data_seed, "budget": config.budget, "n_train": None,
             "n_eval": None, "status": "failed", "command": config.command, "run_key": key,
             "metric": None, "candidate": None, "value": math.nan, "error": math.nan,
             "lower_is_better": None}
            | param_columns(params) | provenance
            | {"run_dir": None, "schema_version": SCHEMA_VERSION,
               "error_message": error_message, "error_traceback": error_traceback})


def measured(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs that did not fail: what tables rank."""
    if "status" not in rows:
        return rows
    return rows[rows["status"].astype(object) != "failed"]


def failures(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per failed run (with its ``error_message``)."""
    if "status" not in rows:
        return rows.iloc[0:0]
    return rows[rows["status"].astype(object) == "failed"]


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
                "command": config.command, "run_key": result_run_key(result),
                "tuning_study": config.tuning_study, "tuning_trials": config.tuning_trials}
    rows = []
    for metric_name, per in result.metrics.items():
        for candidate, value in per.items():
            rows.append(identity | {"metric": metric_name, "candidate": candidate,
                                    "value": value.value, "error": value.error,
                                    "lower_is_better": result.directions.get(metric_name, True),
                                    "backend": result.backends.get(metric_name)}
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

    def run_dir(self, run_id: str) -> Path:
        """The run folder of ``run_id`` (see :mod:`perfekt_bench.rundir`)."""
        return self.root / "runs" / run_id

    def remove(self, run_id: str) -> None:
        """Delete a run (its store file, then its run folder): only for a run that a later run
        of the same cell replaces."""
        self.path(run_id).unlink(missing_ok=True)
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

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


def sweep(root: str | os.PathLike) -> list[Path]:
    """Remove what killed processes left in the results folder ``root``: temporaries whose
    writer is gone (in the store, among the runs and in their figures), and run folders that
    never got their store file (the process died between writing the folder and the row
    file). The removed paths."""
    import shutil

    from .rundir import read_config

    root = Path(root)
    removed = remove_stale_temporaries(root / "store") + remove_stale_temporaries(root / "runs")
    runs = root / "runs"
    if not runs.is_dir():
        return removed
    stored = {p.stem for p in (root / "store").glob("*.parquet")}
    for folder in runs.iterdir():
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        removed += remove_stale_temporaries(folder / "figures")
        if folder.name in stored:
            continue
        writer = read_config(folder).get("writer")
        if not writer or writer_alive(writer, folder.stat().st_mtime):
            continue  # written before writers were recorded, or still being finished
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed
