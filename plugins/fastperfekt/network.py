"""The Fast Perfekt residual network (paper Sec. 2.1, Fig. 2), identity when untrained."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResidualBlock(nn.Module):
    """Two fully connected layers with a skip connection: h + FC₂(dropout(act(FC₁(h)))).

    Dropout (rate 0.5 in the CMS paper, Sec. 3.1) acts in training only."""

    def __init__(self, width: int, negative_slope: float = 0.01, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.act = nn.LeakyReLU(negative_slope)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # the layers' functions rather than their modules: the same arithmetic without a
        # module call per layer, which dominates refining one object at a time
        inner = F.leaky_relu(F.linear(h, self.fc1.weight, self.fc1.bias), self.act.negative_slope)
        inner = F.dropout(inner, self.drop.p, self.training)
        return h + F.linear(inner, self.fc2.weight, self.fc2.bias)


class ResidualNet(nn.Module):
    """Input FC layer, ``n_blocks`` residual blocks, output FC layer; LeakyReLU(0.01).

    Initialised after Fixup (paper Sec. 2.1): the last layer of every block and the output
    layer start with zero weights and biases, the first layers with Kaiming initialisation,
    so the untrained network outputs exactly zero.
    """

    def __init__(self, n_inputs: int, n_outputs: int, n_blocks: int, width: int,
                 negative_slope: float = 0.01, dropout: float = 0.0):
        super().__init__()
        self.input = nn.Linear(n_inputs, width)
        self.act = nn.LeakyReLU(negative_slope)
        self.blocks = nn.ModuleList(ResidualBlock(width, negative_slope, dropout)
                                    for _ in range(n_blocks))
        self.output = nn.Linear(width, n_outputs)
        self.reset_parameters(negative_slope)

    def reset_parameters(self, negative_slope: float = 0.01) -> None:
        first_layers = [self.input] + [b.fc1 for b in self.blocks]
        for layer in first_layers:
            nn.init.kaiming_normal_(layer.weight, a=negative_slope, nonlinearity="leaky_relu")
            nn.init.zeros_(layer.bias)
        for layer in [b.fc2 for b in self.blocks] + [self.output]:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(F.linear(inputs, self.input.weight, self.input.bias),
                         self.act.negative_slope)
        for block in self.blocks:
            h = block.forward(h)
        return F.linear(h, self.output.weight, self.output.bias)


class FastPerfektModel(nn.Module):
    """Refined x̂ = x' + s_x · ResidualNet((g − μ_g)/s_g, (x' − μ_x)/s_x).

    Inputs are standardised with training-set statistics and the residual is scaled back by
    the spread of x', so the network works in unit-sized coordinates while its output is the
    fastsim value plus a correction: with the zero-initialised output layer, x̂ = x' exactly.
    """

    def __init__(self, n_g: int, n_x: int, n_blocks: int, width: int, dropout: float = 0.0):
        super().__init__()
        self.net = ResidualNet(n_g + n_x, n_x, n_blocks, width, dropout=dropout)
        for name, n in (("g_mean", n_g), ("g_scale", n_g), ("x_mean", n_x), ("x_scale", n_x)):
            self.register_buffer(name, torch.zeros(n) if "mean" in name else torch.ones(n))

    def set_scaling(self, g: torch.Tensor, x: torch.Tensor) -> None:
        for prefix, data in (("g", g), ("x", x)):
            mean, std = data.mean(0), data.std(0)
            getattr(self, f"{prefix}_mean").copy_(mean)
            getattr(self, f"{prefix}_scale").copy_(torch.where(std > 0, std, torch.ones_like(std)))

    def forward(self, x_fast: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        inputs = torch.cat([(g - self.g_mean) / self.g_scale,
                            (x_fast - self.x_mean) / self.x_scale], dim=1)
        return x_fast + self.x_scale * self.net(inputs)
