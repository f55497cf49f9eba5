"""Stored runs into ranked configurations: what a leaderboard decides, before any formatting.

Rows of a table are *configurations*: one refiner with one set of hyperparameters (tuned runs
apart) on one data set (data key, budget and split sizes). Each configuration's seeds are
distinct: where one (configuration, seed) was run twice, the newest run is kept and the other
named. Failed runs are left out and counted.

Ranking (direction-aware, by the task's primary metric): a configuration is *significantly
better* than another when Welch's t-test on their per-seed values rejects equal means at the
5 % level (two-sided) and its mean is better. Its rank is 1 + the number of configurations
significantly better than it (the rule of the Chatbot Arena leaderboard), so rows whose
difference is not significant share a rank. A configuration with a single seed has no seed
spread to test: it is shown, placed by its value, but not ranked. Seeds of different
configurations share nothing but the data (the evaluation halves are the same for every run
of a data set), so there is nothing to pair: the test is unpaired.

The fullsim noise floor: a value *reaches the floor* when it is no worse than the fullsim
row's value plus its spread over test batches (one standard deviation, the papers' ± column).
A configuration is *consistent with the floor* when its mean over seeds reaches it; the number
of seeds that reach it on their own shows a method whose seeds split (e.g. MMD-only on the
analytic task finds the right map at 2 seeds of 10).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DataError

#: the cost metrics of a run (rows of the ``refined`` candidate) and their directions: columns
#: of every table, after the other metrics ("—" for runs that did not measure them)
COST_METRICS = {"latency_p50_ms": True, "latency_p90_ms": True, "throughput": False}
#: significance level of the two-sided test that separates ranks
ALPHA = 0.05
#: hyperparameter columns that vary between runs without making them another configuration
NOT_A_CONFIGURATION = {"p_seed", "p_device"}
#: what makes a data set: rows of different data sets never share a table
DATASET_COLUMNS = ("data_key", "budget", "n_train", "n_eval")


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) \
        and value is not pd.NA


def labelled(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with a ``label`` per run: the refiner's name, followed by the hyperparameters
    in which its (untuned) runs differ (``cms-mdmm (epsilon=0.084)``), so that runs of one
    refiner with different settings get rows of their own instead of being averaged together.
    The final runs of a tuning study are ``<refiner> (tuned, N trials)`` (with the study's name
    where one refiner has several studies)."""
    out = rows.assign(label=rows["refiner"].astype(str))
    studies = rows["tuning_study"] if "tuning_study" in rows else pd.Series(None, index=rows.index)
    tuned = studies.map(_present).astype(bool)
    for refiner, group in rows[~tuned].groupby("refiner"):
        differing = [c for c in group.columns if c.startswith("p_")
                     and c not in NOT_A_CONFIGURATION
                     and group[c].astype(str).nunique() > 1]
        if differing:
            out.loc[group.index, "label"] = [
                f"{refiner} (" + ", ".join(f"{c[2:]}={v}" for c, v in zip(differing, values,
                                                                         strict=True)) + ")"
                for values in group[differing].itertuples(index=False)]
    for refiner, group in rows[tuned].groupby("refiner"):
        several = group["tuning_study"].nunique() > 1
        for study, runs in group.groupby("tuning_study"):
            trials = sorted({int(t) for t in runs.get("tuning_trials", pd.Series()).dropna()})
            count = "–".join(str(t) for t in (trials[:1] + trials[-1:] if len(trials) > 1
                                               else trials)) or "?"
            out.loc[runs.index, "label"] = (f"{refiner} (tuned, {count} trials"
                                            + (f", study {study})" if several else ")"))
    return out


@dataclass
class Stats:
    """One metric of one configuration: per-seed values and their test-batch errors."""

    values: dict[int, float] = field(default_factory=dict)
    errors: dict[int, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.values.values()))) if self.values else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation over seeds (NaN for one seed)."""
        return float(np.std(list(self.values.values()), ddof=1)) if self.n > 1 else math.nan

    @property
    def batch_error(self) -> float:
        """The mean over seeds of the spread over test batches."""
        errors = [e for e in self.errors.values() if _present(e)]
        return float(np.mean(errors)) if errors else math.nan


@dataclass
class Configuration:
    """A row of a table: one refiner's settings on one data set, over its seeds."""

    label: str
    refiner: str
    runs: dict[int, str]
    metrics: dict[str, Stats]
    fit_seconds: Stats
    tuning_trials: int | None = None
    rank: int | None = None
    at_floor: bool | None = None
    seeds_at_floor: int | None = None

    @property
    def seeds(self) -> list[int]:
        return sorted(self.runs)


@dataclass
class Reference:
    """The unrefined fastsim or the fullsim noise floor: (value, spread over test batches)."""

    name: str
    metrics: dict[str, tuple[float, float]]


@dataclass
class DataSetTable:
    """Every configuration run on one data set, ranked."""

    task: str
    data_key: str
    budget: str
    n_train: int
    n_eval: int
    primary: str
    directions: dict[str, bool | None]
    metrics: list[str]
    cost_metrics: list[str]
    configurations: list[Configuration]
    references: dict[str, Reference]
    run_ids: list[str]
    replaced: list[str]
    #: why the table could not be ranked (None: it is ranked)
    unranked: str | None = None

    def floor(self) -> tuple[float, float] | None:
        value = self.references.get("fullsim", Reference("fullsim", {})).metrics.get(
            self.primary)
        return value if value is not None and _present(value[0]) else None

    def reaches_floor(self, value: float) -> bool | None:
        """Whether ``value`` of the primary metric is no worse than floor + its batch spread."""
        floor, lower = self.floor(), self.directions.get(self.primary)
        if floor is None or not _present(value):
            return None
        band = floor[1] if _present(floor[1]) else 0.0
        return value <= floor[0] + band if lower is not False else value >= floor[0] - band


@dataclass
class FailedRun:
    run_id: str
    refiner: str
    seed: int | None
    message: str


@dataclass
class Standings:
    """A task's leaderboard before formatting: one table per data set, the failures, and the
    kept store rows (for provenance)."""

    task: str
    tables: list[DataSetTable]
    failed: list[FailedRun]
    rows: pd.DataFrame

    @property
    def primary(self) -> str:
        return self.tables[0].primary


def welch_pvalue(a: list[float], b: list[float]) -> float | None:
    """Two-sided p-value of Welch's t-test of equal means; None with fewer than two values on
    a side. Two constant samples differ with certainty unless their means are equal."""
    if len(a) < 2 or len(b) < 2:
        return None
    from scipy import stats

    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    diff = float(np.mean(a) - np.mean(b))
    if va + vb == 0:
        return 1.0 if diff == 0 else 0.0
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va ** 2 / (len(a) - 1) if va else 0.0)
                           + (vb ** 2 / (len(b) - 1) if vb else 0.0))
    return float(2 * stats.t.sf(abs(t), df))


def better(a: float, b: float, lower_is_better: bool | None) -> bool:
    return a < b if lower_is_better is not False else a > b


def rank(configurations: list[Configuration], metric: str, lower_is_better: bool | None
         ) -> list[Configuration]:
    """Set each configuration's :attr:`~Configuration.rank` and return them ranked: by rank,
    then by mean; configurations with one seed (unranked) last, by mean."""
    values = {c.label: list(c.metrics[metric].values.values()) if metric in c.metrics else []
              for c in configurations}
    for c in configurations:
        if len(values[c.label]) < 2:
            c.rank = None
            continue
        beaten_by = 0
        for other in configurations:
            if other is c:
                continue
            p = welch_pvalue(values[other.label], values[c.label])
            if p is not None and p < ALPHA and better(np.mean(values[other.label]),
                                                      np.mean(values[c.label]),
                                                      lower_is_better):
                beaten_by += 1
        c.rank = 1 + beaten_by
    sign = 1.0 if lower_is_better is not False else -1.0

    def key(c: Configuration):
        mean = c.metrics[metric].mean if metric in c.metrics else math.nan
        return (c.rank is None, c.rank or 0, math.isnan(mean),
                sign * mean if not math.isnan(mean) else 0.0, c.label)

    return sorted(configurations, key=key)


def directions_of(rows: pd.DataFrame, fallback: Mapping[str, bool]) -> dict[str, bool | None]:
    """Each metric's ``lower_is_better``: from the store rows, else from ``fallback`` (the
    installed metric plugins), else None (unknown)."""
    out: dict[str, bool | None] = {}
    for metric, group in rows.groupby("metric"):
        known = group["lower_is_better"].dropna() if "lower_is_better" in group else []
        out[str(metric)] = (bool(known.iloc[0]) if len(known)
                            else fallback.get(str(metric)))
    for metric, lower in COST_METRICS.items():
        out.setdefault(metric, lower)
    return out


def standings(rows: pd.DataFrame, *, task: str, primary: str,
              directions: Mapping[str, bool] = {}) -> Standings:  # noqa: B006 (read only)
    """The ranked tables of ``task`` from its store rows (one budget or several).

    ``primary``: the metric to rank by (the task's
    :attr:`~perfekt_bench.EvaluationSettings.primary_metric`); ``directions``: metric
    directions for rows that do not carry ``lower_is_better`` (stores written before it).
    Runs that do not measure ``primary``, or a primary metric of unknown direction, give
    tables without ranks that say why (:attr:`DataSetTable.unranked`).
    """
    rows = rows[rows["task"] == task]
    status = rows["status"] if "status" in rows else pd.Series("ok", index=rows.index)
    failed_rows = rows[status == "failed"].drop_duplicates("run_id")
    failed = [FailedRun(str(r.run_id), str(r.refiner), int(r.seed) if _present(r.seed) else None,
                        _first_line(getattr(r, "error_message", "")))
              for r in failed_rows.sort_values("run_id").itertuples()]
    ok = rows[status != "failed"]
    if ok.empty:
        raise DataError(f"no finished runs of task {task!r} to rank ({len(failed)} failed)")
    ok = labelled(ok)
    dirs = directions_of(ok, directions)
    unranked = None
    if primary not in dirs:
        unranked = f"these runs do not measure the task's primary metric `{primary}`"
    elif dirs[primary] is None:
        unranked = (f"the primary metric `{primary}` has no direction in the store and no "
                    "installed plugin declares one")
    tables = []
    for keys, data in ok.groupby(list(DATASET_COLUMNS), sort=False, dropna=False):
        tables.append(_table(task, dict(zip(DATASET_COLUMNS, keys, strict=True)), data,
                             primary, dirs, unranked))
    tables.sort(key=lambda t: (-len(t.run_ids), t.budget, t.data_key))
    return Standings(task, tables, failed, ok)


def _first_line(text) -> str:
    text = str(text) if _present(text) else ""
    line = text.strip().splitlines()[0] if text.strip() else "no message"
    return line if len(line) <= 160 else line[:157] + "..."


def _table(task: str, key: dict, rows: pd.DataFrame, primary: str,
           dirs: dict[str, bool | None], unranked: str | None) -> DataSetTable:
    runs = rows.drop_duplicates("run_id").sort_values(["timestamp", "run_id"],
                                                       ascending=False)
    newest = runs.drop_duplicates(["label", "seed"], keep="first")
    replaced = sorted(set(runs["run_id"]) - set(newest["run_id"]))
    rows = rows[rows["run_id"].isin(set(newest["run_id"]))]
    refined = rows[rows["candidate"] == "refined"]
    configurations = []
    for label, group in refined.groupby("label", sort=True):
        first = group.iloc[0]
        run_of_seed = {int(s): str(r) for s, r in
                       group.drop_duplicates("run_id")[["seed", "run_id"]].itertuples(
                           index=False)}
        metrics: dict[str, Stats] = {}
        for metric, m in group.groupby("metric", sort=True):
            metrics[str(metric)] = Stats({int(s): float(v) for s, v in zip(m["seed"], m["value"],
                                                                          strict=True)},
                                         {int(s): float(e) for s, e in zip(m["seed"], m["error"],
                                                                          strict=True)})
        per_run = group.drop_duplicates("run_id")
        fit = Stats({int(s): float(f) for s, f in zip(
            per_run["seed"], per_run["fit_seconds"] if "fit_seconds" in per_run
            else [math.nan] * len(per_run), strict=True) if _present(f)})
        trials = (per_run["tuning_trials"].dropna() if "tuning_trials" in per_run
                  else pd.Series(dtype=float))
        configurations.append(Configuration(str(label), str(first["refiner"]), run_of_seed,
                                            metrics, fit,
                                            int(trials.max()) if len(trials) else None))
    references = {}
    by_time = rows.sort_values(["timestamp", "run_id"], ascending=False)
    for name in ("fastsim", "fullsim"):
        part = by_time[by_time["candidate"] == name].drop_duplicates("metric", keep="first")
        references[name] = Reference(name, {str(m): (float(v), float(e)) for m, v, e in zip(
            part["metric"], part["value"], part["error"], strict=True)})
    every = sorted(set(rows["metric"].dropna()))
    metrics = [primary] * (primary in every) + [m for m in every
                                                if m != primary and m not in COST_METRICS]
    table = DataSetTable(task, str(key["data_key"]), str(key["budget"]), int(key["n_train"]),
                         int(key["n_eval"]), primary, dirs, metrics,
                         list(COST_METRICS), [], references,
                         sorted(newest["run_id"]), replaced, unranked)
    if unranked is not None:
        table.configurations = configurations  # by label; no ranks, no floor
        return table
    for c in configurations:
        stats = c.metrics.get(primary)
        if stats is not None and stats.n:
            c.at_floor = table.reaches_floor(stats.mean)
            reached = [table.reaches_floor(v) for v in stats.values.values()]
            c.seeds_at_floor = None if None in reached else sum(reached)
    table.configurations = rank(configurations, primary, dirs[primary])
    return table
