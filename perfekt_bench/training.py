"""Pieces of a training loop that refiners share (no torch needed here)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

from .hyperparameters import Hyperparameter

#: ``report(epoch, value)``: what a refiner's ``fit`` calls after each epoch with a validation
#: loss (lower is better) when it is given one (see :class:`perfekt_bench.Refiner`). It may
#: raise to stop training (``perfekt-bench tune`` prunes a trial so); let it propagate.
EpochReport = Callable[[int, float], None]


class EarlyStopping:
    """Stop after ``patience`` epochs without a lower monitored value, keeping the best weights.

    ``patience=None`` never stops and keeps nothing. Call :meth:`step` once per epoch with the
    monitored validation value and a function returning the current state (e.g.
    ``model.state_dict``); it returns True when training should stop. :meth:`restore` hands the
    best state back, and :meth:`reset` starts over (a new training phase).
    """

    def __init__(self, patience: int | None):
        self.patience = patience
        self.reset()

    def reset(self) -> None:
        self.best = math.inf
        self.best_state: Any = None
        self.waited = 0

    def step(self, value: float, state: Callable[[], Any]) -> bool:
        """Record one epoch's value (NaN never counts as better); True when ``patience`` epochs
        have passed since the best one."""
        if value < self.best:
            self.best, self.waited = value, 0
            if self.patience is not None:
                self.best_state = copy.deepcopy(state())
        else:
            self.waited += 1
        return self.patience is not None and self.waited >= self.patience

    def restore(self, load: Callable[[Any], Any]) -> None:
        """Give the best state to ``load`` (e.g. ``model.load_state_dict``), if one was kept."""
        if self.best_state is not None and self.patience is not None:
            load(self.best_state)


def epoch_hyperparameters(epochs: Mapping[str, int] | int,
                          patience: Mapping[str, int | None] | int | None,
                          max_batches: Mapping[str, int | None] | int | None,
                          ) -> tuple[Hyperparameter, ...]:
    """Declarations of the budget of a training loop in epochs (values per budget profile):
    ``epochs``, early stopping's ``patience`` (:class:`EarlyStopping`) and ``max_batches``.
    They set what a run costs and are never tuned."""
    return (
        Hyperparameter("epochs", "int", epochs,
                       "at most this many epochs (per stage where there are stages)", low=1),
        Hyperparameter("patience", "int", patience,
                       "stop after this many epochs without a better validation loss, keeping "
                       "the best weights; null: never", low=1, nullable=True),
        Hyperparameter("max_batches", "int", max_batches,
                       "at most this many batches per epoch; null: the whole training set",
                       low=1, nullable=True),
    )
