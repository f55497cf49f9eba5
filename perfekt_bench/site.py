"""The leaderboards as a static HTML site (Jinja2 templates in ``perfekt_bench/templates``).

An index of tasks and one page per task: the ranked tables (sortable by any column with a few
lines of inline JavaScript), the paper's table beside them, the leaderboard's plots, each
configuration's figures and the provenance of every number. Pages load nothing from the
internet and need no server: they work from a file share or ``file://``. Like the Markdown,
a page holds nothing that changes between two builds from the same store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .board import PLOT_TITLES, count, marker, provenance, seeds_split, shared_files
from .boardtable import caption, view

if TYPE_CHECKING:
    from .board import Board

PLOT_CAPTIONS = {
    "seeds.png": "Each seed of each configuration as a point (its mean as a bar), with the "
                 "fullsim noise floor ± its spread over test batches as a grey band and the "
                 "unrefined fastsim as a dashed line: a method whose seeds split is visible.",
    "cost.png": "Fidelity against cost: mean over seeds of the primary metric against the "
                "single-object latency (where measured) and the fit time; filled points are on "
                "the Pareto front (no configuration is better on both axes).",
    "tradeoff.png": "The trade-off plane of the CMS FastSim refinement paper (Fig. 2): MSE "
                    "(object by object) against MMD (the distributions), each relative to "
                    "fastsim's, which sits at (1, 1); filled points are on the Pareto front.",
}


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("perfekt_bench", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["number"] = _number
    env.filters["breakable"] = _breakable
    return env


def _breakable(name: str):
    """A metric name that may wrap after its underscores (``latency_<wbr>p50_<wbr>ms``)."""
    from markupsafe import Markup, escape

    return Markup("_<wbr>").join(escape(part) for part in str(name).split("_"))


def _number(text: str):
    """A table cell: ``value ± error`` with the error on a line of its own, so that wide
    tables stay narrow enough for the paper's table to fit beside them."""
    from markupsafe import Markup, escape

    value, sep, error = str(text).partition(" ± ")
    if not sep:
        return escape(text)
    return Markup('{}<span class="error">± {}</span>').format(value, error)


def _markdown(text: str):
    """Markdown (the captions, the paper's tables) as HTML, raw HTML in it escaped."""
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    return Markup(MarkdownIt("commonmark", {"html": False}).enable("table").render(text))


def _task_page(env, board: Board, store: str) -> str:
    st = board.standings
    tables = []
    for table in st.tables:
        v = view(table)
        tables.append({
            "key": table.data_key, "columns": v.columns, "rows": v.rows,
            "references": v.references,
            "meta": f"Budget {table.budget}, {table.n_train} training and {table.n_eval} "
                    f"evaluation objects; {count(len(table.run_ids), 'run')} of "
                    f"{count(len(table.configurations), 'configuration')}.",
            "caption": _markdown(caption(table)),
            "split": ", ".join(f"{c.label} ({c.seeds_at_floor} of {len(c.runs)} seeds)"
                               for c in seeds_split(table)),
            "replaced": ("Repeated runs of one configuration and seed: the newest is kept; "
                         f"replaced: {', '.join(table.replaced)}.") if table.replaced else "",
            "plots": [{"src": f"plots/{board.task}/{table.data_key}/{name}",
                       "title": PLOT_TITLES[name], "caption": PLOT_CAPTIONS[name]}
                      for name in board.plots.get(table.data_key, {})],
        })
    prov = provenance(st)
    rows = [("runs made", " to ".join(prov["dates"]) or "unknown"),
            ("code revisions", ", ".join(prov["revisions"]) or "not recorded"),
            ("perfekt-bench", ", ".join(prov["perfekt-bench"]) or "not recorded"),
            ("torch / numpy / Python", " / ".join(", ".join(prov[k]) or "?"
                                                  for k in ("torch", "numpy", "python"))),
            ("plugins (distribution, version)",
             "; ".join(prov["plugins"]) or "not recorded by these runs"),
            ("devices", ", ".join(prov["devices"]) or "not recorded"),
            ("hosts", ", ".join(prov["hosts"]) or "not recorded")]
    n_runs = sum(len(t.run_ids) for t in st.tables)
    failed = ""
    if st.failed:
        failed = (f"{count(len(st.failed), 'failed run')} left out: "
                  + "; ".join(f"{f.refiner} seed {f.seed}: {f.message}" for f in st.failed))
    figures = [{"label": f.label, "folder": f.folder, "run": f.run,
                "images": [{"name": name.rsplit(".", 1)[0],
                            "src": f"figures/{board.task}/{f.folder}/{name}"}
                           for name in sorted(f.files)]}
               for f in board.figures]
    return env.get_template("task.html.j2").render(
        marker=marker(store), store=store, task=board.task, summary=board.info.summary,
        overview=f"{count(n_runs, 'run')} of "
                 f"{count(sum(len(t.configurations) for t in st.tables), 'configuration')} on "
                 f"{count(len(st.tables), 'data set')}, one table each; every candidate is "
                 "compared with an independent fullsim sample.",
        failed=failed, tables=tables,
        reference=_markdown(board.info.reference) if board.info.reference else "",
        figures=figures, provenance=rows, commands=prov["commands"] or ["(unrecorded)"])


def _index_page(env, boards: list[Board], store: str) -> str:
    tasks = []
    for board in boards:
        st = board.standings
        main = st.tables[0]
        tasks.append({"name": board.task, "primary": st.primary, "summary": board.info.summary,
                      "runs": sum(len(t.run_ids) for t in st.tables),
                      "configurations": sum(len(t.configurations) for t in st.tables),
                      "best": [c.label for c in main.configurations if c.rank == 1]})
    return env.get_template("index.html.j2").render(marker=marker(store), store=store,
                                                    tasks=tasks)


def site_files(boards: list[Board], store: str, *, index: list[Board] | None = None
               ) -> dict[str, dict[str, bytes]]:
    """The site's files by the page they belong to: ``index.html`` with the style sheet, and
    for each task its page with the figures and plots it shows (paths relative to the site's
    folder). ``index``: the tasks the index lists (default: ``boards``)."""
    env = _environment()
    css = env.loader.get_source(env, "site.css")[0].encode()
    out = {"index.html": {"index.html": _index_page(env, index or boards, store).encode(),
                          "site.css": css}}
    for board in boards:
        page = f"{board.task}.html"
        out[page] = {page: _task_page(env, board, store).encode()} | shared_files(board)
    return out
