"""Small statistics that metrics and figures share, so that a figure shows what a metric says."""

from __future__ import annotations

import math

import numpy as np


def pearson_matrix(columns: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(Weighted) Pearson correlation matrix of the columns of a 2-D array; NaN in the rows
    and columns of a constant feature, whose correlation is undefined."""
    cov = np.atleast_2d(np.cov(np.asarray(columns, dtype=np.float64), rowvar=False,
                               aweights=weights))
    sd = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        return cov / np.outer(sd, sd)


def pair_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a − b| over the pairs i < j of two square matrices (correlation coefficients)."""
    upper = np.triu_indices_from(a, k=1)
    return np.abs(a[upper] - b[upper])


def mean_correlation_difference(candidate: np.ndarray, reference: np.ndarray,
                                weights: np.ndarray | None = None, *,
                                cross: int | None = None) -> float:
    """Mean over the column pairs i < j of |ρ_ij(candidate) − ρ_ij(reference)| (Fast Perfekt
    paper, Fig. 7), the candidate's Pearson coefficients weighted by ``weights``.

    ``cross`` = k keeps only the pairs of one of the first k columns with one of the others:
    the block of refined features × conditioning of the CMS FastSim refinement paper's Fig. 4
    when the columns are (x, g) and k is the number of refined features.

    A constant column has no defined correlation; it counts as uncorrelated (ρ = 0) with every
    other column, so a refiner that collapses a feature is charged for the correlations it lost
    instead of having those pairs dropped.
    """
    a = np.nan_to_num(pearson_matrix(candidate, weights), nan=0.0)
    b = np.nan_to_num(pearson_matrix(reference), nan=0.0)
    diff = (pair_differences(a, b) if cross is None
            else np.abs(a[:cross, cross:] - b[:cross, cross:]).ravel())
    return float(diff.mean()) if len(diff) else math.nan


def weighted_histogram(values: np.ndarray, edges: np.ndarray,
                       weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sums of weights and of squared weights per bin of ``edges``, with an underflow bin first
    and an overflow bin last (so ``len(edges) + 1`` bins); non-finite values and weights are
    left out."""
    values = np.asarray(values, dtype=np.float64)
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    ok = np.isfinite(values) & np.isfinite(w)
    full_edges = np.concatenate([[-np.inf], np.asarray(edges, dtype=np.float64), [np.inf]])
    counts, _ = np.histogram(values[ok], bins=full_edges, weights=w[ok])
    variances, _ = np.histogram(values[ok], bins=full_edges, weights=w[ok] ** 2)
    return counts, variances
