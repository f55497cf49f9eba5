"""Tests for perfekt_bench.mmd: the fast MMD against the textbook version, and its helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from perfekt_bench.mmd import (
    bandwidth_ladder,
    mean_squared_distance,
    median_bandwidths,
    mmd,
    mmd_naive,
)

F64 = torch.float64


def assert_rel(actual, expected, tol=1e-6):
    """max |actual - expected| <= tol * max |expected| (relative to the tensor's scale)."""
    actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
    assert actual.shape == expected.shape
    scale = expected.abs().max().item()
    err = (actual - expected).abs().max().item()
    assert err <= tol * scale, f"relative error {err / scale:.3g} > {tol:g}"


def make_problem(m, n, d, n_kernels, *, weighted, seed, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(m, d, generator=g, dtype=dtype)
    y = 1.3 * torch.randn(n, d, generator=g, dtype=dtype) + 0.4
    bw = 0.5 + torch.rand(n_kernels, d, generator=g, dtype=dtype)
    if n_kernels == 1:
        bw = bw[0]
    weights = {}
    if weighted:
        weights = {
            "x_weights": 0.1 + torch.rand(m, generator=g, dtype=dtype),
            "y_weights": 0.1 + torch.rand(n, generator=g, dtype=dtype),
        }
    return x, y, bw, weights


# (m, n, d, kernels, weighted, chunk_size): 1-D and multi-D, (d,) and (K, d) bandwidths,
# m != n, and chunk sizes both below m (chunked) and above m + n (one tile).
CASES = [
    (37, 29, 1, 1, False, 5),
    (37, 29, 1, 1, True, 4096),
    (40, 53, 3, 1, False, 4096),
    (40, 53, 3, 1, True, 8),
    (31, 44, 4, 3, False, 7),
    (31, 44, 4, 3, True, 13),
    (64, 64, 2, 5, True, 1),
]
CASE_IDS = [f"m{c[0]}-n{c[1]}-d{c[2]}-K{c[3]}-{'w' if c[4] else 'u'}-c{c[5]}" for c in CASES]


def explicit_mmd(x, y, bw, unbiased, wx, wy):
    """Fast Perfekt eqs. 1-3 written out pair by pair in numpy (independent of both versions)."""
    bw = np.atleast_2d(bw)

    def k(a, b):
        return sum(np.exp(-np.sum((a - b) ** 2 / s**2)) for s in bw)

    def term(a, wa, b, wb, same):
        total, norm = 0.0, 0.0
        for i in range(len(a)):
            for j in range(len(b)):
                if same and unbiased and i == j:
                    continue
                total += wa[i] * wb[j] * k(a[i], b[j])
                norm += wa[i] * wb[j]
        return total / norm

    return term(x, wx, x, wx, True) + term(y, wy, y, wy, True) - 2 * term(x, wx, y, wy, False)


@pytest.mark.parametrize("unbiased", [False, True], ids=["biased", "unbiased"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_matches_explicit_formula(unbiased, weighted):
    x, y, bw, w = make_problem(7, 5, 2, 2, weighted=weighted, seed=2)
    wx = w["x_weights"].numpy() if weighted else np.ones(7)
    wy = w["y_weights"].numpy() if weighted else np.ones(5)
    expected = explicit_mmd(x.numpy(), y.numpy(), bw.numpy(), unbiased, wx, wy)
    expected = torch.tensor(expected, dtype=F64)
    assert_rel(mmd(x, y, bw, unbiased=unbiased, chunk_size=3, **w), expected)
    assert_rel(mmd_naive(x, y, bw, unbiased=unbiased, **w), expected)


def test_two_point_closed_form():
    x, y = torch.tensor([[0.0]], dtype=F64), torch.tensor([[1.5]], dtype=F64)
    expected = 2 - 2 * np.exp(-(1.5**2) / 0.8**2)  # sigma^2 in the denominator, eq. 2
    assert_rel(mmd(x, y, [0.8]), torch.tensor(expected), 1e-12)


@pytest.mark.parametrize("unbiased", [False, True], ids=["biased", "unbiased"])
@pytest.mark.parametrize(("m", "n", "d", "k", "weighted", "chunk"), CASES, ids=CASE_IDS)
def test_value_matches_naive(m, n, d, k, weighted, chunk, unbiased):
    x, y, bw, w = make_problem(m, n, d, k, weighted=weighted, seed=m * n + d)
    fast = mmd(x, y, bw, unbiased=unbiased, chunk_size=chunk, **w)
    ref = mmd_naive(x, y, bw, unbiased=unbiased, **w)
    assert fast.dim() == 0 and fast.dtype == F64
    assert_rel(fast, ref)


@pytest.mark.parametrize("unbiased", [False, True], ids=["biased", "unbiased"])
@pytest.mark.parametrize(("m", "n", "d", "k", "weighted", "chunk"), CASES, ids=CASE_IDS)
def test_gradients_match_naive(m, n, d, k, weighted, chunk, unbiased):
    x, y, bw, w = make_problem(m, n, d, k, weighted=weighted, seed=m + n + d)
    inputs = [x.requires_grad_(), y.requires_grad_()]
    inputs += [v.requires_grad_() for v in w.values()]
    fast = torch.autograd.grad(mmd(x, y, bw, unbiased=unbiased, chunk_size=chunk, **w), inputs)
    ref = torch.autograd.grad(mmd_naive(x, y, bw, unbiased=unbiased, **w), inputs)
    for g_fast, g_ref in zip(fast, ref, strict=True):
        assert_rel(g_fast, g_ref)


def test_gradient_only_for_inputs_that_require_it():
    x, y, bw, w = make_problem(20, 15, 2, 2, weighted=True, seed=1)
    y.requires_grad_()
    (gy,) = torch.autograd.grad(mmd(x, y, bw, chunk_size=6, **w), [y])
    (gy_ref,) = torch.autograd.grad(mmd_naive(x, y, bw, **w), [y])
    assert_rel(gy, gy_ref)
    wx = w["x_weights"].requires_grad_()
    (gw,) = torch.autograd.grad(mmd(x, y.detach(), bw, unbiased=True, x_weights=wx), [wx])
    (gw_ref,) = torch.autograd.grad(mmd_naive(x, y.detach(), bw, unbiased=True, x_weights=wx), [wx])
    assert_rel(gw, gw_ref)


@pytest.mark.parametrize("unbiased", [False, True], ids=["biased", "unbiased"])
def test_gradcheck(unbiased):
    x, y, bw, w = make_problem(6, 5, 2, 2, weighted=True, seed=3)
    inputs = (x, y, w["x_weights"], w["y_weights"])
    for t in inputs:
        t.requires_grad_()

    def f(x, y, wx, wy):
        return mmd(x, y, bw, unbiased=unbiased, x_weights=wx, y_weights=wy, chunk_size=4)

    assert torch.autograd.gradcheck(f, inputs)


def test_float32_close_to_float64():
    x, y, bw, _ = make_problem(300, 250, 3, 1, weighted=False, seed=4)
    xf = x.float().requires_grad_()
    value = mmd(xf, y.float(), bw.float())
    (grad,) = torch.autograd.grad(value, [xf])
    assert value.dtype == torch.float32 and grad.dtype == torch.float32
    x.requires_grad_()
    ref = mmd_naive(x, y, bw)
    (grad_ref,) = torch.autograd.grad(ref, [x])
    assert_rel(value.double(), ref, 1e-4)
    assert_rel(grad.double(), grad_ref, 1e-4)


def test_float32_narrow_kernel_keeps_self_similarity_exact():
    # |u|^2 ~ 1e4 here, so |u_i|^2 + |u_i|^2 - 2 u_i.u_i is far from 0 in float32 unless the
    # diagonal is handled exactly; the unbiased estimator would then be off by ~1e-5.
    x, y, _, _ = make_problem(50, 40, 2, 1, weighted=False, seed=14)
    bw = [0.01, 0.01]
    ref = mmd_naive(x, y, bw, unbiased=True).item()
    fast = mmd(x.float(), y.float(), bw, unbiased=True, chunk_size=16).item()
    assert abs(fast - ref) < 1e-7


def test_unbiased_is_zero_in_expectation_and_biased_is_positive():
    unbiased, biased = [], []
    for seed in range(100):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(12, 2, generator=g, dtype=F64)
        y = torch.randn(12, 2, generator=g, dtype=F64)
        unbiased.append(mmd(x, y, [1.0, 1.0], unbiased=True).item())
        biased.append(mmd(x, y, [1.0, 1.0]).item())
    unbiased, biased = np.array(unbiased), np.array(biased)
    stderr = unbiased.std(ddof=1) / np.sqrt(len(unbiased))
    assert abs(unbiased.mean()) < 3 * stderr
    assert np.all(biased > 0)
    assert biased.mean() > 3 * biased.std(ddof=1) / np.sqrt(len(biased))


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_mmd_of_sample_with_itself_is_zero(dtype):
    x, _, bw, w = make_problem(50, 1, 3, 3, weighted=True, seed=5, dtype=dtype)
    tol = 1e-6 if dtype == torch.float32 else 1e-13
    assert abs(mmd(x, x, bw, chunk_size=16).item()) < tol
    wx = w["x_weights"]
    assert abs(mmd(x, x, bw, x_weights=wx, y_weights=wx).item()) < tol
    x.requires_grad_()
    (grad,) = torch.autograd.grad(mmd(x, x.detach(), bw), [x])
    assert grad.abs().max().item() < tol


@pytest.mark.parametrize("unbiased", [False, True], ids=["biased", "unbiased"])
def test_all_ones_weights_reproduce_unweighted(unbiased):
    x, y, bw, _ = make_problem(33, 21, 2, 2, weighted=False, seed=6)
    ones_x, ones_y = torch.ones(33, dtype=F64), torch.ones(21, dtype=F64)
    plain = mmd(x, y, bw, unbiased=unbiased)
    weighted = mmd(x, y, bw, unbiased=unbiased, x_weights=ones_x, y_weights=ones_y)
    assert_rel(weighted, plain, 1e-12)
    assert_rel(mmd(x, y, bw, unbiased=unbiased, x_weights=ones_x), plain, 1e-12)
    assert_rel(mmd_naive(x, y, bw, unbiased=unbiased, y_weights=ones_y), plain, 1e-12)


def test_weights_scale_invariance():
    x, y, bw, w = make_problem(25, 30, 2, 1, weighted=True, seed=7)
    base = mmd(x, y, bw, unbiased=True, **w)
    scaled = mmd(x, y, bw, unbiased=True, x_weights=3 * w["x_weights"], y_weights=w["y_weights"])
    assert_rel(scaled, base, 1e-12)


def test_no_grad_and_inputs_without_grad():
    x, y, bw, _ = make_problem(20, 20, 2, 1, weighted=False, seed=8)
    value = mmd(x, y, bw)
    assert not value.requires_grad
    x.requires_grad_()
    with torch.no_grad():
        detached = mmd(x, y, bw)
    assert not detached.requires_grad
    assert_rel(detached, value, 1e-12)


def test_one_dimensional_inputs_and_list_bandwidths():
    x, y, _, _ = make_problem(40, 30, 1, 1, weighted=False, seed=9)
    value = mmd(x[:, 0], y[:, 0], [0.7])
    assert_rel(value, mmd_naive(x, y, torch.tensor([0.7], dtype=F64)))
    assert_rel(mmd(x, y, np.array([[0.7], [2.0]])), mmd_naive(x, y, [[0.7], [2.0]]))


def test_isotropic_ladder_matches_explicit_bandwidths():
    x, y, _, _ = make_problem(30, 35, 3, 1, weighted=False, seed=10)
    ladder = bandwidth_ladder(1.5, factors=(0.5, 1.0, 4.0))
    explicit = ladder.expand(3, 3).to(F64)
    assert_rel(mmd(x, y, ladder, unbiased=True), mmd_naive(x, y, explicit, unbiased=True))


def test_median_bandwidths_matches_numpy():
    g = torch.Generator().manual_seed(11)
    for m, n in [(13, 9), (12, 8)]:  # odd and even number of pairs
        x = torch.randn(m, 3, generator=g, dtype=F64)
        y = 2 * torch.rand(n, 3, generator=g, dtype=F64)
        xn, yn = x.numpy(), y.numpy()
        expected = [np.median(np.abs(xn[:, None, l] - yn[None, :, l])) for l in range(3)]
        result = median_bandwidths(x, y)
        assert result.shape == (3,) and result.dtype == F64
        np.testing.assert_allclose(result.numpy(), expected, rtol=1e-12)


def test_median_bandwidths_subsamples_reproducibly():
    g = torch.Generator().manual_seed(12)
    x, y = torch.randn(500, 2, generator=g), torch.randn(400, 2, generator=g) + 1
    first = median_bandwidths(x, y, max_points=50, generator=torch.Generator().manual_seed(0))
    again = median_bandwidths(x, y, max_points=50, generator=torch.Generator().manual_seed(0))
    other = median_bandwidths(x, y, max_points=50, generator=torch.Generator().manual_seed(1))
    full = median_bandwidths(x, y, max_points=None)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.allclose(first, full, rtol=0.2)


def test_mean_squared_distance_matches_pairs():
    g = torch.Generator().manual_seed(13)
    x, y = torch.randn(15, 3, generator=g, dtype=F64), torch.rand(10, 3, generator=g, dtype=F64)
    z = torch.cat([x, y]).numpy()
    sq = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    # CMS eq. 8: 1/n² Σ_i Σ_j over all ordered pairs, i = j included
    np.testing.assert_allclose(mean_squared_distance(x, y).item(), sq.mean())
    xn = x.numpy()
    sq_x = ((xn[:, None, :] - xn[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(mean_squared_distance(x).item(), sq_x.mean())
    sub = mean_squared_distance(x, y, max_points=8, generator=torch.Generator().manual_seed(0))
    assert sub.dim() == 0 and sub.item() > 0


def test_bandwidth_ladder():
    ladder = bandwidth_ladder(2.0)
    assert ladder.shape == (5, 1)
    np.testing.assert_allclose(ladder[:, 0].numpy(), [0.02, 0.2, 2.0, 20.0, 200.0], rtol=1e-6)
    base = torch.tensor([1.0, 3.0], dtype=F64)
    ladder = bandwidth_ladder(base, factors=(0.5, 2.0))
    assert ladder.shape == (2, 2) and ladder.dtype == F64
    np.testing.assert_allclose(ladder.numpy(), [[0.5, 1.5], [2.0, 6.0]])
    # a squared base (the CMS kernel exp(-|Δ|²/σ)) gives widths √(f σ)
    np.testing.assert_allclose(bandwidth_ladder(base, (0.5, 2.0), squared=True).numpy(),
                               np.sqrt([[0.5, 1.5], [2.0, 6.0]]))


@pytest.mark.parametrize("fn", [mmd, mmd_naive], ids=["mmd", "mmd_naive"])
def test_bad_input_raises(fn):
    x, y = torch.randn(10, 3, dtype=F64), torch.randn(8, 3, dtype=F64)
    bw = [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="same number of dimensions"):
        fn(x, y[:, :2], bw)
    with pytest.raises(ValueError, match="bandwidths must have shape"):
        fn(x, y, [1.0, 1.0])
    with pytest.raises(ValueError, match="bandwidths must have shape"):
        fn(x, y, torch.ones(2, 4))
    with pytest.raises(ValueError, match="bandwidths must have shape"):
        fn(x, y, torch.ones(2, 3, 1))
    with pytest.raises(ValueError, match="strictly positive"):
        fn(x, y, [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="x_weights must be non-negative"):
        fn(x, y, bw, x_weights=torch.linspace(-1, 1, 10, dtype=F64))
    with pytest.raises(ValueError, match=r"y_weights must have shape \(8,\)"):
        fn(x, y, bw, y_weights=torch.ones(10, dtype=F64))
    with pytest.raises(ValueError, match="positive sum"):
        fn(x, y, bw, y_weights=torch.zeros(8, dtype=F64))
    with pytest.raises(ValueError, match="two positive entries"):
        fn(x, y, bw, unbiased=True, x_weights=torch.eye(10, dtype=F64)[3])
    with pytest.raises(ValueError, match="same dtype"):
        fn(x, y.float(), bw)
    with pytest.raises(ValueError, match="at least two points"):
        fn(x, y[:1], bw, unbiased=True)
