"""GEN → reco generation: the analysis-specific fast simulation of Chen et al.

C. Chen, O. Cerri, T. Q. Nguyen, J.-R. Vlimant, M. Pierini, "Data augmentation at the LHC
through analysis-specific fast simulation with deep learning", arXiv:2010.01835. A network
reads only the generator-level features and predicts, per reco feature, a location μ (trained
with the mean absolute error) and the 84.1 % quantile q (trained with the quantile loss at
γ = 0.5 + 0.341, one Gaussian σ above the median); the output is μ + σ·N(0, 1) with
σ = |q − μ|. It ignores fastsim: it answers whether refining fastsim beats skipping fastsim.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from perfekt_bench import EarlyStopping, Hyperparameter, Refinement, Refiner, Search, hookimpl
from perfekt_bench.training import epoch_hyperparameters

from .mlp import batch_indices, mlp, standardisation

#: Chen et al.: the quantile head is trained at 0.5 + 0.341, one σ above the median
QUANTILE = 0.841
_CHUNK = 65536


class Gen2RecoRefiner(Refiner):
    """Analysis-specific GEN → reco generator (Chen et al., arXiv:2010.01835).

    An MLP with ``n_layers`` hidden layers of ``width`` nodes and LeakyReLU(0.05) maps the
    standardised conditioning g to two heads per refined feature, μ and q. Loss per batch:
    mean |μ − x| + mean pinball_γ(q − x) with γ = ``quantile`` (0.841), on fullsim features
    standardised with training statistics. Adam with learning rate ``lr``/(1 + epoch) (the
    paper's schedule), batch ``batch_size`` (128 in the paper), at most ``epochs`` epochs
    (``max_batches`` caps the batches per epoch), keeping the epoch of lowest validation loss
    (the paper saves the best model; ``patience`` stops early). Output: μ + |q − μ|·ε.

    ``ε`` ~ N(0, 1) is drawn per object from a counter-based hash of the object's input bytes
    (g and x_fast) and ``seed``: an object gets the same value alone or in any batch, and two
    objects with equal GEN values still get independent draws. x_fast seeds the noise and
    nothing else; the prediction uses GEN alone.

    Differences from the paper: the inputs are standardised with training statistics instead
    of a batch-normalisation layer (so that a single object refines as in a batch), and the
    targets are the task's features standardised per column instead of the paper's rescaled
    reco − GEN differences of its nine W + jet momenta (which need reco and GEN to be the same
    quantities; deepjet's are not). The paper gives no depth: 3 hidden layers of 100 (its
    "latent dim") are ours.
    """

    name = "gen2reco"
    summary = "GEN-only generator μ + σ·N(0,1), MAE and 0.841-quantile heads (Chen et al.)"
    needs_pairs = False

    def __init__(self, *, n_layers: int = 3, width: int = 100, negative_slope: float = 0.05,
                 quantile: float = QUANTILE, lr: float = 1e-3, batch_size: int = 128,
                 epochs: int = 100, patience: int | None = 10, max_batches: int | None = None,
                 seed: int = 0, device: str = "cpu"):
        self.n_layers = n_layers
        self.width = width
        self.negative_slope = negative_slope
        self.quantile = quantile
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.max_batches = max_batches
        self.seed = seed
        self.device = device

    #: ``paper``: the paper's batch 128, learning rate 10⁻³/(1 + epoch), 100 epochs;
    #: ``quick``: the same for at most 30 epochs (early stopping after 5); ``smoke``: a tiny
    #: network for a few batches. Searched by ``tune``: depth, width and learning rate; the
    #: LeakyReLU slope and the σ head's quantile (0.841: one standard deviation of a normal)
    #: are the paper's and define the method.
    hyperparameters = (
        Hyperparameter("n_layers", "int", {"smoke": 1, "quick": 3, "paper": 3},
                       "hidden LeakyReLU layers of each head", low=1, search=Search(1, 5)),
        Hyperparameter("width", "int", {"smoke": 16, "quick": 100, "paper": 100},
                       "nodes per hidden layer", low=1,
                       search=Search(choices=(32, 64, 100, 256))),
        Hyperparameter("negative_slope", "float", 0.05, "LeakyReLU's slope below 0", low=0),
        Hyperparameter("quantile", "float", QUANTILE, "the quantile the σ head fits", low=0.5,
                       high=1, low_open=True, high_open=True),
        Hyperparameter("lr", "float", 1e-3, "Adam's learning rate, divided by 1 + epoch",
                       low=0, low_open=True, search=Search(1e-4, 1e-2, log=True)),
        Hyperparameter("batch_size", "int", 128, "objects per batch", low=1),
        *epoch_hyperparameters(epochs={"smoke": 2, "quick": 30, "paper": 100},
                               patience={"smoke": None, "quick": 5, "paper": 10},
                               max_batches={"smoke": 8, "quick": None, "paper": None}),
    )

    @classmethod
    def tiny_params(cls) -> dict[str, Any]:
        return cls.defaults("smoke")

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, train, validation, *, progress=False, report=None):
        import torch
        from tqdm.auto import tqdm

        device = torch.device(self.device)
        g, x = np.asarray(train.g, np.float64), np.asarray(train.x_full, np.float64)
        self.g_mean_, self.g_scale_ = standardisation(g)
        self.x_mean_, self.x_scale_ = standardisation(x)
        to_t = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=device)  # noqa: E731
        g_tr, x_tr = to_t(self._standard_g(train.g)), to_t(self._standard_x(train.x_full))
        g_va = to_t(self._standard_g(validation.g))
        x_va = to_t(self._standard_x(validation.x_full))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.model_ = mlp(g.shape[1], 2 * x.shape[1], self.n_layers, self.width,
                              self.negative_slope).to(device)
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1 / (1 + epoch))
        shuffle = torch.Generator().manual_seed(self.seed)
        stopper = EarlyStopping(self.patience)
        self.history_: list[dict[str, float]] = []
        epochs = tqdm(range(self.epochs), desc=f"fit {self.name}", disable=not progress,
                      unit="epoch")
        for epoch in epochs:
            self.model_.train()
            logs = []
            for index in batch_indices(len(g_tr), self.batch_size, self.max_batches, shuffle):
                mae, pinball = self._losses(self.model_(g_tr[index]), x_tr[index])
                loss = mae + pinball
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                logs.append((float(loss.detach()), float(mae.detach()), float(pinball.detach())))
            schedule.step()
            train_loss, train_mae, train_pinball = np.mean(logs, axis=0)
            record = {"epoch": epoch, "train_loss": float(train_loss),
                      "train_mae": float(train_mae), "train_pinball": float(train_pinball)}
            record |= self._validate(g_va, x_va)
            self.history_.append(record)
            if report is not None:  # the validation loss of both heads, for pruning
                report(epoch, record["val_loss"])
            epochs.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k != "epoch"})
            if stopper.step(record["val_loss"], self.model_.state_dict):
                break
        stopper.restore(self.model_.load_state_dict)
        return self

    def _losses(self, out, x):
        """Mean absolute error of the μ head and mean pinball loss of the q head."""
        import torch

        d = x.shape[1]
        mu, q = out[:, :d], out[:, d:]
        residual = x - q
        pinball = torch.maximum(self.quantile * residual, (self.quantile - 1) * residual)
        return (mu - x).abs().mean(), pinball.mean()

    def _validate(self, g_va, x_va) -> dict[str, float]:
        import torch

        self.model_.eval()
        with torch.no_grad():
            mae, pinball = self._losses(self.model_(g_va), x_va) if len(g_va) else (
                torch.tensor(float("nan")), torch.tensor(float("nan")))
        return {"val_loss": float(mae + pinball), "val_mae": float(mae),
                "val_pinball": float(pinball)}

    # -- refining --------------------------------------------------------------------------

    def predict_heads(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """μ and σ = |q − μ| per object and feature, in the task's coordinates."""
        import torch

        if not hasattr(self, "model_"):
            raise RuntimeError(f"refiner {self.name!r} is not fitted: call fit() first")
        self.model_.eval()
        device = torch.device(self.device)
        standard = self._standard_g(g).astype(np.float32)
        outs = []
        with torch.no_grad():
            for start in range(0, len(standard), _CHUNK):
                chunk = torch.as_tensor(standard[start:start + _CHUNK], device=device)
                outs.append(self.model_(chunk).cpu().numpy().astype(np.float64))
        d = len(self.x_mean_)
        out = np.concatenate(outs) if outs else np.zeros((0, 2 * d))
        mu = out[:, :d] * self.x_scale_ + self.x_mean_
        sigma = np.abs(out[:, d:] - out[:, :d]) * self.x_scale_
        return mu, sigma

    def refine(self, x_fast, g):
        mu, sigma = self.predict_heads(np.asarray(g))
        eps = object_normals(np.hstack([np.asarray(g, np.float32), np.asarray(x_fast, np.float32)]),
                             self.seed, mu.shape[1])
        return Refinement((mu + sigma * eps).astype(np.float32))

    def _standard_g(self, g) -> np.ndarray:
        return (np.asarray(g, np.float64) - self.g_mean_) / self.g_scale_

    def _standard_x(self, x) -> np.ndarray:
        return (np.asarray(x, np.float64) - self.x_mean_) / self.x_scale_

    # -- persistence -----------------------------------------------------------------------

    def _save_state(self, folder: Path) -> None:
        import torch

        torch.save({"state": {k: v.cpu() for k, v in self.model_.state_dict().items()},
                    "scaling": {k: torch.from_numpy(getattr(self, k)) for k in _SCALING}},
                   folder / "model.pt")
        (folder / "history.json").write_text(json.dumps(self.history_, indent=1))

    def _load_state(self, folder: Path) -> None:
        import torch

        saved = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        for k in _SCALING:
            setattr(self, k, saved["scaling"][k].numpy())
        model = mlp(len(self.g_mean_), 2 * len(self.x_mean_), self.n_layers, self.width,
                    self.negative_slope)
        model.load_state_dict(saved["state"])
        self.model_ = model.to(self.device)
        self.history_ = json.loads((folder / "history.json").read_text())


_SCALING = ("g_mean_", "g_scale_", "x_mean_", "x_scale_")


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(h: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of uint64 that scrambles every input bit."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def object_normals(rows: np.ndarray, seed: int, d: int) -> np.ndarray:
    """(n, d) standard normal draws, each row a function of that row's float32 bytes and
    ``seed`` alone (a counter-based generator: SplitMix64 over the row's words, then
    Box–Muller), so an object's draw does not depend on the batch it is refined in."""
    words = np.ascontiguousarray(rows, dtype=np.float32).reshape(len(rows), -1).view(np.uint32)
    with np.errstate(over="ignore"):
        h = np.full(len(rows), _mix(np.uint64(seed) + _GOLDEN), dtype=np.uint64)
        for column in words.T:
            h = _mix(h ^ column.astype(np.uint64))
        uniforms = []
        for k in range(2 * d):
            bits = _mix(h + np.uint64(k + 1) * _GOLDEN) >> np.uint64(11)
            uniforms.append((bits.astype(np.float64) + 0.5) / 2.0**53)
    u1, u2 = np.array(uniforms[:d]).T, np.array(uniforms[d:]).T
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).reshape(len(rows), d)


@hookimpl
def perfekt_bench_register_refiners(registry):
    registry.add(Gen2RecoRefiner)
