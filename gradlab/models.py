"""A configurable deep MLP whose depth, activation and initialisation a learner can turn like dials.

Used in notebooks/01_chain_rule and every later chapter. Layers are named (`layers.0.linear`, ...)
so probes, monitors and later variants (residual, normalised) can address them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from gradlab.activations import ACTIVATIONS, activation_function, check_activation

INITS: tuple[str, ...] = ("xavier", "he", "normal")


@dataclass(frozen=True)
class MLPConfig:
    """Everything that defines a DeepMLP.

    `weight_scale` multiplies the init's standard deviation: xavier √(2/(fan_in+fan_out)),
    he √(2/fan_in), or normal 1 (the naive `torch.randn` init). Hidden layers are width × width;
    the input has `in_features` (default: width) and a linear head gives `out_features` logits.
    """

    depth: int = 10
    width: int = 64
    activation: str = "relu"
    init: str = "he"
    weight_scale: float = 1.0
    in_features: int | None = None
    out_features: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive_int("depth", self.depth)
        _check_positive_int("width", self.width)
        _check_positive_int("out_features", self.out_features)
        if self.in_features is not None:
            _check_positive_int("in_features", self.in_features)
        check_activation(self.activation)
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}; got {self.init!r}")
        if not (isinstance(self.weight_scale, int | float) and self.weight_scale > 0):
            raise ValueError(f"weight_scale must be a number > 0; got {self.weight_scale!r}")
        if not math.isfinite(self.weight_scale):
            raise ValueError(f"weight_scale must be finite; got {self.weight_scale!r}")


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")


class Activation(nn.Module):
    """An activation by name, as a module (so it shows up in `named_modules()`)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = check_activation(name)
        self._function = activation_function(name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._function(x)

    def extra_repr(self) -> str:
        return self.name


class DenseLayer(nn.Module):
    """h = f(W h_prev + b): one layer of the chain whose Jacobian is diag(f'(z)) · W."""

    def __init__(self, in_features: int, out_features: int, activation: str) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.activation = Activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(x))


def init_std(init: str, fan_in: int, fan_out: int, weight_scale: float = 1.0) -> float:
    """Standard deviation of the weights for an init scheme, times weight_scale."""
    base = {
        "xavier": math.sqrt(2.0 / (fan_in + fan_out)),
        "he": math.sqrt(2.0 / fan_in),
        "normal": 1.0,
    }
    if init not in base:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
    return weight_scale * base[init]


class DeepMLP(nn.Module):
    """`depth` DenseLayers followed by a linear head."""

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        in_features = config.in_features or config.width
        sizes = [in_features] + [config.width] * config.depth
        self.layers = nn.ModuleList(
            DenseLayer(sizes[i], sizes[i + 1], config.activation) for i in range(config.depth)
        )
        self.head = nn.Linear(config.width, config.out_features)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draw weights from the configured init with the configured seed; biases start at 0."""
        generator = torch.Generator().manual_seed(self.config.seed)
        for linear in [layer.linear for layer in self.layers] + [self.head]:
            fan_out, fan_in = linear.weight.shape
            std = init_std(self.config.init, fan_in, fan_out, self.config.weight_scale)
            linear.weight.normal_(0.0, std, generator=generator)
            linear.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def make_mlp(
    depth: int = 10,
    width: int = 64,
    activation: str = "relu",
    init: str = "he",
    weight_scale: float = 1.0,
    *,
    in_features: int | None = None,
    out_features: int = 10,
    seed: int = 0,
) -> DeepMLP:
    """Build a DeepMLP from keyword arguments (checked, with errors that name the argument)."""
    config = MLPConfig(
        depth=depth,
        width=width,
        activation=activation,
        init=init,
        weight_scale=weight_scale,
        in_features=in_features,
        out_features=out_features,
        seed=seed,
    )
    return DeepMLP(config)


__all__ = ["ACTIVATIONS", "INITS", "DeepMLP", "DenseLayer", "MLPConfig", "init_std", "make_mlp"]
