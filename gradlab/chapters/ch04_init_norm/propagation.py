"""Signal propagation through a deep plain network for each initialisation (Chapter 4, section 2).

A network of `depth` blocks, each `blocks.l.linear` (width × width, no bias) then `blocks.l.act`
(tanh or relu), fed a batch of N(0, 1) inputs. One forward and one backward pass (the loss's
gradient at the output is a fixed direction of norm 1) give, for every block, the std of its
pre-activation z_l (the forward signal) and ‖∂L/∂z_l‖ (the backward signal). The variance argument
predicts both per-layer ratios: √(fan_in · Var(w) · E[f'(z)²]) with E[f'²] = ½ for relu and 1 for
tanh near 0 (its slope there; saturation makes the real tanh ratio smaller).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import skip_init

from gradlab.formatting import format_factor, format_magnitude
from gradlab.measure.signal import SignalProfile, measure_signal, unit_direction_loss

ACTIVATIONS = ("tanh", "relu")
INITS = ("too small", "xavier", "xavier, tanh gain", "he", "orthogonal", "too large")
TABLE_INITS = ("too small", "xavier", "xavier, tanh gain", "he", "too large")  # section 2's table
TANH_GAIN = 5 / 3  # torch.nn.init.calculate_gain("tanh")


def weight_std(init: str, fan_in: int, fan_out: int) -> float:
    """The std of N(0, std²) weights for an init (its variance is std²).

    too small: 0.5/√fan_in; xavier: √(2/(fan_in + fan_out)); xavier, tanh gain: 5/3 × xavier;
    he: √(2/fan_in); too large: 2/√fan_in. (orthogonal is not drawn from a normal distribution:
    see init_weight_.)
    """
    stds = {
        "too small": 0.5 / math.sqrt(fan_in),
        "xavier": math.sqrt(2.0 / (fan_in + fan_out)),
        "xavier, tanh gain": TANH_GAIN * math.sqrt(2.0 / (fan_in + fan_out)),
        "he": math.sqrt(2.0 / fan_in),
        "too large": 2.0 / math.sqrt(fan_in),
    }
    if init not in stds:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
    return stds[init]


def predicted_ratio(activation: str, init: str, width: int) -> float:
    """The variance argument's per-layer ratio √(fan_in · Var(w) · E[f'²]) for square layers.

    E[f'²] is ½ for relu (half the units pass with slope 1) and 1 for tanh (its slope near 0;
    exact only while the signal stays small). The same ratio holds forward (std of z_l over
    z_{l-1}) and backward (‖∂L/∂z_{l-1}‖ over ‖∂L/∂z_l‖) when fan_in = fan_out.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    slope_square = 0.5 if activation == "relu" else 1.0
    if init == "orthogonal":  # every singular value is the gain: rms entry gain/√width
        return nn.init.calculate_gain(activation) * math.sqrt(slope_square)
    return math.sqrt(width * weight_std(init, width, width) ** 2 * slope_square)


@torch.no_grad()
def init_weight_(
    weight: torch.Tensor, init: str, activation: str, generator: torch.Generator
) -> torch.Tensor:
    """Fill `weight` (out × in) in place: N(0, weight_std²), or for "orthogonal" torch's
    nn.init.orthogonal_ with the activation's gain (calculate_gain: 5/3 tanh, √2 relu)."""
    if init == "orthogonal":
        gain = nn.init.calculate_gain(activation)
        return nn.init.orthogonal_(weight, gain=gain, generator=generator)
    fan_out, fan_in = weight.shape
    return weight.normal_(0.0, weight_std(init, fan_in, fan_out), generator=generator)


def make_deep_net(
    activation: str, init: str, depth: int, width: int, seed: int = 0
) -> nn.Sequential:
    """`depth` blocks named blocks.1 … blocks.depth, each linear (no bias) + activation."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    generator = torch.Generator().manual_seed(seed)
    blocks = OrderedDict()
    for layer in range(1, depth + 1):
        linear = skip_init(nn.Linear, width, width, bias=False)
        init_weight_(linear.weight, init, activation, generator)
        act = nn.Tanh() if activation == "tanh" else nn.ReLU()
        blocks[str(layer)] = nn.Sequential(OrderedDict(linear=linear, act=act))
    return nn.Sequential(OrderedDict(blocks=nn.Sequential(blocks)))


@dataclass(frozen=True)
class Propagation:
    """One forward and backward pass of make_deep_net: the signal at every block's z_l."""

    activation: str
    init: str
    depth: int
    width: int
    profile: SignalProfile  # names blocks.l.linear; activation_std = std of z_l
    predicted: float  # predicted per-layer ratio (forward and backward)

    @property
    def forward_ratio(self) -> float:
        """Geometric mean per-layer ratio of the std of z_l, from layer 1 to the last."""
        stds = self.profile.activation_std
        return _per_layer(stds[-1] / stds[0], self.depth - 1)

    @property
    def backward_ratio(self) -> float:
        """Geometric mean per-layer ratio of ‖∂L/∂z_l‖ going back, from the last layer to layer 1."""
        norms = self.profile.grad_norm
        return _per_layer(norms[0] / norms[-1], self.depth - 1)

    def summary(self) -> str:
        """Three lines: the setting, forward end to end, backward end to end (inf/0 worded)."""
        stds, norms = self.profile.activation_std, self.profile.grad_norm
        return (
            f"{self.activation}, {self.init}, depth {self.depth}, width {self.width}: predicted "
            f"ratio per layer {self.predicted:.2f}\n"
            f"forward:  std of z from {format_magnitude(stds[0])} (layer 1) to "
            f"{format_magnitude(stds[-1])} (layer {self.depth}), {format_factor(self.forward_ratio)} "
            "per layer\n"
            f"backward: ‖∂L/∂z‖ from {format_magnitude(norms[-1])} (layer {self.depth}) to "
            f"{format_magnitude(norms[0])} (layer 1), {format_factor(self.backward_ratio)} per layer"
        )


def _per_layer(total: float, layers: int) -> float:
    if layers < 1:
        return 1.0
    with np.errstate(all="ignore"):
        return float(np.power(np.float64(total), 1.0 / layers))


def measure_propagation(
    activation: str, init: str, depth: int, width: int, *, seed: int = 0, batch_size: int = 128
) -> Propagation:
    """Build the net, push a seeded N(0, 1) batch through it, and record both signals."""
    model = make_deep_net(activation, init, depth, width, seed)
    x = torch.randn(batch_size, width, generator=torch.Generator().manual_seed(seed + 1000))
    linears = {
        f"blocks.{layer}.linear": model.blocks[layer - 1].linear for layer in range(1, depth + 1)
    }
    profile = measure_signal(model, x, modules=linears, loss_fn=unit_direction_loss(seed))
    return Propagation(
        activation, init, depth, width, profile, predicted_ratio(activation, init, width)
    )


@dataclass(frozen=True)
class InitRow:
    """One activation × init, over several seeds: geometric means of the per-layer ratios."""

    activation: str
    init: str
    predicted: float
    forward_ratio: float  # geometric mean over seeds of Propagation.forward_ratio
    backward_ratio: float
    forward_total: float  # std of z at the last layer over that at layer 1 (geometric mean)
    backward_total: float  # ‖∂L/∂z‖ at layer 1 over that at the last layer (geometric mean)


def _geometric_mean(values: list[float]) -> float:
    with np.errstate(all="ignore"):
        return float(np.exp(np.mean(np.log(np.asarray(values, dtype=np.float64)))))


def compare_inits(
    depth: int = 50,
    width: int = 256,
    seeds: tuple[int, ...] = (0, 1, 2),
    inits: tuple[str, ...] = TABLE_INITS,
) -> list[InitRow]:
    """measure_propagation for every activation × init, summarised over `seeds`."""
    rows = []
    for activation in ACTIVATIONS:
        for init in inits:
            runs = [measure_propagation(activation, init, depth, width, seed=s) for s in seeds]
            stds = [r.profile.activation_std for r in runs]
            norms = [r.profile.grad_norm for r in runs]
            rows.append(
                InitRow(
                    activation=activation,
                    init=init,
                    predicted=runs[0].predicted,
                    forward_ratio=_geometric_mean([r.forward_ratio for r in runs]),
                    backward_ratio=_geometric_mean([r.backward_ratio for r in runs]),
                    forward_total=_geometric_mean([s[-1] / s[0] for s in stds]),
                    backward_total=_geometric_mean([n[0] / n[-1] for n in norms]),
                )
            )
    return rows


def format_init_table(rows: list[InitRow], depth: int = 50) -> str:
    """The table of section 2: prediction, measured ratios per layer, and over all layers."""
    lines = [
        f"{'':5} {'init':<18} {'predicted':>9} | {'per layer: forward':>18} {'backward':>8} | "
        f"over {depth} layers: forward, backward",
    ]
    for row in rows:
        lines.append(
            f"{row.activation:<5} {row.init:<18} {row.predicted:>9.2f} | "
            f"{row.forward_ratio:>18.2f} {row.backward_ratio:>8.2f} | "
            f"{_coarse_factor(row.forward_total)}, {_coarse_factor(row.backward_total)}"
        )
    return "\n".join(lines)


def _coarse_factor(value: float) -> str:
    """An end-to-end factor to 2 significant digits ('×85', '×3.2e+03'): the third digit of a
    product of 49 factors changes with the machine's rounding (×3217 vs ×3219)."""
    if not math.isfinite(value) or value == 0:
        return format_factor(value)
    return f"×{value:.2g}"
