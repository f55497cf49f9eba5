"""What ``perfekt-bench tune`` does, as a function code can call: search a refiner's declared
hyperparameters with Optuna on the validation split, then run the best settings on the test
split through the ordinary run path.

Each trial fits the refiner on the training split with the budget's values, the task's hints,
the user's fixed values and the trial's suggestions, and measures the objectives on the
validation split (:mod:`.objectives`); the test split is never read while tuning. The refiner
reports a validation loss per epoch (the ``report`` of its ``fit``), so the pruner stops
unpromising trials; a multi-objective study cannot prune. Storages, the shared trial budget
and killed workers are :mod:`.studies`' business; the study folder's JSON and figures
:mod:`.study_report`'s. The final runs (``final_seeds``) are ordinary stored runs that carry
the study's name and trial count.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import studies
from .budgets import DEFAULT_BUDGET, check_budget
from .errors import (
    ConfigurationError,
    IncompatibleError,
    PerfektBenchError,
    PerfektBenchWarning,
)
from .hyperparameters import declared, resolve_params, suggest, tuned
from .objectives import measure, resolve_objectives
from .refiner import encode_params
from .runs import RunConfig

if TYPE_CHECKING:
    from .data import Splits
    from .objectives import Objective
    from .plugins import PluginHost
    from .refiner import Refiner
    from .runs import RunResult
    from .task import Task

#: a worker stops after this many failed trials in a row (a refiner that cannot train)
MAX_FAILURES_IN_A_ROW = 3
#: what :func:`tune` reads of the data: never the test split
TUNING_SPLITS = ("train", "validation")


@dataclass
class TuneConfig:
    """Everything that defines a ``perfekt-bench tune`` command.

    ``trials``: the number of finished (complete or pruned) trials the study should hold;
    a rerun continues up to it. ``timeout``: seconds after which no new trial starts.
    ``objectives``: metric (or measure) names, the task's primary metric when empty.
    ``params``: hyperparameters fixed for every trial (not searched). ``seed``: the training
    seed of every trial and the base of the sampler's. ``final_seeds``: run the best settings
    on the test split with these seeds; ``final_trial``: a trial number to run instead of the
    best one. ``workers``: processes that share the study (and generate the data).
    """

    task: str
    refiner: str
    trials: int = 20
    timeout: float | None = None
    budget: str = DEFAULT_BUDGET
    storage: str | None = None
    study: str | None = None
    workers: int = 1
    objectives: list[str] = field(default_factory=list)
    pruner: str = "median"
    seed: int = 0
    final_seeds: list[int] = field(default_factory=list)
    final_trial: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    size: int | None = None
    data_seed: int = 0
    dataset: str | None = None
    device: str = "cpu"
    transform: bool = True
    results_dir: str | None = None
    cache_dir: str | None = None
    progress: bool = True
    plots: bool = True
    command: str | None = None

    def run_config(self, **changes: Any) -> RunConfig:
        """The run this study's trials (and final runs) are made of."""
        base = RunConfig(task=self.task, refiner=self.refiner, seed=self.seed,
                         budget=self.budget, device=self.device, size=self.size,
                         data_seed=self.data_seed, params=dict(self.params),
                         results_dir=self.results_dir, cache_dir=self.cache_dir,
                         progress=self.progress, plots=self.plots, dataset=self.dataset,
                         workers=self.workers, transform=self.transform, command=self.command)
        return replace(base, **changes)


@dataclass
class TuneResult:
    """What a tuning command left: the study, its trials by state, the best trial(s), the
    study folder's files and the final runs."""

    study: str
    storage: str
    objectives: list[Objective]
    counts: dict[str, int]
    best: list[dict[str, Any]]
    folder: Path
    summary_path: Path
    figures: list[Path]
    pruning: str
    wall_seconds: float
    final_runs: list[RunResult] = field(default_factory=list)
    killed_workers: list[int] = field(default_factory=list)


@dataclass
class Plan:
    """A checked :class:`TuneConfig`: everything a worker needs, resolved before any data."""

    config: TuneConfig
    task: Task
    refiner_class: type[Refiner]
    objectives: list[Objective]
    base_params: dict[str, Any]
    searched: list[Any]
    study_name: str
    storage: str
    folder: Path
    prune: bool
    setup: dict[str, Any]


def plan(config: TuneConfig, host: PluginHost) -> Plan:
    """Check every option, the refiner's declarations and the fixed values, and name the
    study, before any data are loaded."""
    from .runner import check_device

    check_budget(config.budget)
    if config.trials < 1:
        raise ConfigurationError(f"--trials must be at least 1, got {config.trials}")
    if config.workers < 1:
        raise ConfigurationError(f"--workers must be at least 1, got {config.workers}")
    if config.timeout is not None and not config.timeout > 0:
        raise ConfigurationError(f"--timeout must be positive, got {config.timeout}")
    if config.pruner not in studies.PRUNERS:
        raise ConfigurationError(f"unknown pruner {config.pruner!r}; known: "
                                 f"{', '.join(studies.PRUNERS)}")
    task = host.task(config.task)
    cls = host.refiner_class(config.refiner)
    if cls.needs_pairs and not task.paired:
        raise IncompatibleError(
            f"refiner {cls.name!r} needs paired fastsim/fullsim objects, but task "
            f"{task.name!r} is not paired; choose a refiner that works without pairs")
    if declared(cls) is None:
        raise ConfigurationError(
            f"refiner {cls.name!r} declares no hyperparameters, so there is nothing to search "
            "(see docs/plugins.md, 'Declaring hyperparameters')")
    base = resolve_params(cls, task, config.budget, config.params)
    searched = tuned(cls, fixed=config.params)
    if not searched:
        fixed = f" (all of them fixed by --set: {', '.join(config.params)})" if any(
            hp.search for hp in declared(cls).values()) else ""
        raise ConfigurationError(f"refiner {cls.name!r} has no hyperparameter to search"
                                 f"{fixed}; 'perfekt-bench plugins --refiner {cls.name}' "
                                 "lists them")
    objectives = resolve_objectives(config.objectives, host, task)
    check_device(config.device)
    name = config.study or default_study_name(config, objectives, task)
    storage = config.storage or studies.default_storage(config.results_dir)
    multi = len(objectives) > 1
    setup = {"task": task.name, "refiner": cls.name, "budget": config.budget,
             "size": config.size, "data_seed": config.data_seed, "dataset": config.dataset,
             "transform": config.transform, "seed": config.seed,
             "objectives": [o.name for o in objectives],
             "fixed": encode_params(config.params)}
    return Plan(config, task, cls, objectives, base, searched, name, storage,
                studies.study_folder(config.results_dir, name),
                prune=not multi and config.pruner != "none", setup=setup)


def default_study_name(config: TuneConfig, objectives: list[Objective], task: Task) -> str:
    """``<task>-<refiner>-<budget>``, with the objectives when they are not the primary
    metric and the data when they are not the budget's, so that rerunning a command continues
    its own study."""
    name = f"{task.name}-{config.refiner}-{config.budget}"
    names = [o.name for o in objectives]
    if names != [task.evaluation().primary_metric]:
        name += "-" + "+".join(names)
    if config.dataset:
        name += f"-{config.dataset}"
    if config.size is not None:
        name += f"-n{config.size}"
    if config.data_seed:
        name += f"-data{config.data_seed}"
    return name


def tune(config: TuneConfig, host: PluginHost | None = None) -> TuneResult:
    """Run the study up to ``config.trials`` finished trials, write its summary and figures,
    and run the best settings on the test split with each of ``config.final_seeds``."""
    from .plugins import default_host
    from .runner import load_data

    host = host or default_host()
    p = plan(config, host)
    if config.final_trial is not None and not config.final_seeds:
        raise ConfigurationError("--final-trial picks the trial of the final runs: give "
                                 "--final-seeds too")
    start = time.perf_counter()
    storage = studies.open_storage(p.storage)  # an unreachable database fails before the data
    splits = load_data(config.run_config(), p.task, parts=TUNING_SPLITS)
    p.setup["data_key"] = splits.key
    study = open_study(p, storage, worker=0)
    _say(config, f"study {p.study_name!r} in {studies.storage_label(p.storage)}: "
                 f"{studies.finished(study)} of {config.trials} trials done; objective(s) "
                 + ", ".join(f"{o.name} ({o.direction})" for o in p.objectives)
                 + " on the validation split")
    pruning = pruning_note(p)
    _say(config, pruning)
    killed: list[int] = []
    if config.workers == 1:
        progress = Progress(config, study)
        try:
            run_worker(p, study, splits, on_trial=progress.update)
        finally:
            progress.close()
    else:
        killed = run_workers(p, study)
    studies.fail_stale_trials(study)
    if studies.finished(study) < config.trials and config.timeout is None:
        warnings.warn(f"study {p.study_name!r} holds {studies.finished(study)} of "
                      f"{config.trials} finished trials: rerun the command to continue it",
                      PerfektBenchWarning, stacklevel=2)
    folder = p.folder
    doc = _summary(p, study, pruning)
    summary_path = _write_summary_file(folder, doc)
    from .study_report import draw_figures

    figures = draw_figures(study, folder, p.objectives) if config.plots else []
    result = TuneResult(p.study_name, studies.storage_label(p.storage), p.objectives,
                        doc["trials"], doc["best"], folder, summary_path, figures, pruning,
                        time.perf_counter() - start, killed_workers=killed)
    if config.final_seeds:
        result.final_runs = final_runs(p, study, host)
    return result


def _say(config: TuneConfig, message: str) -> None:
    if config.progress:
        print(message, file=sys.stderr, flush=True)


def pruning_note(p: Plan) -> str:
    if len(p.objectives) > 1:
        return ("several objectives: Optuna cannot prune a multi-objective study, so every "
                "trial trains to the end; the result is a Pareto front")
    if p.config.pruner == "none":
        return "pruning off: every trial trains to the end"
    if not p.refiner_class().reports_epochs():
        return (f"refiner {p.refiner_class.name!r} reports no per-epoch losses (its fit takes "
                "no 'report'), so no trial is pruned")
    return f"pruning: {p.config.pruner}, on the validation loss the refiner reports per epoch"


def open_study(p: Plan, storage: Any, worker: int) -> Any:
    """The plan's study (created on first use), with this worker's sampler and the pruner."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    existing = 0
    with contextlib.suppress(KeyError):  # KeyError: a new study
        existing = len(optuna.load_study(study_name=p.study_name, storage=storage)
                       .get_trials(deepcopy=False))
    return studies.open_study(
        p.study_name, storage, [o.direction for o in p.objectives], p.setup,
        sampler=studies.sampler(p.config.seed, worker, existing, p.config.trials),
        pruner=studies.pruner(p.config.pruner, len(p.objectives) > 1),
        metric_names=[o.name for o in p.objectives])


# -- a worker ------------------------------------------------------------------------------


def run_worker(p: Plan, study: Any, splits: Splits, on_trial=None) -> int:
    """Ask for trials and run them until the study holds ``trials`` trials (or the timeout
    passes); the number of trials this worker ran."""
    from optuna.trial import TrialState

    deadline = None if p.config.timeout is None else time.monotonic() + p.config.timeout
    ran, failures = 0, 0
    while deadline is None or time.monotonic() < deadline:
        with studies.budget_lock(p.folder):
            studies.fail_stale_trials(study)
            if studies.in_budget(study) >= p.config.trials:
                break
            trial = study.ask()
            trial.set_user_attr("worker", studies.worker_identity())
        try:
            with studies.heartbeat(trial):
                state, values, error = run_trial(p, trial, splits)
        except BaseException:  # interrupted: the trial must not stay running
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise
        if error is not None:
            trial.set_user_attr("error", error[:2000])
        study.tell(trial, values if state == TrialState.COMPLETE else None, state=state)
        ran += 1
        failures = failures + 1 if state == TrialState.FAIL else 0
        if on_trial is not None:
            on_trial(study)
        if failures >= MAX_FAILURES_IN_A_ROW:
            raise PerfektBenchError(
                f"{failures} trials in a row failed in study {p.study_name!r}; the last: "
                f"{error}")
    return ran


def run_trial(p: Plan, trial: Any, splits: Splits) -> tuple[Any, list[float] | None, str | None]:
    """Fit and measure one trial: (state, values, error text)."""
    import optuna
    from optuna.trial import TrialState

    from .transformed import TransformedRefiner

    suggested = suggest(trial, p.searched)
    params = p.base_params | suggested
    trial.set_user_attr("params", encode_params(params))
    refiner = p.refiner_class()
    refiner.set_params(**params, seed=p.config.seed, device=p.config.device)
    transform = p.task.feature_transform() if p.config.transform else None
    if transform is not None:
        refiner = TransformedRefiner(refiner, transform)
    extra = {}
    if p.prune and refiner.reports_epochs():
        extra["report"] = _pruning_report(trial)
    try:
        start = time.perf_counter()
        refiner.fit(splits.train, splits.validation, progress=False, **extra)
        fit_seconds = time.perf_counter() - start
        trial.set_user_attr("fit_seconds", fit_seconds)
        values = measure(p.objectives, refiner, splits.validation, p.task, fit_seconds)
    except optuna.TrialPruned:
        return TrialState.PRUNED, None, None
    except Exception as exc:  # a setting the refiner cannot train with: the study goes on
        return TrialState.FAIL, None, f"{type(exc).__name__}: {exc}"
    if not all(math.isfinite(v) for v in values):
        return TrialState.FAIL, None, f"objective value(s) not finite: {values}"
    return TrialState.COMPLETE, values, None


def _pruning_report(trial: Any):
    """The ``report`` given to ``fit``: record the epoch's value, stop when the pruner says."""
    import optuna

    def report(epoch: int, value: float) -> None:
        trial.report(float(value), int(epoch))
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch}")

    return report


# -- several workers -----------------------------------------------------------------------


def run_workers(p: Plan, study: Any) -> list[int]:
    """Run ``workers`` processes on the study (torch threads shared out between them) and
    show the progress from here; the indices of workers that were killed by a signal."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // p.config.workers)
    processes = [context.Process(target=_worker_main, args=(p.config, i, threads),
                                 name=f"perfekt-bench-tune-{i}")
                 for i in range(p.config.workers)]
    for process in processes:
        process.start()
    progress = Progress(p.config, study)
    try:
        while any(process.is_alive() for process in processes):
            time.sleep(1.0)
            progress.update(study)
    except BaseException:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
        raise
    finally:
        progress.update(study)
        progress.close()
    killed = [i for i, process in enumerate(processes) if (process.exitcode or 0) < 0]
    failed = [i for i, process in enumerate(processes) if (process.exitcode or 0) > 0]
    for i in killed:
        print(f"perfekt-bench: warning: tuning worker {i} was killed by signal "
              f"{-processes[i].exitcode}; its trial is marked failed", file=sys.stderr)
    if failed and len(failed) == len(processes):
        raise PerfektBenchError(f"every tuning worker stopped with an error (see above); "
                                f"study {p.study_name!r} keeps its finished trials")
    return killed


def _worker_main(config: TuneConfig, index: int, threads: int) -> None:
    """A worker process: one line on error, exit code 2 (as the CLI)."""
    import torch

    from .plugins import default_host
    from .runner import load_data

    torch.set_num_threads(threads)
    config = replace(config, progress=False)
    try:
        host = default_host()
        p = plan(config, host)
        splits = load_data(config.run_config(), p.task, parts=TUNING_SPLITS)
        p.setup["data_key"] = splits.key
        study = open_study(p, studies.open_storage(p.storage), worker=index + 1)
        run_worker(p, study, splits)
    except PerfektBenchError as exc:
        print(f"perfekt-bench: error: tuning worker {index}: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


class Progress:
    """A progress bar over the study's finished trials, with the best value so far."""

    def __init__(self, config: TuneConfig, study: Any):
        from tqdm.auto import tqdm

        self.multi = len(study.directions) > 1
        self.last: dict[str, int] | None = None
        self.bar = tqdm(total=config.trials, initial=min(studies.finished(study), config.trials),
                        desc=f"tune {study.study_name}", unit="trial",
                        disable=not config.progress)

    def update(self, study: Any) -> None:
        c = studies.counts(study)
        if c == self.last:  # redraw only when a trial has changed state
            return
        self.last = c
        done = c.get("complete", 0) + c.get("pruned", 0)
        self.bar.n = min(done, self.bar.total)
        postfix = {"pruned": c.get("pruned", 0), "failed": c.get("fail", 0)}
        if c.get("complete"):
            if self.multi:
                postfix["pareto"] = len(study.best_trials)
            else:
                postfix["best"] = f"{study.best_value:.4g}"
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


# -- the end: summary and final runs -------------------------------------------------------


def _summary(p: Plan, study: Any, pruning: str) -> dict[str, Any]:
    from .study_report import summary

    return summary(study, p.objectives, setup=p.setup,
                   storage=studies.storage_label(p.storage), pruning=pruning,
                   counts=studies.counts(study))


def _write_summary_file(folder: Path, doc: dict[str, Any]) -> Path:
    from .study_report import write_summary

    return write_summary(folder, doc)


def final_runs(p: Plan, study: Any, host: PluginHost) -> list[RunResult]:
    """The best trial's settings (or ``final_trial``'s) run on the test split, once per final
    seed, through :func:`perfekt_bench.runner.run`: ordinary stored runs with the study's name
    and number of finished trials."""
    from optuna.trial import TrialState

    from .runner import run
    from .study_report import best_trials, trial_params

    if p.config.final_trial is not None:
        chosen = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                  if t.number == p.config.final_trial]
        if not chosen:
            raise ConfigurationError(f"--final-trial {p.config.final_trial}: study "
                                     f"{p.study_name!r} has no complete trial of that number")
        trial = chosen[0]
    else:
        best = best_trials(study, p.objectives)
        if not best:
            raise ConfigurationError(f"study {p.study_name!r} has no complete trial to run "
                                     "on the test split")
        trial = best[0]
    params = trial_params(trial)
    n_trials = studies.finished(study)
    results = []
    for seed in p.config.final_seeds:
        _say(p.config, f"final run: trial {trial.number}'s settings, seed {seed}, on the test "
                       "split")
        config = p.config.run_config(seed=seed, params=params, tuning_study=p.study_name,
                                     tuning_trials=n_trials)
        results.append(run(config, host=host))
    return results
