"""Correlation matrices of refined features with hidden features (Fast Perfekt Fig. 7) or with
the conditioning (CMS FastSim refinement, Fig. 4), and their differences to fullsim."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from perfekt_bench import batched
from perfekt_bench.errors import DataError
from perfekt_bench.rundir import EvaluationTable
from perfekt_bench.stats import mean_correlation_difference, pearson_matrix

from .common import DPI, STYLE, pyplot, save

KINDS = {"h": "hidden", "g": "conditioning"}


def _annotate(ax, matrix: np.ndarray, dark, fontsize: float) -> None:
    for (i, j), value in np.ndenumerate(matrix):
        text = "–" if not np.isfinite(value) else f"{value:.2f}"
        ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                color="white" if np.isfinite(value) and dark(value) else "black")


def plot_correlations(table: EvaluationTable, out_path: str | Path, *, title: str = "",
                      batch_size: int | None = None, partners: str = "h") -> dict[str, float]:
    """Pearson correlation matrices of refined and hidden features, or with ``partners="g"``
    of refined features and conditioning parameters.

    Top row: fullsim (the metrics' reference, half B), fastsim and refined fastsim (weighted
    Pearson when the refiner gives non-uniform weights); bottom row: |fastsim − fullsim| and
    |refined − fullsim|, each titled with the mean on the whole half and, given the yardstick's
    ``batch_size``, as mean ± std over batches of that size, exactly as the correlation metric
    measures it (:func:`perfekt_bench.stats.mean_correlation_difference`; a constant feature
    counts as uncorrelated): over all pairs i < j for hidden partners (``corr_diff``), over the
    refined × conditioning pairs for ``partners="g"`` (``cond_corr_diff``). Returns the
    whole-half means per candidate.
    """
    kind = KINDS[partners]
    p_names = table.hidden if partners == "h" else table.conditioning
    if not p_names:
        raise DataError(f"evaluation table has no {kind} columns to correlate")
    names = table.features + p_names
    if len(names) < 2:
        raise DataError("a correlation matrix needs at least two variables")
    plt = pyplot()
    n_x = len(table.features)
    difference = partial(mean_correlation_difference, cross=n_x if partners == "g" else None)

    weight = table.weights()
    arrays = {cand: table.candidate(cand, partners) for cand in ("fastsim", "refined")}
    arrays["fullsim"] = table.reference(partners)
    weights = {"refined": weight}
    matrices = {cand: pearson_matrix(arrays[cand], weights.get(cand))
                for cand in ("fullsim", "fastsim", "refined")}
    diffs = {cand: np.abs(matrices[cand] - matrices["fullsim"]) for cand in ("fastsim", "refined")}
    means = {cand: difference(arrays[cand], arrays["fullsim"], weights.get(cand))
             for cand in diffs}

    d = len(names)
    side = max(3.4, 0.55 * d + 1.3)
    fontsize = float(np.clip(13 - 0.5 * d, 8, 11))
    fig, axes = plt.subplots(2, 3, figsize=(3 * side + 1.2, 2 * side + 1.4), dpi=DPI,
                             layout="constrained")
    labels = {"fullsim": "fullsim (reference, half B)" if table.has_reference else "fullsim",
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
        if 0 < n_x < d:  # refined | partners
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
    batches = batch_size is not None and len(table) >= batch_size
    for ax, cand in zip(axes[1, 1:], ("fastsim", "refined"), strict=True):
        image = frame(ax, diffs[cand], "Greens", 0.0, vmax)
        _annotate(ax, diffs[cand], lambda v: v > 0.6 * vmax, fontsize)
        line = f"mean {means[cand]:.3f}"
        if batches:
            value = batched(difference, arrays[cand], arrays["fullsim"],
                            weights.get(cand), batch_size=batch_size)
            line += f" · per batch {value.value:.3f}" + (
                f" ± {value.error:.3f}" if np.isfinite(value.error) else "")
        ax.set_title(f"|{STYLE[cand]['label']} − fullsim|\n{line}", fontsize=10)
    fig.colorbar(image, ax=axes[1, 1:].tolist(), shrink=0.85,
                 label="|Δ Pearson correlation|")

    if partners == "g":
        pairs = n_x * len(p_names)
        which = f"the {pairs} refined × conditioning pair{'s' if pairs > 1 else ''} " \
                "(metric cond_corr_diff)"
    else:
        pairs = d * (d - 1) // 2
        which = f"the {pairs} pair{'s' if pairs > 1 else ''} i < j (metric corr_diff)"
    notes = [f"Pearson correlations of the refined ({', '.join(names[:n_x])}) and {kind} "
             f"({', '.join(p_names)}) features, separated by lines",
             f"mean: of |Δ| over {which}"]
    if batches:
        notes[-1] += f"; per batch: mean ± std over batches of {batch_size} objects"
    if table.has_reference:
        floor = difference(table.candidate("fullsim", partners), arrays["fullsim"])
        notes.append(f"noise floor |fullsim half A − half B|: mean {floor:.3f}")
    fig.suptitle((f"{title}\n" if title else "") + "\n".join(notes), fontsize=10)
    save(fig, out_path)
    return means
