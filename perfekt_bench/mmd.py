"""Maximum Mean Discrepancy (MMD) with Gaussian kernels, for losses and metrics.

Kernel, Fast Perfekt (Wolf et al., SciPost Phys. Core 8, 021 (2025)), eq. 2: a Gaussian with one
bandwidth per dimension,

    k(a, b) = exp(-sum_l (a_l - b_l)^2 / sigma_l^2)          (sigma^2, not 2 sigma^2).

A *bandwidth sum* (CMS FastSim refinement, Bein et al., EPJ Web Conf. 295, 09032 (2024)) is the sum
of several such Gaussians, one row of a (K, d) bandwidth array per kernel.

Estimators for a candidate sample X (m x d) and a target sample Y (n x d): the biased estimator of
Fast Perfekt eq. 1, the unbiased estimator of eq. 3, and weighted versions of both for reweighting
methods (weights w >= 0; the unbiased same-sample term is
sum_{i != j} w_i w_j k_ij / ((sum w)^2 - sum w^2)). All-ones weights give the unweighted formulas.

`mmd` is the fast implementation: kernel values via one matrix product per tile, a symmetric
tiling of the kernel matrix of the concatenated sample, and an analytic gradient whose ingredients
are accumulated during the forward pass, so no (m + n)^2 matrix is ever kept for autograd.
`mmd_naive` is the textbook version, kept as reference for tests and benchmarks.

Precision: everything is computed in the inputs' dtype. Distances come from
|u|^2 + |v|^2 - 2 u.v on centred data, which loses relative accuracy for pairs much closer than
the data's spread in units of the bandwidth; float32 is adequate for training losses, and metrics
should pass float64 inputs.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

__all__ = [
    "bandwidth_ladder",
    "mean_squared_distance",
    "median_bandwidths",
    "mmd",
    "mmd_naive",
]

# Largest number of kernel-matrix elements evaluated in one tile by `mmd`: small enough for the
# tile to stay in the last-level cache across the exp and the two reductions over it.
_TILE_ELEMENTS = 1 << 21
_MIN_TILE_ROWS = 64


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


def _as_points(t, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise ValueError(f"{name} must have a floating-point dtype, got {t.dtype}")
    if t.dim() == 1:
        t = t.unsqueeze(1)
    if t.dim() != 2:
        raise ValueError(f"{name} must have shape (points, dims), got {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return t


def _check_pair(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    x = _as_points(x, "x")
    y = _as_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same number of dimensions, got {x.shape[1]} and {y.shape[1]}"
        )
    if x.dtype != y.dtype:
        raise ValueError(f"x and y must have the same dtype, got {x.dtype} and {y.dtype}")
    if x.device != y.device:
        raise ValueError(f"x and y must be on the same device, got {x.device} and {y.device}")
    return x, y


def _check_bandwidths(bandwidths, d: int, like: torch.Tensor) -> torch.Tensor:
    """Return bandwidths as a detached (K, d) tensor with like's dtype and device."""
    bw = torch.as_tensor(bandwidths, dtype=like.dtype, device=like.device).detach()
    if bw.dim() == 0:
        bw = bw.reshape(1, 1)
    elif bw.dim() == 1:
        bw = bw.unsqueeze(0)
    if bw.dim() != 2 or bw.shape[0] == 0 or bw.shape[1] not in (1, d):
        raise ValueError(
            f"bandwidths must have shape ({d},) or (K, {d}) for {d}-dimensional samples "
            f"(or a trailing size of 1 for isotropic kernels), got {tuple(bw.shape)}"
        )
    if not bool(torch.all(torch.isfinite(bw) & (bw > 0))):
        raise ValueError("bandwidths must be finite and strictly positive")
    return bw.expand(bw.shape[0], d)


def _check_weights(w, n: int, name: str, like: torch.Tensor, unbiased: bool):
    if w is None:
        return None
    w = torch.as_tensor(w, device=like.device)
    if w.dtype != like.dtype:
        w = w.to(like.dtype)
    if w.dim() != 1 or w.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {tuple(w.shape)}")
    negative, not_finite, n_positive = torch.stack(
        [(w < 0).sum(), (~torch.isfinite(w)).sum(), (w > 0).sum()]
    ).tolist()
    if negative:
        raise ValueError(f"{name} must be non-negative")
    if not_finite:
        raise ValueError(f"{name} must be finite")
    if n_positive < (2 if unbiased else 1):
        need = "two positive entries for the unbiased estimator" if unbiased else "a positive sum"
        raise ValueError(f"{name} must have {need}")
    return w


def _prepare(x, y, bandwidths, unbiased, x_weights, y_weights):
    x, y = _check_pair(x, y)
    bw = _check_bandwidths(bandwidths, x.shape[1], x)
    wx = _check_weights(x_weights, x.shape[0], "x_weights", x, unbiased)
    wy = _check_weights(y_weights, y.shape[0], "y_weights", y, unbiased)
    if unbiased and min(x.shape[0], y.shape[0]) < 2:
        raise ValueError("the unbiased estimator needs at least two points in each sample")
    return x, y, bw, wx, wy


def _coefficients(m, n, wx, wy, unbiased, n_kernels, like):
    """Coefficients (a_xx, a_yy, a_xy) and constant c with MMD = sum a S + c.

    S_xx = sum_ij wx_i wx_j k(x_i, x_j) including the diagonal, S_yy likewise, and
    S_xy = sum_ij wx_i wy_j k(x_i, y_j); k sums over the K kernels.
    """
    if wx is None:
        sx, sx2 = float(m), float(m)
    else:
        sx, sx2 = wx.sum(), (wx * wx).sum()
    if wy is None:
        sy, sy2 = float(n), float(n)
    else:
        sy, sy2 = wy.sum(), (wy * wy).sum()
    if unbiased:
        a_xx = 1.0 / (sx * sx - sx2)
        a_yy = 1.0 / (sy * sy - sy2)
        # k(a, a) = 1 for every kernel, so the diagonal contributes exactly K * sum w^2.
        const = -n_kernels * (a_xx * sx2 + a_yy * sy2)
    else:
        a_xx = 1.0 / (sx * sx)
        a_yy = 1.0 / (sy * sy)
        const = 0.0
    a_xy = -2.0 / (sx * sy)
    alpha = torch.stack(
        [torch.as_tensor(a, dtype=like.dtype, device=like.device) for a in (a_xx, a_yy, a_xy)]
    )
    return alpha, const


# --------------------------------------------------------------------------------------------
# Fast MMD
# --------------------------------------------------------------------------------------------


def _kernel_products(z, rhs, inv_bw, tile_rows):
    """Sum over the symmetric tiling of exp(-|u_i - u_j|^2) @ rhs, one kernel at a time.

    z: (N, d) centred points; rhs: (N, c); inv_bw: (K, d).
    Returns (K, N, c) with out[k] = K_k @ rhs where K_k is the full N x N kernel matrix of
    kernel k. Each unordered pair of row blocks is evaluated once: the upper strip right of
    the diagonal block also supplies the transposed contribution to the rows below it.
    """
    n_pts = z.shape[0]
    # Accumulating (c, N) = rhs^T @ tile^T keeps the skinny products in a shape BLAS is fast at.
    rhs_t = rhs.T.contiguous()
    out_t = z.new_zeros((inv_bw.shape[0], rhs.shape[1], n_pts))
    for k, s in enumerate(inv_bw):
        u = z * s
        sq = (u * u).sum(1)
        # exponent_ij = [u_i, -|u_i|^2, -1] . [2 u_j, 1, |u_j|^2] = -|u_i - u_j|^2
        left = torch.cat([u, -sq[:, None], -torch.ones_like(sq)[:, None]], 1)
        right = torch.cat([2 * u, torch.ones_like(sq)[:, None], sq[:, None]], 1)
        acc = out_t[k]
        for a in range(0, n_pts, tile_rows):
            b = min(a + tile_rows, n_pts)
            tile = left[a:b] @ right[a:].T
            tile.diagonal().zero_()
            tile.clamp_(max=0).exp_()
            acc[:, a:b].addmm_(rhs_t[:, a:], tile.T)
            if b < n_pts:
                acc[:, b:].addmm_(rhs_t[:, a:b], tile[:, b - a :])
    return out_t.transpose(1, 2)


class _MMDSums(torch.autograd.Function):
    """f = a_xx S_xx + a_yy S_yy + a_xy S_xy with the analytic gradient.

    With z = [x; y], p = [wx; 0], q = [0; wy] and the symmetric coefficient matrix
    C = a_xx p p^T + a_yy q q^T + a_xy (p q^T + q p^T) / 2, f = sum_ij C_ij k(z_i, z_j) and,
    for the scaled points u = z / sigma of one kernel, df/du_i = -4 sum_j C_ij k_ij (u_i - u_j).
    For i in x this is -4 p_i [u_i (K v_x)_i - (K (v_x u))_i] with v_x = a_xx p + a_xy q / 2
    (v_y = a_yy q + a_xy p / 2 for i in y), so the forward pass only has to accumulate K @ rhs
    for rhs = [p, q, v_x z, v_y z]: N x (2 + 2d) numbers instead of an N x N graph.
    """

    @staticmethod
    def forward(ctx, x, y, wx, wy, alpha, inv_bw, tile_rows, grad_enabled):
        m, d = x.shape
        # needs_input_grad ignores torch.no_grad(); nothing is kept for backward there.
        need = [grad_enabled and flag for flag in ctx.needs_input_grad]
        need_x, need_y, need_w = need[0], need[1], any(need[2:5])
        z = torch.cat([x, y]).detach()
        # A common shift leaves every distance unchanged and keeps |u|^2 small.
        z = z - z.mean(0)
        p = torch.zeros_like(z[:, 0])
        q = torch.zeros_like(p)
        p[:m] = 1 if wx is None else wx.detach()
        q[m:] = 1 if wy is None else wy.detach()
        a_xx, a_yy, a_xy = alpha.detach()
        v_x = a_xx * p + 0.5 * a_xy * q
        v_y = a_yy * q + 0.5 * a_xy * p
        cols = [p[:, None], q[:, None]]
        if need_x:
            cols.append(v_x[:, None] * z)
        if need_y:
            cols.append(v_y[:, None] * z)
        prods = _kernel_products(z, torch.cat(cols, 1), inv_bw, tile_rows)
        kp, kq = prods[:, :, 0], prods[:, :, 1]
        sums = torch.stack([p @ kp.sum(0), q @ kq.sum(0), p @ kq.sum(0)])
        value = alpha.detach() @ sums

        saved = {}
        s2 = inv_bw * inv_bw
        col = 2
        if need_x:
            kv = a_xx * kp[:, :m] + 0.5 * a_xy * kq[:, :m]
            g = s2[:, None, :] * (z[None, :m] * kv[:, :, None] - prods[:, :m, col : col + d])
            saved["x"] = -4 * p[:m, None] * g.sum(0)
            col += d
        if need_y:
            kv = a_yy * kq[:, m:] + 0.5 * a_xy * kp[:, m:]
            g = s2[:, None, :] * (z[None, m:] * kv[:, :, None] - prods[:, m:, col : col + d])
            saved["y"] = -4 * q[m:, None] * g.sum(0)
        if need_w:
            saved["kp"], saved["kq"] = kp.sum(0), kq.sum(0)
            saved["sums"] = sums
            saved["alpha"] = alpha.detach()
        ctx.saved = saved
        ctx.m = m
        return value

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        saved, m = ctx.saved, ctx.m
        grads = [None] * 8
        if "x" in saved:
            grads[0] = grad * saved["x"]
        if "y" in saved:
            grads[1] = grad * saved["y"]
        if "kp" in saved:
            kp, kq = saved["kp"], saved["kq"]
            a_xx, a_yy, a_xy = saved["alpha"]
            if ctx.needs_input_grad[2]:
                grads[2] = grad * (2 * a_xx * kp[:m] + a_xy * kq[:m])
            if ctx.needs_input_grad[3]:
                grads[3] = grad * (2 * a_yy * kq[m:] + a_xy * kp[m:])
            if ctx.needs_input_grad[4]:
                grads[4] = grad * saved["sums"]
        return tuple(grads)


def mmd(
    x,
    y,
    bandwidths,
    *,
    unbiased=False,
    x_weights=None,
    y_weights=None,
    chunk_size=4096,
) -> torch.Tensor:
    """Squared MMD between a candidate sample x and a target sample y, fast and memory-bounded.

    Implements the biased estimator of Fast Perfekt (SciPost Phys. Core 8, 021 (2025)) eq. 1, or
    the unbiased estimator of eq. 3 with ``unbiased=True``, with the Gaussian kernel of eq. 2 or a
    sum of such kernels (CMS FastSim refinement). Optional non-negative weights give the weighted
    estimators (see the module docstring); all-ones weights reproduce the unweighted values.

    Args:
        x: (m, d) candidate points; a 1-D tensor is read as (m, 1). Gradients flow to x, and to
            y and the weights if they require grad.
        y: (n, d) target points.
        bandwidths: per-dimension sigma, shape (d,), or a bandwidth sum, shape (K, d); a trailing
            size of 1 (or a scalar) means the same sigma in every dimension. Tensors, lists and
            numpy arrays are accepted. Bandwidths are treated as constants (no gradient).
        unbiased: use eq. 3 instead of eq. 1.
        x_weights, y_weights: optional non-negative per-point weights, shapes (m,) and (n,).
        chunk_size: at most this many kernel-matrix rows are evaluated at once, so temporary
            memory is O(chunk_size * (m + n)) in both passes.

    Returns:
        0-dim tensor in the dtype of x (float32 suffices for losses; metrics should use float64).
    """
    x, y, bw, wx, wy = _prepare(x, y, bandwidths, unbiased, x_weights, y_weights)
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
    m, n = x.shape[0], y.shape[0]
    alpha, const = _coefficients(m, n, wx, wy, unbiased, bw.shape[0], x)
    tile_rows = min(int(chunk_size), max(_MIN_TILE_ROWS, _TILE_ELEMENTS // (m + n)))
    grad_enabled = torch.is_grad_enabled()
    value = _MMDSums.apply(x, y, wx, wy, alpha, 1.0 / bw, tile_rows, grad_enabled)
    return value + const


# --------------------------------------------------------------------------------------------
# Reference implementation
# --------------------------------------------------------------------------------------------


def mmd_naive(x, y, bandwidths, *, unbiased=False, x_weights=None, y_weights=None) -> torch.Tensor:
    """Textbook squared MMD (Fast Perfekt eq. 1, or eq. 3 if unbiased) with full kernel matrices.

    Same arguments and result as `mmd`; torch.cdist on the bandwidth-scaled samples, exp and
    plain autograd. Memory and time grow with the full (m + n)^2 matrices; use as a reference.
    """
    x, y, bw, wx, wy = _prepare(x, y, bandwidths, unbiased, x_weights, y_weights)

    def kernel(a, b):
        return sum(torch.exp(-torch.cdist(a / s, b / s).pow(2)) for s in bw)

    def self_term(k, w):
        if unbiased:
            k = k * (1 - torch.eye(k.shape[0], dtype=k.dtype, device=k.device))
        if w is None:
            n_pts = k.shape[0]
            return k.sum() / (n_pts * (n_pts - 1)) if unbiased else k.mean()
        norm = w.sum() ** 2 - (w * w).sum() if unbiased else w.sum() ** 2
        return w @ k @ w / norm

    k_xy = kernel(x, y)
    if wx is None and wy is None:
        cross = k_xy.mean()
    else:
        wx_ = torch.ones_like(x[:, 0]) if wx is None else wx
        wy_ = torch.ones_like(y[:, 0]) if wy is None else wy
        cross = wx_ @ k_xy @ wy_ / (wx_.sum() * wy_.sum())
    return self_term(kernel(x, x), wx) + self_term(kernel(y, y), wy) - 2 * cross


# --------------------------------------------------------------------------------------------
# Bandwidth helpers
# --------------------------------------------------------------------------------------------


def _subsample(t, max_points, generator):
    if max_points is None or t.shape[0] <= max_points:
        return t
    device = generator.device if generator is not None else t.device
    idx = torch.randperm(t.shape[0], generator=generator, device=device)[:max_points]
    return t[idx.to(t.device)]


@torch.no_grad()
def median_bandwidths(x, y, *, max_points=2000, generator=None) -> torch.Tensor:
    """Per-dimension median distance between target and input (Fast Perfekt, eq. 2 bandwidths).

    sigma_l = median over all pairs (i, j) of |x_il - y_jl|, computed on at most ``max_points``
    randomly chosen points of each sample (all points if ``max_points`` is None or not exceeded).
    The median of an even number of values is the mean of the two middle ones, as in numpy.

    Returns:
        (d,) tensor in the dtype and on the device of x.
    """
    x, y = _check_pair(x, y)
    x = _subsample(x, max_points, generator)
    y = _subsample(y, max_points, generator)
    n_pairs = x.shape[0] * y.shape[0]
    lo, hi = (n_pairs + 1) // 2, n_pairs // 2 + 1
    out = x.new_empty(x.shape[1])
    for dim in range(x.shape[1]):
        dist = (x[:, dim, None] - y[None, :, dim]).abs_().reshape(-1)
        lower = torch.kthvalue(dist, lo).values
        out[dim] = lower if lo == hi else 0.5 * (lower + torch.kthvalue(dist, hi).values)
    return out


@torch.no_grad()
def mean_squared_distance(x, y=None, *, max_points=None, generator=None) -> torch.Tensor:
    """sigma_0 of the CMS FastSim refinement (Bein et al., EPJ Web Conf. 295, 09032 (2024),
    eq. 8): the mean squared L2 distance over all ordered pairs (i, j), i = j included, of
    z = x, or of the concatenation of x and y if y is given.

    Computed exactly in O(N d) as 2 (mean |z|^2 - |mean z|^2), on at most ``max_points``
    randomly chosen points (all points when None, the default).

    Returns:
        0-dim tensor in the dtype and on the device of x.
    """
    z = _as_points(x, "x") if y is None else torch.cat(_check_pair(x, y))
    z = _subsample(z, max_points, generator)
    return 2 * ((z**2).sum(1).mean() - (z.mean(0) ** 2).sum())


def bandwidth_ladder(sigma0, factors=(0.01, 0.1, 1.0, 10.0, 100.0), *,
                     squared: bool = False) -> torch.Tensor:
    """Bandwidth sum sigma0 * {1/100, 1/10, 1, 10, 100} of the CMS FastSim refinement (eq. 7).

    Args:
        sigma0: base bandwidth, a scalar or a (d,) per-dimension array.
        factors: multipliers, one kernel each.
        squared: sigma0 is a squared length, as in the CMS kernel exp(-|a - b|^2 / sigma):
            the rows are then sqrt(factors[k] * sigma0), the widths of `mmd`'s kernel
            exp(-sum_l (a_l - b_l)^2 / b_l^2).

    Returns:
        (K, d) tensor with row k equal to factors[k] * sigma0 (d = 1 for a scalar base, which
        `mmd` applies isotropically). Tensor bases keep their dtype and device.
    """
    base = sigma0 if isinstance(sigma0, torch.Tensor) else torch.as_tensor(sigma0)
    if not base.is_floating_point():
        base = base.to(torch.get_default_dtype())
    base = base.detach().reshape(-1)
    f = torch.as_tensor(factors, dtype=base.dtype, device=base.device).reshape(-1, 1)
    if f.shape[0] == 0 or base.shape[0] == 0:
        raise ValueError("bandwidth_ladder needs at least one factor and a non-empty base")
    ladder = f * base[None, :]
    return torch.sqrt(ladder) if squared else ladder
