"""What ``perfekt-bench compare`` does, as a function: a matrix of tasks × refiners × seeds that
resumes where it stopped, records failures as results, and runs its cells in parallel on Dask.

1. **Plan.** Every name and option is checked before any work. Each (task, refiner, seed)
   becomes a :class:`~perfekt_bench.cells.Cell` keyed by
   :func:`~perfekt_bench.results.run_key` (task, its version, data set key, refiner and the
   version of its distribution, resolved hyperparameters, seed, budget, perfekt-bench's
   version). A refiner that cannot run on a task (it needs pairs the task lacks) is skipped,
   and said so. ``--set`` values go to the refiners that have the hyperparameter.
2. **Resume.** A cell whose key has a measured run in the store with every metric it would
   measure is *cached*: reported, not run again, unless ``rerun``. Failed runs are never
   cached; a cell that runs replaces the earlier runs of its key (:class:`Cell`), so the store
   keeps one run per cell.
3. **Data.** Every data set the cells to run need is generated once, in this process with
   ``data_workers`` processes, before any cell starts (and under the data cache's lock).
4. **Cells** run one after another in this process, or in parallel on Dask
   (:mod:`perfekt_bench.cluster`). A cell that raises is stored as a failed run; the others go
   on.
5. **Summary.** The ranked table of the runs of this comparison, cached ones included
   (:func:`ranked_table`), and the failed cells.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .budgets import DEFAULT_BUDGET, check_budget
from .cache import DataCache, cache_label, data_key, resolved_size
from .cells import FAILED, OK, Cell, Outcome, execute, record_failure
from .errors import ConfigurationError, IncompatibleError
from .fileio import check_output_dir
from .limits import SEED_RANGE, SIZE_RANGE, check_int
from .provenance import distribution_version
from .results import ResultsStore, measured, results_label, results_root, run_key
from .runner import check_device, configured_refiner, select_metrics
from .runs import RunConfig, new_run_id

if TYPE_CHECKING:
    import pandas as pd

    from .plugins import PluginHost
    from .task import Task

#: what :attr:`CellReport.status` may be: run now and measured, found in the store, failed,
#: not applicable (a refiner that cannot run on the task)
STATUSES = (OK, "cached", FAILED, "skipped")


@dataclass
class CompareConfig:
    """Everything that defines a comparison (``perfekt-bench compare``'s options)."""

    tasks: list[str]
    refiners: list[str]
    seeds: list[int] = field(default_factory=lambda: [0])
    budget: str = DEFAULT_BUDGET
    device: str = "cpu"
    #: hyperparameter overrides, given to every refiner that has the hyperparameter
    params: dict[str, Any] = field(default_factory=dict)
    metrics: list[str] | None = None
    dataset: str | None = None
    size: int | None = None
    data_seed: int = 0
    results_dir: str | None = None
    cache_dir: str | None = None
    #: run cells again even when the store has them (the new run replaces the old)
    rerun: bool = False
    #: processes for cells on this machine; 1 runs them in this process, without Dask
    workers: int = 1
    #: an existing Dask cluster, by scheduler address or scheduler file
    scheduler: str | None = None
    scheduler_file: str | None = None
    #: torch threads per cell on Dask (default: see :func:`perfekt_bench.cluster.threads_per_cell`)
    threads_per_cell: int | None = None
    #: processes that generate data before the cells start
    data_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    progress: bool = True
    plots: bool = True
    transform: bool = True
    command: str | None = None

    @property
    def on_dask(self) -> bool:
        return self.workers > 1 or self.scheduler is not None or self.scheduler_file is not None


@dataclass
class CellReport:
    """One cell of a comparison and how it ended (``status``, one of :data:`STATUSES`)."""

    task: str
    refiner: str
    seed: int
    status: str
    run_id: str | None = None
    run_key: str | None = None
    data_key: str | None = None
    seconds: float = math.nan
    threads: int | None = None
    where: str = ""
    error_message: str | None = None

    @property
    def label(self) -> str:
        return f"{self.refiner} on {self.task}, seed {self.seed}"


@dataclass
class CompareResult:
    """The cells of a comparison, the store rows of its measured runs (run now or cached) and
    timings of its phases (seconds)."""

    config: CompareConfig
    cells: list[CellReport]
    rows: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    #: each task's primary metric (what its table ranks by) and every metric's direction
    primaries: dict[str, str] = field(default_factory=dict)
    directions: dict[str, bool] = field(default_factory=dict)

    def with_status(self, status: str) -> list[CellReport]:
        return [c for c in self.cells if c.status == status]

    @property
    def failed(self) -> list[CellReport]:
        return self.with_status(FAILED)

    def counts(self) -> dict[str, int]:
        return {status: len(self.with_status(status)) for status in STATUSES}

    def tables(self) -> dict[str, str]:
        """The ranked table of each (task, data set, budget) of the comparison, by title."""
        out = {}
        if self.rows.empty:
            return out
        for (task, key, budget), rows in self.rows.groupby(["task", "data_key", "budget"],
                                                           sort=True):
            title = (f"{task} · data set {key} · {budget} budget · "
                     f"{rows['run_id'].nunique()} runs")
            out[title] = ranked_table(rows, task=task, primary=self.primaries.get(task, ""),
                                      directions=self.directions)
        return out

    def to_json(self) -> dict[str, Any]:
        metrics: dict[str, dict] = {}
        for row in self.rows.itertuples(index=False):
            per = metrics.setdefault(row.run_id, {}).setdefault(row.metric, {})
            per[row.candidate] = {"value": _number(row.value), "error": _number(row.error)}
        return {
            "command": self.config.command,
            "counts": self.counts(),
            "timings": self.timings,
            "cells": [asdict(c) | {"seconds": _number(c.seconds),
                                   "metrics": metrics.get(c.run_id, {})} for c in self.cells],
            "tables": self.tables(),
        }


def ranked_table(rows: pd.DataFrame, *, task: str, primary: str,
                 directions: dict[str, bool]) -> str:
    """The leaderboard's ranked table of the measured ``rows`` of one task and data set, as
    the terminal shows it: the one place where ``compare`` calls the leaderboard code."""
    from .board import text_table
    from .standings import standings

    (table, *_) = standings(rows, task=task, primary=primary, directions=directions).tables
    return text_table(table)


def _number(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- planning


@dataclass
class _Planned:
    cell: Cell
    #: the metrics this cell measures: a stored run must have all of them to be reused
    metrics: frozenset[str]


def check(config: CompareConfig) -> None:
    """The options that need no plugin, and the folders it writes: a
    :class:`ConfigurationError` for a bad one, before any work."""
    check_budget(config.budget)
    check_device(config.device)
    for seed in config.seeds:
        check_int("seed", seed, SEED_RANGE)
    check_int("data_seed", config.data_seed, SEED_RANGE)
    if config.size is not None:
        check_int("size", config.size, SIZE_RANGE)
    check_output_dir(results_root(config.results_dir), results_label(config.results_dir))
    check_output_dir(DataCache(config.cache_dir).root, cache_label(config.cache_dir))
    if not config.tasks or not config.refiners or not config.seeds:
        raise ConfigurationError("compare needs at least one --task, --refiner and seed")
    if config.dataset is not None and len(set(config.tasks)) != 1:
        raise ConfigurationError("--dataset names a data set of one task; give one --task")
    for option, value in (("--workers", config.workers), ("--data-workers", config.data_workers),
                          ("--threads-per-cell", config.threads_per_cell)):
        if value is not None and (int(value) != value or value < 1):
            raise ConfigurationError(f"{option} must be a positive integer, got {value!r}")
    if config.scheduler is not None and config.scheduler_file is not None:
        raise ConfigurationError("give --scheduler or --scheduler-file, not both")
    if config.workers > 1 and (config.scheduler or config.scheduler_file):
        raise ConfigurationError("--workers starts a cluster on this machine and --scheduler "
                                 "uses an existing one: give one of them")


def _unique(items: list) -> list:
    return list(dict.fromkeys(items))


def plan(config: CompareConfig, host: PluginHost, *,
         log: Callable[[str], None] = _stderr) -> tuple[list[_Planned], list[CellReport]]:
    """The cells of ``config`` in matrix order, and the skipped ones (with the reason).

    Unknown names, a ``--set`` name that no refiner has, bad hyperparameter values and a
    ``--dataset`` that is not cached raise here, before any work."""
    check(config)
    tasks = {name: host.task(name) for name in _unique(config.tasks)}
    classes = {name: host.refiner_class(name) for name in _unique(config.refiners)}
    metric_objects = host.metric_instances(config.metrics)
    if config.metrics:  # a named metric must apply to every task compared
        for name, task in tasks.items():
            select_metrics(host, RunConfig(name, config.refiners[0],
                                           metrics=list(config.metrics)), task)
    accepted = {name: set(cls.param_names()) for name, cls in classes.items()}
    unknown = sorted(set(config.params) - set().union(*accepted.values()))
    if unknown:
        known = "; ".join(f"{r}: " + (", ".join(sorted(p)) or "none")
                          for r, p in accepted.items())
        raise ConfigurationError(f"--set {', '.join(unknown)}: no refiner of this comparison "
                                 f"has such a hyperparameter ({known})")
    for name, known in accepted.items():
        ignored = sorted(set(config.params) - known)
        if ignored:
            log(f"note: --set {', '.join(ignored)} does not apply to refiner {name!r}")
    results_dir = str(results_root(config.results_dir).resolve())
    cache = DataCache(config.cache_dir)
    cache_dir = str(cache.root.resolve())
    package_version = distribution_version()
    keys = {name: _data_key(config, cache, task) for name, task in tasks.items()}
    planned: list[_Planned] = []
    skipped: list[CellReport] = []
    seen: set[str] = set()
    for task_name, task in tasks.items():
        metrics = frozenset(m.name for m in metric_objects if m.applies_to(task))
        for refiner in classes:
            for seed in _unique(config.seeds):
                run = RunConfig(
                    task=task_name, refiner=refiner, seed=seed, budget=config.budget,
                    device=config.device, size=config.size, data_seed=config.data_seed,
                    params={k: v for k, v in config.params.items() if k in accepted[refiner]},
                    metrics=config.metrics, results_dir=results_dir, cache_dir=cache_dir,
                    progress=config.progress and not config.on_dask, plots=config.plots,
                    dataset=config.dataset, transform=config.transform,
                    command=config.command,
                    workers=1 if config.on_dask else config.data_workers,
                    run_id=new_run_id(task_name, refiner, seed))
                try:
                    _, params = configured_refiner(host, run, task)
                except IncompatibleError as exc:
                    skipped.append(CellReport(task_name, refiner, seed, "skipped",
                                              data_key=keys[task_name], error_message=str(exc)))
                    continue
                key = run_key(task=task_name, task_version=task.version,
                              data_key=keys[task_name], refiner=refiner,
                              refiner_version=host.origin_of("refiner", refiner).version,
                              params=params, seed=seed, budget=config.budget,
                              package_version=package_version)
                if key in seen:
                    continue
                seen.add(key)
                cell = Cell(run, key, task.version, keys[task_name], params)
                planned.append(_Planned(cell, metrics))
    return planned, skipped


def _data_key(config: CompareConfig, cache: DataCache, task: Task) -> str:
    if config.dataset is not None:
        return cache.dataset_key(task, config.dataset)
    return data_key(task, resolved_size(task, config.size, config.budget), config.data_seed)


def resume(planned: list[_Planned], rows: pd.DataFrame, *, rerun: bool = False
           ) -> tuple[list[Cell], list[CellReport]]:
    """Split the planned cells into those to run (each told which stored runs it replaces)
    and those cached: a measured run of the cell's key with every metric the cell measures
    (the newest such run), unless ``rerun``. Failed runs are never cached."""
    runs: dict[str, list[tuple[str, str, bool, frozenset[str]]]] = {}
    if "run_key" in rows and not rows.empty:
        wanted = {p.cell.key for p in planned}
        mine = rows[rows["run_key"].isin(wanted)]
        for (key, run_id), group in mine.groupby(["run_key", "run_id"], sort=False):
            failed = (group["status"].astype(object) == FAILED).any()
            stamp = str(group["timestamp"].iloc[0]) if "timestamp" in group else ""
            runs.setdefault(key, []).append(
                (stamp, run_id, bool(failed), frozenset(group["metric"].dropna().astype(str))))
    to_run: list[Cell] = []
    cached: list[CellReport] = []
    for item in planned:
        cell = item.cell
        stored = sorted(runs.get(cell.key, []), reverse=True)  # newest first
        usable = [run_id for _, run_id, failed, metrics in stored
                  if not failed and item.metrics <= metrics]
        if usable and not rerun:
            cached.append(CellReport(cell.config.task, cell.config.refiner, cell.config.seed,
                                     "cached", usable[0], cell.key, cell.data_key))
            continue
        to_run.append(Cell(cell.config, cell.key, cell.task_version, cell.data_key,
                           cell.params, replaces=tuple(r for _, r, _, _ in stored),
                           replaces_failed=tuple(r for _, r, failed, _ in stored if failed)))
    return to_run, cached


# --------------------------------------------------------------------------- running


def prepare_data(config: CompareConfig, cells: list[Cell], host: PluginHost, *,
                 log: Callable[[str], None] = _stderr) -> dict[str, Exception]:
    """Generate, once and before any cell starts, every data set that ``cells`` need and the
    cache lacks. The data keys whose generation failed, with the error."""
    if config.dataset is not None:
        return {}
    failed: dict[str, Exception] = {}
    done: set[str] = set()
    for cell in cells:
        if cell.data_key in done or cell.data_key in failed:
            continue
        done.add(cell.data_key)
        task = host.task(cell.config.task)
        cache = DataCache(cell.config.cache_dir)
        if cache.has(task, cell.data_key):
            continue
        size = resolved_size(task, config.size, config.budget)
        log(f"generating data set {cell.data_key} of task {task.name!r} ({size} objects, data "
            f"seed {config.data_seed}) with {config.data_workers} process(es)")
        try:
            cache.load(task, size, config.data_seed, progress=config.progress,
                       workers=config.data_workers)
        except Exception as exc:  # every cell that needs it fails with this error
            failed[cell.data_key] = exc
            log(f"generating data set {cell.data_key} failed: {exc}")
    return failed


def compare(config: CompareConfig, host: PluginHost | None = None, *,
            log: Callable[[str], None] = _stderr) -> CompareResult:
    """Plan, resume, generate data, run the cells and gather the measured rows.

    Cells run in this process with ``host``'s plugins when ``config.workers`` is 1; on Dask
    (``workers`` > 1, ``scheduler``, ``scheduler_file``) each worker loads the plugins installed
    where it runs. ``log`` receives one line per event (stderr by default).
    """
    from .plugins import default_host

    host = host or default_host()
    started = time.perf_counter()
    planned, skipped = plan(config, host, log=log)
    store = ResultsStore(results_root(config.results_dir).resolve())
    to_run, cached = resume(planned, store.read(), rerun=config.rerun)
    timings = {"plan_seconds": time.perf_counter() - started}
    reports: dict[str, CellReport] = {}
    order = [p.cell.run_id for p in planned]
    cached_ids = {p.cell.key: p.cell.run_id for p in planned}
    for report in cached:
        reports[cached_ids[report.run_key]] = report
    log(f"{len(planned) + len(skipped)} cells: {len(cached)} cached, {len(to_run)} to run"
        + (f", {len(skipped)} skipped" if skipped else ""))
    for report in skipped:
        log(f"skipped: {report.label}: {report.error_message}")
    for report in cached:
        log(f"cached: {report.label} (run {report.run_id})")

    start = time.perf_counter()
    broken = prepare_data(config, to_run, host, log=log) if to_run else {}
    timings["data_seconds"] = time.perf_counter() - start
    counter = iter(range(1, len(to_run) + 1))

    def finished(cell: Cell, outcome: Outcome) -> None:
        reports[cell.run_id] = CellReport(
            cell.config.task, cell.config.refiner, cell.config.seed, outcome.status,
            outcome.run_id, cell.key, cell.data_key, outcome.seconds, outcome.threads,
            outcome.where, outcome.error_message)
        prefix = f"[{next(counter)}/{len(to_run)}] {cell.label}"
        if outcome.status == FAILED:
            log(f"{prefix}: FAILED: {outcome.error_message}")
        elif outcome.resumed:
            log(f"{prefix}: done by an earlier try; run {outcome.run_id}")
        else:
            threads = f", {outcome.threads} torch thread(s)" if outcome.threads else ""
            log(f"{prefix}: done in {outcome.seconds:.1f} s ({outcome.where}{threads}); run "
                f"{outcome.run_id}")

    runnable = []
    for cell in to_run:
        if cell.data_key in broken:
            finished(cell, record_failure(cell, broken[cell.data_key]))
        else:
            runnable.append(cell)
    if runnable and config.on_dask:
        _run_on_dask(config, runnable, finished, timings, log=log)
    else:
        start = time.perf_counter()
        for cell in runnable:
            finished(cell, execute(cell, host=host))
        timings["cells_seconds"] = time.perf_counter() - start

    cells = [reports[run_id] for run_id in order if run_id in reports] + skipped
    measured_ids = {c.run_id for c in cells if c.status in (OK, "cached")}
    rows = store.read() if measured_ids else None
    if rows is not None and not rows.empty:
        rows = measured(rows[rows["run_id"].isin(measured_ids)])
        if config.metrics:  # a cached run may have measured more
            rows = rows[rows["metric"].isin(config.metrics)]
    else:
        import pandas as pd

        rows = pd.DataFrame(columns=["run_id", "task", "data_key", "budget", "metric"])
    timings["total_seconds"] = time.perf_counter() - started
    primaries = {name: host.task(name).evaluation().primary_metric
                 for name in _unique(config.tasks)}
    directions = {name: host.metric_class(name).lower_is_better
                  for name in host.metrics.names()}
    return CompareResult(config, cells, rows.reset_index(drop=True), timings, primaries,
                         directions)


def _run_on_dask(config: CompareConfig, cells: list[Cell],
                 finished: Callable[[Cell, Outcome], None], timings: dict[str, float], *,
                 log: Callable[[str], None]) -> None:
    """Run ``cells`` on a new LocalCluster or an existing cluster; ``timings`` gets the seconds
    spent starting (connecting, checking) it, running the cells, and stopping it."""
    from . import cluster

    start = time.perf_counter()
    if config.scheduler or config.scheduler_file:
        threads = config.threads_per_cell or 1
        context = cluster.remote_client(config.scheduler, config.scheduler_file)
    else:
        workers = min(config.workers, len(cells))
        threads = config.threads_per_cell or cluster.threads_per_cell(workers)
        log(f"starting {workers} worker processes with {threads} torch thread(s) each "
            f"({cluster.usable_cores()} usable cores)")
        context = cluster.local_client(workers, threads)
    with context as client:
        if config.scheduler or config.scheduler_file:
            first = cells[0].config
            n = cluster.check_workers(client, Path(first.results_dir), Path(first.cache_dir),
                                      log=log)
            log(f"running {len(cells)} cells on {n} Dask worker(s) of "
                f"{config.scheduler or config.scheduler_file}, {threads} torch thread(s) each")
        else:
            client.wait_for_workers(workers)
        timings["cluster_start_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        cluster.run_cells(client, cells, threads=threads, on_done=finished)
        timings["cells_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
    timings["cluster_stop_seconds"] = time.perf_counter() - start
