"""Leaderboard tables regenerated from the results store (Markdown and CSV).

Numbers come only from stored runs: each cell is the mean ± standard deviation over seeds
of one refiner's ``refined`` candidate; the unrefined fastsim and the fullsim noise floor
are shown once, with their batch spread. The commands that made the runs are listed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from .errors import DataError
from .fileio import atomic_write_bytes
from .report import format_value
from .results import ResultsStore

#: hyperparameter columns that vary between runs without making them another configuration
_NOT_A_CONFIGURATION = {"p_seed", "p_device"}


def labelled(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with a ``label`` per run: the refiner's name, followed by the hyperparameters
    in which its runs differ (``cms-mdmm (epsilon=0.084)``), so that runs of one refiner with
    different settings get rows of their own instead of being averaged together. The final
    runs of a tuning study are labelled ``twostage (tuned, 16 trials)``."""
    out = rows.assign(label=rows["refiner"].astype(str))
    tuned = rows["tuning_study"].notna() if "tuning_study" in rows else rows["refiner"].isna()
    out.loc[tuned, "label"] = [f"{r} (tuned, {int(n)} trials)" for r, n in
                               zip(rows.loc[tuned, "refiner"], rows.loc[tuned, "tuning_trials"],
                                   strict=True)]
    for refiner, group in rows[~tuned].groupby("refiner"):
        differing = [c for c in group.columns if c.startswith("p_")
                     and c not in _NOT_A_CONFIGURATION
                     and group[c].astype(str).nunique() > 1]
        if differing:
            out.loc[group.index, "label"] = [
                f"{refiner} (" + ", ".join(f"{c[2:]}={v}" for c, v in zip(differing, values,
                                                                         strict=True)) + ")"
                for values in group[differing].itertuples(index=False)]
    return out


def _folder(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", label).strip("_")


def aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and count over seeds per (row label, metric)."""
    if "label" not in rows:
        rows = labelled(rows)
    refined = rows[rows["candidate"] == "refined"]
    # fastsim and fullsim do not depend on the refiner: one value per data set
    base = rows[rows["candidate"] != "refined"].drop_duplicates(
        ["data_key", "metric", "candidate"]).assign(label=lambda d: d["candidate"])
    grouped = []
    for frame, spread in ((refined, "seeds"), (base, "batches")):
        if frame.empty:
            continue
        g = frame.groupby(["label", "metric"])
        stats = g["value"].agg(["mean", "std", "count"]).reset_index()
        stats["batch_error"] = g["error"].mean().values
        stats["spread"] = spread
        grouped.append(stats)
    return pd.concat(grouped, ignore_index=True)


def leaderboard_table(rows: pd.DataFrame, metrics: list[str]) -> tuple[str, pd.DataFrame]:
    stats = aggregate(rows)
    labels = ["fastsim"] + sorted(set(stats.loc[stats["spread"] == "seeds", "label"])) + [
        "fullsim"]
    header = "| | " + " | ".join(f"`{m}`" for m in metrics) + " | seeds |"
    lines = [header, "|" + "---|" * (len(metrics) + 2)]
    for label in labels:
        sub = stats[stats["label"] == label].set_index("metric")
        if sub.empty:
            continue
        cells = []
        for metric in metrics:
            if metric not in sub.index:
                cells.append("—")
                continue
            r = sub.loc[metric]
            error = r["std"] if r["spread"] == "seeds" else r["batch_error"]
            cells.append(format_value(r["mean"], error if not pd.isna(error) else math.nan))
        name = {"fastsim": "fastsim (unrefined)", "fullsim": "fullsim (noise floor)"}.get(
            label, f"**{label}**")
        n = int(sub["count"].max()) if label not in ("fastsim", "fullsim") else "—"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {n} |")
    return "\n".join(lines), stats


def write_leaderboard(task: str, *, results_dir=None, out_dir="leaderboards",
                      budget: str | None = "quick", preamble: str = "",
                      paper: str = "") -> list[Path]:
    """Write ``<out>/<task>.md`` and ``<out>/<task>.csv`` from the stored runs of ``task``."""
    rows = ResultsStore(results_dir).read()
    if rows.empty or task not in set(rows["task"]):
        raise DataError(f"no stored runs of task {task!r} in {ResultsStore(results_dir).folder}")
    rows = rows[rows["task"] == task]
    if budget is not None:
        rows = rows[rows["budget"] == budget]
        if rows.empty:
            raise DataError(f"no stored runs of task {task!r} with budget {budget!r}")
    rows = labelled(rows)
    metrics = sorted(set(rows["metric"]))
    table, stats = leaderboard_table(rows, metrics)
    commands = sorted(set(rows["command"].dropna())) if "command" in rows else []
    revisions = sorted(set(rows["git_revision"].dropna()))
    parts = [f"# Leaderboard: `{task}`", ""]
    if preamble:
        parts += [preamble, ""]
    parts += [f"Budget `{budget}`; {rows['run_id'].nunique()} runs; refined rows are mean ± "
              "standard deviation over seeds, the fastsim and fullsim rows value ± spread over "
              "test batches. All candidates are compared with an independent fullsim sample.",
              "", table, ""]
    if paper:
        parts += ["## The paper's numbers", "", paper, ""]
    parts += ["## How these numbers were made", "", "```bash"] + (commands or ["(unrecorded)"])
    parts += ["```", "", f"Code revision(s): {', '.join(revisions) or 'unknown'}; torch "
              f"{', '.join(sorted(set(rows['torch_version'].dropna())))}; device(s) "
              f"{', '.join(sorted(set(rows['device'])))}; host(s) "
              f"{', '.join(sorted(set(rows['host'])))}.", ""]
    out = Path(out_dir)
    figures = copy_figures(rows, out / "figures" / task)
    if figures:
        parts += ["## Figures", "", "Of each refiner's run with the lowest seed:", ""]
        for label, files in figures.items():
            links = ", ".join(f"[{f.stem}](figures/{task}/{_folder(label)}/{f.name})"
                              for f in files)
            parts.append(f"- **{label}**: {links}")
        parts.append("")
    md, csv = out / f"{task}.md", out / f"{task}.csv"
    atomic_write_bytes(md, "\n".join(parts).encode())
    atomic_write_bytes(csv, stats.to_csv(index=False).encode())
    return [md, csv]


def copy_figures(rows: pd.DataFrame, folder: Path) -> dict[str, list[Path]]:
    """Copy the figures of each row label's (:func:`labelled`) lowest-seed run (newest first
    among equals) that still has its run folder; where none has, the figures already in
    ``folder`` (copied when the store was made) are kept. The files by label."""
    copied: dict[str, list[Path]] = {}
    rows = rows if "label" in rows else labelled(rows)
    runs = rows.drop_duplicates("run_id").sort_values(["seed", "timestamp"],
                                                       ascending=[True, False])
    for label, group in runs.groupby("label", sort=True):
        target = folder / _folder(str(label))
        for run_dir in group["run_dir"]:
            source = Path(run_dir) / "figures"
            pngs = sorted(source.glob("*.png")) if source.is_dir() else []
            if not pngs:
                continue
            target.mkdir(parents=True, exist_ok=True)
            copied[str(label)] = []
            for png in pngs:
                atomic_write_bytes(target / png.name, png.read_bytes())
                copied[str(label)].append(target / png.name)
            break
        else:  # no run folder here (a fresh clone of a committed store): keep what is there
            kept = sorted(target.glob("*.png")) if target.is_dir() else []
            if kept:
                copied[str(label)] = kept
    return copied
