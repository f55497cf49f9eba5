"""Loss functions of Fast Perfekt and of the CMS FastSim refinement, and the MDMM constraint."""

from __future__ import annotations

import torch
from torch import nn

from perfekt_bench.mmd import bandwidth_ladder, mean_squared_distance, mmd

#: CMS FastSim refinement, eq. (7): the MMD sums five bandwidths σ0·{1/100, 1/10, 1, 10, 100}
CMS_FACTORS = (0.01, 0.1, 1.0, 10.0, 100.0)


def mean_squared_error(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE = (1/m) Σ_i ‖x̂_i − x_i‖² (Fast Perfekt eq. 4)."""
    return ((out - target) ** 2).sum(dim=1).mean()


def huber(out: torch.Tensor, target: torch.Tensor, delta: float = 0.1) -> torch.Tensor:
    """Huber loss with δ = 0.1, averaged over objects and features (CMS paper eqs. 4–5)."""
    return nn.functional.huber_loss(out, target, delta=delta, reduction="mean")


def cms_mmd(out: torch.Tensor, target: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The CMS MMD loss (CMS paper eqs. 6–8).

    The conditioning is concatenated to the features; the kernel exp(−‖a − b‖²/σ) is summed
    over σ ∈ σ0·{1/100, 1/10, 1, 10, 100}, with σ0 the mean squared L2 distance over all pairs
    of the pooled refined and fullsim batch (eq. 8), computed per batch and not differentiated.
    """
    a, b = torch.cat([out, g], dim=1), torch.cat([target, g], dim=1)
    sigma0 = mean_squared_distance(torch.cat([a, b]).detach())
    bandwidths = bandwidth_ladder(sigma0, CMS_FACTORS, squared=True)
    return mmd(a, b, bandwidths.expand(len(CMS_FACTORS), a.shape[1]))


class MDMMConstraint(nn.Module):
    """An equality constraint ``scale · value = ε`` for the modified differential method of
    multipliers (Platt & Barr 1988; Fast Perfekt eq. 5; CMS paper eq. 9).

    ``penalty(value)`` returns −λ(ε − s·value) + (δ/2)(ε − s·value)², to be added to the
    primary loss. The multiplier λ is trained by gradient *ascent* (:meth:`ascend` negates its
    gradient before the optimiser step), so λ rises while s·value > ε. The damping term is a
    penalty, as in Platt & Barr, the mdmm package and the CMS paper; Fast Perfekt's eq. 5
    prints it with a minus sign, which taken literally would reward a violated constraint.
    """

    def __init__(self, epsilon: float = 0.0, damping: float = 1.0, lambda_init: float = 1.0,
                 scale: float = 1.0):
        super().__init__()
        self.epsilon, self.damping, self.scale = epsilon, damping, scale
        self.lmbda = nn.Parameter(torch.tensor(float(lambda_init)))

    def ascend(self) -> None:
        """Turn the optimiser's descent on λ into ascent; call after ``backward()``."""
        if self.lmbda.grad is not None:
            self.lmbda.grad.neg_()

    def infeasibility(self, value: torch.Tensor) -> torch.Tensor:
        return self.epsilon - self.scale * value

    def penalty(self, value: torch.Tensor) -> torch.Tensor:
        c = self.infeasibility(value)
        return -self.lmbda * c + 0.5 * self.damping * c**2
