"""A gradient measured through a chain of layers, with a predicted factor per layer beside it.

One backward pass gives ‖∂L/∂h_l‖ for l = 0..depth (h_0 the chain's input, h_depth the last
layer's output). What layer l does to the gradient is the measured factor
‖∂L/∂h_(l-1)‖ / ‖∂L/∂h_l‖; a model of the layer predicts it (rms f'(z) × gain(W) in
notebooks/01_chain_rule, σ_max × slope in notebooks/03_exploding). Every measurement of this shape
is a GradientChain: measure.probe.GradientProbe (any model's layers) and
measure.spectral.GrowthMeasurement (a stack of random matrices) add their own details to it.
Non-finite values are kept as inf/nan and labelled, never raised.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Status of a layer from its gradient relative to the last layer's (the one nearest the loss).
# Lower bounds, checked from the top; anything below the last bound has vanished.
STATUS_BOUNDS: tuple[tuple[str, float], ...] = (
    ("exploded", 1e4),
    ("large", 10.0),
    ("healthy", 0.1),
    ("small", 1e-3),
    ("very small", 1e-6),
)
STATUSES: tuple[str, ...] = (*(name for name, _ in STATUS_BOUNDS), "vanished")


def classify_gradient(relative: float) -> str:
    """Label a gradient norm relative to the last layer's: healthy, small, ..., exploded."""
    if not math.isfinite(relative):
        return "exploded"
    for name, bound in STATUS_BOUNDS:
        if relative >= bound:
            return name
    return "vanished"


def geometric_mean(values: Sequence[float] | np.ndarray) -> float:
    """exp(mean(log v)): the typical factor of a product (∏ v = geometric_mean(v) ** len(v)).

    Without warnings: 0 if a value is 0, inf if a value is inf (and none is 0), nan if the values
    hold both, a nan, a negative value, or nothing at all.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return math.nan
    with np.errstate(all="ignore"):
        return float(np.exp(np.mean(np.log(array))))


def grad_norm_curve(factors: np.ndarray, last: float) -> np.ndarray:
    """‖∂L/∂h_l‖ for l = 0..depth implied by per-layer factors and the last layer's gradient.

    Entry l is `last` times the product of the factors of layers l+1..depth (the last entry is
    `last` itself), so entry 0 is last × ∏ factors.
    """
    with np.errstate(all="ignore"):
        return last * np.append(np.cumprod(factors[::-1])[::-1], 1.0)


@dataclass(frozen=True, kw_only=True)
class GradientChain:
    """‖∂L/∂h_l‖ measured through `depth` layers, and each layer's predicted factor.

    Layer index 0 is the first layer. Everything else (factors, totals, statuses, the predicted
    curve) is derived from these three fields, the same way for every chapter.
    """

    layer_names: tuple[str, ...]  # one per layer, first layer first
    grad_norms: np.ndarray  # shape (depth + 1,): ‖∂L/∂h_l‖, index 0 = the chain's input
    predicted_factors: (
        np.ndarray
    )  # shape (depth,): the predicted factor per layer, nan if undefined

    def __post_init__(self) -> None:
        layers = len(self.layer_names)
        if layers < 1:
            raise ValueError("layer_names must name at least one layer; got none")
        if np.shape(self.grad_norms) != (layers + 1,):
            raise ValueError(
                f"grad_norms must have shape ({layers + 1},) for {layers} layers (input first); "
                f"got {np.shape(self.grad_norms)}"
            )
        if np.shape(self.predicted_factors) != (layers,):
            raise ValueError(
                f"predicted_factors must have shape ({layers},), one per layer; "
                f"got {np.shape(self.predicted_factors)}"
            )

    @property
    def depth(self) -> int:
        """Number of layers in the chain."""
        return len(self.layer_names)

    @property
    def output_grad_norms(self) -> np.ndarray:
        """‖∂L/∂h_l‖ for l = 1..depth: the gradient reaching each layer's output."""
        return self.grad_norms[1:]

    @property
    def input_grad_norm(self) -> float:
        """‖∂L/∂h_0‖: the gradient reaching the chain's input."""
        return float(self.grad_norms[0])

    @property
    def measured_factors(self) -> np.ndarray:
        """‖∂L/∂h_(l-1)‖ / ‖∂L/∂h_l‖ per layer: what layer l did to the gradient."""
        with np.errstate(all="ignore"):
            return self.grad_norms[:-1] / self.grad_norms[1:]

    @property
    def total_measured(self) -> float:
        """‖∂L/∂h_0‖ / ‖∂L/∂h_depth‖: what the whole chain did (the product of the factors)."""
        with np.errstate(all="ignore"):
            return float(self.grad_norms[0] / self.grad_norms[-1])

    @property
    def total_predicted(self) -> float:
        """The product of the predicted per-layer factors."""
        with np.errstate(all="ignore"):
            return float(np.prod(self.predicted_factors))

    @property
    def usable_factors(self) -> np.ndarray:
        """The measured factors that are finite and non-zero (where no gradient under- or overflowed)."""
        factors = self.measured_factors
        return factors[np.isfinite(factors) & (factors > 0)]

    @property
    def typical_factor(self) -> float:
        """What one layer does to the gradient: the geometric mean of the usable measured factors.

        Equal to total_measured^(1/depth) when no gradient underflowed to 0 or overflowed; otherwise
        taken over the layers where both sides of the factor are finite and non-zero (nan if none).
        """
        return geometric_mean(self.usable_factors)

    @property
    def predicted_grad_norms(self) -> np.ndarray:
        """‖∂L/∂h_l‖ for l = 0..depth predicted from the last layer's gradient and the factors."""
        return grad_norm_curve(self.predicted_factors, self.grad_norms[-1])

    @property
    def relative_grad_norms(self) -> np.ndarray:
        """Each layer's output gradient over the last layer's (1 at the last layer).

        When the last layer's gradient is 0, a layer with 0 is 0 and any other is inf.
        """
        outputs = self.output_grad_norms
        if outputs[-1] == 0:
            return np.where(outputs == 0, 0.0, np.inf)
        with np.errstate(all="ignore"):
            return outputs / outputs[-1]

    @property
    def statuses(self) -> tuple[str, ...]:
        """A label per layer from relative_grad_norms (see classify_gradient)."""
        return tuple(classify_gradient(r) for r in self.relative_grad_norms)

    @property
    def status(self) -> str:
        """The label of the gradient reaching the chain's input (from total_measured)."""
        return classify_gradient(self.total_measured)
