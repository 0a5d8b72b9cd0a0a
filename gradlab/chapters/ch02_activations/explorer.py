"""One activation at one input: f and f' over a range, the values at x, and where f is flat.

Used in notebooks/02_activations (the "Activation explorer" widget). The flat zone is where
|f'(x)| falls below a threshold — 0.1 for tanh and 0.05 for every other activation, the
thresholds the seed text quotes for tanh and sigmoid — found by gradlab.models.activations, not typed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from gradlab.formatting import format_number
from gradlab.models.activations import (
    ACTIVATIONS,
    LEAKY_RELU_SLOPE,
    SaturationZone,
    activation_derivative,
    activation_value,
    check_activation,
    max_derivative,
    negative_slope,
    saturation_zone,
)

DEFAULT_THRESHOLD = 0.05
THRESHOLDS: dict[str, float] = {name: DEFAULT_THRESHOLD for name in ACTIVATIONS} | {"tanh": 0.1}

# One line per activation on what it does to gradients (the numbers are checked in the tests).
GRADIENT_NOTES: dict[str, str] = {
    "sigmoid": "f' is at most 0.25 (at x = 0): the gate passes at most a quarter of the "
    "gradient, and far less once |x| is large.",
    "tanh": "f' reaches 1 at x = 0, so it passes gradients better than sigmoid, "
    "but it saturates sooner: f' < 0.1 once |x| > 1.82.",
    "relu": "f' is exactly 1 for x > 0 (no shrinking) and exactly 0 for x < 0: "
    "a unit that is negative for every input gets no gradient at all (dead).",
    "leaky_relu": f"f' is 1 for x > 0 and {LEAKY_RELU_SLOPE} for x < 0: small but never zero, "
    "so a negative unit still learns.",
    "elu": "f' is 1 for x > 0 and e^x below 0: smooth, non-zero, but it fades for x < -3.",
    "gelu": "Like relu for large |x|; f' < 0 for every x < -0.75 (lowest about -0.13, at "
    "x = -1.41) and that negative tail fades very fast (f'(-4) is about -5e-4).",
    "silu": "Like relu for large |x|, smooth; f' < 0 for every x < -1.28 (lowest about -0.10, "
    "at x = -2.40) and that negative tail fades slowly (f'(-4) is about -0.05).",
}


def gradient_note(name: str) -> str:
    """One line on the named activation's gradient issue."""
    return GRADIENT_NOTES[check_activation(name)]


@cache
def flat_zone(name: str) -> SaturationZone:
    """The inputs where |f'(x)| < THRESHOLDS[name] (computed once per activation, then cached)."""
    return saturation_zone(check_activation(name), THRESHOLDS[name])


@dataclass(frozen=True)
class ExplorerResult:
    """f and f' of one activation on a grid of inputs, plus the values at one chosen x."""

    activation: str
    x: float
    xs: np.ndarray
    values: np.ndarray
    derivatives: np.ndarray
    value: float
    derivative: float
    zone: SaturationZone
    note: str

    @property
    def in_zone(self) -> bool:
        """True when x lies in the flat zone (almost no gradient passes)."""
        return self.zone.contains(self.x)

    def summary(self) -> str:
        """Three lines: the values at x, the flat zone and where x sits, the gradient note."""
        where = "inside it: almost no gradient passes" if self.in_zone else "outside it"
        return (
            f"{self.activation} at x = {self.x:.2f}: f(x) = {format_number(self.value)}, "
            f"f'(x) = {format_number(self.derivative)}\n"
            f"flat zone (|f'| < {self.zone.threshold:g}): {self.zone.describe()}; "
            f"x = {self.x:.2f} is {where}\n"
            f"{self.note}"
        )


def compute_activation_explorer(
    activation: str, x: float, *, x_limit: float = 6.0, points: int = 481
) -> ExplorerResult:
    """f and f' on [-x_limit, x_limit] and at x, with the activation's flat zone and note."""
    check_activation(activation)
    if not (isinstance(x, int | float) and math.isfinite(x)):
        raise ValueError(f"x must be a finite number; got {x!r}")
    if not x_limit > 0:
        raise ValueError(f"x_limit must be > 0; got {x_limit!r}")
    if points < 2:
        raise ValueError(f"points must be >= 2; got {points!r}")
    xs = torch.linspace(-x_limit, x_limit, points, dtype=torch.float64)
    return ExplorerResult(
        activation=activation,
        x=float(x),
        xs=xs.numpy(),
        values=activation_value(activation, xs).numpy(),
        derivatives=activation_derivative(activation, xs).numpy(),
        value=float(activation_value(activation, x)),
        derivative=float(activation_derivative(activation, x)),
        zone=flat_zone(activation),
        note=gradient_note(activation),
    )


def activation_table() -> str:
    """Every activation's largest derivative, flat zone and negative-slope region, one row each."""
    lines = ["activation | max f'(x) | flat zone"]
    notes = []
    for name in ACTIVATIONS:
        zone = flat_zone(name)
        lines.append(
            f"{name:>10} | {max_derivative(name):>9.3f} | "
            f"|f'| < {zone.threshold:g} for {zone.describe()}"
        )
        negative = negative_slope(name)
        notes.append(
            f"{name:>10}: " + ("f' >= 0 everywhere" if negative is None else negative.describe())
        )
    return "\n".join(lines) + "\nWhere the derivative is negative:\n" + "\n".join(notes)
