"""Histograms of the refined features with a ratio-to-fullsim panel (Fast Perfekt Figs. 3, 4, 6)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from perfekt_bench.rundir import EvaluationTable
from perfekt_bench.stats import weighted_histogram

from .common import DPI, STYLE, feature_bins, pyplot, save

RATIO_RANGE = (0.5, 1.5)


def fractions(values: np.ndarray, edges: np.ndarray, weights: np.ndarray | None):
    """Fraction of the total weight per bin (under- and overflow counted in the total) and its
    variance."""
    counts, variances = weighted_histogram(values, edges, weights)
    total = counts.sum()
    if total == 0:
        return np.zeros(len(edges) - 1), np.zeros(len(edges) - 1)
    return counts[1:-1] / total, variances[1:-1] / total**2


def plot_distributions(table: EvaluationTable, out_path: str | Path, *,
                       bins: dict[str, np.ndarray] | None = None, title: str = "",
                       bins_label: str = "") -> Path:
    """Histograms of every refined feature with a ratio-to-fullsim panel beneath each."""
    plt = pyplot()
    names = table.features
    if bins is None:
        bins, bins_label = feature_bins(table)
    weight = table.weights()

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
        ref_frac, ref_var = fractions(table.reference_x(name), edges, None)
        curves = {
            "fastsim": fractions(table.x("fastsim", name), edges, None),
            "refined": fractions(table.x("refined", name), edges, weight),
        }
        ax.stairs(ref_frac / widths, edges, fill=True, color="0.85",
                  label="fullsim (reference, half B)")
        ax.stairs(ref_frac / widths, edges, color=STYLE["fullsim"]["color"], linewidth=1.2)
        for cand, (frac, _) in curves.items():
            label = STYLE[cand]["label"] + (" (weighted)" if cand == "refined"
                                            and weight is not None else "")
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
    return save(fig, out_path)
