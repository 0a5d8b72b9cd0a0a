"""Cheap statistics of activation outputs: fraction of dead ReLU-family units, fraction saturated.

Each function launches one or two small kernels and returns a 0-d tensor without a host sync, so
a monitor can collect many of them and move them to the host in one transfer.
Used by gradlab.monitor.gradient_monitor (notebooks/07_monitoring).
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Saturation: the derivative fell below a threshold (the seeds' zones: sigmoid |x| > 3 gives
# f' < 0.05, tanh |x| > 2 gives f' < 0.1). Both derivatives are functions of the output, so the
# output alone tells whether a unit is saturated:
#   sigmoid: s (1 - s) < 0.05  <=>  |s - 1/2| > sqrt(1/4 - 0.05)
#   tanh:    1 - t^2 < 0.1     <=>  |t| > sqrt(1 - 0.1)
SIGMOID_DERIVATIVE_THRESHOLD = 0.05
TANH_DERIVATIVE_THRESHOLD = 0.1
SIGMOID_EDGE = math.sqrt(0.25 - SIGMOID_DERIVATIVE_THRESHOLD)
TANH_EDGE = math.sqrt(1.0 - TANH_DERIVATIVE_THRESHOLD)

# ReLU-family: an output <= 0 means the input was <= 0, where the gradient is 0 (or a small slope).
RELU_FAMILY: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
)
SATURATING: dict[type[nn.Module], str] = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}


def classify_activation(module: nn.Module) -> str:
    """Return 'relu' (exact zeros), 'relu_family', 'sigmoid', 'tanh', or '' for other modules."""
    if type(module) in (nn.ReLU, nn.ReLU6):
        return "relu"
    if isinstance(module, RELU_FAMILY):
        return "relu_family"
    for cls, name in SATURATING.items():
        if isinstance(module, cls):
            return name
    return ""


def count_flagged(
    output: torch.Tensor,
    kind: str,
    *,
    module_input: torch.Tensor | None = None,
    module: nn.Module | None = None,
) -> torch.Tensor:
    """Count outputs that are dead (ReLU family) or saturated (sigmoid, tanh); a 0-d tensor.

    For kind 'relu' the count is of the *live* outputs (one kernel); dead = numel - live.

    Args:
        output: the activation module's output, any shape.
        kind: a name returned by classify_activation.
        module_input: the module's input, same number of elements as output, when known
            (None when the module ran in place or the output was sampled non-contiguously).
        module: the activation module itself (its slope or alpha, for example), when known.
    """
    output = output.detach()
    # Sums of signs or of booleans, not count_nonzero: its branchy kernel mispredicts on the
    # random zero pattern of activations and is ~10x slower here.
    if kind == "relu":
        # ReLU outputs are >= 0, so sign() is 1 where alive and 0 where dead.
        return output.sign().sum()
    if kind == "relu_family":
        return (output <= 0).sum()
    if kind == "sigmoid":
        return ((output - 0.5).abs() > SIGMOID_EDGE).sum()
    if kind == "tanh":
        return (output.abs() > TANH_EDGE).sum()
    raise ValueError(f"kind must be 'relu', 'relu_family', 'sigmoid' or 'tanh', got {kind!r}")
