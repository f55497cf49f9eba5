"""Pieces of a training loop that refiners share (no torch needed here)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any


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
