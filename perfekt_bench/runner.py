"""What ``perfekt-bench run`` does, as a function that code can call: load the task's data, fit
the refiner, evaluate three candidates with the task's yardstick, record everything."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cache import SPLITS, DataCache, cache_label, resolved_size
from .errors import ConfigurationError, DataError, IncompatibleError
from .evaluation import evaluate, evaluation_candidates
from .fileio import atomic_write_json, check_output_dir, check_output_file, writer_tag
from .hyperparameters import resolve_params
from .provenance import provenance
from .results import ResultsStore, results_label, results_root, sweep
from .rundir import write_run_folder
from .runs import RunConfig, RunResult, new_run_id
from .transformed import TransformedRefiner

if TYPE_CHECKING:
    from .data import Splits, Triplets
    from .metric import Metric, MetricValue
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


def configured_refiner(host: PluginHost, config: RunConfig, task: Task
                       ) -> tuple[Refiner, dict[str, Any]]:
    """The refiner a run fits (wrapped in the task's transform unless ``config.transform`` is
    False) and its resolved hyperparameters, as stored in the ``p_*`` columns."""
    refiner = build_refiner(host, config, task)
    params = refiner.get_params()
    transform = task.feature_transform() if config.transform else None
    if transform is not None:
        refiner = TransformedRefiner(refiner, transform)
        params = params | {"transform": transform.name}
    return refiner, params


def time_refine(refiner: Refiner, test: Triplets) -> tuple[Any, dict[str, float]]:
    """Refine the test set once (batched), timed; single objects are timed by
    :func:`perfekt_bench.latency.measure_latency`."""
    start = time.perf_counter()
    refinement = refiner.refine(test.x_fast, test.g)
    batched = time.perf_counter() - start
    return refinement, {"refine_seconds_per_object": batched / len(test)}


def measure_latency(refiner: Refiner, test: Triplets, queries: int
                    ) -> tuple[dict[str, dict[str, MetricValue]], dict[str, bool], dict[str, str]]:
    """The latency metrics of the refined candidate, their directions and backends (none
    when ``queries`` is 0)."""
    if queries <= 0:
        return {}, {}, {}
    from .latency import measure_latency

    latency = measure_latency(refiner, test.x_fast, test.g, queries=queries)
    return ({name: {"refined": value} for name, value in latency.metrics.items()},
            latency.directions, dict.fromkeys(latency.metrics, latency.backend))


def select_metrics(host: PluginHost, config: RunConfig, task: Task) -> list[Metric]:
    """The metrics to measure: all that apply to ``task``, or the ones named in
    ``config.metrics``, each of which must apply (else an error saying why and where it does)."""
    metrics = host.metric_instances(config.metrics)
    if config.metrics is None:
        return [m for m in metrics if m.applies_to(task)]
    for metric in metrics:
        reason = metric.why_not(task)
        if reason is not None:
            where = [name for name, cls in host.tasks.items() if metric.applies_to(cls())]
            raise IncompatibleError(
                f"metric {metric.name!r} does not apply to task {task.name!r}: {reason}; it "
                f"applies to: {', '.join(where) or 'no installed task'}")
    return metrics


def split_needs(min_fit: int, metrics: list[Metric]) -> tuple[int, int, int]:
    """The fewest (train, validation, test) objects a run needs: ``min_fit`` (the refiner's
    ``min_objects``) to train and to validate, and a test split whose two halves (candidates
    and reference) each hold the largest ``min_objects`` of the metrics."""
    return min_fit, min_fit, 2 * max((m.min_objects for m in metrics), default=1)


def check_sizes(need: tuple[int, int, int], sizes: tuple[int, int, int], what: str,
                hint: str = "") -> None:
    """Refuse, before training, splits smaller than ``need`` (:func:`split_needs`)."""
    if all(have >= wanted for have, wanted in zip(sizes, need, strict=True)):
        return
    raise DataError(
        f"{what} splits into {sizes[0]} train / {sizes[1]} validation / {sizes[2]} test "
        f"objects; a run needs at least {need[0]} / {need[1]} / {need[2]} (the test split "
        f"is halved into candidates and reference, and each half needs {need[2] // 2}){hint}")


def planned_sizes(task: Task, size: int) -> tuple[int, int, int]:
    """(train, validation, test) objects that ``size`` splits into (as the cache splits)."""
    n_train = int(round(task.split_fractions[0] * size))
    n_val = int(round(task.split_fractions[1] * size))
    return n_train, n_val, size - n_train - n_val


def smallest_size(task: Task, need: tuple[int, int, int]) -> int:
    """The fewest objects whose splits meet ``need``."""
    size = max(sum(need), 1)
    while not all(h >= w for h, w in zip(planned_sizes(task, size), need, strict=True)):
        size += 1
    return size


def check_outputs(config: RunConfig) -> None:
    """Every place a run writes, checked before any work (:mod:`perfekt_bench.fileio`)."""
    check_output_dir(results_root(config.results_dir), results_label(config.results_dir))
    check_output_dir(DataCache(config.cache_dir).root, cache_label(config.cache_dir))
    if config.json_path:
        check_output_file(config.json_path, f"--json {config.json_path}")


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
    config.validate()
    check_outputs(config)
    sweep(results_root(config.results_dir))
    task = host.task(config.task)
    metrics = select_metrics(host, config, task)
    check_device(config.device)
    refiner, params = configured_refiner(host, config, task)
    need = split_needs(refiner.min_objects, metrics)
    if config.dataset is None:
        size = resolved_size(task, config.size, config.budget)
        check_sizes(need, planned_sizes(task, size), f"task {task.name!r} with {size} objects",
                    f"; use --size {smallest_size(task, need)} or more")

    splits = load_data(config, task)
    if config.dataset is not None:
        check_sizes(need, (len(splits.train), len(splits.validation), len(splits.test)),
                    f"data set {config.dataset!r}")
    if refiner.needs_pairs and not splits.train.paired:
        raise IncompatibleError(
            f"refiner {refiner.name!r} needs paired fastsim/fullsim objects, but the data set "
            f"{config.dataset or splits.key!r} of task {task.name!r} is not paired; choose a "
            "refiner that works without pairs")
    _log(config.progress, f"fitting {refiner.name!r} on {len(splits.train)} objects "
                          f"(validation {len(splits.validation)}) on {config.device}")
    start = time.perf_counter()
    refiner.fit(splits.train, splits.validation, progress=config.progress)
    fit_seconds = time.perf_counter() - start

    refinement, timings = time_refine(refiner, splits.test)
    timings = {"fit_seconds": fit_seconds} | timings
    candidates, targets, reference = evaluation_candidates(
        splits.test, refinement.x, refinement.weight)
    settings = task.evaluation()
    values = evaluate(metrics, settings, candidates, targets, reference,
                      progress=config.progress)
    latency, latency_directions, backends = measure_latency(refiner, splits.test,
                                                            config.latency_repeats)

    run_id = config.run_id or new_run_id(task.name, refiner.name, config.seed)
    run_dir = ResultsStore(config.results_dir).run_dir(run_id)
    origins = [host.origin_of("task", task.name), host.origin_of("refiner", refiner.name),
               *(host.origin_of("metric", m.name) for m in metrics)]
    result = RunResult(run_id, config, params, values | latency, timings, run_dir, splits.key,
                       provenance(config.device), origins,
                       directions={m.name: m.lower_is_better for m in metrics}
                       | latency_directions, backends=backends,
                       task_version=task.version,
                       n_train=len(splits.train), n_eval=len(candidates["fastsim"]))
    resolved = asdict(config) | {"params": result.params, "data_key": result.data_key,
                                 "task_version": task.version, "provenance": result.provenance,
                                 "plugins": [vars(p) for p in origins], "writer": writer_tag()}
    write_run_folder(run_dir, refiner=refiner, config=resolved, result=result.to_json(),
                     settings=settings, candidates=candidates, reference=reference)
    # the store file last: a run is stored when its row file exists, and a folder left without
    # one by a killed process is swept by the next command (results.sweep)
    json_path = Path(config.json_path) if config.json_path else None
    try:
        if json_path is not None:
            atomic_write_json(json_path, result.to_json())
        ResultsStore(config.results_dir).append(result)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        if json_path is not None:
            json_path.unlink(missing_ok=True)
        raise
    host.run_finished(result)
    return result
