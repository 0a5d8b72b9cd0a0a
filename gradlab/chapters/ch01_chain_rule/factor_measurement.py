"""The factor table measured on real networks, beside its closed form.

Used in notebooks/01_chain_rule. A ReLU layer with He init scaled by s multiplies the gradient by
about s (rms ReLU' = √½ and gain(W) = s·√2), so ReLU networks with weight_scale = factor realise
each row of the table; one real backward pass per depth measures what is left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gradlab.formatting import format_factor, format_magnitude
from gradlab.measure.probe import measure_gradient_flow
from gradlab.theory import TABLE_DEPTHS, TABLE_FACTORS, gradient_after_layers


@dataclass(frozen=True)
class MeasuredFactorRow:
    """One factor: theory (factor^depth) and the measured ‖∂L/∂input‖ / ‖∂L/∂h_L‖ per depth."""

    factor: float
    theory: dict[int, float]
    measured: dict[int, float]

    def ratio(self, depth: int) -> float:
        """measured / theory at one depth (1 means the closed form is exact)."""
        return self.measured[depth] / self.theory[depth]


@dataclass(frozen=True)
class MeasuredFactorTable:
    """Rows of theory vs measurement."""

    depths: tuple[int, ...]
    rows: tuple[MeasuredFactorRow, ...]

    def ratio_range(self) -> tuple[float, float]:
        """The smallest and largest measured / theory over every row and depth."""
        ratios = [row.ratio(depth) for row in self.rows for depth in self.depths]
        return min(ratios), max(ratios)

    def __str__(self) -> str:
        header = "factor | " + " | ".join(
            f"{d} layers: theory   measured  ratio" for d in self.depths
        )
        lines = [header, "-" * len(header)]
        for row in self.rows:
            cells = " | ".join(
                f"{format_magnitude(row.theory[d]):>16} {format_magnitude(row.measured[d]):>10}"
                f" {_ratio(row.ratio(d)):>6}"
                for d in self.depths
            )
            lines.append(f"{row.factor:>6} | {cells}")
        return "\n".join(lines)


def _ratio(value: float) -> str:
    """measured / theory with two decimals; an overflowed measurement as gradlab.formatting says."""
    return f"{value:.2f}" if math.isfinite(value) else format_factor(value)


def measure_factor_table(
    factors: tuple[float, ...] = TABLE_FACTORS,
    depths: tuple[int, ...] = TABLE_DEPTHS,
    *,
    width: int = 256,
    batch_size: int = 128,
    seed: int = 0,
) -> MeasuredFactorTable:
    """Measure factor^depth in ReLU/He networks scaled so each layer multiplies by `factor`."""
    rows = []
    for factor in factors:
        measured = {
            depth: measure_gradient_flow(
                depth, "relu", factor, "he", width=width, batch_size=batch_size, seed=seed
            ).total_measured
            for depth in depths
        }
        theory = {depth: gradient_after_layers(factor, depth) for depth in depths}
        rows.append(MeasuredFactorRow(factor, theory, measured))
    return MeasuredFactorTable(tuple(depths), tuple(rows))
