"""The gradient reaching every block of a plain and a residual MLP, measured beside a prediction.

Used in notebooks/05_residual (section 1 and the widget). For a block y = x + F(x) the backward
step is g_x = g_y + J_Fᵀ g_y, so ‖g_x‖² = ‖g_y‖² + ‖J_Fᵀ g_y‖² + 2 g_yᵀ J_F g_y. With random
branch weights the cross term averages to 0 and ‖J_Fᵀ g‖ ≈ b‖g‖, where b is the branch's own
factor (Chapter 1's rms f'(z) × gain(W) per layer, multiplied over the branch's two layers):

    plain block     ‖g_x‖ / ‖g_y‖ ≈ b
    residual block  ‖g_x‖ / ‖g_y‖ ≈ √(1 + b²)

(the pre-activation order of gradlab.models.residual, nothing on the identity path). The
prediction uses the slopes and weights of the same forward pass the measurement runs on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gradlab.formatting import format_factor, format_magnitude
from gradlab.measure.hooks import HookHandles
from gradlab.measure.probe import make_batch, probe_gradients
from gradlab.models.activations import activation_derivative
from gradlab.models.residual import ResidualMLP, make_residual_mlp

NETWORKS: tuple[str, ...] = ("plain", "residual", "residual, zero-init branches")
_NETWORK_OPTIONS = {
    "plain": {"shortcut": "none"},
    "residual": {"shortcut": "identity"},
    "residual, zero-init branches": {"shortcut": "identity", "branch_init": "zero"},
}


@dataclass(frozen=True)
class BlockGradients:
    """One backward pass through `depth` blocks (index 0 = first block).

    grad_norms[i]: ‖∂L/∂(input of block i)‖ divided by ‖∂L/∂(output of the last block)‖, so the
    last entry (the last block's output) is 1. predicted has the same layout.
    """

    network: str
    depth: int
    activation: str
    weight_scale: float
    grad_norms: np.ndarray  # depth + 1 values: block inputs 0..depth-1, then the last output (1)
    predicted: np.ndarray  # the same, from the per-block predictions
    branch_factors: np.ndarray  # b per block: rms f'(z1) gain(W1) rms f'(z2) gain(W2)

    @property
    def first_block(self) -> float:
        """The gradient reaching the first block's input, relative to the last block's output."""
        return float(self.grad_norms[0])

    @property
    def predicted_first_block(self) -> float:
        return float(self.predicted[0])

    def summary(self) -> str:
        """One line: what reaches the first block, measured and predicted."""
        return (
            f"{self.network:>28}: gradient reaching block 1 = "
            f"{format_magnitude(self.first_block):>14} × the last block's "
            f"(predicted {format_magnitude(self.predicted_first_block)}); "
            f"per block {format_factor(_per_block(self.first_block, self.depth))}"
        )


def _per_block(total: float, depth: int) -> float:
    if not math.isfinite(total) or total <= 0:
        return total
    return total ** (1 / depth)


def _gain(linear: nn.Linear) -> float:
    """std(W)·√fan_in, Chapter 1's typical stretch of a weight matrix (0 for a zero matrix)."""
    weight = linear.weight.detach().double()
    return float(weight.std() * math.sqrt(weight.shape[1]))


def _rms_slope(activation: str, z: torch.Tensor) -> float:
    if not bool(torch.isfinite(z).all()):
        return math.nan
    slope = activation_derivative(activation, z.detach().double())
    return float(torch.sqrt(torch.mean(slope * slope)))


def branch_factors(model: ResidualMLP, x: torch.Tensor) -> np.ndarray:
    """b per block for a pre-activation model: the branch's rms slope × gain, over both layers.

    Runs one forward pass (no gradient) and reads the inputs of every block's two activations.
    """
    if model.config.order != "pre":
        raise ValueError(f"branch_factors needs order='pre'; got {model.config.order!r}")
    inputs: dict[tuple[int, int], torch.Tensor] = {}
    with HookHandles() as handles, torch.no_grad():
        for index, block in enumerate(model.blocks):
            for which, activation in ((1, block.activation1), (2, block.activation2)):
                handles.append(activation.register_forward_pre_hook(_store(inputs, index, which)))
        model(x)
    name = model.config.activation
    factors = []
    for index, block in enumerate(model.blocks):
        factor = (
            _rms_slope(name, inputs[index, 1])
            * _gain(block.linear1)
            * _rms_slope(name, inputs[index, 2])
            * _gain(block.linear2)
        )
        factors.append(factor)
    return np.array(factors)


def _store(into: dict, index: int, which: int):
    def hook(module: nn.Module, args: tuple) -> None:
        into[index, which] = args[0]

    return hook


def predict_block_gradients(factors: np.ndarray, residual: bool) -> np.ndarray:
    """Predicted ‖∂L/∂(block input)‖ relative to the last output, from each block's factor b."""
    with np.errstate(all="ignore"):
        per_block = np.sqrt(1 + factors**2) if residual else factors
        # block i's input gradient is the product of the factors of blocks i..depth-1
        products = np.cumprod(per_block[::-1])[::-1]
    return np.append(products, 1.0)


def measure_block_gradients(
    depth: int,
    activation: str = "relu",
    weight_scale: float = 1.0,
    network: str = "residual",
    *,
    init: str = "he",
    width: int = 64,
    batch_size: int = 64,
    seed: int = 0,
) -> BlockGradients:
    """Build the network (seeded), run one real forward + backward pass, predict beside it.

    network: one of NETWORKS. The plain and the residual network of a seed have the same weights.
    """
    if network not in _NETWORK_OPTIONS:
        raise ValueError(f"network must be one of {', '.join(NETWORKS)}; got {network!r}")
    model = make_residual_mlp(
        depth, width, activation, init, weight_scale, seed=seed, **_NETWORK_OPTIONS[network]
    )
    x = make_batch(width, batch_size, seed)
    probe = probe_gradients(model, x, seed=seed)
    with np.errstate(all="ignore"):
        measured = probe.grad_norms[[*range(depth), depth]] / probe.grad_norms[depth]
    factors = branch_factors(model, x)
    return BlockGradients(
        network=network,
        depth=depth,
        activation=activation,
        weight_scale=weight_scale,
        grad_norms=measured,
        predicted=predict_block_gradients(factors, network != "plain"),
        branch_factors=factors,
    )
