"""Small plugins the tests register by hand: an unpaired task, a metric, failing refiners."""

import types

import numpy as np

from perfekt_bench import (
    FeatureNames,
    Metric,
    MetricValue,
    Refinement,
    Refiner,
    Task,
    Triplets,
    hookimpl,
)
from perfekt_bench.testing import make_triplets, toy_settings


class ToyTask(Task):
    """Correlated Gaussian toy triplets."""

    name = "toy"
    paired = True
    feature_names = FeatureNames(g=("g0", "g1"), x=("x0", "x1"), h=("h0",))
    sizes = {"smoke": 4096, "quick": 4096, "paper": 4096}
    nan_rows = 0

    def parameters(self):
        return {"nan_rows": self.nan_rows}

    def evaluation(self):
        return toy_settings(batch_size=512)

    def generate(self, size, seed, *, progress=False):
        t = make_triplets(size, seed, paired=self.paired)
        x_fast = t.x_fast.copy()
        x_fast[: self.nan_rows, 1] = np.nan
        return Triplets(t.g, x_fast, t.x_full, t.h_fast, t.h_full, t.names, paired=self.paired)


class UnpairedToyTask(ToyTask):
    """Toy triplets whose fast and full rows do not share GEN objects."""

    name = "toy-unpaired"
    paired = False


class NaNToyTask(ToyTask):
    """Toy triplets with three NaN values in x_fast column x1."""

    name = "toy-nan"
    nan_rows = 3


class MeanShift(Metric):
    """Absolute difference of the means of the first refined feature."""

    name = "mean_shift"

    def compute(self, candidate, reference, *, settings, target=None):
        return MetricValue(float(abs(candidate.x[:, 0].mean() - reference.x[:, 0].mean())))


class ExplodingRefiner(Refiner):
    """Fails half-way through fitting."""

    name = "exploding"

    def __init__(self, *, seed=0, device="cpu"):
        self.seed, self.device = seed, device

    def fit(self, train, validation, *, progress=False):
        raise RuntimeError("diverged")

    def refine(self, x_fast, g):
        return Refinement(x_fast)


def toy_plugin():
    return types.SimpleNamespace(
        perfekt_bench_register_tasks=hookimpl(lambda registry: [
            registry.add(c) for c in (ToyTask, UnpairedToyTask, NaNToyTask)]),
        perfekt_bench_register_metrics=hookimpl(lambda registry: registry.add(MeanShift)),
        perfekt_bench_register_refiners=hookimpl(
            lambda registry: registry.add(ExplodingRefiner)),
    )
