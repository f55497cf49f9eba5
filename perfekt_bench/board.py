"""One task's leaderboard in memory: its standings, figures and plots, Markdown and CSV.

Numbers come only from stored runs (:mod:`perfekt_bench.standings` ranks them); figures are
copied from run folders (or kept from an earlier build where the run folder is gone, as in a
fresh clone of a committed store); the leaderboard's own plots are drawn by
:mod:`perfekt_bench.boardplots`. Nothing here changes between two builds from the same store
(no build time, no host name of the builder).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .boardtable import caption, seeds_frame, summary_frame, view
from .errors import DataError
from .results import ResultsStore
from .standings import Standings, standings

MARKER = re.compile(r"<!-- perfekt-bench leaderboard from the results store (.+?); ")


def count(n: int, noun: str) -> str:
    """``1 run``, ``2 runs``."""
    return f"{n} {noun}{'s' * (n != 1)}"


def marker(store: str) -> str:
    """The comment that names the store a page came from."""
    return (f"<!-- perfekt-bench leaderboard from the results store {store}; regenerate with "
            "'perfekt-bench leaderboard', do not edit -->")


def folder_name(label: str) -> str:
    """A configuration's label as a folder name (``cms-mdmm_epsilon_0.084``)."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", label).strip("_")


@dataclass
class TaskInfo:
    """What a leaderboard takes from the task's plugin: its primary metric, summary and the
    paper's table (Markdown), and metric directions for stores that predate them."""

    name: str
    primary: str
    summary: str = ""
    reference: str = ""
    directions: Mapping[str, bool] = field(default_factory=dict)


@dataclass
class FigureSet:
    """The figures of one configuration, from one run (the one with its lowest seed)."""

    label: str
    folder: str
    run: dict
    files: dict[str, bytes]


@dataclass
class Board:
    """A task's leaderboard: its standings and everything drawn from them."""

    info: TaskInfo
    standings: Standings
    figures: list[FigureSet]
    plots: dict[str, dict[str, bytes]]  # data key → {file name: PNG}

    @property
    def task(self) -> str:
        return self.info.name


def load_standings(info: TaskInfo, *, results_dir=None, budget: str | None = None
                   ) -> Standings:
    store = ResultsStore(results_dir)
    rows = store.read()
    if rows.empty or info.name not in set(rows["task"]):
        raise DataError(f"no stored runs of task {info.name!r} in {store.folder}")
    rows = rows[rows["task"] == info.name]
    if budget is not None:
        rows = rows[rows["budget"] == budget]
        if rows.empty:
            raise DataError(f"no stored runs of task {info.name!r} with budget {budget!r} in "
                            f"{store.folder}")
    return standings(rows, task=info.name, primary=info.primary, directions=info.directions)


def collect_figures(st: Standings, results_root: Path, kept: Iterable[Path]) -> list[FigureSet]:
    """Each configuration's figures, from its lowest-seed run (newest first among equals)
    that still has its run folder; where none has (a fresh clone of a committed store), the
    figures found under ``kept`` folders' ``figures/<task>/<label>/`` with the ``run.json``
    that says which run drew them."""
    out = []
    runs = st.rows.drop_duplicates("run_id").sort_values(["seed", "timestamp"],
                                                          ascending=[True, False])
    for label, group in runs.groupby("label", sort=True):
        folder = folder_name(str(label))
        found = None
        for r in group.itertuples():
            for run_dir in (Path(str(r.run_dir)), results_root / "runs" / str(r.run_id)):
                pngs = sorted((run_dir / "figures").glob("*.png"))
                if pngs:
                    found = FigureSet(str(label), folder, _run_doc(r),
                                      {p.name: p.read_bytes() for p in pngs})
                    break
            if found:
                break
        if found is None:
            for root in kept:
                source = root / "figures" / st.task / folder
                pngs = sorted(source.glob("*.png"))
                if pngs:
                    doc = source / "run.json"
                    run = (json.loads(doc.read_text()) if doc.is_file()
                           else _run_doc(next(group.itertuples())))
                    found = FigureSet(str(label), folder, run,
                                      {p.name: p.read_bytes() for p in pngs})
                    break
        if found is not None:
            out.append(found)
    return out


def _run_doc(r) -> dict:
    return {"run_id": str(r.run_id), "seed": int(r.seed), "data_key": str(r.data_key)}


def draw_plots(st: Standings) -> dict[str, dict[str, bytes]]:
    from .boardplots import cost_figure, seeds_figure, tradeoff_figure, tradeoff_metrics

    plots = {}
    for table in st.tables:
        if not any(table.primary in c.metrics for c in table.configurations):
            continue
        files = {"seeds.png": seeds_figure(table), "cost.png": cost_figure(table)}
        if tradeoff_metrics(table) is not None:
            files["tradeoff.png"] = tradeoff_figure(table)
        plots[table.data_key] = files
    return plots


PLOT_TITLES = {"seeds.png": "per-seed values of the primary metric",
               "cost.png": "fidelity against cost, Pareto front marked",
               "tradeoff.png": "MSE against MMD (the trade-off plane)"}


# -- Markdown and CSV ----------------------------------------------------------------------

def text_table(table) -> str:
    """The ranked table for a terminal: the same columns and numbers as the Markdown."""
    from .report import table as plain

    v = view(table)
    return plain([c.title for c in v.columns],
                 [[c.text for c in row.cells] for row in v.rows + v.references])


def _md_table(table) -> str:
    v = view(table)
    head = [f"`{c.name}`{c.suffix}" if c.code else c.title for c in v.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in v.rows + v.references:
        cells = [c.text for c in row.cells]
        cells[1] = f"**{cells[1]}**" if row.kind == "configuration" else cells[1]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _values(rows: pd.DataFrame, column: str) -> list[str]:
    return sorted({str(v) for v in rows[column].dropna()}) if column in rows else []


def provenance(st: Standings) -> dict[str, list[str]]:
    """Where the numbers came from, as the store recorded it (empty lists: not recorded)."""
    rows = st.rows
    plugins = []
    for kind in ("task", "refiner", "metric"):
        col, ver = f"{kind}_distribution", f"{kind}_plugin_version"
        if col in rows:
            pairs = rows[[col, ver] if ver in rows else [col]].dropna(subset=[col])
            plugins += sorted({f"{kind}: {' '.join(map(str, p))}"
                               for p in pairs.itertuples(index=False)})
    stamps = _values(rows, "timestamp")
    return {"commands": _values(rows, "command"), "revisions": _values(rows, "git_revision"),
            "perfekt-bench": _values(rows, "package_version"),
            "torch": _values(rows, "torch_version"), "numpy": _values(rows, "numpy_version"),
            "python": _values(rows, "python_version"), "devices": _values(rows, "device"),
            "hosts": _values(rows, "host"), "plugins": plugins,
            "dates": sorted({stamps[0][:10], stamps[-1][:10]}) if stamps else []}


def markdown(board: Board, store: str) -> str:
    st, info = board.standings, board.info
    parts = [marker(store), f"# Leaderboard: `{info.name}`", ""]
    if info.summary:
        parts += [info.summary, ""]
    n_runs = sum(len(t.run_ids) for t in st.tables)
    budgets = sorted({t.budget for t in st.tables})
    parts += [f"Budget {', '.join(f'`{b}`' for b in budgets)}; {count(n_runs, 'run')} of "
              f"{count(sum(len(t.configurations) for t in st.tables), 'configuration')} on "
              f"{count(len(st.tables), 'data set')} (one table each). "
              "All candidates are compared with an independent fullsim sample.", ""]
    parts += _exclusions(st)
    for table in st.tables:
        parts += [f"## Data set `{table.data_key}`", "",
                  f"Budget `{table.budget}`, {table.n_train} training and {table.n_eval} "
                  f"evaluation objects; {count(len(table.run_ids), 'run')}.", "",
                  caption(table), "", _md_table(table), ""]
        split = seeds_split(table)
        if split:
            parts += ["Seeds split (some reach the floor, some do not): " + ", ".join(
                f"**{c.label}** ({c.seeds_at_floor} of {len(c.runs)} seeds)" for c in split)
                + ". One seed's number would mislead either way.", ""]
        if table.replaced:
            parts += [f"Repeated runs of one configuration and seed: the newest is kept; "
                      f"replaced: {', '.join(f'`{r}`' for r in table.replaced)}.", ""]
        links = ", ".join(f"[{PLOT_TITLES[name]}](plots/{info.name}/{table.data_key}/{name})"
                          for name in board.plots.get(table.data_key, {}))
        if links:
            parts += [f"Plots: {links}.", ""]
    if info.reference:
        parts += ["## The paper's numbers", "", info.reference.strip(), ""]
    prov = provenance(st)
    parts += ["## How these numbers were made", "", "```bash"]
    parts += prov["commands"] or ["(unrecorded)"]
    parts += ["```", "", _provenance_line(prov), ""]
    if board.figures:
        parts += ["## Figures", "", "Of each configuration's run with its lowest seed:", ""]
        for fs in board.figures:
            links = ", ".join(f"[{Path(name).stem}](figures/{info.name}/{fs.folder}/{name})"
                              for name in sorted(fs.files))
            parts.append(f"- **{fs.label}** (run `{fs.run['run_id']}`, seed "
                         f"{fs.run['seed']}): {links}")
        parts.append("")
    return "\n".join(parts)


def seeds_split(table) -> list:
    """The configurations of which some seeds reach the noise floor and some do not."""
    return [c for c in table.configurations
            if c.seeds_at_floor is not None and 0 < c.seeds_at_floor < len(c.runs)]


def _exclusions(st: Standings) -> list[str]:
    if not st.failed:
        return []
    listed = "; ".join(f"`{f.refiner}` seed {f.seed}: {f.message}" for f in st.failed)
    return [f"{count(len(st.failed), 'failed run')} left out: {listed}.", ""]


def _provenance_line(prov: dict[str, list[str]]) -> str:
    def some(key):
        return ", ".join(prov[key]) or "not recorded"

    return (f"Runs from {' to '.join(prov['dates']) or 'unknown dates'}. Code revision(s): "
            f"{some('revisions')}; perfekt-bench {some('perfekt-bench')}; torch {some('torch')}"
            f"; numpy {some('numpy')}; Python {some('python')}; device(s) {some('devices')}; "
            f"host(s) {some('hosts')}. Plugins (distribution, version): "
            f"{'; '.join(prov['plugins']) or 'not recorded by these runs'}.")


def _csv(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode()


def board_files(board: Board, store: str) -> dict[str, bytes]:
    """The files of one task's leaderboard, by path relative to the output folder."""
    task = board.task
    files = {f"{task}.md": markdown(board, store).encode(),
             f"{task}.csv": _csv(summary_frame(board.standings)),
             f"{task}-seeds.csv": _csv(seeds_frame(board.standings))}
    files |= shared_files(board)
    return files


def shared_files(board: Board) -> dict[str, bytes]:
    """Figures and plots: written beside the Markdown and copied into an HTML site."""
    files = {}
    for fs in board.figures:
        for name, data in fs.files.items():
            files[f"figures/{board.task}/{fs.folder}/{name}"] = data
        files[f"figures/{board.task}/{fs.folder}/run.json"] = (
            json.dumps(fs.run, indent=2, sort_keys=True) + "\n").encode()
    for key, plots in board.plots.items():
        for name, data in plots.items():
            files[f"plots/{board.task}/{key}/{name}"] = data
    return files


def managed_folders(task: str) -> list[str]:
    """Folders that only the leaderboard of ``task`` writes to (stale files there are
    removed)."""
    return [f"figures/{task}", f"plots/{task}"]


