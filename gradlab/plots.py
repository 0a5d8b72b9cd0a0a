"""Drawing only: each plot_* takes a computed result and an optional Axes and returns the Axes.

Used by gradlab.widgets and the chapters. Nothing here computes a quantity.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from gradlab.probe import GradientProbe
from gradlab.theory import FactorCurves

STATUS_COLORS = {
    "healthy": "tab:green",
    "small": "gold",
    "very small": "tab:orange",
    "vanished": "tab:red",
    "large": "tab:purple",
    "exploded": "black",
}


def plot_gradient_flow(probe: GradientProbe, ax: Axes | None = None) -> Axes:
    """‖∂L/∂h_l‖ per layer on a log axis, coloured by status, with the predicted curve beside it.

    Non-finite gradients cannot sit on a log axis: they are marked with an x along the top.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    layers = np.arange(1, probe.depth + 1)
    measured = probe.activation_grad_norms
    finite = np.isfinite(measured) & (measured > 0)
    predicted = probe.predicted_grad_norms
    shown = np.isfinite(predicted) & (predicted > 0)
    if shown.any():
        ax.plot(layers[shown], predicted[shown], "--", color="gray", label="predicted")
    if finite.any():
        ax.plot(layers[finite], measured[finite], "-", color="tab:blue", alpha=0.5)
    for status, color in STATUS_COLORS.items():
        chosen = finite & (np.array(probe.statuses) == status)
        if chosen.any():
            ax.scatter(layers[chosen], measured[chosen], color=color, label=status, zorder=3)
    if (~finite).any():
        top = measured[finite].max() if finite.any() else 1.0
        ax.scatter(
            layers[~finite],
            np.full((~finite).sum(), top),
            marker="x",
            color="black",
            label="exploded (inf/nan)",
            zorder=3,
        )
    if not finite.any():
        ax.text(
            0.5,
            0.6,
            "every layer's gradient overflowed:\nexploded (inf/nan)",
            transform=ax.transAxes,
            ha="center",
            fontsize=12,
            color="black",
        )
    ax.set_yscale("log")
    ax.set_xlabel("layer (1 = nearest the input)")
    ax.set_ylabel("gradient norm ‖∂L/∂h‖")
    ax.set_title(f"Gradient reaching each layer ({probe.depth} layers)")
    ax.legend(fontsize=8, loc="best")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_factor_curves(curves: FactorCurves, ax: Axes | None = None) -> Axes:
    """factor^depth against depth on a log axis: flat at 1 is the gradient highway."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    cmap = plt.get_cmap("coolwarm")
    factors = sorted(curves.values)
    for i, factor in enumerate(factors):
        color = "black" if factor == 1.0 else cmap(i / max(len(factors) - 1, 1))
        width = 3 if factor == 1.0 else 1.5
        ax.plot(curves.depths, curves.values[factor], color=color, lw=width, label=f"{factor}")
    ax.set_yscale("log")
    ax.set_xlabel("layers the gradient has passed through")
    ax.set_ylabel("fraction of the gradient left")
    ax.set_title("(per-layer factor)^depth")
    ax.legend(title="factor", fontsize=8)
    ax.grid(True, alpha=0.3)
    return ax
