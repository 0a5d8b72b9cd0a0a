"""gradlab.monitor.layers: which modules a GradientMonitor watches, each parameter counted once."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gradlab.monitor.gradient_monitor import GradientMonitor
from gradlab.monitor.layers import find_layers


class TiedModel(nn.Module):
    """An embedding and an output layer sharing one weight, a frozen layer, and activations."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)
        self.block = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 4), nn.ReLU())
        self.out = nn.Linear(4, 10, bias=True)
        self.out.weight = self.embed.weight  # tied: belongs to embed, its first owner
        self.scale = nn.Parameter(torch.ones(1))  # the root owns a parameter too

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.block(self.frozen(self.embed(tokens)))) * self.scale


def test_layers_own_trainable_parameters_each_counted_once() -> None:
    model = TiedModel()
    found = find_layers(model)
    assert found.names == ["", "embed", "block.0", "block.2", "out"]
    assert found.param_names == [
        "scale",
        "embed.weight",
        "block.0.weight",
        "block.0.bias",
        "block.2.weight",
        "block.2.bias",
        "out.bias",
    ]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for p in found.params} == trainable and len(found.params) == len(trainable)
    assert found.modules == [model, model.embed, model.block[0], model.block[2], model.out]
    np.testing.assert_array_equal(found.param_layers, [0, 1, 2, 2, 3, 3, 4])
    np.testing.assert_array_equal(found.param_sizes, [p.numel() for p in found.params])


def test_activations_and_largest_parameters() -> None:
    model = TiedModel()
    found = find_layers(model)
    assert [(type(m).__name__, kind) for m, kind in found.activation_modules] == [
        ("Tanh", "tanh"),
        ("ReLU", "relu"),
    ]
    # per layer, its largest parameter: scale, embed.weight, the two weights, out.bias
    assert found.largest_params == [0, 1, 2, 4, 6]


def test_largest_parameter_ties_go_to_the_first() -> None:
    layer = nn.Module()
    layer.a = nn.Parameter(torch.ones(3))
    layer.b = nn.Parameter(torch.ones(3))
    assert find_layers(layer).largest_params == [0]


def test_monitor_uses_the_discovered_layers() -> None:
    model = TiedModel()
    monitor = GradientMonitor(model)
    found = find_layers(model)
    assert monitor.layers == found.names and monitor.params == found.param_names
