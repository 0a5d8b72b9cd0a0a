"""Closed forms for gradient flow: the per-layer factor raised to the depth, the sigmoid bound,
and float32's limits (where a gradient underflows to 0 or overflows to inf).

Used in notebooks/00_start_here (1.1^50 is far from overflow), notebooks/01_chain_rule (the factor
table, float32's range and digits) and notebooks/02_activations (0.25^L).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gradlab.formatting import format_magnitude
from gradlab.models.activations import max_derivative

TABLE_FACTORS: tuple[float, ...] = (0.9, 0.5, 1.0, 1.1, 1.5)
TABLE_DEPTHS: tuple[int, ...] = (10, 50)


def gradient_after_layers(factor: float, depth: int) -> float:
    """What is left of a unit gradient after `depth` layers that each multiply it by `factor`."""
    if depth < 0:
        raise ValueError(f"depth must be >= 0; got {depth!r}")
    if factor < 0:
        raise ValueError(f"factor must be >= 0 (it is a magnitude); got {factor!r}")
    return float(factor) ** depth


def describe_factor(factor: float) -> str:
    """What a constant per-layer factor does to gradients as depth grows."""
    if factor < 0.6:
        return "severe vanishing"
    if factor < 1.0:
        return "vanishing"
    if factor == 1.0:
        return "preserved"
    if factor <= 1.2:
        return "exploding"
    return "severe exploding"


@dataclass(frozen=True)
class FactorRow:
    """One row of the factor table: a per-layer factor and what it becomes over each depth."""

    factor: float
    after: dict[int, float]
    effect: str


@dataclass(frozen=True)
class FactorTable:
    """factor^depth for several factors and depths (the table at the top of Chapter 1)."""

    depths: tuple[int, ...]
    rows: tuple[FactorRow, ...]

    def value(self, factor: float, depth: int) -> float:
        """The entry for one factor and depth."""
        for row in self.rows:
            if row.factor == factor:
                return row.after[depth]
        raise KeyError(f"factor {factor} is not in the table")

    def __str__(self) -> str:
        header = "factor | " + " | ".join(f"after {d:>2} layers" for d in self.depths) + " | effect"
        lines = [header, "-" * len(header)]
        for row in self.rows:
            cells = " | ".join(f"{format_magnitude(row.after[d]):>15}" for d in self.depths)
            lines.append(f"{row.factor:>6} | {cells} | {row.effect}")
        return "\n".join(lines)


def layer_factor_table(
    factors: tuple[float, ...] = TABLE_FACTORS, depths: tuple[int, ...] = TABLE_DEPTHS
) -> FactorTable:
    """Compute factor^depth for every factor and depth."""
    rows = tuple(
        FactorRow(f, {d: gradient_after_layers(f, d) for d in depths}, describe_factor(f))
        for f in factors
    )
    return FactorTable(tuple(depths), rows)


@dataclass(frozen=True)
class FactorCurves:
    """factor^depth for every depth 0..max_depth: the 'gradient highway' picture as numbers."""

    depths: tuple[int, ...]
    values: dict[float, tuple[float, ...]]


def factor_curves(factors: tuple[float, ...] = TABLE_FACTORS, max_depth: int = 50) -> FactorCurves:
    """What is left of a unit gradient after 0, 1, ..., max_depth layers, for each factor."""
    depths = tuple(range(max_depth + 1))
    return FactorCurves(
        depths, {f: tuple(gradient_after_layers(f, d) for d in depths) for f in factors}
    )


def sigmoid_bound(depth: int, largest_stretch: float = 1.0) -> float:
    """(0.25 × largest_stretch)^depth: the most a gradient keeps through `depth` sigmoid layers.

    One backward step is Wᵀ(σ'(z) ⊙ g), so ‖step‖ ≤ σ_max(W) · max σ' · ‖g‖ with max σ' = σ'(0) =
    0.25 (found by gradlab.models.activations, not typed in). A strict bound when every layer's largest
    stretch σ_max(W) = ‖W‖₂ is at most `largest_stretch`. With the default 1 it is 0.25^depth: strict
    for weights with ‖W‖₂ ≤ 1, but for random "unit-gain" weights (typical stretch 1, σ_max ≈ 2) only
    the ceiling of the *typical* case, rms σ' × gain ≤ 0.25 per layer.
    """
    if largest_stretch < 0:
        raise ValueError(f"largest_stretch must be >= 0 (it is ‖W‖₂); got {largest_stretch!r}")
    return gradient_after_layers(max_derivative("sigmoid") * largest_stretch, depth)


@dataclass(frozen=True)
class FloatLimits:
    """Where a floating-point format runs out: the numbers behind 'vanished (0)' and 'exploded'."""

    largest: float  # above this a result overflows to inf
    smallest_normal: float  # below this, fewer and fewer significant digits are kept
    smallest_subnormal: float  # below about half of this, a result rounds to exactly 0
    epsilon: float  # the gap between 1 and the next number: relative precision
    significant_digits: float  # -log10(epsilon): decimal digits a number keeps


def float_limits(dtype: torch.dtype = torch.float32) -> FloatLimits:
    """The limits of a floating-point dtype, read from torch.finfo (float32 by default)."""
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch dtype; got {dtype!r}")
    info = torch.finfo(dtype)
    zero = torch.zeros((), dtype=dtype)
    smallest_subnormal = float(torch.nextafter(zero, torch.ones((), dtype=dtype)))
    return FloatLimits(
        largest=float(info.max),
        smallest_normal=float(info.smallest_normal),
        smallest_subnormal=smallest_subnormal,
        epsilon=float(info.eps),
        significant_digits=-math.log10(info.eps),
    )


def layers_until_overflow(factor: float, dtype: torch.dtype = torch.float32) -> int:
    """The fewest layers after which factor^layers exceeds the dtype's largest number (factor > 1).

    A unit gradient multiplied by `factor` per layer overflows to inf after this many layers.
    """
    if not factor > 1:
        raise ValueError(f"factor must be > 1 for the gradient to grow; got {factor!r}")
    largest = float_limits(dtype).largest
    layers = math.ceil(math.log(largest) / math.log(factor))
    while gradient_after_layers(factor, layers) <= largest:  # guard the logarithms' rounding
        layers += 1
    while layers > 1 and gradient_after_layers(factor, layers - 1) > largest:
        layers -= 1
    return layers
