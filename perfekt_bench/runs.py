"""What defines a run (:class:`RunConfig`) and what it measured (:class:`RunResult`)."""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .budgets import DEFAULT_BUDGET
from .metric import MetricValue

#: the three samples every metric is measured on, in table order
CANDIDATES = ("fastsim", "refined", "fullsim")


@dataclass
class RunConfig:
    """Everything that defines one run; ``params`` override the budget's hyperparameters."""

    task: str
    refiner: str
    seed: int = 0
    budget: str = DEFAULT_BUDGET
    device: str = "cpu"
    size: int | None = None
    data_seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    metrics: list[str] | None = None
    results_dir: str | None = None
    cache_dir: str | None = None
    json_path: str | None = None
    progress: bool = True
    #: single-object queries of the latency metrics (:mod:`perfekt_bench.latency`; at least
    #: 1000 for a stable p90); 0: latency is not measured
    latency_repeats: int = 1000
    command: str | None = None
    plots: bool = True
    #: an imported (or other cached) data set by name or key instead of generated data
    dataset: str | None = None
    #: processes for data generation (tasks with a slow generator use them)
    workers: int = 1
    #: learn through the task's pre/post-processing when it offers one (``--no-transform``)
    transform: bool = True
    #: the run's id, given in advance (``compare`` does, so that a retried cell keeps it);
    #: None: made when the run is written (:func:`new_run_id`)
    run_id: str | None = None
    #: the final run of a ``perfekt-bench tune`` study: the study's name and its number of
    #: finished trials (None for a run with settings not chosen by tuning)
    tuning_study: str | None = None
    tuning_trials: int | None = None

    def validate(self) -> RunConfig:
        """Check every number against :mod:`perfekt_bench.limits` and the budget's name; a
        :class:`~perfekt_bench.ConfigurationError` names the field and its range."""
        from .budgets import check_budget
        from .limits import QUERIES_RANGE, SEED_RANGE, SIZE_RANGE, WORKERS_RANGE, check_int

        check_budget(self.budget)
        self.seed = check_int("seed", self.seed, SEED_RANGE)
        self.data_seed = check_int("data_seed", self.data_seed, SEED_RANGE)
        self.workers = check_int("workers", self.workers, WORKERS_RANGE)
        if self.size is not None:
            self.size = check_int("size", self.size, SIZE_RANGE)
        self.latency_repeats = check_int("latency_repeats (--latency-queries)",
                                         self.latency_repeats, QUERIES_RANGE)
        return self


def new_run_id(task: str, refiner: str, seed: int) -> str:
    """``YYYYmmdd-HHMMSS-<task>-<refiner>-s<seed>-<6 hex>`` (local time): sorts by time, unique."""
    return (time.strftime("%Y%m%d-%H%M%S") + f"-{task}-{refiner}-s{seed}-"
            + uuid.uuid4().hex[:6])

@dataclass(frozen=True)
class PluginOrigin:
    """Which plugin distribution supplied a task, refiner or metric of a run."""

    kind: str
    name: str
    plugin: str
    distribution: str | None
    version: str | None


@dataclass
class RunResult:
    """The measured numbers of one run, as written to the store and ``--json``.

    ``plugins`` names the distribution (and its version) that supplied the task, the refiner
    and each metric, so a stored number can be traced to the code that produced it.
    """

    run_id: str
    config: RunConfig
    params: dict[str, Any]
    metrics: dict[str, dict[str, MetricValue]]
    timings: dict[str, float]
    run_dir: Path
    data_key: str
    provenance: dict[str, Any]
    plugins: list[PluginOrigin] = field(default_factory=list)
    #: metric name → whether lower values are better (stored with every row)
    directions: dict[str, bool] = field(default_factory=dict)
    #: metric name → what measured it, for the latency metrics ("onnxruntime" or "python")
    backends: dict[str, str] = field(default_factory=dict)
    task_version: str = ""
    n_train: int = 0
    n_eval: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.config.task, "refiner": self.config.refiner, "seed": self.config.seed,
            "budget": self.config.budget, "device": self.config.device,
            "params": self.params,
            "metrics": {m: {c: {"value": _num(v.value), "error": _num(v.error)}
                            for c, v in per.items()} for m, per in self.metrics.items()},
            "backends": self.backends,
            "timings": self.timings, "run_dir": str(self.run_dir), "data_key": self.data_key,
            "plugins": [vars(p) for p in self.plugins],
        }


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)
