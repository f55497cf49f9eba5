"""Refiners that train the Fast Perfekt network with one loss or another."""

from __future__ import annotations

from .training import NetworkRefiner


class MSERefiner(NetworkRefiner):
    """The Fast Perfekt network trained with MSE alone (paper Sec. 3.2, Fig. 4 left).

    Fixes the population centres but regresses to the mean: tails under-populated, bulk
    over-populated. Needs pairs.
    """

    name = "mse"
    needs_pairs = True

    def training_loss(self, out, batch, epoch):
        mse = ((out - batch.x_full) ** 2).sum(dim=1).mean()
        return mse, {"mse": float(mse.detach())}
