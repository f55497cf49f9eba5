"""Figures of one run, in the style of the Fast Perfekt paper (Figs. 3–7).

``plot_run(run_dir)`` reads what a run wrote (``evaluation.parquet``, ``history.csv``,
``config.json``) and draws, into ``run_dir/figures``:

* ``distributions.png``: per refined feature, density histograms of fastsim, refined fastsim
  (weighted when the refiner gives weights) and the independent fullsim reference (half B),
  with a ratio-to-fullsim panel beneath (paper Figs. 3, 4 and 6);
* ``scatter.png``: 500 random objects, refined feature against the first hidden feature, for
  fastsim, refined and fullsim (paper Figs. 3 and 4, top rows);
* ``loss.png``: the ``train_*`` and ``val_*`` columns of ``history.csv`` per epoch, with the
  stage switch of two-stage refiners marked and λ in its own panel (paper Figs. 4 and 5);
  skipped when the refiner kept no history;
* ``correlations.png``: Pearson correlation matrices of the refined and hidden features for
  fullsim (the independent half B), fastsim and refined fastsim (weighted Pearson when the
  refiner gives weights), and the absolute differences |fastsim − fullsim| and
  |refined − fullsim| with their mean over pairs, the ``corr_diff`` metric (paper Fig. 7);
  skipped when the task has no hidden feature;
* ``correlations_conditioning.png``: the same for the refined features and the conditioning
  parameters g (CMS FastSim refinement paper, Fig. 4).

matplotlib is imported inside the functions, with the Agg backend, so that importing this
module (and ``perfekt-bench --help``) stays fast.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataError
from .metric import pair_differences, pearson_matrix

if TYPE_CHECKING:
    import pandas as pd

    from .task import Task

DPI = 120
N_SCATTER = 500
RATIO_RANGE = (0.5, 1.5)
#: task bins are merged (every k-th edge kept) until the reference has this many objects per bin
MIN_PER_BIN = 100
STYLE = {
    "fastsim": {"color": "tab:blue", "label": "fastsim"},
    "refined": {"color": "tab:red", "label": "refined fastsim"},
    "fullsim": {"color": "black", "label": "fullsim"},
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# --- reading a run ---------------------------------------------------------------------------

def read_evaluation(run_dir: str | Path) -> pd.DataFrame:
    """The run's ``evaluation.parquet``; :class:`DataError` naming what is missing."""
    import pandas as pd

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run folder {run_dir} does not exist")
    path = run_dir / "evaluation.parquet"
    if not path.is_file():
        raise DataError(f"{path} not found: is {run_dir} a perfekt-bench run folder?")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # a truncated or foreign file
        raise DataError(f"cannot read {path}: {exc}") from exc


def read_history(run_dir: str | Path) -> pd.DataFrame | None:
    """The run's ``history.csv``, or None when the refiner kept none (or it is empty)."""
    import pandas as pd

    path = Path(run_dir) / "history.csv"
    if not path.is_file():
        return None
    try:
        history = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None
    return None if history.empty else history


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``config.json``, or {} when it is missing or unreadable."""
    try:
        return json.loads((Path(run_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def run_title(config: dict[str, Any], run_dir: str | Path) -> str:
    if not config.get("task"):
        return Path(run_dir).name
    parts = [f"task {config['task']}", f"refiner {config.get('refiner', '?')}",
             f"seed {config.get('seed', '?')}"]
    if config.get("budget"):
        parts.append(f"{config['budget']} budget")
    return " · ".join(parts)


def _feature_names(table: pd.DataFrame, prefix: str) -> list[str]:
    return [c[len(prefix):] for c in table.columns if c.startswith(prefix)]


def _lookup_task(name: str | None) -> Task | None:
    if not name:
        return None
    try:
        from .plugins import default_host

        return default_host().task(name)
    except Exception:  # unknown or broken task: fall back to bins from the reference
        return None


# --- binning ---------------------------------------------------------------------------------

def quantile_edges(reference: np.ndarray, max_bins: int = 50) -> np.ndarray:
    """Equal-population bins of the reference between its 0.5 % and 99.5 % quantiles."""
    ref = reference[np.isfinite(reference)]
    if len(ref) == 0:
        return np.linspace(0.0, 1.0, 11)
    n_bins = int(np.clip(len(ref) // (2 * MIN_PER_BIN), 10, max_bins))
    edges = np.unique(np.quantile(ref, np.linspace(0.005, 0.995, n_bins + 1)))
    if len(edges) < 3:  # (nearly) constant feature
        lo, hi = float(ref.min()), float(ref.max())
        edges = np.linspace(lo - 0.5, hi + 0.5, 11) if hi - lo < 1e-12 else np.linspace(lo, hi, 11)
    return edges


def coarsen(edges: np.ndarray, n_reference: int) -> np.ndarray:
    """Keep every k-th edge of a fixed binning, k the smallest that leaves the reference
    ``MIN_PER_BIN`` objects per bin on average; the outer edges are kept."""
    n_bins = len(edges) - 1
    k = max(1, math.ceil(MIN_PER_BIN * n_bins / max(n_reference, 1)))
    if k == 1:
        return edges
    kept = edges[::k]
    return kept if kept[-1] == edges[-1] else np.append(kept, edges[-1])


def feature_bins(table: pd.DataFrame,
                 task: Task | None = None) -> tuple[dict[str, np.ndarray], str]:
    """Bin edges per refined feature and a note saying where they came from: the task's χ²
    binning (adjacent bins merged when the reference is small) when the task is known and
    matches, else equal-population bins of the reference."""
    names = _feature_names(table, "fullsim.")
    task_edges = None
    if task is not None:
        try:
            task_edges = task.evaluation().chi2_bins
        except Exception:
            task_edges = None
        if task_edges is not None and len(task_edges) != len(names):
            task_edges = None
    if task_edges is None:
        return ({name: quantile_edges(_reference_x(table, name)) for name in names},
                "bins: equal-population bins of the reference")
    out, merged = {}, False
    for j, name in enumerate(names):
        edges = np.asarray(task_edges[j], dtype=np.float64)
        out[name] = coarsen(edges, len(_reference_x(table, name)))
        merged |= len(out[name]) < len(edges)
    return out, "bins: the task's χ² binning" + (", merged for a small sample" if merged else "")


def _reference_x(table: pd.DataFrame, name: str) -> np.ndarray:
    col = f"reference.x.{name}"
    # without a half B (old runs), fall back to fullsim of half A
    return table[col if col in table else f"fullsim.{name}"].to_numpy(np.float64)


# --- distributions ---------------------------------------------------------------------------

def _hist(values: np.ndarray, edges: np.ndarray, weights: np.ndarray | None):
    """Fraction of the total weight per bin (overflow counted in the total) and its variance."""
    w = np.ones_like(values) if weights is None else weights.astype(np.float64)
    ok = np.isfinite(values) & np.isfinite(w)
    values, w = values[ok], w[ok]
    total = w.sum()
    counts, _ = np.histogram(values, bins=edges, weights=w)
    variances, _ = np.histogram(values, bins=edges, weights=w * w)
    if total == 0:
        return np.zeros_like(counts), np.zeros_like(variances)
    return counts / total, variances / total**2


def plot_distributions(table: pd.DataFrame, out_path: str | Path, *,
                       bins: dict[str, np.ndarray] | None = None, title: str = "",
                       bins_label: str = "") -> Path:
    """Histograms of every refined feature with a ratio-to-fullsim panel beneath each."""
    plt = _pyplot()
    names = _feature_names(table, "fullsim.")
    if not names:
        raise DataError("evaluation table has no fullsim.<feature> columns")
    if bins is None:
        bins, bins_label = feature_bins(table)
    weight = table["refined.weight"].to_numpy(np.float64) if "refined.weight" in table else None
    weighted = weight is not None and not np.allclose(weight, weight[0] if len(weight) else 1)

    ncols = min(len(names), 4)
    nrows = math.ceil(len(names) / ncols)
    fig = plt.figure(figsize=(max(6.5, 4.6 * ncols), 4.6 * nrows + 0.8), dpi=DPI,
                     layout="constrained")
    fig.get_layout_engine().set(h_pad=0.02, hspace=0.0)
    grid = fig.add_gridspec(2 * nrows, ncols, height_ratios=[3, 1.3] * nrows)
    for j, name in enumerate(names):
        r, c = divmod(j, ncols)
        ax = fig.add_subplot(grid[2 * r, c])
        rax = fig.add_subplot(grid[2 * r + 1, c], sharex=ax)
        edges = np.asarray(bins[name], dtype=np.float64)
        widths = np.diff(edges)
        centres = 0.5 * (edges[1:] + edges[:-1])
        ref_frac, ref_var = _hist(_reference_x(table, name), edges, None)
        curves = {
            "fastsim": _hist(table[f"fastsim.{name}"].to_numpy(np.float64), edges, None),
            "refined": _hist(table[f"refined.{name}"].to_numpy(np.float64), edges,
                             weight if weighted else None),
        }
        ax.stairs(ref_frac / widths, edges, fill=True, color="0.85",
                  label="fullsim (reference, half B)")
        ax.stairs(ref_frac / widths, edges, color=STYLE["fullsim"]["color"], linewidth=1.2)
        for cand, (frac, _) in curves.items():
            label = STYLE[cand]["label"] + (" (weighted)" if cand == "refined" and weighted
                                            else "")
            ax.stairs(frac / widths, edges, color=STYLE[cand]["color"], linewidth=1.4,
                      label=label)
        ax.set_ylabel("density")
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelbottom=False)
        ax.legend(fontsize=8, frameon=False)

        rax.axhline(1.0, color="black", linewidth=0.8)
        lo, hi = RATIO_RANGE
        for k, (cand, (frac, var)) in enumerate(curves.items()):
            ok = ref_frac > 0
            ratio = np.where(ok, frac / np.where(ok, ref_frac, 1), np.nan)
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.sqrt(np.where(frac > 0, var / frac**2, 0.0)
                              + ref_var / np.where(ok, ref_frac, 1) ** 2)
            err = np.where(frac > 0, ratio * rel, np.nan)
            inside = ok & (ratio >= lo) & (ratio <= hi)
            colour = STYLE[cand]["color"]
            shift = (k - 0.5) * 0.15 * widths  # keep the two candidates' points apart
            rax.errorbar(centres[inside] + shift[inside], ratio[inside], yerr=err[inside],
                         fmt="o", ms=2.5, color=colour, elinewidth=0.8, capsize=0)
            above, below = ok & (ratio > hi), ok & (ratio < lo)
            pad = 0.03 * (hi - lo)
            rax.plot(centres[above] + shift[above], np.full(above.sum(), hi - pad), "^",
                     ms=3.5, color=colour, alpha=0.7)
            rax.plot(centres[below] + shift[below], np.full(below.sum(), lo + pad), "v",
                     ms=3.5, color=colour, alpha=0.7)
        rax.set_ylim(lo, hi)
        rax.set_xlim(edges[0], edges[-1])
        rax.set_ylabel("ratio to\nfullsim", fontsize=9)
        rax.set_xlabel(name)
        rax.grid(axis="y", alpha=0.3)
    note = f"▲▼: ratio outside [{RATIO_RANGE[0]}, {RATIO_RANGE[1]}]"
    if bins_label:
        note = f"{bins_label}; {note}"
    fig.suptitle((f"{title}\n" if title else "") + f"refined features ({note})", fontsize=10)
    return _save(fig, out_path)


# --- scatter ---------------------------------------------------------------------------------

def scatter_partner(table: pd.DataFrame) -> tuple[dict[str, str], str]:
    """The column each candidate's refined feature is plotted against, and its axis label:
    the first hidden feature, or the first conditioning column when there is none."""
    hidden = _feature_names(table, "h_fast.")
    if hidden:
        yname = hidden[0]
        ycols = {"fastsim": f"h_fast.{yname}", "refined": f"h_fast.{yname}",
                 "fullsim": f"h_full.{yname}"}
        ylabel = f"{yname} (hidden)"
    else:
        cond = _feature_names(table, "g.")
        if not cond:
            raise DataError("evaluation table has neither hidden (h_*) nor conditioning (g.*) "
                            "columns to plot against")
        yname = cond[0]
        ycols = dict.fromkeys(STYLE, f"g.{yname}")
        ylabel = f"{yname} (conditioning g; the task has no hidden feature)"
    return ycols, ylabel


def plot_scatter(table: pd.DataFrame, out_path: str | Path, *, n_points: int = N_SCATTER,
                 seed: int = 0, title: str = "") -> Path:
    """Refined feature against the first hidden feature, 500 random objects per candidate.

    fastsim and refined use ``h_fast``, fullsim (half A) ``h_full`` of the same objects. Without
    a hidden feature, the first conditioning column ``g`` is used. When the refiner gives
    non-uniform weights, the refined panel draws its objects with probability ∝ weight.
    """
    plt = _pyplot()
    names = _feature_names(table, "fullsim.")
    if not names:
        raise DataError("evaluation table has no fullsim.<feature> columns")
    ycols, ylabel = scatter_partner(table)

    rng = np.random.default_rng(seed)
    n = len(table)
    idx = np.sort(rng.choice(n, size=min(n_points, n), replace=False))
    refined_idx, weighted = idx, False
    if "refined.weight" in table:
        w = table["refined.weight"].to_numpy(np.float64)
        if len(w) and not np.allclose(w, w[0]) and np.all(w >= 0) and w.sum() > 0:
            weighted = True
            size = min(n_points, int((w > 0).sum()))
            refined_idx = np.sort(rng.choice(n, size=size, replace=False, p=w / w.sum()))

    shown = names[:6]
    fig, axes = plt.subplots(len(shown), 3, figsize=(12.5, 3.9 * len(shown) + 0.6), dpi=DPI,
                             sharex="row", sharey=True, squeeze=False)
    for r, name in enumerate(shown):
        for c, cand in enumerate(STYLE):
            ax = axes[r, c]
            rows = refined_idx if cand == "refined" else idx
            ax.scatter(table[f"{cand}.{name}"].to_numpy()[rows],
                       table[ycols[cand]].to_numpy()[rows], s=6, alpha=0.6,
                       color=STYLE[cand]["color"], edgecolors="none")
            label = STYLE[cand]["label"]
            if cand == "fullsim":
                label += " (same objects, half A)"
            if cand == "refined" and weighted:
                label += "\n(objects drawn ∝ weight)"
            ax.set_title(label, fontsize=10)
            ax.set_xlabel(f"{name} ({STYLE[cand]['label']})")
            if c == 0:
                ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
    fig.suptitle((f"{title}\n" if title else "")
                 + f"{len(idx)} random objects (seed {seed})", fontsize=10)
    fig.tight_layout()
    return _save(fig, out_path)


# --- correlations ----------------------------------------------------------------------------

def mean_abs_difference(candidate: np.ndarray, reference: np.ndarray) -> float:
    """Mean |candidate − reference| over the pairs i < j of two correlation matrices (the
    ``corr_diff`` metric on one batch); pairs with a constant feature (NaN) are left out."""
    diff = pair_differences(candidate, reference)
    diff = diff[np.isfinite(diff)]
    return float(diff.mean()) if len(diff) else math.nan


def correlation_columns(table: pd.DataFrame, partners: str = "h"
                        ) -> tuple[list[str], list[str], dict[str, np.ndarray], np.ndarray | None]:
    """What the correlation figure compares, column-wise as the ``corr_diff`` metric does.

    ``partners`` picks what the refined features are correlated with: ``"h"``, the hidden
    features (Fast Perfekt Fig. 7, the ``corr_diff`` metric), or ``"g"``, the conditioning
    parameters (CMS paper Fig. 4). Returns the variable names (refined features, then the
    partners), the partners' names, arrays ``(n, d)`` for ``fastsim`` (x with the fastsim
    partners), ``refined`` (refined x with them), ``fullsim`` (the metrics' reference: x and
    partners of the independent half B) and ``fullsim_a`` (x with the fullsim partners of the
    same objects, half A; the noise floor's candidate), and the refiner's weights, None when
    uniform. Without half B (old runs) ``fullsim`` is half A and ``fullsim_a`` is left out.
    """
    x_names = _feature_names(table, "fullsim.")
    fast, full = ("h_fast.", "h_full.") if partners == "h" else ("g.", "g.")
    p_names = _feature_names(table, fast)

    def stack(cols: list[str]) -> np.ndarray:
        return np.column_stack([table[c].to_numpy(np.float64) for c in cols])

    arrays = {
        "fastsim": stack([f"fastsim.{n}" for n in x_names] + [f"{fast}{n}" for n in p_names]),
        "refined": stack([f"refined.{n}" for n in x_names] + [f"{fast}{n}" for n in p_names]),
    }
    half_a = stack([f"fullsim.{n}" for n in x_names] + [f"{full}{n}" for n in p_names])
    half_b = ([f"reference.x.{n}" for n in x_names]
              + [f"reference.{partners}.{n}" for n in p_names])
    if all(c in table for c in half_b):
        arrays |= {"fullsim": stack(half_b), "fullsim_a": half_a}
    else:
        arrays["fullsim"] = half_a
    weight = table["refined.weight"].to_numpy(np.float64) if "refined.weight" in table else None
    if weight is not None and (not len(weight) or np.allclose(weight, weight[0])):
        weight = None
    return x_names + p_names, p_names, arrays, weight


def corr_diff(candidate: np.ndarray, reference: np.ndarray, weights: np.ndarray | None = None,
              *, batch_size: int | None = None) -> tuple[float, float]:
    """The ``corr_diff`` metric on arrays: :func:`mean_abs_difference` of the (weighted)
    Pearson matrices, as mean ± standard deviation over consecutive batches of ``batch_size``
    rows (trailing partial batch dropped), or once on all rows (error NaN)."""
    n = min(len(candidate), len(reference))
    n_batches = n // batch_size if batch_size else 0
    slices = ([slice(b * batch_size, (b + 1) * batch_size) for b in range(n_batches)]
              if n_batches else [slice(0, n)])
    values = np.array([mean_abs_difference(
        pearson_matrix(candidate[s], None if weights is None else weights[s]),
        pearson_matrix(reference[s])) for s in slices])
    error = float(values.std(ddof=1)) if len(values) > 1 else math.nan
    return float(values.mean()), error


def _annotate(ax, matrix: np.ndarray, dark, fontsize: float) -> None:
    for (i, j), value in np.ndenumerate(matrix):
        text = "–" if not np.isfinite(value) else f"{value:.2f}"
        ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                color="white" if np.isfinite(value) and dark(value) else "black")


def plot_correlations(table: pd.DataFrame, out_path: str | Path, *, title: str = "",
                      batch_size: int | None = None, partners: str = "h") -> dict[str, float]:
    """Pearson correlation matrices of refined and hidden features (Fast Perfekt Fig. 7), or
    with ``partners="g"`` of refined features and conditioning parameters (CMS paper Fig. 4).

    Top row: fullsim (the metrics' reference, half B), fastsim and refined fastsim (weighted
    Pearson when the refiner gives non-uniform weights); bottom row: |fastsim − fullsim| and
    |refined − fullsim|, each titled with its mean over the pairs i < j — the ``corr_diff``
    metric on the whole half — and, given the task's ``batch_size``, ``corr_diff`` as the run
    reports it (mean ± std over batches). Returns the drawn means per candidate.
    """
    names, hidden, arrays, weight = correlation_columns(table, partners)
    kind = "hidden" if partners == "h" else "conditioning"
    if not hidden:
        raise DataError(f"evaluation table has no {kind} columns to correlate")
    if len(names) < 2:
        raise DataError("a correlation matrix needs at least two variables")
    plt = _pyplot()

    matrices = {cand: pearson_matrix(arrays[cand], weight if cand == "refined" else None)
                for cand in ("fullsim", "fastsim", "refined")}
    diffs = {cand: np.abs(matrices[cand] - matrices["fullsim"]) for cand in ("fastsim", "refined")}
    means = {cand: mean_abs_difference(matrices[cand], matrices["fullsim"]) for cand in diffs}

    d = len(names)
    n_x = d - len(hidden)
    side = max(3.4, 0.55 * d + 1.3)
    fontsize = float(np.clip(13 - 0.5 * d, 8, 11))
    fig, axes = plt.subplots(2, 3, figsize=(3 * side + 1.2, 2 * side + 1.4), dpi=DPI,
                             layout="constrained")
    half_b = "fullsim_a" in arrays
    labels = {"fullsim": "fullsim (reference, half B)" if half_b else "fullsim",
              "fastsim": STYLE["fastsim"]["label"],
              "refined": STYLE["refined"]["label"] + (" (weighted)" if weight is not None
                                                      else "")}

    def frame(ax, matrix, cmap, vmin, vmax):
        cmap = plt.get_cmap(cmap).with_extremes(bad="0.85")
        image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_xticks(range(d), names, rotation=45, ha="right", rotation_mode="anchor",
                      fontsize=fontsize + 1)
        ax.set_yticks(range(d), names, fontsize=fontsize + 1)
        ax.tick_params(length=0)
        if 0 < n_x < d:  # refined | hidden
            ax.axhline(n_x - 0.5, color="black", linewidth=1.2)
            ax.axvline(n_x - 0.5, color="black", linewidth=1.2)
        return image

    for ax, cand in zip(axes[0], ("fullsim", "fastsim", "refined"), strict=True):
        image = frame(ax, matrices[cand], "RdBu_r", -1.0, 1.0)
        _annotate(ax, matrices[cand], lambda v: abs(v) > 0.6, fontsize)
        ax.set_title(labels[cand], fontsize=10)
    fig.colorbar(image, ax=axes[0, :].tolist(), shrink=0.85, label="Pearson correlation")

    finite = np.concatenate([m[np.isfinite(m)] for m in diffs.values()])
    vmax = max(float(finite.max()) if len(finite) else 0.0, 0.01)
    axes[1, 0].set_visible(False)
    for ax, cand in zip(axes[1, 1:], ("fastsim", "refined"), strict=True):
        image = frame(ax, diffs[cand], "Greens", 0.0, vmax)
        _annotate(ax, diffs[cand], lambda v: v > 0.6 * vmax, fontsize)
        line = f"mean {means[cand]:.3f}"
        metric = batch_size if partners == "h" else None  # corr_diff: hidden features only
        if metric and len(table) < metric:  # the metric measures once, on all rows
            line += " = corr_diff"
        elif metric:
            value, error = corr_diff(arrays[cand], arrays["fullsim"],
                                     weight if cand == "refined" else None,
                                     batch_size=batch_size)
            line += f" · corr_diff {value:.3f}" + (f" ± {error:.3f}" if np.isfinite(error)
                                                   else "")
        ax.set_title(f"|{STYLE[cand]['label']} − fullsim|\n{line}", fontsize=10)
    fig.colorbar(image, ax=axes[1, 1:].tolist(), shrink=0.85,
                 label="|Δ Pearson correlation|")

    pairs = d * (d - 1) // 2
    notes = [f"Pearson correlations of the refined ({', '.join(names[:n_x])}) and {kind} "
             f"({', '.join(hidden)}) features, separated by lines",
             f"mean: of |Δ| over the {pairs} pair{'s' if pairs > 1 else ''} i < j"]
    if batch_size and len(table) >= batch_size and partners == "h":
        notes[-1] += (f"; corr_diff: the same over batches of {batch_size} objects, as the run "
                      "reports it")
    if half_b:
        floor = mean_abs_difference(pearson_matrix(arrays["fullsim_a"]), matrices["fullsim"])
        notes.append(f"noise floor |fullsim half A − half B|: mean {floor:.3f}")
    fig.suptitle((f"{title}\n" if title else "") + "\n".join(notes), fontsize=10)
    _save(fig, out_path)
    return means


# --- loss curves -----------------------------------------------------------------------------

def stage_switches(history: pd.DataFrame) -> list[int]:
    """The epochs at which the ``stage`` column changes (the first epoch of the new stage)."""
    if "stage" not in history or len(history) < 2:
        return []
    stage = history["stage"].to_numpy()
    epochs = _epochs(history)
    return [int(epochs[i]) for i in range(1, len(stage)) if stage[i] != stage[i - 1]]


def _epochs(history: pd.DataFrame) -> np.ndarray:
    return (history["epoch"].to_numpy() if "epoch" in history
            else np.arange(len(history)))


def _plain_log_labels(low: float, high: float):
    """Tick labels for a log axis that spans little: plain numbers (0.015, not 1.5×10⁻²),
    on every tick below a factor 3, else on mantissas 1, 2, 3 and 5 only."""
    from matplotlib.ticker import FuncFormatter

    spread = (high - low) / high
    digits = 3 if spread == 0 else max(3, 2 + math.ceil(-math.log10(spread)))
    every = high < 3 * low

    def label(value: float, _pos: int) -> str:
        if value <= 0:
            return ""
        mantissa = round(value / 10 ** math.floor(math.log10(value)), 6)
        return f"{value:.{digits}g}" if every or mantissa in (1, 2, 3, 5) else ""

    return FuncFormatter(label)


def plot_loss(history: pd.DataFrame | str | Path, out_path: str | Path, *,
              title: str = "") -> list[int]:
    """Every ``train_*``/``val_*`` column per epoch, one panel per quantity (train solid,
    validation dashed; log y when all its values are positive), ``lambda`` in its own panel
    and a dashed line at each stage switch. Returns the switch epochs it marked."""
    import pandas as pd

    if not isinstance(history, pd.DataFrame):
        path = Path(history)
        try:
            history = pd.read_csv(path)
        except (OSError, pd.errors.EmptyDataError) as exc:
            raise DataError(f"cannot read {path}: {exc}") from exc
    if history.empty:
        raise DataError("history has no rows to plot")
    quantities: dict[str, list[str]] = {}
    for col in history.columns:
        for prefix in ("train_", "val_"):
            if col.startswith(prefix):
                quantities.setdefault(col[len(prefix):], []).append(col)
    panels = list(quantities.items())
    if "lambda" in history:
        panels.append(("λ (lambda)", ["lambda"]))
    if not panels:
        raise DataError("history has no train_*, val_* or lambda columns")

    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    epochs = _epochs(history)
    switches = stage_switches(history)
    marker = "o" if len(history) <= 30 else None
    ncols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.5 * nrows + 0.5), dpi=DPI,
                             squeeze=False)
    for ax, (quantity, cols) in zip(axes.flat, panels, strict=False):
        values = []
        for col in sorted(cols, key=lambda s: not s.startswith("train_")):
            y = history[col].to_numpy(np.float64)
            if not np.isfinite(y).any():
                continue
            values.append(y[np.isfinite(y)])
            style = "--" if col.startswith("val_") else "-"
            colour = "tab:purple" if col == "lambda" else (
                "tab:orange" if col.startswith("val_") else "tab:blue")
            ax.plot(epochs, y, style, marker=marker, ms=3, color=colour,
                    label="validation" if col.startswith("val_") else
                    ("train" if col != "lambda" else "λ"))
        if values and cols != ["lambda"] and np.all(np.concatenate(values) > 0):
            ax.set_yscale("log")
            both = np.concatenate(values)
            if both.max() < 30 * both.min():  # about a decade or less: plain labels
                ticks = _plain_log_labels(both.min(), both.max())
                ax.yaxis.set_major_formatter(ticks)
                ax.yaxis.set_minor_formatter(ticks)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for epoch in switches:
            before = epochs[epochs < epoch]
            at = 0.5 * (before.max() + epoch) if len(before) else epoch
            ax.axvline(at, color="0.3", linestyle=":", linewidth=1.2,
                       label=f"stage switch (epoch {epoch})")
        ax.set_title(quantity, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    note = "solid: train, dashed: validation"
    if switches:
        note += "; dotted line: stage switch"
    fig.suptitle((f"{title}\n" if title else "") + f"loss curves ({note})", fontsize=10)
    fig.tight_layout()
    _save(fig, out_path)
    return switches


# --- the whole run ---------------------------------------------------------------------------

def _save(fig, out_path: str | Path) -> Path:
    plt = _pyplot()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(out_path, dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return out_path


def _batch_size(task: Task | None) -> int | None:
    try:
        return int(task.evaluation().batch_size) if task is not None else None
    except Exception:
        return None


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None, *,
             task: Task | None = None, seed: int | None = None) -> list[Path]:
    """Draw a run's figures into ``out_dir`` (default ``run_dir/figures``); the paths written.

    ``task`` gives the histogram binning (its χ² bins); by default it is looked up by the name
    in ``config.json``, and bins come from the reference when it cannot be found; its batch
    size gives the correlation figure's ``corr_diff``. ``seed`` picks the scatter plot's objects
    (default: the run's seed). ``correlations.png`` is drawn only when the task has a hidden
    feature.
    """
    run_dir = Path(run_dir)
    table = read_evaluation(run_dir)
    config = read_config(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "figures"
    title = run_title(config, run_dir)
    task = task if task is not None else _lookup_task(config.get("task"))
    bins, bins_label = feature_bins(table, task)
    written = [
        plot_distributions(table, out / "distributions.png", bins=bins, title=title,
                           bins_label=bins_label),
        plot_scatter(table, out / "scatter.png", title=title,
                     seed=int(config.get("seed") or 0) if seed is None else seed),
    ]
    for partners, name in (("h", "correlations.png"), ("g", "correlations_conditioning.png")):
        names, others, _, _ = correlation_columns(table, partners)
        if others and len(names) >= 2:
            plot_correlations(table, out / name, title=title, batch_size=_batch_size(task),
                              partners=partners)
            written.append(out / name)
    history = read_history(run_dir)
    if history is not None and any(c.startswith(("train_", "val_")) or c == "lambda"
                                   for c in history.columns):
        plot_loss(history, out / "loss.png", title=title)
        written.append(out / "loss.png")
    return written


__all__: Sequence[str] = ("plot_run", "plot_distributions", "plot_scatter", "plot_loss",
                          "plot_correlations", "feature_bins", "stage_switches",
                          "scatter_partner", "correlation_columns", "pearson_matrix",
                          "mean_abs_difference", "corr_diff", "read_evaluation", "read_history")
