"""Small correlated Gaussian triplets and a yardstick that fits them (no pytest needed)."""

from __future__ import annotations

import numpy as np

from ..closure import DownstreamClosure, Measurement, efficiency
from ..data import FeatureNames, Sample, Triplets
from ..yardstick import EvaluationSettings, OmniscientColumn

TOY_NAMES = FeatureNames(g=("g0", "g1"), x=("x0", "x1"), h=("h0",))


def make_triplets(n: int = 1024, seed: int = 0, *, paired: bool = True,
                  shift: float = 0.5) -> Triplets:
    """Small correlated Gaussian triplets for conformance tests (not a physics task).

    fullsim = g + noise; fastsim = g + wider noise + ``shift``; the hidden feature is
    correlated with g and x.
    """
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(n, 2))
    x_full = g + 0.3 * rng.normal(size=(n, 2))
    x_fast = g + 0.5 * rng.normal(size=(n, 2)) + shift
    h_full = (g[:, :1] + 0.2 * rng.normal(size=(n, 1)))
    h_fast = (g[:, :1] + 0.2 * rng.normal(size=(n, 1)))
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    return Triplets(f32(g), f32(x_fast), f32(x_full), f32(h_fast), f32(h_full), TOY_NAMES,
                    paired=paired, source=f"toy triplets (seed {seed})")


def toy_fraction_above(sample: Sample, *, threshold: float) -> list[Measurement]:
    """The toy's downstream quantity: the fraction of objects with x0 above ``threshold``."""
    value, error = efficiency(sample.x[:, 0] > threshold, sample.weight)
    return [Measurement(f"fraction x0 > {threshold:g}", value, error)]


def toy_settings(batch_size: int = 256) -> EvaluationSettings:
    """Evaluation settings that fit :func:`make_triplets`."""
    edges = tuple(np.linspace(-4, 4, 41).tolist())
    return EvaluationSettings(
        batch_size=batch_size, mmd_bandwidths=(1.0, 1.0),
        omniscient=(OmniscientColumn("g", "g0", 1.0), OmniscientColumn("x", "x0", 1.0),
                    OmniscientColumn("x", "x1", 1.0), OmniscientColumn("h", "h0", 1.0)),
        chi2_bins=(edges, edges), primary_metric="mmd",
        conditional=(OmniscientColumn("g", "g0", 1.0), OmniscientColumn("g", "g1", 1.0),
                     OmniscientColumn("x", "x0", 0.3, minus="g0"),
                     OmniscientColumn("x", "x1", 0.3, minus="g1")),
        closure=DownstreamClosure("perfekt_bench.testing.toys:toy_fraction_above",
                                  {"threshold": 0.5}, "fraction of objects with x0 > 0.5"))
