"""DCTR: reweighting fastsim with a classifier parametrised in the conditioning.

Andreassen & Nachman, "Neural Networks for Full Phase-space Reweighting and Parameter
Tuning", Phys. Rev. D 101, 091901 (2020), arXiv:1907.08209. A classifier f(g, x) learns to
tell fastsim (label 0) from fullsim (label 1); with balanced classes its odds f/(1 − f)
estimate the likelihood ratio p_full(x | g)/p_fast(x | g), which becomes a weight per
fastsim object. The features are left unchanged. The price is statistical: the weighted
sample is worth fewer objects (metric ``n_eff``), and where fullsim populates a region that
fastsim barely reaches the weights grow without bound.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from perfekt_bench import (
    ConfigurationError,
    DataError,
    EarlyStopping,
    Hyperparameter,
    Refinement,
    Refiner,
    Search,
    hookimpl,
)
from perfekt_bench.training import epoch_hyperparameters

from .mlp import standardisation

_CHUNK = 65536


class DCTRRefiner(Refiner):
    """DCTR reweighting (arXiv:1907.08209): fastsim keeps its values and gains weights.

    The classifier is an MLP with ``n_layers`` hidden ReLU layers of ``width`` nodes on the
    standardised concatenation (g, x), trained on fastsim rows against fullsim rows as two
    independent samples (no pairing is used) with the binary cross-entropy; every batch holds
    ``batch_size // 2`` objects of each simulation, so the classes are balanced. Adam with
    learning rate ``lr``; at most ``epochs`` epochs (``max_batches`` caps the batches per
    epoch); early stopping after ``patience`` epochs without a lower validation BCE, restoring
    the best weights (``None``: train every epoch and keep the last); ``seed``; ``device``.

    The weight of a fastsim object is w = r/c with r = exp(logit) = f/(1 − f). The
    constant c is fixed at the end of ``fit`` so that the weights of the validation fastsim
    have mean exactly 1: a weight is then a function of the object alone (the same whether
    it is refined alone or in a batch) and its mean is 1 on any fastsim sample to
    statistical precision. No clipping by default (as in the paper's public notebooks).
    ``clip`` (≥ 1) caps the final weights: w = min(r/c, clip), with c chosen so that the
    clipped validation weights still have mean 1; no weight then exceeds ``clip``.
    NaN or infinite weights raise :class:`perfekt_bench.DataError`.
    """

    name = "dctr"
    needs_pairs = False
    outputs_weights = True

    def __init__(self, *, n_layers: int = 3, width: int = 128, lr: float = 1e-3,
                 batch_size: int = 2048, epochs: int = 20, patience: int | None = 5,
                 max_batches: int | None = None, clip: float | None = None, seed: int = 0,
                 device: str = "cpu"):
        self.n_layers = n_layers
        self.width = width
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.max_batches = max_batches
        self.clip = clip
        self.seed = seed
        self.device = device

    #: ``smoke``: a tiny classifier for a few batches; ``quick``: 3×128, at most 20 epochs
    #: (about 15 s on 2 CPU cores for the analytic task); ``paper``: 4×256, at most 100
    #: epochs. The paper prescribes no settings for these tasks. Searched by ``tune``: depth,
    #: width and learning rate around the quick classifier's; batch size, epochs, patience and
    #: batches per epoch set the budget's cost and are never tuned; ``clip`` changes what the
    #: method outputs (the paper's notebooks do not clip) and is left to the user.
    hyperparameters = (
        Hyperparameter("n_layers", "int", {"smoke": 2, "quick": 3, "paper": 4},
                       "hidden ReLU layers of the classifier", low=1, search=Search(1, 4)),
        Hyperparameter("width", "int", {"smoke": 16, "quick": 128, "paper": 256},
                       "nodes per hidden layer", low=1,
                       search=Search(choices=(32, 64, 128, 256))),
        Hyperparameter("lr", "float", {"smoke": 1e-3, "quick": 1e-3, "paper": 3e-4},
                       "Adam's learning rate", low=0, low_open=True,
                       search=Search(1e-4, 1e-2, log=True)),
        Hyperparameter("batch_size", "int", {"smoke": 256, "quick": 2048, "paper": 2048},
                       "objects per batch, half fastsim and half fullsim", low=2),
        *epoch_hyperparameters(epochs={"smoke": 2, "quick": 20, "paper": 100},
                               patience={"smoke": None, "quick": 5, "paper": 10},
                               max_batches={"smoke": 8, "quick": None, "paper": None}),
        Hyperparameter("clip", "float", None, "cap on the weights (mean-1 normalised); null: "
                       "no clipping", low=1, nullable=True),
    )

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, train, validation, *, progress=False, report=None):
        import torch
        from tqdm.auto import tqdm

        if self.clip is not None and not self.clip >= 1:
            raise ConfigurationError(
                f"dctr: clip={self.clip!r} is below 1, but the weights are normalised to "
                "mean 1; use clip >= 1 (or None for no clipping)")
        device = torch.device(self.device)
        fast_tr, full_tr = _inputs(train.g, train.x_fast), _inputs(train.g, train.x_full)
        both = np.concatenate([fast_tr, full_tr])
        mean, scale = standardisation(both)
        self.input_mean_, self.input_scale_ = mean.astype(np.float32), scale.astype(np.float32)
        to_t = lambda a: torch.as_tensor(self._standardise(a), device=device)  # noqa: E731
        fast, full = to_t(fast_tr), to_t(full_tr)
        fast_va = to_t(_inputs(validation.g, validation.x_fast))
        full_va = to_t(_inputs(validation.g, validation.x_full))

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.model_ = _classifier(fast.shape[1], self.n_layers, self.width).to(device)
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
        bce = torch.nn.BCEWithLogitsLoss()
        shuffle = torch.Generator().manual_seed(self.seed)
        half = max(self.batch_size // 2, 1)

        self.history_: list[dict[str, float]] = []
        stopper = EarlyStopping(self.patience)
        epochs = tqdm(range(self.epochs), desc=f"fit {self.name}", disable=not progress,
                      unit="epoch")
        for epoch in epochs:
            self.model_.train()
            losses = []
            for i_fast, i_full in self._batches(len(fast), len(full), half, shuffle):
                inputs = torch.cat([fast[i_fast], full[i_full]])
                labels = torch.cat([torch.zeros(len(i_fast), device=device),
                                    torch.ones(len(i_full), device=device)])
                loss = bce(self.model_(inputs).squeeze(1), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
            record = {"epoch": epoch, "train_loss": float(np.mean(losses))}
            record |= self._validate(fast_va, full_va)
            self.history_.append(record)
            epochs.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k != "epoch"})
            if report is not None:
                report(epoch, record["val_loss"])
            if stopper.step(record["val_loss"], self.model_.state_dict):
                break
        stopper.restore(self.model_.load_state_dict)
        self.log_norm_ = self._log_normalisation(self._logits_of(fast_va))
        return self

    def _batches(self, n_fast: int, n_full: int, half: int, generator):
        """Index pairs (fastsim rows, fullsim rows) of balanced batches, each simulation
        shuffled on its own; an epoch ends when the smaller sample is used up."""
        import torch

        order_fast = torch.randperm(n_fast, generator=generator)
        order_full = torch.randperm(n_full, generator=generator)
        n = min(n_fast, n_full)
        n_batches = max(n // half, 1)
        if self.max_batches is not None:
            n_batches = min(n_batches, self.max_batches)
        return [(order_fast[b * half:(b + 1) * half], order_full[b * half:(b + 1) * half])
                for b in range(n_batches)]

    def _validate(self, fast_va, full_va) -> dict[str, float]:
        """Balanced validation BCE, ½(BCE on fastsim + BCE on fullsim), and the effective
        sample-size fraction of the validation fastsim weights (unnormalised, unclipped)."""
        import torch
        import torch.nn.functional as F

        logit_fast, logit_full = self._logits_of(fast_va), self._logits_of(full_va)
        lf, lu = torch.as_tensor(logit_fast), torch.as_tensor(logit_full)
        loss = 0.5 * (float(F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf)))
                      + float(F.binary_cross_entropy_with_logits(lu, torch.ones_like(lu))))
        # n_eff/N = (Σw)²/(N Σw²) with w = exp(logit), in log space so that it never overflows
        log_n_eff = 2 * torch.logsumexp(lf, 0) - torch.logsumexp(2 * lf, 0)
        return {"val_loss": loss, "val_n_eff": float(torch.exp(log_n_eff)) / len(lf)}

    def _log_normalisation(self, logits: np.ndarray) -> float:
        """log c, where c gives the validation fastsim weights mean 1 (after ``clip``)."""
        if self.clip is None:
            _check_weights(logits, "the validation fastsim (while normalising)")
            top = logits.max()
            return float(top + np.log(np.mean(np.exp(logits - top))))
        _check_weights(np.where(np.isinf(logits), 0.0, logits),
                       "the validation fastsim (while normalising)")
        # mean(min(exp(logit − log c), clip)) falls from clip to 0 as log c grows: bisect
        finite = logits[np.isfinite(logits)]
        lo, hi = finite.min(initial=0.0) - 50.0, finite.max(initial=0.0) + 50.0
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            if _clipped_weights(logits, mid, self.clip).mean() > 1.0:
                lo = mid
            else:
                hi = mid
        return float(hi)

    # -- refining and persistence ----------------------------------------------------------

    def refine(self, x_fast, g):
        if not hasattr(self, "model_"):
            raise RuntimeError(f"refiner {self.name!r} is not fitted: call fit() first")
        weight = self.weights(x_fast, g)
        return Refinement(np.array(x_fast, copy=True), weight)

    def weights(self, x_fast: np.ndarray, g: np.ndarray) -> np.ndarray:
        """DCTR weights (float64) of fastsim objects; raises DataError for NaN/inf weights."""
        import torch

        inputs = torch.as_tensor(self._standardise(_inputs(g, x_fast)),
                                 device=torch.device(self.device))
        weight = _clipped_weights(self._logits_of(inputs), self.log_norm_, self.clip)
        _check_weights(weight, f"{len(weight)} fastsim objects")
        return weight

    def _logits_of(self, inputs) -> np.ndarray:
        """Classifier logits (float64) of standardised inputs already on the device."""
        import torch

        self.model_.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(inputs), _CHUNK):
                out.append(self.model_(inputs[start:start + _CHUNK]).squeeze(1).cpu().numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def export_module(self):
        """The weight function w(x_fast, g) as a torch module (CPU, evaluation mode): the
        standardisation, the classifier, exp(logit − log c) in float64, ``clip``; float32 out."""
        if not hasattr(self, "model_"):
            raise RuntimeError(f"refiner {self.name!r} is not fitted: call fit() first")
        return _weight_module(self)

    def _standardise(self, inputs: np.ndarray) -> np.ndarray:
        return ((inputs - self.input_mean_) / self.input_scale_).astype(np.float32)

    def _save_state(self, folder: Path) -> None:
        import torch

        state = {k: v.cpu() for k, v in self.model_.state_dict().items()}
        torch.save({"state": state, "n_inputs": len(self.input_mean_),
                    "input_mean": torch.from_numpy(self.input_mean_),
                    "input_scale": torch.from_numpy(self.input_scale_),
                    "log_norm": self.log_norm_},
                   folder / "model.pt")
        (folder / "history.json").write_text(json.dumps(self.history_, indent=1))

    def _load_state(self, folder: Path) -> None:
        import torch

        saved = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        model = _classifier(saved["n_inputs"], self.n_layers, self.width)
        model.load_state_dict(saved["state"])
        self.model_ = model.to(self.device)
        self.input_mean_ = saved["input_mean"].numpy()
        self.input_scale_ = saved["input_scale"].numpy()
        self.log_norm_ = float(saved["log_norm"])
        self.history_ = json.loads((folder / "history.json").read_text())


def _classifier(n_inputs: int, n_layers: int, width: int):
    """MLP with ``n_layers`` hidden ReLU layers of ``width`` nodes and one output logit."""
    from torch import nn

    layers: list[nn.Module] = []
    n_in = n_inputs
    for _ in range(n_layers):
        layers += [nn.Linear(n_in, width), nn.ReLU()]
        n_in = width
    layers.append(nn.Linear(n_in, 1))
    return nn.Sequential(*layers)


def _weight_module(refiner: DCTRRefiner):
    """:meth:`DCTRRefiner.weights` as a torch module (built on demand: it needs torch)."""
    import copy

    import torch
    from torch import nn

    class DCTRWeights(nn.Module):
        def __init__(self):
            super().__init__()
            self.classifier = copy.deepcopy(refiner.model_).cpu().eval()
            self.register_buffer("mean", torch.from_numpy(refiner.input_mean_.copy()))
            self.register_buffer("scale", torch.from_numpy(refiner.input_scale_.copy()))
            self.log_norm = refiner.log_norm_
            self.clip = refiner.clip

        def forward(self, x_fast, g):
            inputs = (torch.cat([g, x_fast], dim=1) - self.mean) / self.scale
            weight = torch.exp(self.classifier(inputs)[:, 0].double() - self.log_norm)
            if self.clip is not None:
                weight = torch.minimum(weight, weight.new_tensor(self.clip))
            return weight.float()

    return DCTRWeights().eval()


def _inputs(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(g, np.float32), np.asarray(x, np.float32)], axis=1)


def _clipped_weights(logits: np.ndarray, log_norm: float, clip: float | None) -> np.ndarray:
    """min(exp(logit − log c), clip): f/(1 − f)/c computed from the logit, which stays
    accurate where f is within rounding of 1."""
    with np.errstate(over="ignore", invalid="ignore"):
        weight = np.exp(logits - log_norm)
    return weight if clip is None else np.minimum(weight, clip)


def _check_weights(weight: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(weight)
    if bad.any():
        n_nan = int(np.isnan(weight).sum())
        raise DataError(
            f"dctr: {int(bad.sum())} of {len(weight)} weights of {what} are not finite "
            f"({n_nan} NaN, {int(bad.sum()) - n_nan} infinite): the classifier separates "
            "fastsim from fullsim almost perfectly there, so f/(1-f) overflows; set the "
            "'clip' hyperparameter (e.g. clip=100) to cap the weights, or train a smoother "
            "classifier (fewer epochs, smaller network)")


@hookimpl
def perfekt_bench_register_refiners(registry):
    registry.add(DCTRRefiner)
