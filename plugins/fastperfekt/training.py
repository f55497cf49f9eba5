"""The training loop shared by every refiner built on the Fast Perfekt network.

After skorch: the loop lives here once, and a method differs only by small overridable
pieces — :meth:`NetworkRefiner.training_loss` (what one step minimises),
:meth:`NetworkRefiner.validation_losses` (what is tracked on validation data) and
:meth:`NetworkRefiner.end_epoch` (schedules such as a stage switch).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfekt_bench import EarlyStopping, Refinement, Refiner

from ..mlp import batch_indices

#: the network and training of the Fast Perfekt paper's analytic example (Table 3): used on a
#: task that publishes no "network" hint (see :meth:`perfekt_bench.Task.refiner_hints`)
DEFAULT_NETWORK = {"n_blocks": 2, "width": 64, "lr": 1e-4, "batch_size": 2048, "epochs": 100,
                   "patience": 10}
#: what the ``quick`` budget changes on top of a task's published network: a larger learning
#: rate and fewer epochs, so that a run takes minutes on a laptop CPU
QUICK_RULE = {"lr": 1e-3, "epochs": 30, "patience": 5}
#: the ``smoke`` budget: a tiny network for a few batches
SMOKE = {"n_blocks": 1, "width": 16, "lr": 1e-3, "batch_size": 256, "epochs": 2,
         "patience": None, "max_batches": 8}


@dataclass(frozen=True)
class Batch:
    g: Any
    x_fast: Any
    x_full: Any


class NetworkRefiner(Refiner):
    """Base of the refiners that train the Fast Perfekt residual network.

    Hyperparameters: ``n_blocks`` residual blocks of ``width`` nodes with ``dropout`` between
    the layers of each block (CMS paper Sec. 3.1; 0 in Fast Perfekt); Adam with learning rate
    ``lr``; ``batch_size``; at most ``epochs`` epochs (``max_batches`` caps the batches per
    epoch); early stopping after ``patience`` epochs without a better validation ``monitor``
    value (``None``: no early stopping), restoring the best weights; ``seed``; ``device``.
    """

    needs_pairs = False
    hint_keys = ("network", "network-quick")
    monitor = "val_loss"

    def __init__(self, *, n_blocks: int = 2, width: int = 64, lr: float = 1e-4,
                 batch_size: int = 2048, epochs: int = 100, patience: int | None = 10,
                 max_batches: int | None = None, dropout: float = 0.0, seed: int = 0,
                 device: str = "cpu"):
        self.n_blocks = n_blocks
        self.width = width
        self.dropout = dropout
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.max_batches = max_batches
        self.seed = seed
        self.device = device

    # -- budgets ---------------------------------------------------------------------------

    @classmethod
    def defaults(cls, budget: str, hints=None) -> dict[str, Any]:
        """``paper``: the network the task publishes as its ``"network"`` hint (its paper's
        settings; else :data:`DEFAULT_NETWORK`); ``quick``: the same with :data:`QUICK_RULE`
        and the task's ``"network-quick"`` changes; ``smoke``: a tiny network."""
        hints = hints or {}
        paper = DEFAULT_NETWORK | dict(hints.get("network", {}))
        if budget == "paper":
            return paper
        if budget == "quick":
            return paper | QUICK_RULE | dict(hints.get("network-quick", {}))
        return dict(SMOKE)

    @classmethod
    def tiny_params(cls) -> dict[str, Any]:
        return cls.defaults("smoke")

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {"lr": trial.suggest_float("lr", 1e-5, 1e-2, log=True),
                "n_blocks": trial.suggest_int("n_blocks", 1, 6),
                "width": trial.suggest_categorical("width", [32, 64, 128, 256, 512])}

    # -- the pieces a method overrides -----------------------------------------------------

    def setup(self, train_batch: Batch) -> None:
        """Called once before training with the whole training set (on the device)."""

    def training_loss(self, out, batch: Batch, epoch: int) -> tuple[Any, dict[str, float]]:
        """The scalar to minimise for one batch, and the values to log for it."""
        raise NotImplementedError

    def validation_losses(self, out, batch: Batch) -> dict[str, float]:
        """Quantities tracked on one validation batch; must contain ``loss``."""
        loss, logs = self.training_loss(out, batch, epoch=-1)
        return {"loss": float(loss)} | logs

    def end_epoch(self, epoch: int, record: dict[str, float]) -> bool:
        """Called after each epoch's record was made; return True to end the current phase
        now (as a plateau would), e.g. for a stage switch by a rule of its own."""
        return False

    def on_plateau(self, epoch: int) -> bool:
        """Called when a phase ends (no improvement for ``current_patience()`` epochs, or
        :meth:`end_epoch` asked for it), after the best weights were restored. Return True to
        train on in a new phase with fresh early stopping (a stage switch), False to stop."""
        return False

    def current_patience(self) -> int | None:
        """Early-stopping patience of the current phase."""
        return self.patience

    def max_epochs(self) -> int:
        """Upper bound on epochs over all phases."""
        return self.epochs

    def after_backward(self) -> None:
        """Called between ``backward()`` and the optimiser step (e.g. for gradient ascent)."""

    def parameter_groups(self, model) -> list[dict[str, Any]]:
        """Optimiser parameter groups; extra trainable tensors (a Lagrange multiplier) go here."""
        return [{"params": model.parameters(), "lr": self.lr}]

    # -- the loop --------------------------------------------------------------------------

    def fit(self, train, validation, *, progress=False):
        import torch
        from tqdm.auto import tqdm

        from .network import FastPerfektModel

        device = torch.device(self.device)
        tr = self._tensors(train, device)
        va = self._tensors(validation, device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = FastPerfektModel(tr.g.shape[1], tr.x_fast.shape[1], self.n_blocks,
                                     self.width, self.dropout)
        model.set_scaling(tr.g.cpu(), tr.x_fast.cpu())
        self.model_ = model.to(device)
        self.history_: list[dict[str, float]] = []
        self.setup(tr)
        optimizer = torch.optim.Adam(self.parameter_groups(self.model_))
        shuffle = torch.Generator().manual_seed(self.seed)
        stopper = EarlyStopping(self.current_patience())
        epochs = tqdm(range(self.max_epochs()), desc=f"fit {self.name}", disable=not progress,
                      unit="epoch")
        for epoch in epochs:
            self.model_.train()
            logs: list[dict[str, float]] = []
            for index in self._batches(len(tr.x_fast), shuffle):
                batch = Batch(tr.g[index], tr.x_fast[index], tr.x_full[index])
                loss, log = self.training_loss(self.model_(batch.x_fast, batch.g), batch, epoch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.after_backward()
                optimizer.step()
                logs.append({"loss": float(loss.detach())} | log)
            record = {"epoch": epoch} | _mean(logs, "train_") | self._validate(va)
            self.history_.append(record)
            epochs.set_postfix({k: f"{v:.4g}" for k, v in record.items()
                                if k in ("train_loss", "val_loss", "stage", "lambda")})
            stopper.patience = self.current_patience()
            plateau = stopper.step(record.get(self.monitor, math.nan), self.model_.state_dict)
            if self.end_epoch(epoch, record) or plateau:
                stopper.restore(self.model_.load_state_dict)
                if not self.on_plateau(epoch):
                    return self
                stopper.reset()
        stopper.patience = self.current_patience()
        stopper.restore(self.model_.load_state_dict)
        return self

    def _validate(self, va: Batch) -> dict[str, float]:
        import torch

        self.model_.eval()
        logs = []
        with torch.no_grad():
            for b in range(max(len(va.x_fast) // self.batch_size, 1)):
                index = slice(b * self.batch_size, (b + 1) * self.batch_size)
                batch = Batch(va.g[index], va.x_fast[index], va.x_full[index])
                logs.append(self.validation_losses(self.model_(batch.x_fast, batch.g), batch))
        return _mean(logs, "val_")

    def _batches(self, n: int, generator):
        return batch_indices(n, self.batch_size, self.max_batches, generator)

    @staticmethod
    def _tensors(triplets, device) -> Batch:
        import torch

        as_t = lambda a: torch.as_tensor(np.ascontiguousarray(a, dtype=np.float32),  # noqa: E731
                                         device=device)
        return Batch(as_t(triplets.g), as_t(triplets.x_fast), as_t(triplets.x_full))

    # -- refining and persistence ----------------------------------------------------------

    def refine(self, x_fast, g):
        import torch

        if not hasattr(self, "model_"):
            raise RuntimeError(f"refiner {self.name!r} is not fitted: call fit() first")
        device = torch.device(self.device)
        self.model_.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(x_fast), 65536):
                xs = torch.as_tensor(np.asarray(x_fast[start:start + 65536], dtype=np.float32),
                                     device=device)
                gs = torch.as_tensor(np.asarray(g[start:start + 65536], dtype=np.float32),
                                     device=device)
                out.append(self.model_(xs, gs).cpu().numpy())
        x = np.concatenate(out) if out else np.zeros_like(x_fast, dtype=np.float32)
        return Refinement(x)

    def _save_state(self, folder: Path) -> None:
        import torch

        state = {k: v.cpu() for k, v in self.model_.state_dict().items()}
        torch.save({"state": state, "n_g": self.model_.g_mean.numel(),
                    "n_x": self.model_.x_mean.numel()}, folder / "model.pt")
        (folder / "history.json").write_text(json.dumps(self.history_, indent=1))

    def _load_state(self, folder: Path) -> None:
        import torch

        from .network import FastPerfektModel

        saved = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        model = FastPerfektModel(saved["n_g"], saved["n_x"], self.n_blocks, self.width,
                                 self.dropout)
        model.load_state_dict(saved["state"])
        self.model_ = model.to(self.device)
        self.history_ = json.loads((folder / "history.json").read_text())


def _mean(logs: list[dict[str, float]], prefix: str) -> dict[str, float]:
    keys = logs[0].keys() if logs else ()
    return {prefix + k: float(np.mean([log[k] for log in logs])) for k in keys}
