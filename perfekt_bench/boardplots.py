"""The leaderboard's own figures, drawn from a ranked table (never from a run folder).

* :func:`seeds_figure`: the primary metric of every seed of every configuration as points, with
  the fullsim noise floor as a band, so a method whose seeds split (bimodal) is visible;
* :func:`cost_figure`: fidelity against cost (primary metric against the single-object
  latency where runs measured it, and against fit time), the Pareto front marked;
* :func:`tradeoff_figure`: the plane of the paired and the distribution-level loss (MSE
  against MMD, both relative to fastsim), as in Fig. 2 of the CMS FastSim refinement paper
  ("Refining fast simulation using machine learning", CMS), the Pareto front marked.

Figures use mplhep's CMS style (the HEP community's matplotlib style) and are returned as PNG
bytes without a timestamp or software tag, so the same table always gives the same bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np

from .standings import Configuration, DataSetTable

DPI = 100
_RC = {"figure.figsize": (9.0, 5.6), "font.size": 15, "axes.titlesize": "medium",
       "legend.frameon": False, "savefig.bbox": "tight"}


def _figure(draw: Callable, *, ncols: int = 1) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    with plt.style.context([mplhep.style.CMS, _RC]):
        width, height = _RC["figure.figsize"]
        fig, axes = plt.subplots(1, ncols, figsize=(width * (1 + 0.75 * (ncols - 1)), height),
                                 squeeze=False)
        try:
            draw(fig, list(axes[0]))
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
        finally:
            plt.close(fig)
    return buffer.getvalue()


def _name(metric: str, table: DataSetTable) -> str:
    lower = table.directions.get(metric)
    return metric + ("" if lower is None else " (lower is better)" if lower
                     else " (higher is better)")


def _wide(values) -> bool:
    """Whether positive values span enough decades to want a log axis."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    return len(v) > 1 and bool(np.all(v > 0)) and v.max() / v.min() > 30


def seeds_figure(table: DataSetTable) -> bytes:
    """Per-seed values of the primary metric, one column per configuration in ranked order."""
    metric = table.primary
    configs = [c for c in table.configurations if metric in c.metrics]

    def draw(fig, axes):
        ax = axes[0]
        every = []
        for i, c in enumerate(configs):
            values = [c.metrics[metric].values[s] for s in sorted(c.metrics[metric].values)]
            every += values
            offsets = (np.arange(len(values)) - (len(values) - 1) / 2) * min(
                0.5 / max(len(values), 1), 0.08)
            ax.plot(i + offsets, values, "o", color="tab:red", ms=6, alpha=0.8,
                    label="one seed" if i == 0 else None)
            ax.plot([i - 0.3, i + 0.3], [np.mean(values)] * 2, "-", color="black", lw=1.5,
                    label="mean over seeds" if i == 0 else None)
        floor = table.floor()
        if floor is not None:
            band = floor[1] if np.isfinite(floor[1]) else 0.0
            ax.axhspan(floor[0] - band, floor[0] + band, color="0.8", zorder=0,
                       label="fullsim noise floor ± batch spread")
            every.append(floor[0])
        fast = table.references.get("fastsim")
        if fast is not None and metric in fast.metrics:
            ax.axhline(fast.metrics[metric][0], color="tab:blue", ls="--", lw=1.5,
                       label="fastsim (unrefined)")
            every.append(fast.metrics[metric][0])
        if _wide(every):
            ax.set_yscale("log")
        ax.set_xticks(range(len(configs)))
        ax.set_xticklabels([f"{c.label} ({c.metrics[metric].n})" for c in configs],
                           rotation=35, ha="right", fontsize="x-small")
        ax.set_xlim(-0.6, len(configs) - 0.4)
        ax.set_ylabel(_name(metric, table), fontsize="small")
        ax.set_title("per seed (number of seeds in brackets)", loc="left", fontsize="small")
        ax.legend(fontsize="x-small", loc="best")

    return _figure(draw)


def pareto(points: list[tuple[float, float]], lower: tuple[bool, bool]) -> list[int]:
    """Indices of the points no other point dominates (at least as good on both axes and
    better on one), each axis lower- or higher-is-better by ``lower``."""
    sign = np.array([1.0 if lo else -1.0 for lo in lower])
    p = np.asarray(points, dtype=float) * sign
    front = []
    for i, a in enumerate(p):
        if not np.all(np.isfinite(a)):
            continue
        dominated = any(np.all(b <= a) and np.any(b < a) for j, b in enumerate(p)
                        if j != i and np.all(np.isfinite(b)))
        if not dominated:
            front.append(i)
    return front


def _scatter(ax, configs: list[Configuration], xs, xerr, ys, yerr, lower: tuple[bool, bool],
             xlabel: str, ylabel: str, log: bool = False) -> None:
    front = pareto(list(zip(xs, ys, strict=True)), lower)
    for i, c in enumerate(configs):
        on = i in front
        ax.errorbar(xs[i], ys[i], xerr=xerr[i] if np.isfinite(xerr[i]) else None,
                    yerr=yerr[i] if np.isfinite(yerr[i]) else None, fmt="o",
                    color="tab:red" if on else "0.45", mfc="tab:red" if on else "white",
                    ms=8, capsize=2)
        ax.annotate(c.label, (xs[i], ys[i]), textcoords="offset points",
                    xytext=(6, 4) if i % 2 == 0 else (6, -12), fontsize=9)
    ordered = sorted(front, key=lambda i: xs[i])
    if len(ordered) > 1:
        ax.plot([xs[i] for i in ordered], [ys[i] for i in ordered], "-", color="tab:red",
                lw=1, alpha=0.6, label="Pareto front")
    ax.plot([], [], "o", color="tab:red", label="on the Pareto front")
    ax.plot([], [], "o", color="0.45", mfc="white", label="dominated")
    if log or _wide(xs):
        ax.set_xscale("log")
    if log or _wide(ys):
        ax.set_yscale("log")
    ax.set_xlabel(xlabel, fontsize="small")
    ax.set_ylabel(ylabel, fontsize="small")
    ax.legend(fontsize="x-small", loc="best")


def _means(configs, metric):
    means = [c.metrics[metric].mean if metric in c.metrics else math.nan for c in configs]
    stds = [c.metrics[metric].std if metric in c.metrics else math.nan for c in configs]
    return means, stds


def has_latency(table: DataSetTable) -> bool:
    return any("latency_p50_ms" in c.metrics for c in table.configurations)


def cost_figure(table: DataSetTable) -> bytes:
    """The primary metric against latency (where measured) and against fit time."""
    metric = table.primary
    lower = table.directions.get(metric) is not False
    configs = [c for c in table.configurations if metric in c.metrics]
    ys, yerr = _means(configs, metric)
    panels = []
    if has_latency(table):
        xs, xerr = _means(configs, "latency_p50_ms")
        panels.append((xs, xerr, "single-object latency p50 [ms]"))
    fits = [c.fit_seconds.mean for c in configs]
    fit_err = [c.fit_seconds.std for c in configs]
    # a refiner that does not train (identity) fits in microseconds: show it at 1 ms
    panels.append(([max(f, 1e-3) if np.isfinite(f) else f for f in fits], fit_err,
                   "fit time [s] (at least 1 ms shown)"))

    def draw(fig, axes):
        for ax, (xs, xerr, label) in zip(axes, panels, strict=True):
            _scatter(ax, configs, xs, xerr, ys, yerr, (True, lower), label,
                     _name(metric, table))

    return _figure(draw, ncols=len(panels))


def tradeoff_metrics(table: DataSetTable) -> tuple[str, str] | None:
    """(distribution-level, paired) metric names for the trade-off plane, if the table has
    both with a fastsim value to normalise by."""
    fast = table.references.get("fastsim")
    pair = ("mmd", "mse")
    if fast is None or not all(m in table.metrics and m in fast.metrics
                               and fast.metrics[m][0] for m in pair):
        return None
    return pair


def tradeoff_figure(table: DataSetTable) -> bytes:
    """MSE against MMD, each divided by fastsim's, with the noise floor of MMD marked."""
    dist, paired = tradeoff_metrics(table)
    fast = table.references["fastsim"].metrics
    configs = [c for c in table.configurations if dist in c.metrics and paired in c.metrics]
    xs, xerr = _means(configs, dist)
    ys, yerr = _means(configs, paired)
    fx, fy = fast[dist][0], fast[paired][0]

    def draw(fig, axes):
        ax = axes[0]
        _scatter(ax, configs, [x / fx for x in xs], [e / fx for e in xerr],
                 [y / fy for y in ys], [e / fy for e in yerr], (True, True),
                 f"{dist}(refined, fullsim) / {dist}(fastsim, fullsim)",
                 f"{paired}(refined, fullsim) / {paired}(fastsim, fullsim)", log=True)
        ax.plot([1], [1], "*", color="tab:blue", ms=14, label="fastsim (unrefined)")
        floor = table.references.get("fullsim")
        if floor is not None and dist in floor.metrics:
            ax.axvline(floor.metrics[dist][0] / fx, color="0.5", ls=":",
                       label=f"fullsim noise floor of {dist}")
        ax.legend(fontsize="x-small", loc="best")
        ax.set_title("the trade-off plane (CMS FastSim refinement paper, Fig. 2)", loc="left",
                     fontsize="small")

    return _figure(draw)
