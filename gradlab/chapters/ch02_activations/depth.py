"""How much gradient survives N layers, measured for every activation in equal networks.

Used in notebooks/02_activations ("Gradient after N layers" and its widget). For each activation
we build DeepMLPs that differ only in the activation (same depth, width, init, weight scale and
seeds), run one real backward pass, and record ‖∂L/∂input‖ / ‖∂L/∂h_L‖: the fraction of the
gradient leaving the last layer that reaches the input. Seeds are combined by geometric mean,
the natural average for a product of per-layer factors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gradlab.formatting import format_percent
from gradlab.measure.chain import geometric_mean
from gradlab.measure.probe import classify_gradient, measure_gradient_flow
from gradlab.models.activations import ACTIVATIONS, check_activation


@dataclass(frozen=True)
class DepthComparison:
    """Per activation: the fraction of the gradient that survives `depth` layers.

    per_seed has shape (activations, seeds); remaining is its geometric mean over seeds.
    """

    depth: int
    init: str
    weight_scale: float
    activations: tuple[str, ...]
    per_seed: np.ndarray
    remaining: np.ndarray

    def remaining_of(self, activation: str) -> float:
        """The surviving fraction for one activation."""
        return float(self.remaining[self.activations.index(activation)])

    def statuses(self) -> tuple[str, ...]:
        """A label per activation (healthy, small, ..., vanished, exploded)."""
        return tuple(classify_gradient(float(value)) for value in self.remaining)

    def ranking(self) -> tuple[str, ...]:
        """Activations from most to least gradient surviving (exploded ones first)."""
        keys = np.nan_to_num(self.remaining, nan=np.inf)
        return tuple(self.activations[i] for i in np.argsort(-keys, kind="stable"))

    def table(self) -> str:
        """One row per activation: fraction surviving, as a percentage, and its label."""
        lines = [
            f"Gradient reaching the input after {self.depth} layers "
            f"(init {self.init}, weight scale {self.weight_scale:g}, "
            f"{self.per_seed.shape[1]} seeds)",
            "activation |      remaining | status",
        ]
        for name, value, status in zip(
            self.activations, self.remaining, self.statuses(), strict=True
        ):
            lines.append(f"{name:>10} | {format_percent(float(value)):>14} | {status}")
        return "\n".join(lines)


def compute_gradient_after_depth(
    depth: int,
    init: str = "xavier",
    *,
    weight_scale: float = 1.0,
    activations: Sequence[str] = ACTIVATIONS,
    width: int = 64,
    batch_size: int = 64,
    seeds: int = 3,
) -> DepthComparison:
    """Measure, for each activation, what fraction of the gradient reaches the input.

    Args:
        depth: number of hidden layers (1 or more). init: 'xavier', 'he' or 'normal'.
        seeds: networks per activation (seeds 0..seeds-1); results are geometric means.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1; got {seeds!r}")
    names = tuple(check_activation(name) for name in activations)
    if not names:
        raise ValueError("activations must name at least one activation")
    per_seed = np.array(
        [
            [
                measure_gradient_flow(
                    depth,
                    name,
                    weight_scale,
                    init,
                    width=width,
                    batch_size=batch_size,
                    seed=seed,
                ).total_measured
                for seed in range(seeds)
            ]
            for name in names
        ]
    )
    remaining = np.array([geometric_mean(row) for row in per_seed])
    return DepthComparison(depth, init, float(weight_scale), names, per_seed, remaining)
