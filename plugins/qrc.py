"""Chained quantile-regression morphing: the classic non-neural correction of CMS simulation.

CMS H→γγ corrects the simulated photon identification variables towards data this way (CMS
Collaboration, "Measurements of Higgs boson properties in the diphoton decay channel in
proton-proton collisions at √s = 13 TeV", JHEP 11 (2018) 185, arXiv:1804.02716, Sec. 4; the
public implementation is github.com/threiten/qRC). Here fastsim plays the simulation and
fullsim the data. For each refined feature in turn, gradient-boosted regressors learn 21
conditional quantiles (0.01, 0.05, 0.10, …, 0.95, 0.99) of fastsim and of fullsim given the
conditioning and the features corrected before it; each fastsim value is then moved to the
fullsim value at the same conditional quantile. Deterministic, and it needs no pairs: the two
simulations are used as separate samples.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from perfekt_bench import ConfigurationError, Hyperparameter, Refinement, Refiner, Search, hookimpl

#: the quantiles of the CMS chain (threiten/qRC): 0.01, 0.05, 0.10, …, 0.95, 0.99
QUANTILES = (0.01, *[round(0.05 * k, 2) for k in range(1, 20)], 0.99)
STATE_FILE = "qrc.pkl"


class QuantileRegressionChainRefiner(Refiner):
    """Chained quantile regression (CMS H→γγ; github.com/threiten/qRC).

    **Fit.** For feature j = 1 … d in the task's order, two sets of regressors are trained on
    the training split, one per level of ``quantiles``: on fastsim, with inputs g and the
    fastsim features 1 … j−1 *as corrected so far*, and on fullsim, with inputs g and the
    fullsim features 1 … j−1; the targets are feature j of each simulation. The training
    fastsim's feature j is then corrected with them before feature j+1 is learned, as in qRC
    (its MC regressors are trained on the corrected MC variables).

    **Refine.** Both sets predict the conditional quantiles at (g, corrected features 1 … j−1)
    of the object; the fastsim value's position among the fastsim quantiles (piecewise-linear
    interpolation of the conditional CDF) is mapped to the same position among the fullsim
    quantiles. Beyond the outermost quantiles a value is shifted by the difference of the
    outermost quantiles (qRC interpolates towards 0 below and 1.2 × q₀.₉₉ above, bounds of
    positive shower shapes).
    Each object's predicted quantiles are sorted before use (monotone rearrangement), since
    separately trained regressors can cross.

    **Regressors.** scikit-learn's ``HistGradientBoostingRegressor`` with the quantile loss: the
    histogram-based version of the ``GradientBoostingRegressor(loss="quantile")`` qRC trains
    (max depth 5, learning rate 0.1, 500 trees, at least 500 objects per leaf), fast enough for
    the 21 × 2 × d regressors on a CPU. Hyperparameters: ``quantiles``, ``max_iter`` (trees),
    ``max_depth``, ``learning_rate``, ``min_samples_leaf``, ``max_bins``; ``seed``; ``device``
    (ignored: trees run on the CPU).
    """

    name = "qrc"
    summary = "chained quantile regression morphing, 21 quantiles (CMS H→γγ; threiten/qRC)"
    needs_pairs = False

    def __init__(self, *, quantiles: tuple[float, ...] = QUANTILES, max_iter: int = 500,
                 max_depth: int = 5, learning_rate: float = 0.1, min_samples_leaf: int = 500,
                 max_bins: int = 255, seed: int = 0, device: str = "cpu"):
        self.quantiles = quantiles
        self.max_iter = max_iter
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.min_samples_leaf = min_samples_leaf
        self.max_bins = max_bins
        self.seed = seed
        self.device = device

    #: ``paper``: qRC's trees (500 of depth 5, at least 500 objects per leaf); ``quick``: 100
    #: trees, at least 200 objects per leaf (about a minute per refined feature on 2 CPU cores
    #: at the quick sizes); ``smoke``: 10 trees. Searched by ``tune``: the trees' number, depth,
    #: learning rate and leaf size around qRC's; the quantile levels define the method (qRC's
    #: 21) and the histogram bins the regressor's resolution, and are not tuned.
    hyperparameters = (
        Hyperparameter("quantiles", "floats", list(QUANTILES),
                       "the conditional quantile levels, increasing, inside (0, 1)", low=0,
                       high=1, low_open=True, high_open=True),
        Hyperparameter("max_iter", "int", {"smoke": 10, "quick": 100, "paper": 500},
                       "trees (boosting iterations) of each quantile regressor", low=1,
                       search=Search(50, 500, log=True)),
        Hyperparameter("max_depth", "int", 5, "depth of each tree", low=1,
                       search=Search(2, 8)),
        Hyperparameter("learning_rate", "float", 0.1, "shrinkage of each tree", low=0,
                       low_open=True, search=Search(0.02, 0.3, log=True)),
        Hyperparameter("min_samples_leaf", "int", {"smoke": 20, "quick": 200, "paper": 500},
                       "objects at least in each leaf", low=1,
                       search=Search(20, 1000, log=True)),
        Hyperparameter("max_bins", "int", 255, "histogram bins per input column", low=2,
                       high=255),
    )

    @classmethod
    def tiny_params(cls) -> dict[str, Any]:
        return {"max_iter": 5, "min_samples_leaf": 20, "max_bins": 32}

    # -- fitting ---------------------------------------------------------------------------

    def _check(self) -> np.ndarray:
        levels = np.asarray(self.quantiles, dtype=np.float64)
        if levels.ndim != 1 or len(levels) < 2 or not np.all(np.diff(levels) > 0) \
                or levels[0] <= 0 or levels[-1] >= 1:
            raise ConfigurationError(
                f"qrc: quantiles must be at least two increasing levels inside (0, 1), got "
                f"{self.quantiles!r}")
        return levels

    def _regressor(self, level: float):
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(
            loss="quantile", quantile=float(level), max_iter=self.max_iter,
            max_depth=self.max_depth, max_leaf_nodes=None, learning_rate=self.learning_rate,
            min_samples_leaf=self.min_samples_leaf, max_bins=self.max_bins,
            early_stopping=False, random_state=self.seed)

    def fit(self, train, validation, *, progress=False):
        from tqdm.auto import tqdm

        levels = self._check()
        g = np.asarray(train.g, dtype=np.float64)
        fast = np.asarray(train.x_fast, dtype=np.float64)
        full = np.asarray(train.x_full, dtype=np.float64)
        weight = None if train.weight is None else np.asarray(train.weight, np.float64)
        corrected = fast.copy()
        self.models_: list[dict[str, list]] = []
        self.history_: list[dict[str, float]] = []
        steps = tqdm(range(fast.shape[1]), desc=f"fit {self.name}", disable=not progress,
                     unit="feature")
        for j in steps:
            inputs_fast = np.hstack([g, corrected[:, :j]])
            inputs_full = np.hstack([g, full[:, :j]])
            models = {
                "fast": [self._regressor(q).fit(inputs_fast, fast[:, j], sample_weight=weight)
                         for q in levels],
                "full": [self._regressor(q).fit(inputs_full, full[:, j]) for q in levels]}
            self.models_.append(models)
            corrected[:, j] = self._morph(models, inputs_fast, fast[:, j])
        self.validation_pinball_ = self._validation_loss(validation, levels)
        return self

    def _validation_loss(self, validation, levels) -> list[dict[str, float]]:
        """Mean pinball loss per feature of the fastsim and fullsim quantiles on the
        validation split (each simulation's own previous features as inputs)."""
        g = np.asarray(validation.g, dtype=np.float64)
        out = []
        for j, models in enumerate(self.models_):
            losses = {}
            for side, x in (("fast", validation.x_fast), ("full", validation.x_full)):
                x = np.asarray(x, dtype=np.float64)
                q = _predict(models[side], np.hstack([g, x[:, :j]]))
                residual = x[:, j, None] - q
                pinball = np.maximum(levels * residual, (levels - 1) * residual)
                losses[side] = float(pinball.mean()) if len(x) else float("nan")
            out.append(losses)
        return out

    # -- refining --------------------------------------------------------------------------

    def refine(self, x_fast, g):
        if not hasattr(self, "models_"):
            raise RuntimeError(f"refiner {self.name!r} is not fitted: call fit() first")
        g = np.asarray(g, dtype=np.float64)
        fast = np.asarray(x_fast, dtype=np.float64)
        corrected = fast.copy()
        for j, models in enumerate(self.models_):
            corrected[:, j] = self._morph(models, np.hstack([g, corrected[:, :j]]), fast[:, j])
        return Refinement(corrected.astype(np.float32))

    @staticmethod
    def _morph(models: dict[str, list], inputs: np.ndarray, values: np.ndarray) -> np.ndarray:
        if len(values) == 0:
            return values.copy()
        return quantile_morph(values, _predict(models["fast"], inputs),
                              _predict(models["full"], inputs))

    # -- persistence -----------------------------------------------------------------------

    def _save_state(self, folder: Path) -> None:
        with open(folder / STATE_FILE, "wb") as f:
            pickle.dump({"models": self.models_, "validation": self.validation_pinball_}, f)
        (folder / "validation_pinball.json").write_text(
            json.dumps(self.validation_pinball_, indent=1))

    def _load_state(self, folder: Path) -> None:
        with open(folder / STATE_FILE, "rb") as f:
            state = pickle.load(f)  # the run's own model folder, written by _save_state
        self.models_ = state["models"]
        self.validation_pinball_ = state["validation"]
        self.history_ = []


def _predict(models: list, inputs: np.ndarray) -> np.ndarray:
    """(n, k) quantile predictions, sorted per object (monotone rearrangement)."""
    return np.sort(np.column_stack([m.predict(inputs) for m in models]), axis=1)


def quantile_morph(values: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Move each value from its position among its ``source`` quantiles to the same position
    among its ``target`` quantiles.

    ``source`` and ``target`` are (n, k) arrays of each object's predicted quantiles at the same
    k increasing levels, sorted along axis 1. Between two source quantiles the map is linear
    (the conditional CDF interpolated linearly, as qRC's ``Corrector``); where two source
    quantiles coincide the value maps to the middle of the target segment. Below the first
    and above the last quantile the value is shifted by the difference of the outermost
    quantiles: stretching it by the outermost segment's slope instead can throw a value far
    out when that source segment is narrow (measured on jets: a τ43 of 0.44 sent to −34).
    """
    n, k = source.shape
    # index of the segment [q_i, q_{i+1}] that holds each value, 0 … k−2
    seg = np.clip((source < values[:, None]).sum(axis=1) - 1, 0, k - 2)
    rows = np.arange(n)
    s_lo, s_hi = source[rows, seg], source[rows, seg + 1]
    t_lo, t_hi = target[rows, seg], target[rows, seg + 1]
    width = s_hi - s_lo
    flat = width <= 0
    fraction = np.where(flat, 0.5, (values - s_lo) / np.where(flat, 1.0, width))
    inside = t_lo + fraction * (t_hi - t_lo)
    below = values + (target[:, 0] - source[:, 0])
    above = values + (target[:, -1] - source[:, -1])
    return np.where(values < source[:, 0], below, np.where(values > source[:, -1], above, inside))


@hookimpl
def perfekt_bench_register_refiners(registry):
    registry.add(QuantileRegressionChainRefiner)
