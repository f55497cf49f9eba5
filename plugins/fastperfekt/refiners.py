"""Refiners that train the Fast Perfekt network with one loss or another.

Fast Perfekt: SciPost Phys. Core 8, 021 (2025), Secs. 2–3. CMS FastSim refinement of DeepJet
tags: S. Bein, P. Connor, K. Pedro, P. Schleper, M. Wolf for CMS, "Refining fast simulation
using machine learning", EPJ Web Conf. 295, 09032 (2024), Secs. 3.2–3.3.
"""

from __future__ import annotations

import math
from typing import Any

from perfekt_bench import Hyperparameter, Search
from perfekt_bench.hyperparameters import declared_values, with_values

from .training import NETWORK_HYPERPARAMETERS, NetworkRefiner

#: the Fast Perfekt kernel bandwidths (paper Sec. 2.2)
BANDWIDTHS = Hyperparameter(
    "bandwidths", "floats", None, "MMD kernel bandwidths; null: the median rule of the paper "
    "(Sec. 2.2) on the training set", low=0, low_open=True, nullable=True, per_feature="x")


def _mdmm_hyperparameters(epsilon: Hyperparameter, *, tune_damping: bool
                          ) -> tuple[Hyperparameter, ...]:
    """The MDMM's settings (Platt & Barr 1988): the constraint's target, λ's learning rate
    (searched over four decades around the papers' 1e-3 and 1e-4), λ's start and the damping."""
    return (
        epsilon,
        Hyperparameter("lr_lambda", "float", 1e-3, "learning rate of the Lagrange multiplier "
                       "λ (gradient ascent)", low=0, low_open=True,
                       search=Search(1e-5, 1e-1, log=True)),
        Hyperparameter("lambda_init", "float", 1.0, "the starting value of λ"),
        Hyperparameter("damping", "float", 1.0, "the MDMM damping δ (0: a plain Lagrangian)",
                       low=0, search=Search(0.1, 10.0, log=True) if tune_damping else None),
    )


def _losses():
    """The loss module, imported on first use: it needs torch, and plugin modules are
    imported by every command, ``--help`` included."""
    from . import losses

    return losses


class MSERefiner(NetworkRefiner):
    """The Fast Perfekt network trained with MSE alone (paper Sec. 3.2, Fig. 4 left).

    Fixes the population centres but regresses to the mean: tails under-populated, bulk
    over-populated. Needs pairs.
    """

    name = "mse"
    needs_pairs = True

    def training_loss(self, out, batch, epoch):
        mse = _losses().mean_squared_error(out, batch.x_full)
        return mse, {"mse": float(mse.detach())}


class _MedianBandwidths:
    """Mixin: kernel bandwidths by the Fast Perfekt rule unless given (paper Sec. 2.2):
    σ_l = median over pairs of |x_full,i,l − x_fast,j,l| on the training set."""

    def setup(self, train):
        import torch

        from perfekt_bench.mmd import median_bandwidths

        if self.bandwidths is not None:
            widths = torch.as_tensor(self.bandwidths, dtype=train.x_fast.dtype)
        else:
            generator = torch.Generator().manual_seed(self.seed)
            widths = median_bandwidths(train.x_full.cpu(), train.x_fast.cpu(),
                                       generator=generator)
        self.bandwidths_ = widths.to(train.x_fast.device)
        super().setup(train)

    def mmd(self, out, target, *, unbiased=False):
        from perfekt_bench.mmd import mmd

        return mmd(out, target, self.bandwidths_, unbiased=unbiased)


class OneStageRefiner(_MedianBandwidths, NetworkRefiner):
    """Fast Perfekt single stage: the network trained with the biased MMD alone (paper eq. 1).

    Works without pairs. Matches the marginal of the refined features but may move objects of
    one population into another, breaking correlations with hidden features (paper Sec. 3.2).
    """

    name = "onestage"
    needs_pairs = False
    hyperparameters = (*NETWORK_HYPERPARAMETERS, BANDWIDTHS)

    def __init__(self, *, bandwidths: list[float] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.bandwidths = bandwidths

    def training_loss(self, out, batch, epoch):
        loss = self.mmd(out, batch.x_full)
        return loss, {"mmd": float(loss.detach())}

    def validation_losses(self, out, batch):
        mmd_b = float(self.mmd(out, batch.x_full))
        mse = _losses().mean_squared_error(out, batch.x_full)
        return {"loss": mmd_b, "mmd": mmd_b, "mse": float(mse)}


class _MDMM:
    """Mixin: a constraint held by the modified differential method of multipliers (Platt &
    Barr 1988; Fast Perfekt eq. 5; CMS paper eq. 9). The multiplier λ is an extra trainable
    tensor with its own learning rate ``lr_lambda``, moved by gradient ascent while
    :meth:`constraint_active`."""

    def setup_constraint(self, device, scale: float = 1.0) -> None:
        self.constraint_ = _losses().MDMMConstraint(self.epsilon, self.damping,
                                                    self.lambda_init, scale).to(device)

    def constraint_active(self) -> bool:
        return True

    def parameter_groups(self, model):
        return [{"params": model.parameters(), "lr": self.lr},
                {"params": self.constraint_.parameters(), "lr": self.lr_lambda}]

    def after_backward(self):
        if self.constraint_active():
            self.constraint_.ascend()


class TwoStageRefiner(_MDMM, _MedianBandwidths, NetworkRefiner):
    """Fast Perfekt 2-stage recipe (paper Secs. 2.3, 3.2; Table 3).

    Stage 1 minimises the MSE subject to MMD_u = ε with the MDMM Lagrangian
    MSE − λ(ε − s·MMD_u) + (δ/2)(ε − s·MMD_u)², λ by gradient ascent (learning rate
    ``lr_lambda``, initial value ``lambda_init``; ``mmd_scale`` s is 10 for the paper's jets).
    When the MDMM has converged, stage 2 minimises MMD_b alone. ``switch`` picks the rule:
    ``"early_stopping"`` (paper: no better validation Lagrangian for ``switch_patience``
    epochs, Table 3's "(3) epochs (MDMM)") or ``"sign_changes"`` (the authors' code: the
    validation constraint ε − s·MMD_u changes sign ``switch_patience`` times in a row).
    Each stage runs at most ``epochs`` epochs; stage 2 stops early after ``patience``.
    The switch epoch is recorded as ``switch_epoch_`` and in the history's ``stage`` column.
    """

    name = "twostage"
    needs_pairs = True

    def __init__(self, *, bandwidths: list[float] | None = None, lr_lambda: float = 1e-3,
                 lambda_init: float = 1.0, damping: float = 1.0, epsilon: float = 0.0,
                 mmd_scale: float = 1.0, switch: str = "early_stopping",
                 switch_patience: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.bandwidths = bandwidths
        self.lr_lambda = lr_lambda
        self.lambda_init = lambda_init
        self.damping = damping
        self.epsilon = epsilon
        self.mmd_scale = mmd_scale
        self.switch = switch
        self.switch_patience = switch_patience

    hint_keys = (*NetworkRefiner.hint_keys, "twostage")
    #: the network's, the bandwidths, the MDMM's (ε = 0: MMD_u is held at zero, the recipe
    #: itself, never tuned) and the stage switch. The MMD_u scale is searched from the
    #: analytic set's 1 past the jets' 10; the damping over two decades around 1.
    hyperparameters = (
        *NETWORK_HYPERPARAMETERS, BANDWIDTHS,
        *_mdmm_hyperparameters(
            Hyperparameter("epsilon", "float", 0.0, "the value MMD_u is held at in stage 1",
                           low=0), tune_damping=True),
        Hyperparameter("mmd_scale", "float", 1.0, "factor on MMD_u in stage 1 (10 for the "
                       "paper's jets)", low=0, low_open=True, search=Search(1.0, 100.0, log=True)),
        Hyperparameter("switch", "str", "early_stopping", "the stage-switch rule",
                       choices=("early_stopping", "sign_changes")),
        Hyperparameter("switch_patience", "int", 3, "epochs without a better validation "
                       "Lagrangian (or sign changes in a row) before stage 2", low=1),
    )
    #: ``val_loss`` is the Lagrangian in stage 1 and MMD_b in stage 2, and trials switch at
    #: different epochs: MMD_b, tracked in both stages, compares trials at every epoch
    reported = "val_mmd"

    @classmethod
    def defaults(cls, budget, hints=None) -> dict[str, Any]:
        """The network's defaults and, on every budget, the task's ``"twostage"`` hint (the
        paper's jets use ``mmd_scale`` 10 and ``lr_lambda`` 1e-4, Table 3)."""
        return super().defaults(budget, hints) | dict((hints or {}).get("twostage", {}))

    def setup(self, train):
        from perfekt_bench.errors import ConfigurationError

        if self.switch not in ("early_stopping", "sign_changes"):
            raise ConfigurationError(f"switch must be 'early_stopping' or 'sign_changes', "
                                     f"got {self.switch!r}")
        super().setup(train)
        self.setup_constraint(train.x_fast.device, self.mmd_scale)
        self.stage_, self.stage_epochs_, self.switch_epoch_ = 1, 0, None
        self._last_sign, self._flips = 0.0, 0

    def constraint_active(self) -> bool:
        return self.stage_ == 1

    def batch_mmd(self, out, batch, *, unbiased=False):
        """The MMD both stages use: of the refined features against fullsim's."""
        return self.mmd(out, batch.x_full, unbiased=unbiased)

    def training_loss(self, out, batch, epoch):
        if self.stage_ == 2:
            loss = self.batch_mmd(out, batch)
            return loss, {"mmd": float(loss.detach())}
        mse = _losses().mean_squared_error(out, batch.x_full)
        mmd_u = self.batch_mmd(out, batch, unbiased=True)
        loss = mse + self.constraint_.penalty(mmd_u)
        return loss, {"mse": float(mse.detach()), "mmd_u": float(mmd_u.detach())}

    def validation_losses(self, out, batch):
        mse = _losses().mean_squared_error(out, batch.x_full)
        mmd_u = self.batch_mmd(out, batch, unbiased=True)
        mmd_b = self.batch_mmd(out, batch)
        loss = mse + self.constraint_.penalty(mmd_u) if self.stage_ == 1 else mmd_b
        return {"loss": float(loss), "mse": float(mse), "mmd_u": float(mmd_u),
                "mmd": float(mmd_b)}

    def current_patience(self):
        if self.stage_ == 1:
            return self.switch_patience if self.switch == "early_stopping" else None
        return self.patience

    def max_epochs(self):
        return 2 * self.epochs

    def end_epoch(self, epoch, record):
        record["stage"] = self.stage_
        record["lambda"] = float(self.constraint_.lmbda.detach())
        self.stage_epochs_ += 1
        if self.stage_ == 1 and self.switch == "sign_changes":
            sign = math.copysign(1.0, self.epsilon - self.mmd_scale * record["val_mmd_u"])
            self._flips = self._flips + 1 if self._last_sign and sign != self._last_sign else 0
            self._last_sign = sign
            if self._flips >= self.switch_patience:
                return True
        return self.stage_epochs_ >= self.epochs

    def on_plateau(self, epoch):
        if self.stage_ == 2:
            return False
        self.stage_, self.stage_epochs_, self.switch_epoch_ = 2, 0, epoch + 1
        return True


#: the network's hyperparameters with the batches per epoch of the refiners with the CMS MMD
CMS_KERNEL_NETWORK = with_values(NETWORK_HYPERPARAMETERS,
                                 max_batches={"smoke": 8, "quick": 24, "paper": None})


class TwoStageCondRefiner(TwoStageRefiner):
    """The Fast Perfekt 2-stage recipe with the conditioning in its MMD: both stages' MMD
    (stage 1's MMD_u constraint and stage 2's MMD_b) is the sum of the MMD of x̂ against
    x_full and the MMD of (x̂, g) against (x_full, g), the latter as the CMS FastSim refinement
    concatenates the parameters y to the features (Bein et al., EPJ Web Conf. 295, 09032
    (2024), eq. 6).

    Stage 1's MSE pulls each object towards its conditional mean given g; an MMD over x alone
    then refills the marginal from whichever objects are at hand, and the refined features end
    up more correlated with GEN than fullsim is. Over (x, g) the kernel also compares the
    spread of x at fixed g. The marginal term stays because the (x, g) kernel alone compares
    only objects of similar GEN values, which weakens its pull on the marginal: on deepjet (nine
    dimensions with the one-hot flavour) a quick-budget fit with it alone stayed close to
    fastsim (README, "Refiners"). Bandwidths: the refined features' by the Fast Perfekt median
    rule (or ``bandwidths``), in both terms; each conditioning column's the median over pairs of
    training objects of |g_i − g_j|, taken over the pairs whose values differ, so that a
    one-hot or integer column (deepjet's flavour) gets a width that separates its values.
    """

    name = "twostage-cond"
    summary = "Fast Perfekt 2-stage, its MMD over x plus over (x, g) (g as in CMS eq. 6)"

    def setup(self, train):
        import torch

        super().setup(train)
        generator = torch.Generator().manual_seed(self.seed)
        widths = conditioning_bandwidths(train.g.cpu(), generator=generator)
        self.g_bandwidths_ = widths.to(device=train.g.device, dtype=train.g.dtype)

    def batch_mmd(self, out, batch, *, unbiased=False):
        import torch

        from perfekt_bench.mmd import mmd

        widths = torch.cat([self.bandwidths_, self.g_bandwidths_])
        conditional = mmd(torch.cat([out, batch.g], dim=1),
                          torch.cat([batch.x_full, batch.g], dim=1), widths, unbiased=unbiased)
        return super().batch_mmd(out, batch, unbiased=unbiased) + conditional


def conditioning_bandwidths(g, *, max_points: int = 2000, generator=None):
    """Per column of ``g``: the median of |g_i − g_j| over pairs of at most ``max_points``
    objects whose values differ (1 for a column that never varies)."""
    import torch

    if len(g) > max_points:
        g = g[torch.randperm(len(g), generator=generator)[:max_points]]
    out = torch.ones(g.shape[1], dtype=g.dtype)
    for j in range(g.shape[1]):
        dist = (g[:, j, None] - g[None, :, j]).abs().reshape(-1)
        dist = dist[dist > 0]
        if len(dist):  # the median as numpy's: the mean of the middle two of an even count
            lo, hi = (len(dist) + 1) // 2, len(dist) // 2 + 1
            out[j] = 0.5 * (torch.kthvalue(dist, lo).values + torch.kthvalue(dist, hi).values)
    return out


class _CMSKernelBudget:
    """Mixin: the ``quick`` budget of the refiners with the CMS MMD caps the batches per epoch
    (:data:`CMS_KERNEL_NETWORK`), whatever a task's hints say.

    Its five kernels make a step about five times the cost of the Fast Perfekt MMD (each
    kernel is an exponential over all pairs of the pooled batch); 24 batches of 2048 per epoch
    (a fresh random third of the analytic training set each epoch) keep 30 epochs within the
    quick budget's 10 minutes on 2 CPU cores.
    """

    @classmethod
    def defaults(cls, budget, hints=None) -> dict[str, Any]:
        params = super().defaults(budget, hints)
        if budget == "quick":
            params["max_batches"] = declared_values(cls, budget)["max_batches"]
        return params


class HuberMMDRefiner(_CMSKernelBudget, NetworkRefiner):
    """CMS baseline: Huber (δ = 0.1) plus the CMS MMD as a plain sum (CMS paper Sec. 3.3).

    The paper finds it no better than MMD alone at distribution level. Needs pairs.
    """

    name = "huber-mmd"
    needs_pairs = True
    hyperparameters = CMS_KERNEL_NETWORK

    def training_loss(self, out, batch, epoch):
        losses = _losses()
        h, m = losses.huber(out, batch.x_full), losses.cms_mmd(out, batch.x_full, batch.g)
        return h + m, {"huber": float(h.detach()), "mmd": float(m.detach())}


class CMSMDMMRefiner(_MDMM, _CMSKernelBudget, NetworkRefiner):
    """The CMS recipe: the CMS MMD (five bandwidths, conditioning concatenated, eqs. 6–8) as
    the primary loss, the Huber loss held at ``epsilon`` by the MDMM (eq. 9; ε = 0.084 in the
    paper's Fig. 2 and Table 1), λ by gradient ascent with ``lr_lambda``. Needs pairs.
    """

    name = "cms-mdmm"
    needs_pairs = True

    def __init__(self, *, epsilon: float = 0.084, lr_lambda: float = 1e-3,
                 lambda_init: float = 1.0, damping: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.lr_lambda = lr_lambda
        self.lambda_init = lambda_init
        self.damping = damping

    hint_keys = (*NetworkRefiner.hint_keys, "cms-mdmm-quick")
    #: the network's and the MDMM's; the Huber target ε is searched over three decades
    #: around the paper's 0.084
    hyperparameters = (
        *CMS_KERNEL_NETWORK,
        *_mdmm_hyperparameters(
            Hyperparameter("epsilon", "float", 0.084, "the value the Huber loss is held at "
                           "(CMS paper: 0.084)", low=0, search=Search(1e-3, 1.0, log=True)),
            tune_damping=False),
    )

    @classmethod
    def defaults(cls, budget, hints=None) -> dict[str, Any]:
        """The network's defaults and, on the ``quick`` budget, the task's ``"cms-mdmm-quick"``
        hint: settings for which the paper's recipe acts as in the paper within minutes of
        training (the deepjet task publishes ε = 0.18 and λ₀ = 0; see its docstring)."""
        params = super().defaults(budget, hints)
        if budget == "quick":
            params |= dict((hints or {}).get("cms-mdmm-quick", {}))
        return params

    def setup(self, train):
        super().setup(train)
        self.setup_constraint(train.x_fast.device)

    def training_loss(self, out, batch, epoch):
        losses = _losses()
        m, h = losses.cms_mmd(out, batch.x_full, batch.g), losses.huber(out, batch.x_full)
        loss = m + self.constraint_.penalty(h)
        return loss, {"mmd": float(m.detach()), "huber": float(h.detach())}

    def validation_losses(self, out, batch):
        losses = _losses()
        m, h = losses.cms_mmd(out, batch.x_full, batch.g), losses.huber(out, batch.x_full)
        return {"loss": float(m), "mmd": float(m), "huber": float(h),
                "lambda": float(self.constraint_.lmbda.detach())}
