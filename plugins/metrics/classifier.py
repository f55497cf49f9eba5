"""The classifier two-sample test: can a network tell the candidate from fullsim?

The test of the SRGN paper (A. Andreassen et al., Phys. Rev. D 103, 036001 (2021),
arXiv:2010.03569: the AUC of a classifier between the fitted and the target sample, 0.5 when
they agree) with the settings of the CaloChallenge's evaluation (C. Krause et al., "CaloChallenge
2022: a community challenge for fast calorimeter simulation", arXiv:2410.21611; its
``evaluate.py``): a fully connected network with an input layer and 2 hidden layers of 512
LeakyReLU nodes, Adam with learning rate 2·10⁻⁴, batches of 1000, at most 50 epochs, the
objects split 60/20/20 into training, validation and test parts, the output calibrated by
isotonic regression on the validation part, and on the test part the ROC AUC and the
Jensen–Shannon divergence JSD = (log 2 − BCE)/log 2 of the calibrated output (in bits: 0 for
indistinguishable samples, 1 for separable ones).
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perfekt_bench import Metric, MetricValue

from ..mlp import mlp, standardisation
from .distribution import omniscient_columns


@dataclass(frozen=True)
class C2STResult:
    """AUC and JSD of the calibrated classifier on the test part, each ± its bootstrap spread."""

    auc: float
    auc_error: float
    jsd: float
    jsd_error: float
    n_train: int
    epochs: int


class ClassifierTwoSampleTest(Metric):
    """ROC AUC of a classifier trained to separate the candidate from the fullsim reference on
    the task's omniscient set (conditioning, refined and hidden features, with its transforms):
    0.5 when the two cannot be told apart, 1 when they can always be.

    Settings (CaloChallenge ``evaluate.py``): input layer and ``N_HIDDEN`` = 2 hidden layers of
    ``WIDTH`` = 512 nodes, LeakyReLU, no dropout; Adam, ``LR`` = 2·10⁻⁴; ``BATCH`` = 1000;
    at most ``EPOCHS`` = 50 epochs; split 60/20/20 (``SPLIT``); isotonic calibration on the
    validation part (scikit-learn ``IsotonicRegression``, outputs clipped to [10⁻⁶, 1 − 10⁻⁶]);
    AUC and JSD on the test part. Inputs are standardised with the training part's mean and
    standard deviation. Both classes are equally large; a weighted candidate keeps its weights
    (normalised to the class size) in the loss, the calibration, the AUC and the JSD, so the
    classifier compares the weighted sample with fullsim, as SRGN's reweighted fit does.

    Where we differ, for CPU time: the epoch kept is the one with the lowest validation loss
    (the CaloChallenge keeps the best test accuracy, which also looks at the test part), and
    training stops after ``PATIENCE`` = 10 epochs without a lower validation loss; each class
    is cut to its first ``MAX_PER_CLASS`` = 10 000 objects (quick test halves: analytic 25 000,
    deepjet 30 000, jets 5 000 used whole), float32 instead of float64. The error is the
    standard deviation over ``BOOTSTRAP`` = 100 bootstrap resamples of the test part (fixed
    seed): the statistical spread of the test, not of the classifier's training, whose seed is
    fixed so that the metric is deterministic.

    Opt-in (``EvaluationSettings.opt_in_metrics``): about 20–60 s per candidate on 2 CPU cores
    at the quick sizes. ``c2st_jsd`` reports the JSD of the same classifier: the two metrics
    share one fit per candidate (kept by content hash within the process).
    """

    name = "c2st"
    summary = "ROC AUC of a classifier fullsim vs candidate on (g, x, h) (SRGN; CaloChallenge)"
    opt_in = True
    #: what this metric reports of the shared fit
    field: ClassVar[str] = "auc"

    N_HIDDEN: ClassVar[int] = 2
    WIDTH: ClassVar[int] = 512
    LR: ClassVar[float] = 2e-4
    BATCH: ClassVar[int] = 1000
    EPOCHS: ClassVar[int] = 50
    PATIENCE: ClassVar[int] = 10
    SPLIT: ClassVar[tuple[float, float, float]] = (0.6, 0.2, 0.2)
    MAX_PER_CLASS: ClassVar[int] = 10_000
    BOOTSTRAP: ClassVar[int] = 100
    SEED: ClassVar[int] = 0

    def compute(self, candidate, reference, *, settings, target=None) -> MetricValue:
        a = omniscient_columns(candidate, settings)
        b = omniscient_columns(reference, settings)
        result = self.fit(a, b, candidate.weight)
        return MetricValue(getattr(result, self.field), getattr(result, self.field + "_error"))

    def fit(self, candidate: np.ndarray, reference: np.ndarray,
            weight: np.ndarray | None = None) -> C2STResult:
        """Train, calibrate and test the classifier of ``candidate`` (label 0, optional weights)
        against ``reference`` (label 1); remembered by content for the metric's siblings."""
        key = self._key(candidate, reference, weight)
        if key not in _FITS:
            _FITS[key] = self._fit(candidate, reference, weight)
            while len(_FITS) > _FITS_KEPT:
                _FITS.popitem(last=False)
        return _FITS[key]

    def _key(self, *arrays) -> str:
        digest = hashlib.sha256(repr(self._constants()).encode())
        for array in arrays:
            digest.update(b"-" if array is None else np.ascontiguousarray(array).tobytes())
            digest.update(repr(None if array is None else array.shape).encode())
        return digest.hexdigest()

    def _constants(self) -> tuple:
        return (self.N_HIDDEN, self.WIDTH, self.LR, self.BATCH, self.EPOCHS, self.PATIENCE,
                self.SPLIT, self.MAX_PER_CLASS, self.BOOTSTRAP, self.SEED)

    def _fit(self, candidate, reference, weight) -> C2STResult:
        import torch

        n = min(len(candidate), len(reference), self.MAX_PER_CLASS)
        w = np.ones(n) if weight is None else np.asarray(weight[:n], np.float64)
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            return C2STResult(math.nan, math.nan, math.nan, math.nan, 0, 0)
        inputs = np.concatenate([candidate[:n], reference[:n]]).astype(np.float64)
        labels = np.concatenate([np.zeros(n), np.ones(n)])
        weights = np.concatenate([w * n / w.sum(), np.ones(n)])
        rng = np.random.default_rng(self.SEED)
        parts = _split(n, self.SPLIT, rng)
        train, val, test = (np.concatenate([idx, idx + n]) for idx in parts)
        mean, scale = standardisation(inputs[train])
        inputs = ((inputs - mean) / scale).astype(np.float32)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.SEED)
            model = _network(inputs.shape[1], self.N_HIDDEN, self.WIDTH)
            epochs = self._train(model, inputs, labels, weights, train, val)
        p_val, p_test = (_probabilities(model, inputs[idx]) for idx in (val, test))

        from sklearn.isotonic import IsotonicRegression

        calibrator = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6)
        calibrator.fit(p_val, labels[val], sample_weight=weights[val])
        calibrated = calibrator.predict(p_test)
        auc, jsd = _scores(labels[test], calibrated, weights[test])
        spread = []
        for _ in range(self.BOOTSTRAP):
            pick = rng.integers(0, len(test), len(test))
            spread.append(_scores(labels[test][pick], calibrated[pick], weights[test][pick]))
        errors = np.nanstd(np.array(spread), axis=0, ddof=1) if spread else (math.nan,) * 2
        return C2STResult(auc, float(errors[0]), jsd, float(errors[1]), len(train), epochs)

    def _train(self, model, inputs, labels, weights, train, val) -> int:
        """Adam on the weighted BCE; keeps the epoch of lowest validation BCE; the number of
        epochs run."""
        import torch

        from perfekt_bench import EarlyStopping

        x = torch.as_tensor(inputs)
        y = torch.as_tensor(labels, dtype=torch.float32)
        w = torch.as_tensor(weights, dtype=torch.float32)
        train_t, val_t = torch.as_tensor(train), torch.as_tensor(val)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.LR)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        shuffle = torch.Generator().manual_seed(self.SEED)
        stopper = EarlyStopping(self.PATIENCE)
        epochs = 0
        while epochs < self.EPOCHS:
            epochs += 1
            model.train()
            order = train_t[torch.randperm(len(train_t), generator=shuffle)]
            for start in range(0, len(order), self.BATCH):
                idx = order[start:start + self.BATCH]
                loss = bce(model(x[idx]).squeeze(1), y[idx], weight=w[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                val_loss = float(bce(model(x[val_t]).squeeze(1), y[val_t], weight=w[val_t]))
            if stopper.step(val_loss, model.state_dict):
                break
        stopper.restore(model.load_state_dict)
        return epochs


class ClassifierJSD(ClassifierTwoSampleTest):
    """Jensen–Shannon divergence between candidate and fullsim from the calibrated classifier
    of ``c2st`` (CaloChallenge): JSD = (log 2 − BCE)/log 2 on the test part, in bits; 0 for
    indistinguishable samples. Same fit, same settings, same bootstrap error as ``c2st``."""

    name = "c2st_jsd"
    summary = "JSD (bits) from the calibrated c2st classifier (CaloChallenge)"
    field = "jsd"


#: fits by content hash, shared by c2st and c2st_jsd (one run evaluates three candidates)
_FITS: OrderedDict[str, C2STResult] = OrderedDict()
_FITS_KEPT = 6


def _split(n: int, fractions, rng) -> list[np.ndarray]:
    """Indices 0 … n−1 shuffled and cut by ``fractions`` (train, validation, test)."""
    order = rng.permutation(n)
    cuts = np.cumsum([int(f * n) for f in fractions[:-1]])
    return np.split(order, cuts)


def _network(n_inputs: int, n_hidden: int, width: int):
    """The CaloChallenge's DNN: an input layer and ``n_hidden`` hidden layers of ``width``
    nodes, LeakyReLU (slope 0.01, torch's default), one logit."""
    return mlp(n_inputs, 1, n_hidden + 1, width, 0.01)


def _probabilities(model, inputs: np.ndarray) -> np.ndarray:
    import torch

    model.eval()
    with torch.no_grad():
        return torch.sigmoid(model(torch.as_tensor(inputs)).squeeze(1)).double().numpy()


def _scores(labels: np.ndarray, p: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted ROC AUC and JSD = (log 2 − BCE)/log 2 of calibrated probabilities ``p``."""
    from sklearn.metrics import roc_auc_score

    if len(np.unique(labels)) < 2:
        return math.nan, math.nan
    auc = float(roc_auc_score(labels, p, sample_weight=weights))
    bce = -np.average(labels * np.log(p) + (1 - labels) * np.log(1 - p), weights=weights)
    return auc, float((math.log(2) - bce) / math.log(2))
