"""A residual MLP whose skip path, block order, branch init and normalisation are dials.

Used in notebooks/05_residual (and its exercises). A block computes y = shortcut(x) + F(x), whose
Jacobian is ∂shortcut/∂x + ∂F/∂x: with the identity shortcut, I + ∂F/∂x. The branch F is two
linear layers with an activation (and optionally a normalisation layer) before each (pre-
activation) or between them (post-activation):

- order="pre"  (He et al. 2016, "Identity mappings"): F(x) = W2 f(N2(W1 f(N1(x)))), y = x + F(x):
  norm → activation → weight, twice; nothing sits on the identity path.
- order="post" (He et al. 2015, the original ResNet): F(x) = N2(W2 f(N1(W1 x))), y = f(x + F(x)):
  the activation after the addition also acts on the identity path.

shortcut="none" drops the skip (y = F(x), or f(F(x)) for "post"): the plain network of the same
depth. The other shortcuts are the common bugs a learner can switch on ("relu", "batch_norm",
"layer_norm" on the skip path) and a projection ("linear", what a shape change needs).

Layers are named for probes and monitors: `stem`, `blocks.3`, `blocks.3.linear1`,
`blocks.3.shortcut`, `head`. `model.layers` is `model.blocks`, so gradlab.probe_gradients(model,
x) measures the gradient reaching every block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from gradlab.models.activations import check_activation
from gradlab.models.mlp import INITS, activation_module, init_std

SHORTCUTS: tuple[str, ...] = ("identity", "none", "linear", "relu", "batch_norm", "layer_norm")
ORDERS: tuple[str, ...] = ("pre", "post")
BRANCH_INITS: tuple[str, ...] = ("standard", "zero", "scaled")
NORMS: tuple[str, ...] = ("none", "batch", "layer")


@dataclass(frozen=True)
class ResidualConfig:
    """Everything that defines a ResidualMLP.

    depth: number of blocks (each has two linear layers). Branch weights follow `init` times
    `weight_scale` (as gradlab.models.mlp.init_std); branch_init then sets the branch's last layer:
    "standard" as the others, "zero" all zeros (Fixup / zero-γ: every block starts as the
    identity), "scaled" its std times 1/√depth (GPT-2's scaled init, one addition per block).
    The stem, the head and a "linear" shortcut get std 1/√fan_in (gain 1). Biases start at 0.
    """

    depth: int = 20
    width: int = 64
    activation: str = "relu"
    init: str = "he"
    weight_scale: float = 1.0
    shortcut: str = "identity"
    order: str = "pre"
    branch_init: str = "standard"
    norm: str = "none"
    in_features: int | None = None
    out_features: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("depth", "width", "out_features"):
            _check_positive_int(name, getattr(self, name))
        if self.in_features is not None:
            _check_positive_int("in_features", self.in_features)
        check_activation(self.activation)
        for name, allowed in (
            ("init", INITS),
            ("shortcut", SHORTCUTS),
            ("order", ORDERS),
            ("branch_init", BRANCH_INITS),
            ("norm", NORMS),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        scale = self.weight_scale
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
            raise ValueError(f"weight_scale must be a number > 0; got {scale!r}")
        if not math.isfinite(scale):
            raise ValueError(f"weight_scale must be finite; got {scale!r}")

    @property
    def residual(self) -> bool:
        """True when the blocks have a skip path (any shortcut but "none")."""
        return self.shortcut != "none"


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")


def _norm_module(norm: str, width: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm1d(width)
    if norm == "layer":
        return nn.LayerNorm(width)
    return nn.Identity()


def _shortcut_module(shortcut: str, width: int, activation: str) -> nn.Module | None:
    """The skip path: nn.Identity for the clean one, None for a plain block, else the bug."""
    return {
        "identity": nn.Identity,
        "none": lambda: None,
        "linear": lambda: nn.Linear(width, width),
        "relu": lambda: activation_module(activation),
        "batch_norm": lambda: nn.BatchNorm1d(width),
        "layer_norm": lambda: nn.LayerNorm(width),
    }[shortcut]()


class ResidualBlock(nn.Module):
    """y = shortcut(x) + F(x) (pre) or f(shortcut(x) + F(x)) (post); without a shortcut, no sum."""

    def __init__(self, width: int, config: ResidualConfig) -> None:
        super().__init__()
        self.order = config.order
        # torch's default init runs here, inside ResidualMLP's fork_rng (which puts the global
        # generator back); reset_parameters then overwrites every weight from the seeded generator.
        self.norm1 = _norm_module(config.norm, width)
        self.activation1 = activation_module(config.activation)
        self.linear1 = nn.Linear(width, width)
        self.norm2 = _norm_module(config.norm, width)
        self.activation2 = activation_module(config.activation)
        self.linear2 = nn.Linear(width, width)
        self.shortcut = _shortcut_module(config.shortcut, width, config.activation)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """F(x), the residual branch alone."""
        if self.order == "pre":
            h = self.linear1(self.activation1(self.norm1(x)))
            return self.linear2(self.activation2(self.norm2(h)))
        h = self.activation1(self.norm1(self.linear1(x)))
        return self.norm2(self.linear2(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        if self.shortcut is not None:
            out = self.shortcut(x) + out
        return self.activation2(out) if self.order == "post" else out


class ResidualMLP(nn.Module):
    """stem (Linear) → `depth` ResidualBlocks → head (Linear)."""

    def __init__(self, config: ResidualConfig) -> None:
        super().__init__()
        self.config = config
        width = config.width
        # Building never moves the learner's global RNG: fork_rng restores it afterwards (faster
        # than skip_init's meta-device round trip, which tripled the Chapter 5 widget's time).
        with torch.random.fork_rng(devices=[]):
            self.stem = nn.Linear(config.in_features or width, width)
            self.blocks = nn.ModuleList(ResidualBlock(width, config) for _ in range(config.depth))
            self.head = nn.Linear(width, config.out_features)
        self.reset_parameters()

    @property
    def layers(self) -> nn.ModuleList:
        """The blocks (what gradlab.probe_gradients probes by default)."""
        return self.blocks

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draw every weight from the configured init with the configured seed; biases start at 0.

        Norm layers start at weight 1, bias 0 (torch's defaults), running statistics reset.
        """
        config = self.config
        generator = torch.Generator().manual_seed(config.seed)
        last_scale = {"standard": 1.0, "zero": 0.0, "scaled": 1 / math.sqrt(config.depth)}
        for linear, std in self._linears_and_stds(last_scale[config.branch_init]):
            linear.weight.normal_(0.0, std, generator=generator)
            linear.bias.zero_()
        for module in self.modules():
            if isinstance(module, nn.BatchNorm1d | nn.LayerNorm):
                module.reset_parameters()

    def _linears_and_stds(self, last_scale: float) -> list[tuple[nn.Linear, float]]:
        """Every Linear in forward order with the std of its initial weights."""
        config = self.config

        def unit_gain(linear: nn.Linear) -> float:
            return 1 / math.sqrt(linear.weight.shape[1])

        def branch_std(linear: nn.Linear) -> float:
            fan_out, fan_in = linear.weight.shape
            return init_std(config.init, fan_in, fan_out, config.weight_scale)

        pairs = [(self.stem, unit_gain(self.stem))]
        for block in self.blocks:
            pairs.append((block.linear1, branch_std(block.linear1)))
            pairs.append((block.linear2, last_scale * branch_std(block.linear2)))
            if isinstance(block.shortcut, nn.Linear):
                pairs.append((block.shortcut, unit_gain(block.shortcut)))
        pairs.append((self.head, unit_gain(self.head)))
        return pairs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def make_residual_mlp(
    depth: int = 20,
    width: int = 64,
    activation: str = "relu",
    init: str = "he",
    weight_scale: float = 1.0,
    *,
    shortcut: str = "identity",
    order: str = "pre",
    branch_init: str = "standard",
    norm: str = "none",
    in_features: int | None = None,
    out_features: int = 10,
    seed: int = 0,
) -> ResidualMLP:
    """Build a ResidualMLP from keyword arguments (checked; errors name the argument).

    make_residual_mlp(depth, shortcut="none") is the plain network with the same layers and, for
    the same seed, the same weights as shortcut="identity" (every shortcut but "linear", whose
    projection draws its own weights in between).
    """
    config = ResidualConfig(
        depth=depth,
        width=width,
        activation=activation,
        init=init,
        weight_scale=weight_scale,
        shortcut=shortcut,
        order=order,
        branch_init=branch_init,
        norm=norm,
        in_features=in_features,
        out_features=out_features,
        seed=seed,
    )
    return ResidualMLP(config)


__all__ = [
    "BRANCH_INITS",
    "NORMS",
    "ORDERS",
    "SHORTCUTS",
    "ResidualBlock",
    "ResidualConfig",
    "ResidualMLP",
    "make_residual_mlp",
]
