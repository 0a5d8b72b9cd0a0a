"""Drawing only, for notebooks/02_activations: each plot_* takes a computed result and an Axes.

Nothing here computes a quantity; the results come from gradlab.chapters.ch02_activations.explorer,
activation_depth, dead_units and activation_training.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from gradlab.chapters.ch02_activations.dead_units import STAGES, RecoveryStudy
from gradlab.chapters.ch02_activations.depth import DepthComparison
from gradlab.chapters.ch02_activations.explorer import ExplorerResult
from gradlab.chapters.ch02_activations.training_comparison import TrainingComparison
from gradlab.formatting import format_number, format_percent
from gradlab.plotting.gradient_flow import STATUS_COLORS


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    return plt.subplots(figsize=figsize)[1] if ax is None else ax


def plot_activation_explorer(result: ExplorerResult, ax: Axes | None = None) -> Axes:
    """f and f' over the grid, the point x marked on both, the flat zone shaded."""
    ax = _axes(ax, (7, 3.6))
    low, high = float(result.xs[0]), float(result.xs[-1])
    for index, (start, end) in enumerate(result.zone.intervals):
        ax.axvspan(
            max(start, low),
            min(end, high),
            color="tab:red",
            alpha=0.12,
            label=f"flat zone: |f'| < {result.zone.threshold:g}" if index == 0 else None,
        )
    ax.plot(result.xs, result.values, color="tab:blue", label="f(x)")
    ax.plot(result.xs, result.derivatives, "--", color="tab:orange", label="f'(x)")
    ax.scatter([result.x], [result.value], color="tab:blue", zorder=3)
    ax.scatter([result.x], [result.derivative], color="tab:orange", zorder=3)
    ax.axvline(result.x, color="gray", linewidth=0.8)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlim(low, high)
    ax.set_xlabel("x (pre-activation)")
    ax.set_title(
        f"{result.activation}: f({result.x:.2f}) = {format_number(result.value)}, "
        f"f'({result.x:.2f}) = {format_number(result.derivative)}"
    )
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(True, alpha=0.3)
    return ax


def plot_gradient_after_depth(comparison: DepthComparison, ax: Axes | None = None) -> Axes:
    """Horizontal bars (log axis): fraction of the gradient reaching the input, per activation.

    Non-finite or zero values cannot sit on a log axis: they get no bar, only their label.
    """
    ax = _axes(ax, (7, 3.6))
    values = comparison.remaining
    drawable = np.isfinite(values) & (values > 0)
    floor = float(values[drawable].min()) / 10 if drawable.any() else 1e-3
    ceiling = float(values[drawable].max()) * 10 if drawable.any() else 10.0
    floor, ceiling = min(floor, 1e-2), max(ceiling, 10.0)
    positions = np.arange(len(values))[::-1]
    for position, value, status in zip(positions, values, comparison.statuses(), strict=True):
        label = format_percent(float(value))
        if math.isfinite(value) and value > 0:
            ax.barh(position, value - floor, left=floor, color=STATUS_COLORS[status])
            ax.text(value, position, f" {label}", va="center", fontsize=8)
        else:
            ax.text(floor, position, f" {label}", va="center", fontsize=8)
    ax.axvline(1.0, color="gray", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlim(floor, ceiling * 100)
    ax.set_yticks(positions, comparison.activations)
    ax.set_xlabel("‖∂L/∂input‖ / ‖∂L/∂h_L‖  (1 = nothing lost)")
    ax.set_title(
        f"Gradient left after {comparison.depth} layers (init {comparison.init}, "
        f"weight scale {comparison.weight_scale:g})"
    )
    ax.grid(True, axis="x", alpha=0.3)
    return ax


def plot_dead_units(study: RecoveryStudy, ax: Axes | None = None) -> Axes:
    """Grouped bars: never-positive fraction at start, after the kill and after recovery.

    Bars are medians over the study's seeds; the whiskers span the lowest to the highest seed.
    """
    ax = _axes(ax, (7.5, 3.6))
    colors = ("tab:gray", "tab:red", "tab:green")
    names = tuple(study.experiments)
    positions = np.arange(len(names))
    width = 0.27
    for offset, (stage, color) in enumerate(zip(STAGES, colors, strict=True)):
        per_seed = [study.fractions(name, stage) for name in names]
        medians = np.array([np.median(values) for values in per_seed])
        spread = np.array(
            [
                [m - values.min(), values.max() - m]
                for m, values in zip(medians, per_seed, strict=True)
            ]
        ).T
        ax.bar(
            positions + (offset - 1) * width,
            medians,
            width,
            yerr=spread,
            capsize=2,
            label=stage.replace("_", " "),
            color=color,
        )
    accuracy = [np.median(study.test_accuracies(name)) for name in names]
    ax.set_xticks(
        positions,
        [f"{name}\ntest acc {a:.0%}" for name, a in zip(names, accuracy, strict=True)],
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction of never-positive units")
    ax.set_title(
        f"Never-positive units and test accuracy, median of {len(study.seeds)} seeds "
        "(whiskers: range)",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return ax


def plot_training_comparison(comparison: TrainingComparison, ax: Axes | None = None) -> Axes:
    """Training loss per step for each activation (smoothed over 10 steps)."""
    ax = _axes(ax, (7, 3.6))
    for name, record in comparison.records.items():
        losses = record.losses
        window = min(10, len(losses))
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(
            np.arange(window, len(losses) + 1), smooth, label=f"{name} ({record.test_accuracy:.0%})"
        )
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (10-step mean)")
    ax.set_title(
        f"Same MLP, different activation, seed {comparison.seed} (test accuracy in brackets)"
    )
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return ax
