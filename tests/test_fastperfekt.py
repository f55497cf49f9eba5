"""Fast Perfekt one- and two-stage training, the CMS losses and the MDMM (small problems)."""

import numpy as np
import pytest
import torch

from perfekt_bench import ConfigurationError
from perfekt_bench.testing import make_triplets
from perfekt_bench_plugins.fastperfekt import (
    CMSMDMMRefiner,
    HuberMMDRefiner,
    OneStageRefiner,
    TwoStageRefiner,
)
from perfekt_bench_plugins.fastperfekt.losses import MDMMConstraint, cms_mmd

SMALL = {"n_blocks": 1, "width": 32, "batch_size": 256, "lr": 3e-3}


@pytest.fixture(scope="module")
def data():
    return make_triplets(4096, seed=20), make_triplets(1024, seed=21)


@pytest.mark.parametrize("cls", [OneStageRefiner, TwoStageRefiner, HuberMMDRefiner,
                                 CMSMDMMRefiner])
def test_untrained_network_returns_input_exactly(cls, data):
    train, val = data
    refiner = cls(epochs=0, patience=None, **SMALL).fit(train, val)
    np.testing.assert_array_equal(refiner.refine(val.x_fast, val.g).x, val.x_fast)


def test_mdmm_lambda_rises_while_constraint_violated():
    """Minimise x² subject to x = ε. With value = x, ∂L/∂λ = x − ε: λ rises while the value
    lies above ε, falls while below, and settles where 2x + λ = 0, i.e. λ = −2ε."""
    for epsilon, direction in ((-1.0, +1), (1.0, -1)):
        x = torch.nn.Parameter(torch.tensor(0.0))
        constraint = MDMMConstraint(epsilon=epsilon, damping=1.0, lambda_init=0.0)
        opt = torch.optim.SGD([{"params": [x], "lr": 0.05},
                               {"params": constraint.parameters(), "lr": 0.05}])
        lambdas = []
        for _ in range(400):
            loss = x**2 + constraint.penalty(x)
            opt.zero_grad()
            loss.backward()
            constraint.ascend()
            opt.step()
            lambdas.append(float(constraint.lmbda.detach()))
        assert float(x.detach()) == pytest.approx(epsilon, abs=0.02)
        assert direction * lambdas[0] > 0
        assert lambdas[-1] == pytest.approx(-2 * epsilon, abs=0.05)


def test_twostage_lambda_rises_in_stage_one_and_switch_is_recorded(data):
    train, val = data
    refiner = TwoStageRefiner(epochs=6, patience=None, switch_patience=2, lr_lambda=1e-2,
                              **SMALL).fit(train, val)
    stages = [r["stage"] for r in refiner.history_]
    assert stages[0] == 1 and 2 in stages
    switch = stages.index(2)
    assert refiner.switch_epoch_ == switch
    lambdas = [r["lambda"] for r in refiner.history_]
    # fastsim is shifted by 0.5, so MMD_u > ε = 0 at the start: λ rises from 1 ...
    assert refiner.history_[0]["train_mmd_u"] > 0 and lambdas[0] > 1.0
    # ... and is left alone once stage 2 minimises MMD_b only
    assert len(set(lambdas[switch:])) == 1
    assert {"val_mse", "val_mmd_u", "val_mmd"} <= set(refiner.history_[0])


def test_twostage_sign_change_switch(data):
    train, val = data
    refiner = TwoStageRefiner(epochs=4, patience=None, switch="sign_changes",
                              switch_patience=1000, **SMALL).fit(train, val)
    # sign never flips 1000 times: the stage limit (epochs per stage) switches instead
    assert [r["stage"] for r in refiner.history_] == [1] * 4 + [2] * 4
    with pytest.raises(ConfigurationError, match="switch must be"):
        TwoStageRefiner(switch="never", **SMALL).fit(train, val)


def test_onestage_lowers_mmd(data):
    train, val = data
    refiner = OneStageRefiner(epochs=15, patience=None, **SMALL).fit(train, val)
    assert refiner.history_[-1]["val_mmd"] < 0.3 * refiner.history_[0]["val_mmd"]
    assert refiner.bandwidths_.shape == (2,)


def test_cms_mmd_matches_direct_formula():
    torch.manual_seed(0)
    out, target, g = torch.randn(50, 2), torch.randn(50, 2) + 0.3, torch.randn(50, 1)
    a, b = torch.cat([out, g], 1), torch.cat([target, g], 1)
    pooled = torch.cat([a, b])
    sigma0 = torch.cdist(pooled, pooled).pow(2).mean()  # CMS eq. 8

    def k(u, v, s):
        return torch.exp(-torch.cdist(u, v).pow(2) / s)

    expected = sum(k(a, a, s).mean() + k(b, b, s).mean() - 2 * k(a, b, s).mean()
                   for s in sigma0 * torch.tensor([0.01, 0.1, 1, 10, 100]))
    assert float(cms_mmd(out, target, g)) == pytest.approx(float(expected), rel=1e-4)
