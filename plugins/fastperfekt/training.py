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

from perfekt_bench import EarlyStopping, Hyperparameter, Refinement, Refiner, Search
from perfekt_bench.hyperparameters import declared_values
from perfekt_bench.training import epoch_hyperparameters

from ..mlp import batch_indices

#: the hyperparameters of every refiner built on the Fast Perfekt network. The ``paper`` values
#: are the network and training of the paper's analytic example (Table 3), used on a task that
#: publishes no "network" hint (see :meth:`perfekt_bench.Task.refiner_hints`); ``quick`` takes
#: a larger learning rate and fewer epochs, so that a run takes minutes on a laptop CPU;
#: ``smoke`` is a tiny network for a few batches. Searched by ``tune``: the learning rate over
#: the values the papers use (1e-5 in the CMS code to 1e-4 in Table 3) up to a decade above
#: the quick budget's, and the network's size around the analytic paper's 2 × 64, at most
#: eight times its cost (4 × 128): a 4 × 256 network makes one quick analytic epoch of the
#: two-stage refiner a minute on a CPU core, a trial up to an hour. Batch size, epochs,
#: patience and batches per epoch set the budget's cost and are never tuned.
NETWORK_HYPERPARAMETERS = (
    Hyperparameter("n_blocks", "int", {"smoke": 1, "quick": 2, "paper": 2},
                   "residual blocks of two fully connected layers", low=1,
                   search=Search(1, 4)),
    Hyperparameter("width", "int", {"smoke": 16, "quick": 64, "paper": 64},
                   "nodes per layer", low=1, search=Search(choices=(32, 64, 128))),
    Hyperparameter("lr", "float", {"smoke": 1e-3, "quick": 1e-3, "paper": 1e-4},
                   "Adam's learning rate of the network", low=0, low_open=True,
                   search=Search(1e-5, 1e-2, log=True)),
    Hyperparameter("batch_size", "int", {"smoke": 256, "quick": 2048, "paper": 2048},
                   "objects per batch (the MMD's sample size)", low=2),
    *epoch_hyperparameters(epochs={"smoke": 2, "quick": 30, "paper": 100},
                           patience={"smoke": None, "quick": 5, "paper": 10},
                           max_batches={"smoke": 8, "quick": None, "paper": None}),
    Hyperparameter("dropout", "float", 0.0,
                   "dropout between the layers of a block (CMS paper Sec. 3.1; 0 in Fast "
                   "Perfekt)", low=0, high=1, high_open=True),
)
#: on the ``quick`` budget these keep the budget's values even where a task's "network" hint
#: sets them: its paper's learning rate and epochs are for hours of GPU training
QUICK_OWN = ("lr", "epochs", "patience")
#: objects refined per network call
_CHUNK = 65536


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
    hyperparameters = NETWORK_HYPERPARAMETERS
    #: the history key early stopping watches
    monitor = "val_loss"
    #: the history key given to ``fit``'s ``report`` after each epoch: it must mean the same
    #: thing at every epoch, so that ``tune`` compares trials at one epoch
    reported = "val_loss"

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
        """The declared values of ``budget``; on ``paper``, the network the task publishes as
        its ``"network"`` hint (its paper's settings) over them; on ``quick``, that hint too
        except for :data:`QUICK_OWN`, then the task's ``"network-quick"`` changes; ``smoke``
        (a tiny network) ignores the network hints."""
        hints = hints or {}
        params = declared_values(cls, budget)
        network = dict(hints.get("network", {}))
        if budget == "paper":
            params |= network
        elif budget == "quick":
            params |= {k: v for k, v in network.items() if k not in QUICK_OWN}
            params |= dict(hints.get("network-quick", {}))
        return params

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

    def fit(self, train, validation, *, progress=False, report=None):
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
            if report is not None:
                report(epoch, record.get(self.reported, math.nan))
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
        # the per-call overhead matters for one object at a time (the latency metrics): no
        # device object, no module walk, no concatenation unless the input is chunked
        model = self.model_
        if model.training:
            model.eval()
        on_cpu = self.device == "cpu"
        x_fast = np.asarray(x_fast, dtype=np.float32)
        g = np.asarray(g, dtype=np.float32)
        out = []
        with torch.inference_mode():
            for start in range(0, len(x_fast), _CHUNK):
                xs = torch.as_tensor(x_fast[start:start + _CHUNK])
                gs = torch.as_tensor(g[start:start + _CHUNK])
                if not on_cpu:
                    xs, gs = xs.to(self.device), gs.to(self.device)
                out.append(model(xs, gs).cpu().numpy())
        if len(out) == 1:
            return Refinement(out[0])
        x = np.concatenate(out) if out else np.zeros_like(x_fast, dtype=np.float32)
        return Refinement(x)

    def export_module(self):
        """A copy of the fitted network on the CPU, in evaluation mode: standardisation of the
        inputs, the residual network and the residual (:class:`.network.FastPerfektModel`)."""
        import copy

        if not hasattr(self, "model_"):
            raise RuntimeError(f"refiner {self.name!r} is not fitted: call fit() first")
        return copy.deepcopy(self.model_).cpu().eval()

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
