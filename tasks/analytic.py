"""The analytic Gaussian-mixture task of the Fast Perfekt paper (Sec. 3, Fig. 3, Table 1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from perfekt_bench import (
    EvaluationSettings,
    FeatureNames,
    OmniscientColumn,
    Task,
    Triplets,
    hookimpl,
)

#: Our choice for the paper's Table 4, which is not available: see the data card and README.
PARAMETERS: dict[str, Any] = {
    "fraction_large": 0.85,
    "mean_large": [0.0, 0.0],
    "cov_large": [[1.0, 0.3], [0.3, 1.0]],
    "mean_small": [2.5, 4.0],
    "cov_small": [[0.3, 0.0], [0.0, 0.3]],
    "cov_full": [[0.1, 0.0], [0.0, 0.1]],
    "cov_fast": [[0.35, 0.0], [0.0, 0.1]],
    "bias_full": [1.0, 0.0],
    "bias_fast": [-1.5, 0.0],
}

#: Fast Perfekt paper, Table 3: the MMD kernel bandwidth of the refined feature x.
PAPER_BANDWIDTH = 1.3658
#: Bandwidths of x_gen and h by the paper's median rule on a fixed reference sample.
OMNISCIENT_BANDWIDTHS = {"x_gen": 1.0, "h": 1.0}
CHI2_EDGES = tuple(np.linspace(-4.0, 6.0, 101).round(6).tolist())


class AnalyticMixture(Task):
    """2-D Gaussian mixture (85 % / 15 %); x refined, h hidden (Fast Perfekt Sec. 3)."""

    name = "analytic"
    version = "1"
    paired = True
    feature_names = FeatureNames(g=("x_gen",), x=("x",), h=("h",))
    sizes = {"smoke": 50_000, "quick": 250_000, "paper": 250_000}

    def parameters(self) -> dict[str, Any]:
        return dict(PARAMETERS)

    def data_card(self) -> dict[str, Any]:
        return super().data_card() | {
            "description": (
                "Ground truth (x, h) from a 2-D Gaussian mixture: a large population L and a "
                "small population s. fullsim = GT + N(0, cov_full), fastsim = GT + N(0, "
                "cov_fast) with independent noise; bias_full / bias_fast are added to the "
                "small population only. Only x is refined; h is hidden and separates the "
                "populations; the conditioning g is the GT value of x."),
            "made_by": "numpy default_rng(seed), generated on demand (no files)",
            "source": "Fast Perfekt, SciPost Phys. Core 8, 021 (2025), Sec. 3; the paper's "
                      "Table 4 values are not public, these are ours (see README)",
        }

    def evaluation(self) -> EvaluationSettings:
        return EvaluationSettings(
            batch_size=2048,
            mmd_bandwidths=(PAPER_BANDWIDTH,),
            omniscient=(OmniscientColumn("g", "x_gen", OMNISCIENT_BANDWIDTHS["x_gen"]),
                        OmniscientColumn("x", "x", PAPER_BANDWIDTH),
                        OmniscientColumn("h", "h", OMNISCIENT_BANDWIDTHS["h"])),
            chi2_bins=(CHI2_EDGES,),
            primary_metric="omniscient_mmd",
        )

    def generate(self, size: int, seed: int, *, progress: bool = False) -> Triplets:
        """Sample GT, smear it twice with independent noise, bias the small population."""
        p = PARAMETERS
        rng = np.random.default_rng([seed, 0xA7A])
        n_large = int(round(p["fraction_large"] * size))
        small = np.zeros(size, dtype=bool)
        small[n_large:] = True
        gt = np.concatenate([
            rng.multivariate_normal(p["mean_large"], p["cov_large"], n_large),
            rng.multivariate_normal(p["mean_small"], p["cov_small"], size - n_large)])
        full = gt + rng.multivariate_normal([0.0, 0.0], p["cov_full"], size)
        fast = gt + rng.multivariate_normal([0.0, 0.0], p["cov_fast"], size)
        full[small] += p["bias_full"]
        fast[small] += p["bias_fast"]
        order = rng.permutation(size)
        col = lambda a, j: a[order, j:j + 1].astype(np.float32)  # noqa: E731
        return Triplets(g=col(gt, 0), x_fast=col(fast, 0), x_full=col(full, 0),
                        h_fast=col(fast, 1), h_full=col(full, 1),
                        names=self.feature_names, paired=True, source=f"{self.name} generator")


@hookimpl
def perfekt_bench_register_tasks(registry):
    registry.add(AnalyticMixture)
