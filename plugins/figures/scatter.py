"""Refined feature against a hidden feature, object by object (Fast Perfekt Figs. 3, 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perfekt_bench.errors import DataError
from perfekt_bench.rundir import EvaluationTable

from .common import DPI, STYLE, pyplot, save

N_SCATTER = 500


def scatter_partner(table: EvaluationTable) -> tuple[str, str]:
    """The group whose first column each candidate's refined feature is plotted against, and
    its axis label: the first hidden feature, or the first conditioning column when there is
    none."""
    if table.hidden:
        return "h", f"{table.hidden[0]} (hidden)"
    if table.conditioning:
        return "g", (f"{table.conditioning[0]} (conditioning g; the task has no hidden "
                     "feature)")
    raise DataError("evaluation table has neither hidden (h_*) nor conditioning (g.*) columns "
                    "to plot against")


def plot_scatter(table: EvaluationTable, out_path: str | Path, *, n_points: int = N_SCATTER,
                 seed: int = 0, title: str = "") -> Path:
    """Refined feature against the first hidden feature, 500 random objects per candidate.

    fastsim and refined use ``h_fast``, fullsim (half A) ``h_full`` of the same objects. Without
    a hidden feature, the first conditioning column ``g`` is used. When the refiner gives
    non-uniform weights, the refined panel draws its objects with probability ∝ weight.
    """
    plt = pyplot()
    names = table.features
    group, ylabel = scatter_partner(table)

    rng = np.random.default_rng(seed)
    n = len(table)
    idx = np.sort(rng.choice(n, size=min(n_points, n), replace=False))
    refined_idx = idx
    w = table.weights()
    weighted = w is not None and np.all(w >= 0) and w.sum() > 0
    if weighted:
        size = min(n_points, int((w > 0).sum()))
        refined_idx = np.sort(rng.choice(n, size=size, replace=False, p=w / w.sum()))

    shown = names[:6]
    fig, axes = plt.subplots(len(shown), 3, figsize=(12.5, 3.9 * len(shown) + 0.6), dpi=DPI,
                             sharex="row", sharey=True, squeeze=False)
    for r, name in enumerate(shown):
        for c, cand in enumerate(STYLE):
            ax = axes[r, c]
            rows = refined_idx if cand == "refined" else idx
            partner = table.partners(group, cand)[1][:, 0]
            ax.scatter(table.x(cand, name)[rows], partner[rows], s=6, alpha=0.6,
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
    return save(fig, out_path)
