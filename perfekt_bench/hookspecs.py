"""Every extension point of perfekt-bench, in one place.

A plugin is a module (or object) with functions decorated by ``perfekt_bench.hookimpl`` whose
names match the hooks below. Distributions make their plugins known through the entry-point
group ``perfekt_bench``; the built-in tasks, refiners, metrics and figures register through
that very group. Hooks take keyword arguments only, and an implementation may accept any subset
of them. This module imports nothing at run time beyond pluggy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    from .registry import Registry
    from .runs import RunResult

hookspec = pluggy.HookspecMarker("perfekt_bench")


# -- registration: called once when the plugin manager is built ----------------------------


@hookspec
def perfekt_bench_register_tasks(registry: Registry) -> None:
    """Register :class:`perfekt_bench.Task` subclasses with ``registry.add(TaskClass)``.

    Each class carries its own ``name`` (the ``--task`` value), ``version`` and ``summary``.
    Register classes, not instances, and keep heavy imports (torch, pythia8mc, fastjet) out of
    the module's top level: the hook runs for every command, ``--help`` included.
    A name registered twice is an error that names both plugins.
    """


@hookspec
def perfekt_bench_register_refiners(registry: Registry) -> None:
    """Register :class:`perfekt_bench.Refiner` subclasses with ``registry.add(RefinerClass)``.

    The class's ``name`` becomes the ``--refiner`` value. The class declares ``needs_pairs``,
    ``outputs_weights``, budget defaults (:meth:`~perfekt_bench.Refiner.defaults`), the task
    hint families it reads (``hint_keys``), tiny CPU settings for the conformance suite and an
    Optuna search space.
    """


@hookspec
def perfekt_bench_register_metrics(registry: Registry) -> None:
    """Register :class:`perfekt_bench.Metric` subclasses with ``registry.add(MetricClass)``.

    The harness instantiates each metric with no arguments, once per run. Metric names become
    result-store values and leaderboard columns: keep them stable. Every registered metric that
    applies to a task (:meth:`~perfekt_bench.Metric.applies_to`) is evaluated in every run.
    """


# -- running: called by ``perfekt-bench run`` and ``compare`` --------------------------------


@hookspec
def perfekt_bench_run_finished(result: RunResult) -> None:
    """Called after a run's numbers were written to the results store and its run folder.

    ``result`` (:class:`perfekt_bench.RunResult`) holds the configuration (task and refiner
    names, seed, budget, device, whether figures are wanted: ``result.config.plots``), the
    resolved hyperparameters, the measured metric values per candidate, the timings, the
    plugins that supplied each part, and the run folder. Use it to draw figures (the built-in
    figures plugin does) or to forward results to an experiment tracker. An exception raised
    here is reported as a warning naming the plugin; the run's files stay written and the other
    plugins' hooks still run.
    """


# -- figures: called by ``perfekt-bench plot`` -----------------------------------------------


@hookspec
def perfekt_bench_draw_figures(run_dir: Path, out_dir: Path) -> list[Path]:
    """Draw figures of the finished run in ``run_dir`` into ``out_dir`` and return their paths.

    Read only what the run folder holds (:mod:`perfekt_bench.rundir`: the evaluated samples,
    the yardstick, the history, the configuration), never the task through the plugin host, so
    that a run can be redrawn anywhere. Write each file atomically
    (:func:`perfekt_bench.fileio.atomic_path`). ``perfekt-bench plot RUN_DIR`` calls every
    implementation; an exception is reported as a warning naming the plugin.
    """
