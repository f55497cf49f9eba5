"""A ranked table as columns and cells, once, for the Markdown, the CSV and the HTML page.

Every number goes through :func:`perfekt_bench.numbers.format_value`, with one unit per column
stated in its header; each cell also keeps the number it shows, for sorting in the browser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from .numbers import column_exponent, format_value, unit_label
from .standings import ALPHA, DataSetTable, Standings, Stats

#: units of columns whose name does not say them
UNITS = {"throughput": "objects/s"}
REFERENCE_NAMES = {"fullsim": "fullsim (noise floor)", "fastsim": "fastsim (unrefined)"}


@dataclass
class Column:
    key: str
    title: str  # plain text, e.g. "omniscient_mmd ↓ [10⁻³]"
    code: bool = False  # the name is a metric (set in code font)
    name: str = ""
    suffix: str = ""
    numeric: bool = True


@dataclass
class Cell:
    text: str
    sort: float | str | None = None


@dataclass
class Row:
    label: str
    kind: str  # "configuration" or "reference"
    cells: list[Cell]
    at_floor: bool | None = None
    rank: int | None = None


@dataclass
class TableView:
    table: DataSetTable
    columns: list[Column]
    rows: list[Row]
    references: list[Row] = field(default_factory=list)


def _arrow(lower: bool | None) -> str:
    return "" if lower is None else " ↓" if lower else " ↑"


def _column(key: str, name: str, lower: bool | None, exponent: int, unit: str = "",
            code: bool = True) -> Column:
    scale = unit_label(exponent)
    if unit:
        scale = f"[{scale[1:-1] + ' ' if scale else ''}{unit}]"
    suffix = _arrow(lower) + (f" {scale}" if scale else "")
    return Column(key, name + suffix, code=code, name=name, suffix=suffix)


def _stats_cell(stats: Stats | None, exponent: int) -> Cell:
    if stats is None or not stats.n:
        return Cell("—")
    return Cell(format_value(stats.mean, stats.std, exponent), stats.mean)


def view(table: DataSetTable) -> TableView:
    """The columns and rows of ``table``: rank, configuration, seeds, the primary metric and
    whether it is at the noise floor, every other metric, then the cost columns."""
    configs, refs = table.configurations, table.references
    exponents = {}
    for metric in table.metrics + table.cost_metrics:
        values = [c.metrics[metric].mean for c in configs if metric in c.metrics]
        values += [r.metrics[metric][0] for r in refs.values() if metric in r.metrics]
        exponents[metric] = 0 if metric in table.cost_metrics else column_exponent(values)
    fit_exponent = 0
    columns = [Column("rank", "rank", name="rank"),
               Column("configuration", "configuration", name="configuration", numeric=False),
               Column("seeds", "seeds", name="seeds")]
    for metric in table.metrics:
        columns.append(_column(metric, metric, table.directions.get(metric), exponents[metric],
                               UNITS.get(metric, "")))
        if metric == table.primary:
            columns.append(Column("floor", "at floor", name="at floor"))
    for metric in table.cost_metrics:
        columns.append(_column(metric, metric, table.directions.get(metric), exponents[metric],
                               UNITS.get(metric, "")))
    columns.append(_column("fit_seconds", "fit time", True, fit_exponent, "s", code=False))
    columns.append(Column("tuning_trials", "tuning trials", name="tuning trials"))

    rows = []
    for c in configs:
        n = len(c.runs)
        cells = [Cell(str(c.rank) if c.rank is not None else "—", c.rank),
                 Cell(c.label, c.label), Cell(str(n), n)]
        for metric in table.metrics:
            cells.append(_stats_cell(c.metrics.get(metric), exponents[metric]))
            if metric == table.primary:
                seeds = c.metrics[metric].n if metric in c.metrics else 0
                text = "—" if c.at_floor is None else ("yes" if c.at_floor else "no") + (
                    f" {c.seeds_at_floor}/{seeds}" if c.seeds_at_floor is not None else "")
                frac = c.seeds_at_floor / seeds if c.seeds_at_floor is not None and seeds \
                    else None
                cells.append(Cell(text, (1 if c.at_floor else 0) + (frac or 0) / 2
                                  if c.at_floor is not None else None))
        for metric in table.cost_metrics:
            cells.append(_stats_cell(c.metrics.get(metric), exponents[metric]))
        cells.append(_stats_cell(c.fit_seconds, fit_exponent))
        cells.append(Cell(str(c.tuning_trials) if c.tuning_trials is not None else "—",
                          c.tuning_trials))
        rows.append(Row(c.label, "configuration", cells, c.at_floor, c.rank))

    references = []
    for name in ("fullsim", "fastsim"):
        if name not in refs or not refs[name].metrics:
            continue
        values = refs[name].metrics
        cells = [Cell(""), Cell(REFERENCE_NAMES[name]), Cell("—")]
        for metric in table.metrics:
            value = values.get(metric)
            cells.append(Cell(format_value(*value, exponents[metric]), value[0])
                         if value is not None else Cell("—"))
            if metric == table.primary:
                reached = (table.reaches_floor(value[0]) if name == "fastsim" and value
                           else None)
                cells.append(Cell("—" if reached is None else "yes" if reached else "no"))
        cells += [Cell("—") for _ in table.cost_metrics] + [Cell("—"), Cell("—")]
        references.append(Row(REFERENCE_NAMES[name], "reference", cells))
    return TableView(table, columns, rows, references)


def caption(table: DataSetTable) -> str:
    """What the table's numbers are and how its ranks were decided (Markdown)."""
    lower = table.directions.get(table.primary)
    single = any(c.rank is None for c in table.configurations)
    numbers = ("Configurations are mean ± standard deviation over their distinct seeds; the "
               "fullsim and fastsim rows value ± spread over test batches. ")
    units = ("↓/↑: lower/higher is better; a header in brackets gives the column's unit "
             "([10⁻³]: the numbers are in units of 10⁻³).")
    if table.unranked:
        return f"**Not ranked**: {table.unranked}. " + numbers + units
    return (
        f"Ranked by `{table.primary}` ({'lower' if lower else 'higher'} is better), the task's "
        "primary metric. " + numbers + "**rank**: 1 + "
        "the number of configurations significantly better, by Welch's t-test on the per-seed "
        f"values (two-sided, {100 * (1 - ALPHA):.0f} % confidence, no correction for multiple "
        "comparisons), so rows whose difference is not significant share a rank"
        + ("; a configuration with one seed has no spread to test and is not ranked (—)"
           if single else "")
        + ". **at floor**: whether the mean over seeds is consistent with the fullsim noise "
        "floor (no worse than the fullsim value plus its spread over test batches), and how "
        "many of the seeds are on their own. " + units
        + " Cost: the refinement's latency and throughput where the runs measured them (— "
        "for runs made before latency was measured), fit time in seconds, and the tuning "
        "trials behind tuned configurations.")


def summary_frame(standings: Standings) -> pd.DataFrame:
    """The CSV of a leaderboard: one row per (data set, configuration or reference row,
    metric), full precision."""
    records = []
    for table in standings.tables:
        ident = {"task": table.task, "data_key": table.data_key, "budget": table.budget,
                 "n_train": table.n_train, "n_eval": table.n_eval}
        for c in table.configurations:
            base = ident | {"rank": c.rank, "label": c.label, "refiner": c.refiner,
                            "row": "configuration", "n_seeds": len(c.runs),
                            "seeds": " ".join(map(str, c.seeds)),
                            "tuning_trials": c.tuning_trials}
            for metric, stats in [*c.metrics.items(), ("fit_seconds", c.fit_seconds)]:
                if not stats.n:
                    continue
                primary = metric == table.primary
                records.append(base | {
                    "metric": metric, "lower_is_better": True if metric == "fit_seconds"
                    else table.directions.get(metric), "mean": stats.mean, "std": stats.std,
                    "n": stats.n, "batch_error": stats.batch_error,
                    "at_floor": c.at_floor if primary else None,
                    "seeds_at_floor": c.seeds_at_floor if primary else None})
        for name, ref in table.references.items():
            for metric, (value, error) in sorted(ref.metrics.items()):
                records.append(ident | {"rank": None, "label": name, "refiner": None,
                                        "row": "reference", "n_seeds": None, "seeds": None,
                                        "tuning_trials": None, "metric": metric,
                                        "lower_is_better": table.directions.get(metric),
                                        "mean": value, "std": math.nan, "n": 1,
                                        "batch_error": error, "at_floor": None,
                                        "seeds_at_floor": None})
    frame = pd.DataFrame.from_records(records)
    for column in ("rank", "tuning_trials", "n_seeds", "seeds_at_floor"):
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    return frame


def seeds_frame(standings: Standings) -> pd.DataFrame:
    """Every kept run's value of every metric (refined candidate): the per-seed numbers
    behind the means, with the run that made each."""
    records = []
    for table in standings.tables:
        for c in table.configurations:
            for metric, stats in c.metrics.items():
                for seed in sorted(stats.values):
                    records.append({"task": table.task, "data_key": table.data_key,
                                    "budget": table.budget, "label": c.label,
                                    "refiner": c.refiner, "seed": seed,
                                    "run_id": c.runs[seed], "metric": metric,
                                    "value": stats.values[seed],
                                    "error": stats.errors.get(seed, math.nan)})
    return pd.DataFrame.from_records(records)
