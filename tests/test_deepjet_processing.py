"""The CMS pre/post-processing of the deepjet task (CMS FastSim refinement paper, Sec. 3.1)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from perfekt_bench import FeatureNames, TransformedRefiner, Triplets
from perfekt_bench.errors import DataError
from perfekt_bench_tasks.deepjet import processing, tagger
from perfekt_bench_tasks.deepjet.definitions import G_NAMES, H_NAMES, X_NAMES

torch = pytest.importorskip("torch")

TRANSFORM = processing.DeepJetTransform()
NAMES = FeatureNames(g=G_NAMES, x=X_NAMES, h=H_NAMES)

logits = arrays(np.float64, st.tuples(st.integers(1, 40), st.just(4)),
                elements=st.floats(-60.0, 60.0, allow_nan=False))


def consistent_jets(n: int, seed: int = 0):
    """Discriminators of the emulated tagger, with GEN (pT, η, flavour) and true classes."""
    rng = np.random.default_rng(seed)
    cls = rng.integers(0, 6, n)
    pt = 15.0 + rng.pareto(2.0, n) * 30.0
    eta = rng.uniform(-4.5, 4.5, n)
    x = tagger.discriminators(tagger.FULLSIM.nodes(cls, pt, eta, rng))
    flavour = np.select([cls <= tagger.LEPB, cls == tagger.C], [5.0, 4.0], 0.0)
    return x, np.column_stack([pt, eta, flavour])


@settings(max_examples=200, deadline=None)
@given(logits)
def test_refined_discriminators_lie_in_unit_interval_and_nodes_sum_to_one(z):
    x = TRANSFORM.inverse_x(z)
    assert x.shape == z.shape
    assert np.all(np.isfinite(x)) and np.all((x >= 0.0) & (x <= 1.0))
    nodes = processing.node_groups(torch.as_tensor(z)).numpy()
    assert np.all(nodes >= 0.0)
    np.testing.assert_allclose(nodes.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # the discriminators are those of the rebuilt nodes (eq. 2), wherever the ratios are defined
    b, c, uds, g = nodes.T
    assert np.allclose(x[:, 0], b, atol=1e-12)
    ok = (c + b > 1e-300) & (c + uds + g > 1e-300) & (uds + g > 1e-300)
    recomputed = np.column_stack([c / (c + b), c / (c + uds + g), g / (g + uds)])
    np.testing.assert_allclose(x[ok, 1:], recomputed[ok], rtol=1e-9, atol=1e-12)


def test_consistent_discriminators_survive_the_round_trip():
    x, _ = consistent_jets(20_000)
    inside = np.all((x > 1e-5) & (x < 1 - 1e-5), axis=1)
    back = TRANSFORM.inverse_x(TRANSFORM.forward_x(x))
    np.testing.assert_allclose(back[inside], x[inside], atol=2e-6)
    assert inside.mean() > 0.5


def test_b_is_fixed_by_cvb_and_cvl():
    """Six nodes summing to one leave three degrees of freedom: B = 1/(1 + CvB/((1−CvB)·CvL))."""
    x, _ = consistent_jets(5_000, seed=3)
    b, cvb, cvl = x[:, 0], x[:, 1], x[:, 2]
    ok = (cvb < 1 - 1e-9) & (cvl > 1e-9)
    np.testing.assert_allclose(b[ok], 1 / (1 + cvb[ok] / ((1 - cvb[ok]) * cvl[ok])), rtol=1e-9)
    # a refined B the network got "wrong" is replaced by the consistent one
    z = TRANSFORM.forward_x(x)
    z[:, 0] += 3.0
    np.testing.assert_allclose(TRANSFORM.inverse_x(z)[:, 0], TRANSFORM.inverse_x(
        TRANSFORM.forward_x(x))[:, 0], atol=1e-12)


def test_conditioning_preprocessing():
    g = np.array([[15.0, 0.3, 0.0], [200.0, -2.0, 4.0], [1000.0, 4.7, 5.0], [5000.0, 0.0, 5.0]])
    out = TRANSFORM.forward_g(g)
    assert out.shape == (4, 5)
    t = np.tanh(g[:3, 0] / 200.0)
    np.testing.assert_allclose(out[:3, 0], np.log(t / (1 - t)), rtol=1e-9)
    assert np.isfinite(out[3, 0]) and out[3, 0] > out[2, 0]  # no rounding of tanh to 1
    np.testing.assert_array_equal(out[:, 1], g[:, 1])
    np.testing.assert_array_equal(out[:, 2:], [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]])
    names = TRANSFORM.names(NAMES)
    assert len(names.g) == 5 and len(names.x) == 4 and names.h == H_NAMES


def test_unknown_flavour_is_a_clear_error():
    g = np.array([[30.0, 0.0, 0.0], [30.0, 0.0, 3.0], [30.0, 0.0, 21.0]])
    with pytest.raises(DataError, match=r"hadron_flavour: 2 value\(s\) outside \(0, 4, 5\)"):
        TRANSFORM.forward_g(g)


def test_torch_modules_match_the_transform():
    x, g = consistent_jets(1_000, seed=5)
    z, c = processing.Preprocessing()(torch.as_tensor(x), torch.as_tensor(g))
    np.testing.assert_allclose(z.numpy(), TRANSFORM.forward_x(x))
    np.testing.assert_allclose(c.numpy(), TRANSFORM.forward_g(g))
    np.testing.assert_allclose(processing.Postprocessing()(z).numpy(), TRANSFORM.inverse_x(
        z.numpy()))


def _triplets(n, seed):
    x_full, g = consistent_jets(n, seed)
    x_fast, _ = consistent_jets(n, seed + 100)
    h = np.column_stack([g[:, 0], g[:, 1]])
    return Triplets.from_arrays({"g": g, "x_fast": x_fast, "x_full": x_full, "h_fast": h,
                                 "h_full": h}, NAMES)


def test_untrained_network_through_the_transform_returns_its_input():
    """Fixup makes the untrained Fast Perfekt network the identity in logit space; through the
    pre- and post-processing the discriminators come back unchanged (to float32 precision)."""
    from perfekt_bench_plugins.fastperfekt import OneStageRefiner

    train, val = _triplets(512, 1), _triplets(256, 2)
    refiner = TransformedRefiner(OneStageRefiner(epochs=0, n_blocks=1, width=8), TRANSFORM)
    refiner.fit(train, val)
    out = refiner.refine(train.x_fast, train.g).x
    assert out.dtype == np.float32 and out.shape == train.x_fast.shape
    inside = np.all((train.x_fast > 1e-5) & (train.x_fast < 1 - 1e-5), axis=1)
    np.testing.assert_allclose(out[inside], train.x_fast[inside], atol=1e-5)


def test_transformed_refiner_learns_in_logit_space_and_saves_the_transform(tmp_path):
    from perfekt_bench_plugins.fastperfekt import MSERefiner

    train, val = _triplets(1024, 1), _triplets(256, 2)
    inner = MSERefiner(epochs=1, n_blocks=1, width=8, batch_size=256)
    refiner = TransformedRefiner(inner, TRANSFORM).fit(train, val)
    assert inner.model_.g_mean.numel() == 5  # one-hot flavour: 5 conditioning columns
    assert refiner.history_ is inner.history_ and refiner.get_params() == inner.get_params()
    out = refiner.refine(val.x_fast, val.g).x
    assert np.all((out >= 0) & (out <= 1))
    refiner.save(tmp_path / "model")
    assert (tmp_path / "model" / "transform.json").read_text() == '{"transform": "deepjet-cms"}'
