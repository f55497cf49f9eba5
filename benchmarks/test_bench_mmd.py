"""Fast `mmd` against the textbook `mmd_naive`: biased MMD forward + gradient w.r.t. x, float32.

Run with ``pytest benchmarks/test_bench_mmd.py --benchmark-only``; one benchmark group per
shape (m = n points, d dimensions) so that the two implementations print side by side.
"""

from __future__ import annotations

import pytest
import torch

from perfekt_bench.mmd import median_bandwidths, mmd, mmd_naive

SHAPES = [(2048, 1), (4096, 3), (4096, 6)]
IMPLEMENTATIONS = {"mmd": mmd, "mmd_naive": mmd_naive}


@pytest.fixture(scope="module", autouse=True)
def _two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def make_inputs(m, d):
    g = torch.Generator().manual_seed(m + d)
    x = torch.randn(m, d, generator=g)
    y = 1.1 * torch.randn(m, d, generator=g) + 0.2
    return x.requires_grad_(), y, median_bandwidths(x, y, generator=g)


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize(("m", "d"), SHAPES, ids=[f"{m}x{d}" for m, d in SHAPES])
def test_mmd_forward_backward(benchmark, impl, m, d):
    x, y, bandwidths = make_inputs(m, d)
    fn = IMPLEMENTATIONS[impl]
    benchmark.group = f"mmd forward+backward {m}x{d} float32"

    def step():
        return torch.autograd.grad(fn(x, y, bandwidths), [x])[0]

    grad = benchmark(step)
    assert grad.shape == (m, d) and torch.isfinite(grad).all()
