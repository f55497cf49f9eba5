"""What ``perfekt-bench run`` does (DESIGN.md, "A run"), as a function that code can call."""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .data import Sample, Splits, Triplets
from .errors import ConfigurationError, IncompatibleError
from .metric import Metric, MetricValue
from .provenance import provenance
from .results import ResultsStore, atomic_write_json, default_results_dir, param_columns
from .task import BUDGETS, Task

if TYPE_CHECKING:
    from .plugins import PluginHost
    from .refiner import Refiner

CANDIDATES = ("fastsim", "refined", "fullsim")


@dataclass
class RunConfig:
    """Everything that defines one run; ``params`` override the budget's hyperparameters."""

    task: str
    refiner: str
    seed: int = 0
    budget: str = "quick"
    device: str = "cpu"
    size: int | None = None
    data_seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    metrics: list[str] | None = None
    results_dir: str | None = None
    cache_dir: str | None = None
    json_path: str | None = None
    progress: bool = True
    latency_repeats: int = 100
    command: str | None = None
    plots: bool = True
    #: an imported (or other cached) data set by name or key instead of generated data
    dataset: str | None = None
    #: processes for data generation (tasks with a slow generator use them)
    workers: int = 1
    #: learn through the task's pre/post-processing when it offers one (``--no-transform``)
    transform: bool = True


@dataclass
class RunResult:
    """The measured numbers of one run, as written to the store and ``--json``."""

    run_id: str
    config: RunConfig
    params: dict[str, Any]
    metrics: dict[str, dict[str, MetricValue]]
    timings: dict[str, float]
    run_dir: Path
    data_key: str
    provenance: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.config.task, "refiner": self.config.refiner, "seed": self.config.seed,
            "budget": self.config.budget, "device": self.config.device,
            "params": self.params,
            "metrics": {m: {c: {"value": _num(v.value), "error": _num(v.error)}
                            for c, v in per.items()} for m, per in self.metrics.items()},
            "timings": self.timings, "run_dir": str(self.run_dir), "data_key": self.data_key,
        }


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def check_device(device: str) -> None:
    if device == "cpu":
        return
    if not device.startswith("cuda"):
        raise ConfigurationError(f"unknown device {device!r}; use 'cpu' or 'cuda'")
    import torch

    if not torch.cuda.is_available():
        raise ConfigurationError(
            f"--device {device} asked for, but this torch ({torch.__version__}) sees no CUDA "
            "device; install a CUDA build of torch on a machine with a GPU, or use --device cpu")


def build_refiner(host: PluginHost, config: RunConfig, task: Task) -> Refiner:
    """The refiner with the budget's defaults, the user's overrides, seed and device."""
    cls = host.refiner_class(config.refiner)
    if cls.needs_pairs and not task.paired:
        raise IncompatibleError(
            f"refiner {cls.name!r} needs paired fastsim/fullsim objects, but task "
            f"{task.name!r} is not paired; choose a refiner that works without pairs")
    params = cls.defaults(config.budget, task) | config.params
    refiner = cls()
    refiner.set_params(**params, seed=config.seed, device=config.device)
    return refiner


def evaluation_candidates(test: Triplets, refined_x: np.ndarray,
                          refined_weight: np.ndarray | None):
    """Split the test set into halves A and B and build what the metrics compare.

    Candidates are made from half A: fastsim, refined fastsim and fullsim (the noise floor);
    the reference is fullsim of the independent half B, so every candidate, the floor included,
    is compared with a statistically independent sample. Paired metrics compare fastsim and
    refined with fullsim of half A row by row; the floor has no such partner.
    """
    half = len(test) // 2
    a, b = test.rows(slice(0, half)), test.rows(slice(half, 2 * half))
    weight = None if refined_weight is None else refined_weight[:half]
    refined = Sample(a.g, refined_x[:half], a.h_fast, a.names, weight)
    candidates = {"fastsim": a.fast, "refined": refined, "fullsim": a.full}
    targets = {"fastsim": a.full, "refined": a.full, "fullsim": None}
    return candidates, targets, b.full


def evaluate(task: Task, metrics: list[Metric], candidates: dict[str, Sample],
             targets: dict[str, Sample | None], reference: Sample, *,
             progress: bool = False) -> dict[str, dict[str, MetricValue]]:
    """Every applicable metric for every candidate, with the task's fixed settings."""
    from tqdm.auto import tqdm

    settings = task.evaluation()
    out: dict[str, dict[str, MetricValue]] = {}
    todo = [m for m in metrics if m.applies_to(task)]
    for metric in tqdm(todo, desc="evaluating", disable=not progress, unit="metric",
                       leave=False):
        per: dict[str, MetricValue] = {}
        for name, candidate in candidates.items():
            if metric.needs_pairs and targets[name] is None:
                continue
            value = metric.compute(candidate, reference, settings=settings,
                                   target=targets[name])
            if value is not None:
                per[name] = value
        out[metric.name] = per
    return out


def time_refine(refiner: Refiner, test: Triplets, repeats: int) -> tuple[Any, dict[str, float]]:
    """Refine the test set once (batched) and time single-object calls (median of repeats)."""
    start = time.perf_counter()
    refinement = refiner.refine(test.x_fast, test.g)
    batched = time.perf_counter() - start
    single = []
    if repeats > 0:
        refiner.refine(test.x_fast[:1], test.g[:1])  # warm-up
        for i in range(repeats):
            j = i % len(test)
            t0 = time.perf_counter()
            refiner.refine(test.x_fast[j:j + 1], test.g[j:j + 1])
            single.append(time.perf_counter() - t0)
    timings = {"refine_seconds_per_object": batched / len(test),
               "refine_single_object_seconds": float(np.median(single)) if single else math.nan}
    return refinement, timings


def _log(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def run(config: RunConfig, host: PluginHost | None = None) -> RunResult:
    """Load the task, fit the refiner, evaluate the three candidates, write the results.

    Nothing is written unless the run succeeds: the run folder is assembled under a temporary
    name and renamed, then the store's row file is written atomically.
    """
    from .plugins import default_host

    host = host or default_host()
    if config.budget not in BUDGETS:
        raise ConfigurationError(f"unknown budget {config.budget!r}; known: {', '.join(BUDGETS)}")
    task = host.task(config.task)
    metrics = host.metric_instances(config.metrics)
    check_device(config.device)
    refiner = build_refiner(host, config, task)
    params = refiner.get_params()
    transform = task.feature_transform() if config.transform else None
    if transform is not None:
        from .transform import TransformedRefiner

        refiner = TransformedRefiner(refiner, transform)
        params = params | {"transform": transform.name}

    splits: Splits
    if config.dataset is not None:
        from .cache import DataCache

        splits = DataCache(config.cache_dir).load_dataset(task, config.dataset)
        n = len(splits.train) + len(splits.validation) + len(splits.test)
        _log(config.progress, f"loaded data set {config.dataset!r} of task {task.name!r}: "
                              f"{n} objects")
    else:
        size = config.size or task.size_for(config.budget)
        _log(config.progress, f"loading task {task.name!r}: {size} objects, data seed "
                              f"{config.data_seed} ({config.budget} budget)")
        splits = task.load(size, config.data_seed, cache_dir=config.cache_dir,
                           progress=config.progress, workers=config.workers)
    _log(config.progress, f"fitting {refiner.name!r} on {len(splits.train)} objects "
                          f"(validation {len(splits.validation)}) on {config.device}")
    start = time.perf_counter()
    refiner.fit(splits.train, splits.validation, progress=config.progress)
    fit_seconds = time.perf_counter() - start

    refinement, timings = time_refine(refiner, splits.test, config.latency_repeats)
    timings = {"fit_seconds": fit_seconds} | timings
    candidates, targets, reference = evaluation_candidates(
        splits.test, refinement.x, refinement.weight)
    values = evaluate(task, metrics, candidates, targets, reference, progress=config.progress)

    run_id = (time.strftime("%Y%m%d-%H%M%S") + f"-{task.name}-{refiner.name}-s{config.seed}-"
              + uuid.uuid4().hex[:6])
    root = Path(config.results_dir) if config.results_dir else default_results_dir()
    run_dir = root / "runs" / run_id
    result = RunResult(run_id, config, params, values, timings, run_dir, splits.key,
                       provenance(config.device))
    _write(result, refiner, task, len(splits.train), len(candidates["fastsim"]), candidates,
           reference)
    if config.plots:
        try:
            from .plotting import plot_run

            plot_run(run_dir, task=task)
        except Exception as exc:  # figures must not lose a finished run
            print(f"perfekt-bench: warning: drawing the figures failed: {exc}", file=sys.stderr)
    try:
        host.run_finished(result)
    except Exception as exc:  # a plugin's hook must not lose a finished run
        print(f"perfekt-bench: warning: a run_finished hook failed: {exc}", file=sys.stderr)
    return result


def evaluation_table(candidates: dict[str, Sample], reference: Sample):
    """The evaluated samples, for figures: one row per object of half A (fastsim, refined,
    fullsim; hidden and conditioning columns) and, in ``reference.*`` columns, half B."""
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


def _write(result: RunResult, refiner: Refiner, task: Task, n_train: int, n_eval: int,
           candidates: dict[str, Sample], reference: Sample) -> None:
    config = result.config
    run_dir = result.run_dir
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{result.run_id}-", dir=run_dir.parent))
    try:
        refiner.save(tmp / "model")
        history = getattr(refiner, "history_", [])
        if history:
            import pandas as pd

            pd.DataFrame(history).to_csv(tmp / "history.csv", index=False)
        resolved = asdict(config) | {"params": result.params, "data_key": result.data_key,
                                     "task_version": task.version,
                                     "provenance": result.provenance}
        atomic_write_json(tmp / "config.json", resolved)
        atomic_write_json(tmp / "result.json", result.to_json())
        evaluation_table(candidates, reference).to_parquet(tmp / "evaluation.parquet",
                                                           index=False)
        tmp.rename(run_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    rows = []
    identity = {"run_id": result.run_id, "task": config.task, "task_version": task.version,
                "data_key": result.data_key, "refiner": config.refiner, "seed": config.seed,
                "data_seed": config.data_seed, "budget": config.budget, "n_train": n_train,
                "n_eval": n_eval, "status": "ok", "command": config.command}
    for metric_name, per in result.metrics.items():
        for candidate, value in per.items():
            rows.append(identity | {"metric": metric_name, "candidate": candidate,
                                    "value": value.value, "error": value.error}
                        | param_columns(result.params) | result.timings
                        | result.provenance | {"run_dir": str(run_dir)})
    try:
        ResultsStore(config.results_dir).append(result.run_id, rows)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if config.json_path:
        atomic_write_json(Path(config.json_path), result.to_json())
