"""What a finished ``perfekt-bench tune`` leaves in its study folder: the best trial(s) and
their settings as JSON, and Optuna's figures as PNG (optimisation history, parameter
importances, parallel coordinates, intermediate values; the Pareto front for several
objectives)."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import PerfektBenchWarning
from .fileio import atomic_path, atomic_write_json
from .refiner import decode_params

if TYPE_CHECKING:
    from .objectives import Objective

SUMMARY_FILE = "best.json"


def best_trials(study: Any, objectives: Sequence[Objective]) -> list[Any]:
    """The best complete trial (one objective) or the Pareto-optimal ones (several), best on
    the first objective first; empty before any trial completed."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    if len(objectives) == 1:
        return [study.best_trial]
    sign = -1.0 if not objectives[0].lower_is_better else 1.0
    return sorted(study.best_trials, key=lambda t: (sign * t.values[0], t.number))


def trial_params(trial: Any) -> dict[str, Any]:
    """Every hyperparameter a trial trained with (budget, task hints, fixed and searched)."""
    return decode_params(trial.user_attrs.get("params", {}))


def trial_doc(trial: Any, objectives: Sequence[Objective]) -> dict[str, Any]:
    return {"number": trial.number,
            "values": {o.name: _num(v) for o, v in zip(objectives, trial.values, strict=True)},
            "searched": dict(trial.params), "params": trial.user_attrs.get("params", {}),
            "fit_seconds": trial.user_attrs.get("fit_seconds")}


def summary(study: Any, objectives: Sequence[Objective], *, setup: dict[str, Any],
            storage: str, pruning: str, counts: dict[str, int]) -> dict[str, Any]:
    """The study's JSON summary: what was tuned, how, the trials by state, the share pruned,
    the wall time (:func:`busy_seconds`), and the best."""
    done = counts.get("complete", 0) + counts.get("pruned", 0)
    return {"study": study.study_name, "storage": storage, **setup,
            "objectives": [{"name": o.name, "direction": o.direction} for o in objectives],
            "pruning": pruning, "trials": counts,
            "pruned_share": counts.get("pruned", 0) / done if done else None,
            "wall_seconds": busy_seconds(study),
            "best": [trial_doc(t, objectives) for t in best_trials(study, objectives)]}


def busy_seconds(study: Any) -> float | None:
    """The study's wall time: how long at least one of its finished (complete or pruned)
    trials was running. A study resumed hours later does not count the pause, and a failed
    trial does not count, since a trial whose worker was killed is only marked failed when
    the study next starts."""
    from optuna.trial import TrialState

    spans = sorted((t.datetime_start, t.datetime_complete) for t in study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if t.datetime_start is not None and t.datetime_complete is not None)
    if not spans:
        return None
    total, (start, end) = 0.0, spans[0]
    for s, e in spans[1:]:
        if s > end:
            total += (end - start).total_seconds()
            start, end = s, e
        else:
            end = max(end, e)
    return total + (end - start).total_seconds()


def write_summary(folder: Path, doc: dict[str, Any]) -> Path:
    path = folder / SUMMARY_FILE
    atomic_write_json(path, doc)
    return path


def draw_figures(study: Any, folder: Path, objectives: Sequence[Objective]) -> list[Path]:
    """Optuna's matplotlib figures of the study as PNG in ``folder``; a figure Optuna cannot
    draw yet (too few trials) is named in a warning and skipped."""
    import matplotlib

    matplotlib.use("Agg")
    import optuna
    from optuna.visualization import matplotlib as ov

    names = [o.name for o in objectives]
    plots: list[tuple[str, Callable[[], Any]]] = []
    for i, name in enumerate(names):
        suffix = "" if len(names) == 1 else f"_{name}"
        target = None if len(names) == 1 else (lambda t, i=i: t.values[i])
        plots += [
            (f"history{suffix}", lambda t=target, n=name: ov.plot_optimization_history(
                study, target=t, target_name=n)),
            (f"importances{suffix}", lambda t=target, n=name: ov.plot_param_importances(
                study, target=t, target_name=n)),
            (f"parallel_coordinates{suffix}", lambda t=target, n=name:
             ov.plot_parallel_coordinate(study, target=t, target_name=n)),
        ]
    if len(names) > 1:
        plots.append(("pareto_front", lambda: ov.plot_pareto_front(study, target_names=names)))
    elif any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        plots.append(("intermediate_values", lambda: ov.plot_intermediate_values(study)))
    written = []
    for stem, plot in plots:
        failure = None
        with warnings.catch_warnings():  # Optuna's "experimental" and few-trials notes
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.simplefilter("ignore", UserWarning)
            try:
                axes = plot()
            except (ValueError, RuntimeError, ZeroDivisionError) as exc:
                failure = exc
        if failure is not None:
            warnings.warn(f"study figure {stem} not drawn: {failure}", PerfektBenchWarning,
                          stacklevel=2)
            continue
        figure = _figure_of(axes)
        figure.set_size_inches(11 if stem.startswith("parallel") else 8, 5)
        figure.tight_layout()
        path = folder / f"{stem}.png"
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=110)
        matplotlib.pyplot.close(figure)
        written.append(path)
    return written


def _figure_of(axes: Any) -> Any:
    first = axes.flat[0] if hasattr(axes, "flat") else axes
    return first.figure


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def read_summary(folder: Path) -> dict[str, Any]:
    return json.loads((folder / SUMMARY_FILE).read_text())
