"""Conditional fidelity: the correlation with the conditioning (``cond_corr_diff``) and the
classifier two-sample test (``c2st``, ``c2st_jsd``), on samples whose answer is known."""

import math

import numpy as np
import pytest

from perfekt_bench import (
    EvaluationSettings,
    FeatureNames,
    OmniscientColumn,
    Sample,
    batched,
    mean_correlation_difference,
    pearson_matrix,
)
from perfekt_bench_plugins.metrics import (
    MMD,
    ClassifierJSD,
    ClassifierTwoSampleTest,
    ConditionalCorrelationDifference,
)
from perfekt_bench_plugins.metrics import classifier as classifier_module

NAMES = FeatureNames(g=("g0", "g1"), x=("x0", "x1"), h=("h0",))


def settings(batch_size=1000):
    return EvaluationSettings(
        batch_size=batch_size, mmd_bandwidths=(1.0, 1.0),
        omniscient=(OmniscientColumn("g", "g0", 1.0), OmniscientColumn("g", "g1", 1.0),
                    OmniscientColumn("x", "x0", 1.0), OmniscientColumn("x", "x1", 1.0),
                    OmniscientColumn("h", "h0", 1.0)),
        chi2_bins=((0.0, 1.0), (0.0, 1.0)))


def gaussian_world(n, seed, *, collapse=0.0):
    """g ~ N(0, 1)²; fullsim x = g + 0.5·noise. ``collapse`` c moves x towards its conditional
    mean given g while keeping its marginal: x = a·g + (1 − c)·0.5·noise with a chosen so that
    var(x) = 1.25 as in fullsim, so x becomes *more* correlated with g than fullsim is."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(n, 2))
    noise = rng.normal(size=(n, 2))
    spread = (1 - collapse) * 0.5
    x = math.sqrt(1.25 - spread**2) * g + spread * noise
    h = g[:, :1] + 0.3 * rng.normal(size=(n, 1))
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    return Sample(f32(g), f32(x), f32(h), NAMES)


def test_cross_pairs_are_the_refined_times_conditioning_block():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 400, 4))
    b[:, 1] += b[:, 0]
    ra, rb = pearson_matrix(a), pearson_matrix(b)
    expected = np.abs(ra[:2, 2:] - rb[:2, 2:]).mean()
    assert mean_correlation_difference(a, b, cross=2) == pytest.approx(expected, rel=1e-12)
    # the (x, x) pair that differs most is outside the block, so the block mean is smaller
    assert mean_correlation_difference(a, b) > mean_correlation_difference(a, b, cross=2)


def test_cond_corr_diff_catches_a_refinement_that_copies_gs_correlation():
    """The twostage failure: refined x sits closer to its GEN value than fullsim's. The
    marginal MMD cannot see it (same marginal), cond_corr_diff does."""
    reference = gaussian_world(20_000, 1)
    floor = gaussian_world(20_000, 2)
    collapsed = gaussian_world(20_000, 3, collapse=0.6)
    s = settings(batch_size=5000)
    corr = ConditionalCorrelationDifference()
    at_floor = corr.compute(floor, reference, settings=s)
    caught = corr.compute(collapsed, reference, settings=s)
    assert pearson_matrix(np.hstack([collapsed.x, collapsed.g]))[0, 2] > 0.95
    assert pearson_matrix(np.hstack([reference.x, reference.g]))[0, 2] == pytest.approx(
        0.894, abs=0.01)
    assert caught.value > at_floor.value + 5 * (caught.error + at_floor.error)
    # the cross block moves by 0.984 − 0.894 on its diagonal, 0 off it: mean ≈ 0.045
    assert caught.value == pytest.approx(0.045, abs=0.01)
    small, first = settings(batch_size=1000), slice(0, 5000)
    mmd_floor = MMD().compute(floor.rows(first), reference, settings=small)
    mmd_collapsed = MMD().compute(collapsed.rows(first), reference, settings=small)
    assert mmd_collapsed.value < mmd_floor.value + 3 * mmd_floor.error


def test_cond_corr_diff_is_weighted_and_batched():
    reference = gaussian_world(4000, 4)
    mixed = gaussian_world(4000, 5)
    broken = np.random.default_rng(6).permutation(4000)[:2000]
    x = mixed.x.copy()
    x[broken] = x[np.random.default_rng(7).permutation(broken)]  # break x–g for half
    weights = np.ones(4000)
    weights[broken] = 0.0
    corr = ConditionalCorrelationDifference()
    s = settings(batch_size=1000)
    plain = corr.compute(Sample(mixed.g, x, mixed.h, NAMES), reference, settings=s)
    weighted = corr.compute(Sample(mixed.g, x, mixed.h, NAMES, weights), reference, settings=s)
    assert weighted.value < plain.value / 3
    by_hand = batched(lambda c, r: mean_correlation_difference(
        np.hstack([c.x, c.g]), np.hstack([r.x, r.g]), c.weight, cross=2),
        Sample(mixed.g, x, mixed.h, NAMES), reference, batch_size=1000)
    assert plain == by_hand


@pytest.fixture(autouse=True)
def _fresh_fits():
    classifier_module._FITS.clear()
    yield
    classifier_module._FITS.clear()


class SmallC2ST(ClassifierTwoSampleTest):
    """The test's logic with a narrower, faster-learning network, fewer epochs and objects:
    these tests check what it computes, in seconds (the CaloChallenge settings are checked
    below)."""

    WIDTH = 64
    LR = 2e-3
    EPOCHS = 10
    MAX_PER_CLASS = 2000
    BOOTSTRAP = 30


class SmallJSD(ClassifierJSD):
    WIDTH, LR, EPOCHS, MAX_PER_CLASS, BOOTSTRAP = 64, 2e-3, 10, 2000, 30


def test_c2st_floor_is_half_a_shift_and_a_collapse_are_caught():
    """Two fullsim-like samples give AUC ≈ 0.5; a shifted one and the twostage failure (x
    collapsed towards its GEN value, marginal unchanged) are told apart."""
    s = settings()
    reference = gaussian_world(2000, 10)
    same = SmallC2ST().compute(gaussian_world(2000, 11), reference, settings=s)
    assert abs(same.value - 0.5) < max(4 * same.error, 0.05), same
    world = gaussian_world(2000, 12)
    shifted = SmallC2ST().compute(Sample(world.g, world.x + 1.0, world.h, NAMES), reference,
                                  settings=s)
    assert shifted.value > 0.75 and shifted.value > same.value + 10 * shifted.error
    collapsed = SmallC2ST().compute(gaussian_world(2000, 13, collapse=0.8), reference,
                                    settings=s)
    assert collapsed.value > same.value + 5 * (same.error + collapsed.error)


def test_c2st_and_jsd_share_one_fit_and_jsd_is_in_bits():
    s = settings()
    reference = gaussian_world(2000, 30)
    world = gaussian_world(2000, 31)
    separable = Sample(world.g, world.x + 6.0, world.h, NAMES)
    auc = SmallC2ST().compute(separable, reference, settings=s)
    assert len(classifier_module._FITS) == 1
    jsd = SmallJSD().compute(separable, reference, settings=s)
    assert len(classifier_module._FITS) == 1  # the same fit, read twice
    assert auc.value > 0.99 and 0.8 < jsd.value <= 1.0
    assert SmallC2ST().compute(separable, reference, settings=s) == auc


def test_c2st_weights_can_repair_a_mismatch():
    """A weighted candidate is compared as the weighted sample (SRGN's reweighted fit):
    weights that undo a mismatch bring the AUC back to the floor."""
    s = settings()
    reference = gaussian_world(2000, 40)
    world = gaussian_world(2000, 41)
    moved = np.random.default_rng(42).random(2000) < 1 / 3  # a random third, moved away
    x = world.x.copy()
    x[moved] += 5.0
    weights = np.where(moved, 0.0, 1.5)
    plain = SmallC2ST().compute(Sample(world.g, x, world.h, NAMES), reference, settings=s)
    weighted = SmallC2ST().compute(Sample(world.g, x, world.h, NAMES, weights), reference,
                                   settings=s)
    assert plain.value > 0.6
    assert abs(weighted.value - 0.5) < max(4 * weighted.error, 0.05)
    assert weighted.value < plain.value - 5 * plain.error


def test_c2st_settings_are_the_calochallenges():
    m = ClassifierTwoSampleTest
    assert (m.N_HIDDEN, m.WIDTH, m.LR, m.BATCH, m.EPOCHS, m.SPLIT) == (
        2, 512, 2e-4, 1000, 50, (0.6, 0.2, 0.2))
    net = classifier_module._network(5, m.N_HIDDEN, m.WIDTH)
    linear = [layer for layer in net if type(layer).__name__ == "Linear"]
    assert [(lay.in_features, lay.out_features) for lay in linear] == [
        (5, 512), (512, 512), (512, 512), (512, 1)]
    assert ClassifierTwoSampleTest.opt_in and ClassifierJSD.opt_in
