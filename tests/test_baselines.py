"""The field's other baselines on problems whose answer is known: chained quantile regression
(``qrc``), GEN → reco generation (``gen2reco``) and the 2-stage recipe with the conditioning in
its MMD (``twostage-cond``)."""

import numpy as np
import pytest
import torch

from perfekt_bench import FeatureNames, Triplets
from perfekt_bench_plugins.fastperfekt import TwoStageRefiner
from perfekt_bench_plugins.fastperfekt.refiners import (
    TwoStageCondRefiner,
    conditioning_bandwidths,
)
from perfekt_bench_plugins.fastperfekt.training import Batch
from perfekt_bench_plugins.gen2reco import Gen2RecoRefiner, object_normals
from perfekt_bench_plugins.qrc import QUANTILES, QuantileRegressionChainRefiner, quantile_morph

NAMES = FeatureNames(g=("g",), x=("a", "b"), h=())


def chain_world(n, seed):
    """g ~ U(0, 2). fastsim: a = g + 0.5·N, b = 0.5·a + 0.3·N. fullsim: a = 1.5·g + 1 +
    (0.2 + 0.3·g)·N (shifted, stretched, heteroscedastic), b = −a + 0.2·N: the fullsim b
    depends on a with the opposite sign, so b can only be right if it is morphed given the
    corrected a."""
    rng = np.random.default_rng(seed)
    g = rng.uniform(0, 2, size=(n, 1))
    a_fast = g[:, 0] + 0.5 * rng.normal(size=n)
    b_fast = 0.5 * a_fast + 0.3 * rng.normal(size=n)
    a_full = 1.5 * g[:, 0] + 1 + (0.2 + 0.3 * g[:, 0]) * rng.normal(size=n)
    b_full = -a_full + 0.2 * rng.normal(size=n)
    f32 = lambda *cols: np.column_stack(cols).astype(np.float32)  # noqa: E731
    empty = np.zeros((n, 0), np.float32)
    return Triplets(f32(g), f32(a_fast, b_fast), f32(a_full, b_full), empty, empty, NAMES,
                    paired=False)


def test_quantile_levels_are_the_cms_21():
    assert len(QUANTILES) == 21 and QUANTILES[0] == 0.01 and QUANTILES[-1] == 0.99
    np.testing.assert_allclose(np.diff(QUANTILES[1:-1]), 0.05)


def test_quantile_morph_is_piecewise_linear_between_quantiles():
    source = np.array([[0.0, 1.0, 2.0]] * 6)
    target = np.array([[10.0, 20.0, 40.0]] * 6)
    values = np.array([-1.0, 0.0, 0.5, 1.5, 2.0, 3.0])
    # inside: linear per segment; beyond the outermost quantiles: shifted with them
    np.testing.assert_allclose(quantile_morph(values, source, target),
                               [9.0, 10.0, 15.0, 30.0, 40.0, 41.0])
    # a narrow outer source segment does not throw a tail value far out
    narrow = quantile_morph(np.array([-5.0]), np.array([[0.0, 1e-4, 1.0]]),
                            np.array([[0.0, 1.0, 2.0]]))
    assert narrow[0] == pytest.approx(-5.0)
    flat = quantile_morph(np.array([1.0]), np.array([[1.0, 1.0, 2.0]]),
                          np.array([[0.0, 4.0, 8.0]]))
    assert np.isfinite(flat).all()


@pytest.mark.slow
def test_qrc_morphs_the_conditional_distributions():
    train, validation, test = chain_world(5000, 1), chain_world(1000, 2), chain_world(8000, 3)
    # 10 of the 21 levels, for time; the trees need their 100 iterations to follow b ≈ −a
    refiner = QuantileRegressionChainRefiner(quantiles=tuple(np.arange(0.05, 1, 0.1).round(2)),
                                             max_iter=100, min_samples_leaf=50)
    refined = refiner.fit(train, validation).refine(test.x_fast, test.g).x
    g = test.g[:, 0]
    for lo, hi in ((0.0, 0.5), (1.5, 2.0)):
        sel = (g >= lo) & (g < hi)
        got, want = refined[sel], test.x_full[sel]
        # the conditional mean and spread of a follow fullsim; b's correlation with a turns
        # from fastsim's +0.8 to fullsim's −0.9 (trees on 5000 objects resolve b ≈ −a only
        # partly where a is large: qRC trains on millions)
        assert got[:, 0].mean() == pytest.approx(want[:, 0].mean(), abs=0.08)
        assert got[:, 0].std() == pytest.approx(want[:, 0].std(), rel=0.15)
        fast = test.x_fast[sel]
        assert np.corrcoef(fast[:, 0], fast[:, 1])[0, 1] > 0.6
        assert np.corrcoef(want[:, 0], want[:, 1])[0, 1] < -0.85
        assert np.corrcoef(got[:, 0], got[:, 1])[0, 1] < -0.5
    # deterministic and monotone: at fixed g a larger fastsim a gives a larger refined a
    x = np.column_stack([np.linspace(-1, 3, 50), np.zeros(50)]).astype(np.float32)
    out = refiner.refine(x, np.full((50, 1), 1.0, np.float32)).x
    assert np.all(np.diff(out[:, 0]) >= -1e-6)
    assert len(refiner.validation_pinball_) == 2


def heteroscedastic(n, seed):
    """x = sin(g) + (0.1 + 0.2·g)·N for g ~ U(0, 3): a location and a spread that vary."""
    rng = np.random.default_rng(seed)
    g = rng.uniform(0, 3, size=(n, 1))
    x_full = np.sin(g) + (0.1 + 0.2 * g) * rng.normal(size=(n, 1))
    x_fast = x_full + 5.0  # anything: gen2reco must not read it
    empty = np.zeros((n, 0), np.float32)
    return Triplets(g.astype(np.float32), x_fast.astype(np.float32), x_full.astype(np.float32),
                    empty, empty, FeatureNames(g=("g",), x=("x",), h=()), paired=False)


@pytest.mark.slow
def test_gen2reco_learns_location_and_spread_from_gen_alone():
    train, validation = heteroscedastic(20_000, 1), heteroscedastic(4000, 2)
    refiner = Gen2RecoRefiner(n_layers=2, width=64, batch_size=256, epochs=15, patience=None,
                              lr=3e-3)
    refiner.fit(train, validation)
    g = np.linspace(0.2, 2.8, 8, dtype=np.float32)[:, None]
    mu, sigma = refiner.predict_heads(g)
    # μ is the MAE head, the median: sin(g); σ = q84 − μ: the Gaussian width 0.1 + 0.2 g
    np.testing.assert_allclose(mu[:, 0], np.sin(g[:, 0]), atol=0.08)
    np.testing.assert_allclose(sigma[:, 0], 0.1 + 0.2 * g[:, 0], rtol=0.25, atol=0.03)
    # the output is μ + σ·N(0, 1): at one GEN value, objects (told apart only by their
    # fastsim values, which seed the noise and nothing else) spread by σ around μ
    same_gen = np.full((4000, 1), 1.5, np.float32)
    fast = np.random.default_rng(5).normal(size=(4000, 1)).astype(np.float32)
    out = refiner.refine(fast, same_gen).x
    assert out.std() == pytest.approx(0.4, rel=0.15)
    assert out.mean() == pytest.approx(np.sin(1.5), abs=0.08)
    shifted = refiner.refine(fast + 100.0, same_gen).x
    assert shifted.mean() == pytest.approx(out.mean(), abs=0.05)  # fastsim's value is unused


def test_gen2reco_noise_belongs_to_the_object():
    rows = np.random.default_rng(0).normal(size=(1000, 3)).astype(np.float32)
    draws = object_normals(rows, seed=7, d=2)
    np.testing.assert_array_equal(object_normals(rows[500:501], 7, 2), draws[500:501])
    np.testing.assert_array_equal(object_normals(rows[::-1], 7, 2), draws[::-1])
    assert not np.array_equal(object_normals(rows, 8, 2), draws)
    flat = draws.ravel()
    assert abs(flat.mean()) < 0.1 and flat.std() == pytest.approx(1.0, abs=0.08)
    assert abs(np.corrcoef(draws[:, 0], draws[:, 1])[0, 1]) < 0.1
    same_gen = np.repeat(rows[:1], 2, axis=0)
    same_gen[1, 2] += 1.0  # equal GEN values, another fastsim value: an independent draw
    pair = object_normals(same_gen, 7, 1)
    assert pair[0, 0] != pair[1, 0]


def test_twostage_cond_mmd_sees_what_the_marginal_mmd_cannot():
    """Refined x that sits on its GEN value (x = a·g with fullsim's marginal) is invisible to
    the MMD over x alone and plain to the MMD over (x, g)."""
    rng = np.random.default_rng(3)
    g = torch.as_tensor(rng.normal(size=(2048, 1)))
    x_full = g + 0.5 * torch.as_tensor(rng.normal(size=(2048, 1)))
    collapsed = 1.118 * g  # var 1.25 as fullsim's, correlation 1 instead of 0.89
    batch = Batch(g, collapsed, x_full)
    plain, cond = TwoStageRefiner(), TwoStageCondRefiner()
    plain.bandwidths_ = cond.bandwidths_ = torch.tensor([1.0], dtype=torch.float64)
    cond.g_bandwidths_ = torch.tensor([1.0], dtype=torch.float64)
    ratio = (cond.batch_mmd(collapsed, batch, unbiased=True)
             / plain.batch_mmd(collapsed, batch, unbiased=True).abs().clamp_min(1e-6))
    assert float(ratio) > 10


def test_conditioning_bandwidths_of_continuous_and_one_hot_columns():
    rng = np.random.default_rng(4)
    cont = rng.normal(size=1500)
    one_hot = (rng.random(1500) < 0.2).astype(float)  # most pairs equal: median |Δ| = 0
    widths = conditioning_bandwidths(torch.as_tensor(np.column_stack([cont, one_hot])),
                                     generator=torch.Generator().manual_seed(0))
    d = np.abs(cont[:, None] - cont[None, :])
    assert float(widths[0]) == pytest.approx(np.median(d[d > 0]), rel=1e-6)
    assert float(widths[1]) == pytest.approx(1.0)
