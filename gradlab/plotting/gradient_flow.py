"""Drawing only: each plot_* takes a computed result and an optional Axes and returns the Axes.

Used by gradlab.ui.wiring and the chapters. Nothing here computes a quantity.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from gradlab.formatting import VANISHED, format_number
from gradlab.measure.chain import GradientChain
from gradlab.theory import FactorCurves, float_limits

STATUS_COLORS = {
    "healthy": "tab:green",
    "small": "gold",
    "very small": "tab:orange",
    "vanished": "tab:red",
    "large": "tab:purple",
    "exploded": "black",
}


# The gradient-flow axis always shows at least this many powers of ten either side of the last
# layer's gradient, so a healthy network looks flat (not like noise blown up to fill the plot) and
# a vanishing one visibly falls. The statuses are relative to that same gradient (gradlab.measure.chain).
DECADES_AROUND_LAST = 3.0
EDGE_MARGIN_DECADES = 0.5  # room between the data and the edge markers
EXPLODED_LABEL = "exploded (inf/nan)"


def gradient_flow_ylim(probe: GradientChain) -> tuple[float, float] | None:
    """The y-range (log axis) of plot_gradient_flow: all finite, non-zero values plus a margin.

    At least DECADES_AROUND_LAST powers of ten either side of the last layer's gradient. None when
    no gradient is finite and non-zero (then there is nothing to put on a log axis).
    """
    # the predicted curve at the layers' outputs (its entry 0 is the input's)
    values = np.concatenate([probe.output_grad_norms, probe.predicted_grad_norms[1:]])
    values = values[np.isfinite(values) & (values > 0)]
    if not values.size:
        return None
    low, high = np.log10(values.min()), np.log10(values.max())
    last = probe.output_grad_norms[-1]
    if np.isfinite(last) and last > 0:
        low = min(low, np.log10(last) - DECADES_AROUND_LAST)
        high = max(high, np.log10(last) + DECADES_AROUND_LAST)
    else:
        middle = (low + high) / 2
        low = min(low, middle - DECADES_AROUND_LAST)
        high = max(high, middle + DECADES_AROUND_LAST)
    return 10.0 ** (low - EDGE_MARGIN_DECADES), 10.0 ** (high + EDGE_MARGIN_DECADES)


def plot_gradient_flow(probe: GradientChain, ax: Axes | None = None) -> Axes:
    """‖∂L/∂h_l‖ per layer on a log axis, coloured by status, with the predicted curve beside it.

    A gradient that underflowed to exactly 0 (the extreme of vanishing) cannot sit on a log axis:
    it is marked ▼ on the bottom edge, labelled 'vanished (0)'. An inf/nan gradient (overflow) is
    marked × on the top edge, labelled 'exploded (inf/nan)'. The axis spans at least
    2 × DECADES_AROUND_LAST powers of ten (gradient_flow_ylim).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.6), layout="constrained")
    layers = np.arange(1, probe.depth + 1)
    measured = probe.output_grad_norms
    finite = np.isfinite(measured) & (measured > 0)
    vanished = measured == 0
    exploded = ~np.isfinite(measured)
    predicted = probe.predicted_grad_norms[1:]  # at each layer's output, like measured
    shown = np.isfinite(predicted) & (predicted > 0)
    if shown.any():
        ax.plot(layers[shown], predicted[shown], "--", color="gray", label="predicted")
    if finite.any():
        ax.plot(layers[finite], measured[finite], "-", color="tab:blue", alpha=0.5)
    for status, color in STATUS_COLORS.items():
        chosen = finite & (np.array(probe.statuses) == status)
        if chosen.any():
            ax.scatter(layers[chosen], measured[chosen], color=color, label=status, zorder=3)
    # x in data units, y as a fraction of the axes' height: the markers stay on the edges
    edge = ax.get_xaxis_transform()
    for chosen, height, marker, color, label in (
        (vanished, 0.03, "v", STATUS_COLORS["vanished"], VANISHED),
        (exploded, 0.97, "x", STATUS_COLORS["exploded"], EXPLODED_LABEL),
    ):
        if chosen.any():
            ax.scatter(
                layers[chosen],
                np.full(chosen.sum(), height),
                marker=marker,
                color=color,
                label=label,
                transform=edge,
                clip_on=False,
                zorder=4,
            )
    ax.set_yscale("log")
    limits = gradient_flow_ylim(probe)
    if limits is None:
        ax.set_ylim(1e-1, 1e1)
        ax.set_yticks([], minor=False)
        ax.set_yticks([], minor=True)
        word = "overflowed:\nexploded (inf/nan)" if exploded.any() else "underflowed:\nvanished (0)"
        ax.text(
            0.5,
            0.45,
            f"every layer's gradient {word}",
            transform=ax.transAxes,
            ha="center",
            fontsize=12,
        )
    else:
        ax.set_ylim(*limits)
        _mark_float32_limits(ax, *limits)
    ax.set_xlim(0.5, probe.depth + 0.5)
    ax.set_xlabel("layer (1 = nearest the input)")
    ax.set_ylabel("gradient norm ‖∂L/∂h‖")
    ax.set_title(f"Gradient reaching each layer's output ({probe.depth} layers)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(True, which="major", alpha=0.3)
    return ax


def _mark_float32_limits(ax: Axes, low: float, high: float) -> None:
    """Dotted lines where float32 runs out, when the axis reaches that far (why 0 and inf happen)."""
    limits = float_limits()
    for value, text in (
        (limits.smallest_subnormal, "smallest float32"),
        (limits.largest, "largest float32"),
    ):
        if low < value < high:
            label = f"{text} ({format_number(value)})"
            ax.axhline(value, color="tab:red", ls=":", lw=1, label=label)


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
