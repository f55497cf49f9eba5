"""The analytic task's data: a 2-D Gaussian mixture smeared twice (Fast Perfekt paper, Sec. 3).

This module and the parameters in it are what shape the generated data: their source is the
cache key (the task declares it in ``source_modules``), so editing the yardstick or the
closure in :mod:`.task` does not regenerate the data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Our choice for the paper's Table 4, which is not available (README, "The analytic task").
#: The fast small population is displaced into the middle of the large one (x ≈ 0.2) while the
#: full small population sits apart (x ≈ 3): the geometry in which MMD-only refinement moves
#: objects of the large population into the small one, as the paper's Fig. 4 shows.
PARAMETERS: dict[str, Any] = {
    "fraction_large": 0.85,
    "mean_large": [0.0, 0.0],
    "cov_large": [[1.5129, 0.0], [0.0, 1.0]],
    "mean_small": [2.0, 3.0],
    "cov_small": [[0.02, 0.0], [0.0, 0.02]],
    "cov_full": [[0.10, 0.0], [0.0, 0.02]],
    "cov_fast": [[0.10, 0.0], [0.0, 0.02]],
    "bias_full": [1.0, 0.0],
    "bias_fast": [-1.8, 0.0],
}


def sample(size: int, seed: int) -> dict[str, np.ndarray]:
    """``size`` triplets of ``seed``: ground truth (x, h) from the mixture, fullsim = GT +
    N(0, cov_full), fastsim = GT + N(0, cov_fast) with independent noise, the biases added to
    the small population only, in a seeded random order. Arrays ``g``, ``x_fast``,
    ``x_full``, ``h_fast``, ``h_full`` of shape (size, 1)."""
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

    def col(a, j):
        return a[order, j:j + 1].astype(np.float32)

    return {"g": col(gt, 0), "x_fast": col(fast, 0), "x_full": col(full, 0),
            "h_fast": col(fast, 1), "h_full": col(full, 1)}
