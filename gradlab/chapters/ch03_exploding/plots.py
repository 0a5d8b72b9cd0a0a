"""Drawing only, for notebooks/03_exploding: each plot_* takes computed results and an optional
Axes and returns the Axes. Non-finite values cannot sit on a log axis: they are marked with an x
along the top and labelled 'exploded (inf/nan)'; gradients that underflowed to exactly 0 are marked
with a triangle on the bottom edge and labelled 'vanished (0)'. Gradient plots span at least
MIN_DECADES decades, so a flat curve looks flat and a vanishing one falls.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from gradlab.chapters.ch03_exploding.matrix_stretch import CircleImage
from gradlab.measure.rnn import TimeGradients
from gradlab.measure.spectral import GrowthMeasurement
from gradlab.plotting.log_lines import (
    mark_overflow_in_legend,
    mark_vanished_in_legend,
    plot_log_line,
    span_log_range,
)
from gradlab.training.loop import TrainingRecord


def _axes(ax: Axes | None, figsize: tuple[float, float] = (7, 3.6)) -> Axes:
    return plt.subplots(figsize=figsize)[1] if ax is None else ax


def _mark_vanished_at_bottom(ax: Axes, x: np.ndarray, y: np.ndarray, bottom: float) -> None:
    """A triangle on the bottom edge for every value that underflowed to exactly 0."""
    zero = np.asarray(y, dtype=np.float64) == 0
    if zero.any():
        ax.scatter(
            x[zero], np.full(zero.sum(), bottom), marker="v", color="black", zorder=4, clip_on=False
        )


def plot_circle_image(result: CircleImage, ax: Axes | None = None, title: str = "") -> Axes:
    """The unit circle (grey), its image under W (blue), the longest and shortest stretch (red,
    orange arrows, of lengths σ_max and σ_min) and the eigen-directions (green lines)."""
    ax = _axes(ax, figsize=(4.2, 4.2))
    ax.plot(*result.circle, color="gray", ls="--", lw=1, label="unit circle: all v with ‖v‖ = 1")
    ax.plot(*result.image, color="tab:blue", lw=2, label="W v: an ellipse")
    ends = result.matrix @ result.stretched_directions
    arrows = (("tab:red", "σ_max", "longest"), ("tab:orange", "σ_min", "shortest"))
    for column, (color, name, word) in enumerate(arrows):
        x, y = ends[:, column]
        ax.annotate("", (x, y), (0, 0), arrowprops={"arrowstyle": "->", "color": color, "lw": 2})
        length = result.singular_values[column]
        ax.plot([], [], color=color, lw=2, label=f"{name} = {length:.2f} ({word} stretch)")
    if result.eigen_directions is not None:
        reach = 1.1 * float(result.singular_values[0])
        for index, value in enumerate(result.eigenvalues):
            x, y = result.eigen_directions[:, index] * reach
            ax.plot(
                [-x, x],
                [-y, y],
                color="tab:green",
                lw=1,
                ls=":",
                label="eigen-directions (W only scales them)" if index == 0 else None,
            )
            ex, ey = result.eigen_directions[:, index] * value
            ax.scatter([ex], [ey], color="tab:green", zorder=5, s=18)
    limit = 1.15 * max(1.0, float(result.singular_values[0]))
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.axhline(0, color="black", lw=0.5)
    ax.axvline(0, color="black", lw=0.5)
    ax.set_title(title or "W stretches the unit circle into an ellipse", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2)
    return ax


def plot_growth(result: GrowthMeasurement, ax: Axes | None = None) -> Axes:
    """‖∂L/∂h_l‖ for l = 0..depth: measured, the σ_max × slope bound, and the typical curve."""
    ax = _axes(ax)
    layers = np.arange(result.depth + 1)
    curves = (
        (result.predicted_grad_norms, "--", "tab:red", "σ_max × slope estimate"),
        (result.typical_grad_norms, ":", "gray", "rms σ × slope"),
        (result.grad_norms, "o-", "tab:blue", "measured"),
    )
    for values, style, color, label in curves:
        plot_log_line(ax, layers, values, style, color=color, label=label)
    bottom = span_log_range(ax, *(values for values, *_ in curves))
    for values, *_ in curves:
        _mark_vanished_at_bottom(ax, layers, values, bottom)
    mark_overflow_in_legend(ax, *(values for values, *_ in curves))
    mark_vanished_in_legend(ax, *(values for values, *_ in curves))
    ax.set_xlabel("layer l (0 = input)")
    ax.set_ylabel("‖∂L/∂h_l‖")
    ax.set_title(
        f"{result.kind} weights × {result.weight_scale:.2f}, {result.activation}, "
        f"{result.depth} layers"
    )
    ax.legend(fontsize=8, loc="best")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_time_gradients(results: list[TimeGradients], ax: Axes | None = None) -> Axes:
    """‖∂L/∂h_t‖ against t for each case, with the closed form s^(T−t) dashed (W_h = s · Q)."""
    ax = _axes(ax)
    colors = {"linear": "tab:blue", "tanh": "tab:orange"}
    for index, result in enumerate(results):
        t = np.arange(1, result.steps + 1)
        if index == 0:
            plot_log_line(ax, t, result.closed_form, "--", color="gray", label="s^(T−t)")
        style = "o" if result.steps <= 30 else "-"
        color = colors.get(result.case)
        plot_log_line(
            ax, t, result.grad_norms, style, color=color, ms=4, label=f"{result.case} nn.RNN"
        )
    curves = [results[0].closed_form] if results else []
    bottom = span_log_range(ax, *curves, *(r.grad_norms for r in results))
    for result in results:
        _mark_vanished_at_bottom(ax, np.arange(1, result.steps + 1), result.grad_norms, bottom)
    mark_overflow_in_legend(ax, *(r.grad_norms for r in results))
    mark_vanished_in_legend(ax, *(r.grad_norms for r in results))
    ax.set_xlabel("time step t (the loss is at t = T)")
    ax.set_ylabel("‖∂L/∂h_t‖")
    if results:
        ax.set_title(
            f"Gradients through time, W_h = s · Q with s = {results[0].recurrent_scale:.2f}"
        )
    ax.legend(fontsize=8, loc="best")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_losses_by_lr(records: Mapping[float, TrainingRecord], ax: Axes | None = None) -> Axes:
    """Loss per step for each learning rate (log axis); the first non-finite step is an x."""
    ax = _axes(ax)
    for lr, record in records.items():
        steps = np.arange(len(record.losses))
        ax.plot(steps, record.losses, label=f"lr = {lr}")
        step = record.first_nonfinite_step
        if step is not None:
            ax.axvline(step, color="black", ls=":", lw=1)
            ax.annotate(f"non-finite (lr = {lr})", (step, 1.0), fontsize=8, rotation=90)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("The same network at three learning rates")
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_weight_norms(norms: Mapping[float, np.ndarray], ax: Axes | None = None) -> Axes:
    """Total weight norm per step for each learning rate (log axis)."""
    ax = _axes(ax)
    for lr, values in norms.items():
        plot_log_line(ax, np.arange(len(values)), values, "-", label=f"lr = {lr}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("‖θ‖ (all parameters)")
    ax.set_title("Weight growth")
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    return ax
