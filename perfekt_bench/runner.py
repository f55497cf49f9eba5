"""What ``perfekt-bench run`` does, as a function that code can call: load the task's data, fit
the refiner, evaluate three candidates with the task's yardstick, record everything."""

from __future__ import annotations

import math
import shutil
import sys
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .budgets import check_budget
from .cache import SPLITS, DataCache, resolved_size
from .errors import ConfigurationError, IncompatibleError
from .evaluation import evaluate, evaluation_candidates
from .fileio import atomic_write_json
from .hyperparameters import resolve_params
from .provenance import provenance
from .results import ResultsStore, results_root
from .rundir import write_run_folder
from .runs import RunConfig, RunResult
from .transformed import TransformedRefiner

if TYPE_CHECKING:
    from .data import Splits, Triplets
    from .plugins import PluginHost
    from .refiner import Refiner
    from .task import Task


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
    """The refiner with the budget's defaults, the task's hints, the user's overrides, seed and
    device, every value checked against the refiner's declarations."""
    cls = host.refiner_class(config.refiner)
    if cls.needs_pairs and not task.paired:
        raise IncompatibleError(
            f"refiner {cls.name!r} needs paired fastsim/fullsim objects, but task "
            f"{task.name!r} is not paired; choose a refiner that works without pairs")
    params = resolve_params(cls, task, config.budget, config.params)
    refiner = cls()
    refiner.set_params(**params, seed=config.seed, device=config.device)
    return refiner


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


def load_data(config: RunConfig, task: Task, parts: tuple[str, ...] = SPLITS) -> Splits:
    """The splits a run fits and evaluates on: a cached data set by name, or generated data.
    Only ``parts`` are read (the others are None): tuning never reads the test split."""
    cache = DataCache(config.cache_dir)
    if config.dataset is not None:
        splits = cache.load_dataset(task, config.dataset, parts=parts)
        n = sum(len(getattr(splits, part)) for part in parts)
        _log(config.progress, f"loaded data set {config.dataset!r} of task {task.name!r}: "
                              f"{n} objects")
        return splits
    size = resolved_size(task, config.size, config.budget)
    _log(config.progress, f"loading task {task.name!r}: {size} objects, data seed "
                          f"{config.data_seed} ({config.budget} budget)")
    return cache.load(task, size, config.data_seed, progress=config.progress,
                      workers=config.workers, parts=parts)


def run(config: RunConfig, host: PluginHost | None = None) -> RunResult:
    """Load the task, fit the refiner, evaluate the three candidates, write the results.

    Nothing is written unless the run succeeds: the run folder is assembled under a temporary
    name and renamed, then the store's row file is written atomically. Plugins' run_finished
    hooks (the figures among them) run last.
    """
    from .plugins import default_host

    host = host or default_host()
    check_budget(config.budget)
    task = host.task(config.task)
    metrics = [m for m in host.metric_instances(config.metrics) if m.applies_to(task)]
    check_device(config.device)
    refiner = build_refiner(host, config, task)
    params = refiner.get_params()
    transform = task.feature_transform() if config.transform else None
    if transform is not None:
        refiner = TransformedRefiner(refiner, transform)
        params = params | {"transform": transform.name}

    splits = load_data(config, task)
    _log(config.progress, f"fitting {refiner.name!r} on {len(splits.train)} objects "
                          f"(validation {len(splits.validation)}) on {config.device}")
    start = time.perf_counter()
    refiner.fit(splits.train, splits.validation, progress=config.progress)
    fit_seconds = time.perf_counter() - start

    refinement, timings = time_refine(refiner, splits.test, config.latency_repeats)
    timings = {"fit_seconds": fit_seconds} | timings
    candidates, targets, reference = evaluation_candidates(
        splits.test, refinement.x, refinement.weight)
    settings = task.evaluation()
    values = evaluate(metrics, settings, candidates, targets, reference,
                      progress=config.progress)

    run_id = (time.strftime("%Y%m%d-%H%M%S") + f"-{task.name}-{refiner.name}-s{config.seed}-"
              + uuid.uuid4().hex[:6])
    run_dir = results_root(config.results_dir) / "runs" / run_id
    origins = [host.origin_of("task", task.name), host.origin_of("refiner", refiner.name),
               *(host.origin_of("metric", m.name) for m in metrics)]
    result = RunResult(run_id, config, params, values, timings, run_dir, splits.key,
                       provenance(config.device), origins,
                       directions={m.name: m.lower_is_better for m in metrics},
                       task_version=task.version,
                       n_train=len(splits.train), n_eval=len(candidates["fastsim"]))
    resolved = asdict(config) | {"params": result.params, "data_key": result.data_key,
                                 "task_version": task.version, "provenance": result.provenance,
                                 "plugins": [vars(p) for p in origins]}
    write_run_folder(run_dir, refiner=refiner, config=resolved, result=result.to_json(),
                     settings=settings, candidates=candidates, reference=reference)
    try:
        ResultsStore(config.results_dir).append(result)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if config.json_path:
        atomic_write_json(Path(config.json_path), result.to_json())
    host.run_finished(result)
    return result
