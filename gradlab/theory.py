"""Closed forms for gradient flow: the per-layer factor raised to the depth, and the sigmoid bound.

Used in notebooks/01_chain_rule (the factor table) and notebooks/02_activations (0.25^L).
"""

from __future__ import annotations

from dataclasses import dataclass

from gradlab.activations import max_derivative
from gradlab.formatting import format_magnitude

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


def sigmoid_bound(depth: int) -> float:
    """The most a gradient can keep through `depth` sigmoid layers with unit weights: 0.25^depth.

    0.25 is σ'(0), the sigmoid's largest derivative, found by gradlab.activations, not typed in.
    """
    return gradient_after_layers(max_derivative("sigmoid"), depth)
