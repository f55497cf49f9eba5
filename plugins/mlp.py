"""Small pieces of network training that several built-in plugins share (torch imported on use)."""

from __future__ import annotations


def mlp(n_inputs: int, n_outputs: int, n_hidden: int, width: int, negative_slope: float = 0.01):
    """A fully connected network: ``n_hidden`` layers of ``width`` nodes with
    LeakyReLU(``negative_slope``), then a linear layer of ``n_outputs``."""
    from torch import nn

    layers: list[nn.Module] = []
    n_in = n_inputs
    for _ in range(n_hidden):
        layers += [nn.Linear(n_in, width), nn.LeakyReLU(negative_slope)]
        n_in = width
    layers.append(nn.Linear(n_in, n_outputs))
    return nn.Sequential(*layers)


def standardisation(a):
    """Per-column mean and scale of the rows of ``a`` (numpy, at least 2-D): the standard
    deviation, 1 where it is 0 (a constant column passes through unscaled); 0 and 1 for no
    rows."""
    import numpy as np

    if not len(a):
        return np.zeros(a.shape[1]), np.ones(a.shape[1])
    std = a.std(0)
    return a.mean(0), np.where(std > 0, std, 1.0)


def batch_indices(n: int, batch_size: int, max_batches: int | None, generator):
    """One epoch's batches: a permutation of ``n`` rows drawn with ``generator`` (a
    ``torch.Generator``), cut into ``batch_size`` rows (at least one batch; the remainder is
    dropped), at most ``max_batches`` of them."""
    import torch

    order = torch.randperm(n, generator=generator)
    n_batches = max(n // batch_size, 1)
    if max_batches is not None:
        n_batches = min(n_batches, max_batches)
    for b in range(n_batches):
        yield order[b * batch_size:(b + 1) * batch_size]
