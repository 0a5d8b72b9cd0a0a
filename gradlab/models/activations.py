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
    """Where |f'(x)| < threshold: intervals (low, high) of x; ±inf marks an open end.

    crossings[i] is True when f' changes sign inside interval i: there |f'| is small only because
    f' passes through 0 (the bottom of GELU's or SiLU's dip), not because the curve has flattened
    out for good. Empty when not computed.
    """

    activation: str
    threshold: float
    intervals: tuple[tuple[float, float], ...]
    crossings: tuple[bool, ...] = ()

    def contains(self, x: float) -> bool:
        """True when x lies inside the zone."""
        return any(low < x < high for low, high in self.intervals)

    def _crosses(self, index: int) -> bool:
        return index < len(self.crossings) and self.crossings[index]

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
            if self._crosses(len(parts) - 1):
                parts[-1] += " (where f' crosses 0)"
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
    crossings = tuple(_changes_sign(name, low, high) for low, high in intervals)
    return SaturationZone(name, threshold, tuple(intervals), crossings)


def _changes_sign(name: str, low: float, high: float) -> bool:
    """True when f' has opposite signs at the two (finite) ends of an interval."""
    if math.isinf(low) or math.isinf(high):
        return False
    ends = activation_derivative(name, torch.tensor([low, high], dtype=torch.float64))
    return bool(ends[0] * ends[1] < 0)


@dataclass(frozen=True)
class NegativeSlope:
    """Where f'(x) < 0 (f decreases): every x below `below`, deepest at x = `at`.

    For GELU and SiLU the region is a whole half-line: f' crosses 0 once, at `below`, and stays
    negative down to −∞ (it tends to 0 from below), with its minimum `minimum` at `at`.
    """

    activation: str
    below: float
    minimum: float
    at: float

    def describe(self) -> str:
        """e.g. "f' < 0 for every x < -0.75 (lowest -0.129 at x = -1.41)"."""
        return (
            f"f' < 0 for every x < {self.below:.2f} "
            f"(lowest {self.minimum:.3f} at x = {self.at:.2f})"
        )


def negative_slope(name: str) -> NegativeSlope | None:
    """Where the named activation's derivative is negative, or None when it never is.

    Computed by scanning f' on [-12, 12] and refining the sign change by bisection; raises if the
    negative region is not a single half-line x < edge (no activation here has another shape).
    """
    check_activation(name)
    grid = _scan_grid()
    derivative = activation_derivative(name, grid)
    negative = derivative < 0
    if not bool(negative.any()):
        return None
    count = int(negative.sum())
    if not (bool(negative[:count].all()) and not bool(negative[count:].any())):
        raise ValueError(f"{name}'s derivative is negative on more than one half-line")
    inside, outside = float(grid[count - 1]), float(grid[count])
    for _ in range(60):
        middle = 0.5 * (inside + outside)
        if float(activation_derivative(name, middle)) < 0:
            inside = middle
        else:
            outside = middle
    lowest = int(derivative.argmin())
    at = _refine_minimum(name, float(grid[lowest - 1]), float(grid[lowest + 1]))
    return NegativeSlope(name, 0.5 * (inside + outside), float(activation_derivative(name, at)), at)


def _refine_minimum(name: str, low: float, high: float) -> float:
    """Golden-section search for the minimum of f' on [low, high] (f' is unimodal there)."""
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(80):
        left, right = high - ratio * (high - low), low + ratio * (high - low)
        if float(activation_derivative(name, left)) < float(activation_derivative(name, right)):
            high = right
        else:
            low = left
    return 0.5 * (low + high)
