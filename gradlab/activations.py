"""Activation functions, their derivatives, and where they saturate.

Used in notebooks/01_chain_rule (the per-layer factor f'(z)) and notebooks/02_activations.
Derivatives are written in closed form (so a learner can read them) and tested against autograd.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LEAKY_RELU_SLOPE = 0.01
ELU_ALPHA = 1.0

_VALUES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, LEAKY_RELU_SLOPE),
    "elu": lambda x: F.elu(x, ELU_ALPHA),
    "gelu": F.gelu,
    "silu": F.silu,
}


def _normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _normal_pdf(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _sigmoid_derivative(x: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(x)
    return s * (1 - s)


def _silu_derivative(x: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(x)
    return s * (1 + x * (1 - s))


_DERIVATIVES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": _sigmoid_derivative,  # σ'(x) = σ(x)(1 − σ(x))
    "tanh": lambda x: 1 - torch.tanh(x) ** 2,  # tanh'(x) = 1 − tanh²(x)
    "relu": lambda x: (x > 0).to(x.dtype),  # 1 where active, 0 elsewhere (0 at x = 0, as torch)
    "leaky_relu": lambda x: torch.where(
        x > 0, torch.ones_like(x), torch.full_like(x, LEAKY_RELU_SLOPE)
    ),
    "elu": lambda x: torch.where(x > 0, torch.ones_like(x), ELU_ALPHA * torch.exp(x)),
    "gelu": lambda x: _normal_cdf(x) + x * _normal_pdf(x),  # d/dx [x Φ(x)]
    "silu": _silu_derivative,  # d/dx [x σ(x)]
}

ACTIVATIONS: tuple[str, ...] = tuple(_VALUES)

# Inputs scanned to find maxima and saturation zones; wide enough that every activation's
# derivative has settled to its limit at both ends.
_SCAN_LIMIT = 12.0
_SCAN_POINTS = 240_001


def check_activation(name: str) -> str:
    """Return `name` if it is a known activation, else raise a ValueError listing valid names."""
    if name not in _VALUES:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}")
    return name


def activation_function(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation as a function of a tensor (the same one gradlab's models use)."""
    return _VALUES[check_activation(name)]


def activation_value(name: str, x: torch.Tensor | float) -> torch.Tensor:
    """f(x) for the named activation."""
    return activation_function(name)(torch.as_tensor(x, dtype=torch.float64))


def activation_derivative(name: str, x: torch.Tensor | float) -> torch.Tensor:
    """f'(x) in closed form for the named activation (the factor a layer multiplies gradients by)."""
    return _DERIVATIVES[check_activation(name)](torch.as_tensor(x, dtype=torch.float64))


def _scan_grid() -> torch.Tensor:
    return torch.linspace(-_SCAN_LIMIT, _SCAN_LIMIT, _SCAN_POINTS, dtype=torch.float64)


def max_derivative(name: str) -> float:
    """The largest f'(x) over all inputs: the best case a layer can pass a gradient on."""
    return float(activation_derivative(name, _scan_grid()).max())


@dataclass(frozen=True)
class SaturationZone:
    """Where |f'(x)| < threshold: intervals (low, high) of x; ±inf marks an open end."""

    activation: str
    threshold: float
    intervals: tuple[tuple[float, float], ...]

    def contains(self, x: float) -> bool:
        """True when x lies inside the zone."""
        return any(low < x < high for low, high in self.intervals)

    def describe(self) -> str:
        """The zone in words, e.g. 'x < -2.89 or x > 2.89'."""
        parts = []
        for low, high in self.intervals:
            low, high = _tidy(low), _tidy(high)
            if math.isinf(low) and math.isinf(high):
                parts.append("every x")
            elif math.isinf(low):
                parts.append(f"x < {high:.2f}")
            elif math.isinf(high):
                parts.append(f"x > {low:.2f}")
            else:
                parts.append(f"{low:.2f} < x < {high:.2f}")
        return " or ".join(parts) if parts else "nowhere"


def _tidy(edge: float) -> float:
    """Round an edge for display so that a bisected 0 does not print as -0.00."""
    return edge if math.isinf(edge) else round(edge, 2) + 0.0


def _refine_edge(name: str, threshold: float, inside: float, outside: float) -> float:
    """Bisect between a point inside and one outside the zone to find its edge precisely."""
    for _ in range(60):
        middle = 0.5 * (inside + outside)
        if abs(float(activation_derivative(name, middle))) < threshold:
            inside = middle
        else:
            outside = middle
    return 0.5 * (inside + outside)


def saturation_zone(name: str, threshold: float) -> SaturationZone:
    """Find the inputs where the derivative falls below `threshold` (computed, not tabulated).

    Example: sigmoid with threshold 0.05 gives |x| > 2.89, so "|x| > 3 means σ' < 0.05" holds.
    """
    check_activation(name)
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0; got {threshold!r}")
    grid = _scan_grid()
    below = (activation_derivative(name, grid).abs() < threshold).tolist()
    xs = grid.tolist()
    intervals = []
    start = None
    for i, flag in enumerate(below):
        if flag and start is None:
            start = i
        if start is not None and (not flag or i == len(below) - 1):
            end = i if flag else i - 1
            low = (
                -math.inf if start == 0 else _refine_edge(name, threshold, xs[start], xs[start - 1])
            )
            last = len(below) - 1
            high = math.inf if end == last else _refine_edge(name, threshold, xs[end], xs[end + 1])
            intervals.append((low, high))
            start = None
    return SaturationZone(name, threshold, tuple(intervals))
