"""Training and validation losses per epoch, stage switches and λ (Fast Perfekt Figs. 4, 5).

Reads the keys :class:`perfekt_bench.Refiner` documents for ``history_``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from perfekt_bench.errors import DataError

from .common import DPI, pyplot, save


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


def has_losses(history: pd.DataFrame) -> bool:
    """Whether ``history`` has anything :func:`plot_loss` draws."""
    return any(c.startswith(("train_", "val_")) or c == "lambda" for c in history.columns)


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

    plt = pyplot()
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
    save(fig, out_path)
    return switches
