"""DCTR reweighting (arXiv:1907.08209) and the effective-sample-size metric (small problems)."""

import math

import numpy as np
import pytest
import torch

from perfekt_bench import (
    ConfigurationError,
    DataError,
    FeatureNames,
    RunConfig,
    Sample,
    Triplets,
    run,
)
from perfekt_bench.testing import toy_settings
from perfekt_bench_plugins.dctr import DCTRRefiner
from perfekt_bench_plugins.metrics import EffectiveSampleSize

NAMES = FeatureNames(g=("g",), x=("x",), h=("h",))
SMALL = {"n_layers": 2, "width": 32, "batch_size": 512, "lr": 3e-3, "epochs": 10,
         "patience": None}


def shifted_gaussians(n: int, seed: int) -> Triplets:
    """fastsim x ~ N(0.5, 1), fullsim x ~ N(0, 1), independent of the conditioning g; the
    exact weight is p_full/p_fast = exp(0.125 − x/2)."""
    rng = np.random.default_rng(seed)
    col = lambda a: a.astype(np.float32).reshape(-1, 1)  # noqa: E731
    return Triplets(col(rng.normal(size=n)), col(rng.normal(0.5, 1.0, n)),
                    col(rng.normal(0.0, 1.0, n)), col(rng.normal(size=n)),
                    col(rng.normal(size=n)), NAMES, paired=False, source=f"gaussians {seed}")


@pytest.fixture(scope="module")
def data():
    return shifted_gaussians(8000, 1), shifted_gaussians(4000, 2), shifted_gaussians(20000, 3)


@pytest.fixture(scope="module")
def fitted(data):
    train, validation, _ = data
    return DCTRRefiner(**SMALL).fit(train, validation)


class Logits(torch.nn.Module):
    """Stands in for the classifier: fixed logits, to force overflowing or NaN weights."""

    def __init__(self, value: float, n_nan: int = 0):
        super().__init__()
        self.value, self.n_nan = value, n_nan

    def forward(self, inputs):
        out = torch.full((len(inputs), 1), self.value)
        out[:self.n_nan] = math.nan
        return out


def test_weights_move_fastsim_mean_to_fullsim(fitted, data):
    _, _, test = data
    out = fitted.refine(test.x_fast, test.g)
    np.testing.assert_array_equal(out.x, test.x_fast)
    x, w = test.x_fast[:, 0].astype(np.float64), out.weight
    shift_before = abs(x.mean() - test.x_full.mean())
    shift_after = abs(np.average(x, weights=w) - test.x_full.mean())
    assert shift_before > 0.45
    assert shift_after < shift_before / 3
    assert w.mean() == pytest.approx(1.0, abs=0.03)
    # the exact weights exp(0.125 − x/2) have n_eff/N = exp(−1/4) ≈ 0.78
    n_eff = w.sum() ** 2 / np.square(w).sum() / len(w)
    assert 0.6 < n_eff < 0.95
    assert fitted.history_[-1]["val_loss"] < math.log(2)
    assert {"train_loss", "val_loss", "val_n_eff"} <= set(fitted.history_[0])


def test_weights_have_mean_one_on_validation_and_are_pointwise(fitted, data):
    _, validation, test = data
    w = fitted.refine(validation.x_fast, validation.g).weight
    assert (w >= 0).all()
    assert w.mean() == pytest.approx(1.0, rel=1e-9)
    # a weight depends on its object only, not on the rest of the batch
    batch = fitted.refine(test.x_fast, test.g).weight
    alone = [fitted.refine(test.x_fast[i:i + 1], test.g[i:i + 1]).weight[0] for i in (0, 7)]
    np.testing.assert_allclose(alone, batch[[0, 7]], rtol=1e-6)


def test_clip_caps_the_normalised_weights(data):
    train, validation, test = data
    refiner = DCTRRefiner(**SMALL, clip=1.5).fit(train, validation)
    w = refiner.refine(test.x_fast, test.g).weight
    assert w.max() <= 1.5
    assert (w == 1.5).mean() > 0.05  # the cap bites: unclipped weights reach exp(1.6) ≈ 5
    assert refiner.refine(validation.x_fast, validation.g).weight.mean() == pytest.approx(
        1.0, rel=1e-6)


def test_clip_below_one_is_refused(data):
    train, validation, _ = data
    with pytest.raises(ConfigurationError, match="clip"):
        DCTRRefiner(**SMALL, clip=0.5).fit(train, validation)


def test_overflowing_weights_raise_a_clear_error(fitted, data, monkeypatch):
    _, validation, _ = data
    monkeypatch.setattr(fitted, "model_", Logits(1e4))
    with pytest.raises(DataError, match=r"4000 of 4000 weights .* not finite .*4000 infinite"
                                        r".*'clip'"):
        fitted.refine(validation.x_fast, validation.g)
    # clipping keeps them finite
    monkeypatch.setattr(fitted, "clip", 10.0)
    np.testing.assert_array_equal(fitted.refine(validation.x_fast, validation.g).weight, 10.0)


def test_nan_weights_raise_even_with_clip(fitted, data, monkeypatch):
    _, validation, _ = data
    monkeypatch.setattr(fitted, "model_", Logits(0.0, n_nan=3))
    monkeypatch.setattr(fitted, "clip", 10.0)
    with pytest.raises(DataError, match=r"3 of 4000 weights .*\(3 NaN, 0 infinite\)"):
        fitted.refine(validation.x_fast, validation.g)


def test_save_and_load_keep_the_weights(fitted, data, tmp_path):
    _, validation, _ = data
    fitted.save(tmp_path / "model")
    loaded = DCTRRefiner.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.refine(validation.x_fast, validation.g).weight,
                                  fitted.refine(validation.x_fast, validation.g).weight)
    assert loaded.history_ == fitted.history_


def test_effective_sample_size_by_hand():
    x = np.zeros((8, 1), np.float32)
    weighted = Sample(x, x, x, NAMES, np.array([1, 1, 1, 1, 1, 3, 1, 3], np.float64))
    unweighted = Sample(x, x, x, NAMES)
    settings = toy_settings(batch_size=4)
    metric = EffectiveSampleSize()
    value = metric.compute(weighted, unweighted, settings=settings)
    # the whole sample, not per batch: 12²/24/8 = 0.75 (batches would say (1 + 0.8)/2)
    assert value.value == pytest.approx(0.75)
    assert 0 < value.error < 0.25
    # one large weight in many: the batched mean would hide it
    w = np.ones(4096)
    w[7] = 400.0
    heavy = Sample(*(np.zeros((4096, 1), np.float32),) * 3, NAMES, w)
    assert metric.compute(heavy, unweighted, settings=toy_settings(batch_size=512)).value == (
        pytest.approx(w.sum() ** 2 / np.square(w).sum() / 4096))
    exact = metric.compute(unweighted, weighted, settings=settings)
    assert exact.value == 1.0 and exact.error == 0.0
    assert not metric.lower_is_better and not metric.measures_distance


@pytest.mark.slow
def test_run_end_to_end_reports_the_price_in_n_eff(tmp_path):
    result = run(RunConfig("analytic", "dctr", budget="smoke", progress=False,
                           metrics=["mmd", "n_eff", "chi2_ndof"], latency_repeats=2))
    n_eff = result.metrics["n_eff"]
    assert n_eff["fastsim"].value == 1.0 and n_eff["fullsim"].value == 1.0
    assert 0 < n_eff["refined"].value < 1
    assert set(result.metrics["mmd"]) == {"fastsim", "refined", "fullsim"}
    assert all(math.isfinite(v.value) for per in result.metrics.values() for v in per.values())
    assert (result.run_dir / "model" / "model.pt").exists()
