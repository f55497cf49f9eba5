"""What every figure shares: pyplot on the Agg backend, colours, atomic saving, binning."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from perfekt_bench.fileio import atomic_path
from perfekt_bench.rundir import EvaluationTable
from perfekt_bench.yardstick import EvaluationSettings

DPI = 120
#: task bins are merged (every k-th edge kept) until the reference has this many objects per bin
MIN_PER_BIN = 100
STYLE = {
    "fastsim": {"color": "tab:blue", "label": "fastsim"},
    "refined": {"color": "tab:red", "label": "refined fastsim"},
    "fullsim": {"color": "black", "label": "fullsim"},
}


def pyplot():
    """matplotlib's pyplot with the Agg backend, imported on first use (it is slow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, out_path: str | Path) -> Path:
    """Write ``fig`` as PNG atomically (a killed process leaves no truncated file) and close it."""
    plt = pyplot()
    out_path = Path(out_path)
    try:
        with atomic_path(out_path) as tmp:
            fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return out_path


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


def feature_bins(table: EvaluationTable, settings: EvaluationSettings | None = None
                 ) -> tuple[dict[str, np.ndarray], str]:
    """Bin edges per refined feature and a note saying where they came from: the task's χ²
    binning from the run's yardstick (adjacent bins merged when the reference is small), else
    equal-population bins of the reference."""
    names = table.features
    task_edges = settings.chi2_bins if settings is not None else None
    if task_edges is None or len(task_edges) != len(names):
        return ({name: quantile_edges(table.reference_x(name)) for name in names},
                "bins: equal-population bins of the reference")
    out, merged = {}, False
    for j, name in enumerate(names):
        edges = np.asarray(task_edges[j], dtype=np.float64)
        out[name] = coarsen(edges, len(table.reference_x(name)))
        merged |= len(out[name]) < len(edges)
    return out, "bins: the task's χ² binning" + (", merged for a small sample" if merged else "")
