"""The Fast Perfekt residual network and its training loop (paper Sec. 2.1)."""

import numpy as np
import pytest
import torch

from perfekt_bench.testing import make_triplets
from perfekt_bench_plugins.fastperfekt import MSERefiner
from perfekt_bench_plugins.fastperfekt.network import FastPerfektModel, ResidualNet


def test_fixup_init_zeroes_last_layers():
    net = ResidualNet(3, 2, n_blocks=3, width=32)
    for layer in [b.fc2 for b in net.blocks] + [net.output]:
        assert torch.count_nonzero(layer.weight) == 0 and torch.count_nonzero(layer.bias) == 0
    for layer in [net.input] + [b.fc1 for b in net.blocks]:
        assert layer.weight.std() > 0


def test_untrained_network_returns_its_input_exactly():
    data = make_triplets(500, seed=3)
    model = FastPerfektModel(2, 2, n_blocks=2, width=64)
    model.set_scaling(torch.from_numpy(data.g), torch.from_numpy(data.x_fast))
    out = model(torch.from_numpy(data.x_fast), torch.from_numpy(data.g))
    assert torch.equal(out, torch.from_numpy(data.x_fast))


def test_untrained_refiner_refine_is_identity():
    data = make_triplets(512, seed=4)
    refiner = MSERefiner(epochs=0, patience=None, width=16, n_blocks=1).fit(data, data)
    np.testing.assert_array_equal(refiner.refine(data.x_fast, data.g).x, data.x_fast)


def test_mse_training_lowers_mse_and_stops_early():
    train, val = make_triplets(4096, seed=5), make_triplets(1024, seed=6)
    refiner = MSERefiner(n_blocks=1, width=32, lr=3e-3, batch_size=256, epochs=40, patience=3)
    refiner.fit(train, val)
    before = ((val.x_fast - val.x_full) ** 2).sum(1).mean()
    after = ((refiner.refine(val.x_fast, val.g).x - val.x_full) ** 2).sum(1).mean()
    assert after < 0.5 * before
    assert len(refiner.history_) < 40  # early stopping on the validation loss
    losses = [r["val_loss"] for r in refiner.history_]
    assert min(losses) < losses[0]


def test_refine_before_fit_is_an_error():
    data = make_triplets(16)
    with pytest.raises(RuntimeError, match="not fitted"):
        MSERefiner().refine(data.x_fast, data.g)
