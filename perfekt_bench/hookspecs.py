"""Every extension point of perfekt-bench, in one place.

A plugin is a module (or object) with functions decorated by ``perfekt_bench.hookimpl`` whose
names match the hooks below. Distributions make their plugins known through the entry-point
group ``perfekt_bench``; the built-in tasks, refiners and metrics register through that very
group. Hooks take keyword arguments only, and an implementation may accept any subset of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .registry import Registry
    from .runner import RunResult

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
    ``outputs_weights``, budget defaults (:meth:`~perfekt_bench.Refiner.defaults`), tiny CPU
    settings for the conformance suite and an Optuna search space.
    """


@hookspec
def perfekt_bench_register_metrics(registry: Registry) -> None:
    """Register :class:`perfekt_bench.Metric` subclasses with ``registry.add(MetricClass)``.

    Metric names become result-store values and leaderboard columns: keep them stable.
    Every applicable registered metric is evaluated for every run.
    """


# -- running: called by ``perfekt-bench run`` -----------------------------------------------


@hookspec
def perfekt_bench_run_finished(result: RunResult) -> None:
    """Called after a run's numbers were written to the results store and its run folder.

    ``result`` holds the task and refiner names, the seed, budget and device, the measured
    metric values per candidate, the timings and the run folder. Use it to forward results to
    an experiment tracker, say; an exception raised here is reported but the run's files
    stay written.
    """
