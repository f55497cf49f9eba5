"""Figures of a run, in the style of the Fast Perfekt paper (Figs. 3–7), drawn from the run
folder alone (:mod:`perfekt_bench.rundir`):

* ``distributions.png``: per refined feature, density histograms of fastsim, refined fastsim
  (weighted when the refiner gives weights) and the independent fullsim reference (half B),
  with a ratio-to-fullsim panel beneath (paper Figs. 3, 4 and 6); bins from the run's
  yardstick (its χ² binning);
* ``scatter.png``: 500 random objects, refined feature against the first hidden feature, for
  fastsim, refined and fullsim (paper Figs. 3 and 4, top rows);
* ``loss.png``: the ``train_*`` and ``val_*`` columns of ``history.csv`` per epoch, with the
  stage switch of two-stage refiners marked and λ in its own panel (paper Figs. 4 and 5);
  skipped when the refiner kept no history;
* ``correlations.png``: Pearson correlation matrices of the refined and hidden features for
  fullsim, fastsim and refined fastsim, and their absolute differences (paper Fig. 7); skipped
  when the task has no hidden feature;
* ``correlations_conditioning.png``: the same for the refined features and the conditioning
  (CMS FastSim refinement paper, Fig. 4).

A built-in plugin: it draws on ``perfekt_bench_run_finished`` (unless the run was made with
``--no-plots``) and on ``perfekt_bench_draw_figures`` (``perfekt-bench plot RUN_DIR``).
matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

from pathlib import Path

from perfekt_bench import hookimpl
from perfekt_bench.rundir import (
    FIGURES,
    read_config,
    read_evaluation,
    read_history,
    read_settings,
    run_title,
)

from .common import feature_bins
from .correlations import plot_correlations
from .distributions import plot_distributions
from .loss import has_losses, plot_loss
from .scatter import plot_scatter

__all__ = ["draw_run", "feature_bins", "plot_correlations", "plot_distributions", "plot_loss",
           "plot_scatter"]


def draw_run(run_dir: str | Path, out_dir: str | Path | None = None, *,
             seed: int | None = None) -> list[Path]:
    """Draw a run's figures into ``out_dir`` (default ``run_dir/figures``); the paths written.

    ``seed`` picks the scatter plot's objects (default: the run's seed).
    """
    run_dir = Path(run_dir)
    table = read_evaluation(run_dir)
    config = read_config(run_dir)
    settings = read_settings(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / FIGURES
    title = run_title(config, run_dir)
    bins, bins_label = feature_bins(table, settings)
    batch_size = settings.batch_size if settings is not None else None
    written = [
        plot_distributions(table, out / "distributions.png", bins=bins, title=title,
                           bins_label=bins_label),
        plot_scatter(table, out / "scatter.png", title=title,
                     seed=int(config.get("seed") or 0) if seed is None else seed),
    ]
    for partners, name in (("h", "correlations.png"), ("g", "correlations_conditioning.png")):
        others = table.hidden if partners == "h" else table.conditioning
        if others and len(table.features) + len(others) >= 2:
            plot_correlations(table, out / name, title=title, batch_size=batch_size,
                              partners=partners)
            written.append(out / name)
    history = read_history(run_dir)
    if history is not None and has_losses(history):
        plot_loss(history, out / "loss.png", title=title)
        written.append(out / "loss.png")
    return written


@hookimpl
def perfekt_bench_run_finished(result):
    if result.config.plots:
        draw_run(result.run_dir)


@hookimpl
def perfekt_bench_draw_figures(run_dir, out_dir):
    return draw_run(run_dir, out_dir)
