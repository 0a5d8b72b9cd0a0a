"""A configurable deep MLP whose depth, activation and initialisation a learner can turn like dials.

Used in notebooks/01_chain_rule and every later chapter. Layers are named (`layers.0.linear`, ...)
so probes, monitors and later variants (residual, normalised) can address them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import skip_init

from gradlab.models.activations import ACTIVATIONS, ELU_ALPHA, LEAKY_RELU_SLOPE, check_activation

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


_ACTIVATION_MODULES: dict[str, Callable[[], nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(LEAKY_RELU_SLOPE),
    "elu": lambda: nn.ELU(ELU_ALPHA),
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}


def activation_module(name: str) -> nn.Module:
    """The named activation as torch's own module (nn.ReLU, nn.Sigmoid, ...).

    torch's classes, not a wrapper, so that any tool that recognises activations by type (the
    monitor's dead-unit and saturation statistics, a learner's own hooks) sees them. They compute
    the same function as gradlab.models.activations.activation_function(name).
    """
    return _ACTIVATION_MODULES[check_activation(name)]()


def activation_name(module: nn.Module | None) -> str | None:
    """The gradlab name of a torch activation module, or None when gradlab has no closed form for it.

    LeakyReLU, ELU and GELU count only with the parameters gradlab's formulas use (slope 0.01,
    alpha 1, exact GELU): another setting has another derivative, so it gets no prediction.
    """
    for name, make in _ACTIVATION_MODULES.items():
        reference = make()
        if type(module) is type(reference) and all(
            getattr(module, attribute) == getattr(reference, attribute)
            for attribute in _SHAPE_ATTRIBUTES
            if hasattr(reference, attribute)
        ):
            return name
    return None


# Constructor arguments that change an activation's function (inplace does not).
_SHAPE_ATTRIBUTES = ("negative_slope", "alpha", "approximate")


class DenseLayer(nn.Module):
    """h = f(W h_prev + b): one layer of the chain whose Jacobian is diag(f'(z)) · W."""

    def __init__(self, in_features: int, out_features: int, activation: str) -> None:
        super().__init__()
        # Built without drawing from torch's global generator (the owner initialises the weights
        # from its own seeded generator), so building a model never moves the learner's RNG.
        self.linear = skip_init(nn.Linear, in_features, out_features)
        self.activation = activation_module(activation)

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
        self.head = skip_init(nn.Linear, config.width, config.out_features)
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


__all__ = [
    "ACTIVATIONS",
    "INITS",
    "DeepMLP",
    "DenseLayer",
    "MLPConfig",
    "activation_module",
    "activation_name",
    "init_std",
    "make_mlp",
]
