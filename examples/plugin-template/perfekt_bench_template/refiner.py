"""Moment matching: the simplest correction of fastsim, feature by feature."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perfekt_bench import Hyperparameter, Refinement, Refiner, Search


class MomentMatching(Refiner):
    """Shifts (and with ``scale`` stretches) each fastsim feature so that its mean and standard
    deviation become fullsim's: x' = μ_full + (x − μ_fast) σ_full / σ_fast.

    Unconditional and without pairs: it fixes a global offset or width but none of the
    dependence on the conditioning, which is what a learned refiner must beat.
    """

    name = "moment-match"
    needs_pairs = False
    outputs_weights = False
    #: each hyperparameter declared once: checks --set, lists it in `perfekt-bench plugins
    #: --refiner moment-match`, and is what `perfekt-bench tune` searches
    hyperparameters = (
        Hyperparameter("scale", "bool", True, "match the standard deviation too, not only "
                       "the mean", search=Search(choices=(True, False))),
    )

    # hyperparameters are keyword arguments stored unchanged; no logic here
    def __init__(self, *, scale: bool = True, seed: int = 0, device: str = "cpu"):
        self.scale = scale
        self.seed = seed
        self.device = device

    def fit(self, train, validation, *, progress=False):
        self.mean_fast_ = train.x_fast.mean(axis=0)
        self.mean_full_ = train.x_full.mean(axis=0)
        if self.scale:
            std_fast = train.x_fast.std(axis=0)
            self.factor_ = np.where(std_fast > 0, train.x_full.std(axis=0) / std_fast, 1.0)
        else:
            self.factor_ = np.ones(train.x_fast.shape[1])
        self.history_ = []  # no epochs: an empty history
        return self

    def refine(self, x_fast, g):
        x = self.mean_full_ + (np.asarray(x_fast) - self.mean_fast_) * self.factor_
        return Refinement(x.astype(np.float32))

    def _save_state(self, folder: Path) -> None:
        np.savez(folder / "moments.npz", mean_fast=self.mean_fast_, mean_full=self.mean_full_,
                 factor=self.factor_)

    def _load_state(self, folder: Path) -> None:
        saved = np.load(folder / "moments.npz")
        self.mean_fast_, self.mean_full_ = saved["mean_fast"], saved["mean_full"]
        self.factor_ = saved["factor"]
        self.history_ = []
