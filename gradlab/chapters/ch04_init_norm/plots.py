"""Drawing only, for notebooks/04_init_norm: each plot_* takes computed results and an optional
Axes (or Figure) and returns it; SignalView is the widget's figure, built once and updated in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from gradlab.chapters.ch04_init_norm.normalization import NormalizedRun
from gradlab.chapters.ch04_init_norm.propagation import Propagation
from gradlab.chapters.ch04_init_norm.warmup import LrRun

UPDATE_RATIO_REFERENCE = 1e-3  # the rule of thumb Chapter 7 uses for a healthy update-to-data ratio


def _shown(values: np.ndarray) -> np.ndarray:
    """Values a log axis can show: inf, nan and 0 become nan (a gap in the line)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def _log_limits(*curves: np.ndarray) -> tuple[float, float]:
    """A log range covering every showable value and at least 10^-3 … 10^3 around 1."""
    values = np.concatenate([_shown(c) for c in curves])
    values = values[np.isfinite(values)]
    low = min(float(values.min(initial=1.0)), 1e-3) / 3
    high = max(float(values.max(initial=1.0)), 1e3) * 3
    return low, high


class SignalView:
    """Forward (std of z_l) and backward (‖∂L/∂z_l‖) per layer, measured and predicted, side by
    side. The figure and its lines are made once; draw() only changes their data."""

    def __init__(self, figsize: tuple[float, float] = (10, 3.8)) -> None:
        self.figure, self.axes = plt.subplots(1, 2, figsize=figsize, sharey=True)
        forward, backward = self.axes
        (self.forward_line,) = forward.plot([], [], "o-", ms=3, color="tab:blue", label="measured")
        (self.forward_prediction,) = forward.plot([], [], "--", color="tab:red", label="prediction")
        (self.backward_line,) = backward.plot(
            [], [], "o-", ms=3, color="tab:green", label="measured"
        )
        (self.backward_prediction,) = backward.plot(
            [], [], "--", color="tab:red", label="prediction"
        )
        forward.set_title("forward: std of z_l")
        backward.set_title("backward: ‖∂L/∂z_l‖")
        for ax in self.axes:
            ax.set_yscale("log")
            ax.set_xlabel("layer l")
            ax.axhline(1.0, color="gray", lw=0.8, ls=":")
            ax.legend(loc="lower left", fontsize=8)
        self.figure.tight_layout()

    def draw(self, result: Propagation) -> Figure:
        """Put `result` on the figure (made the current pyplot figure, so plt.show shows it)."""
        plt.figure(self.figure)
        layers = np.arange(1, result.depth + 1)
        stds, norms = result.profile.activation_std, result.profile.grad_norm
        # prediction: forward from layer 1's measured std, backward from the last layer's norm
        forward_prediction = stds[0] * result.predicted ** (layers - 1.0)
        backward_prediction = norms[-1] * result.predicted ** (result.depth - layers)
        self.forward_line.set_data(layers, _shown(stds))
        self.forward_prediction.set_data(layers, _shown(forward_prediction))
        self.backward_line.set_data(layers, _shown(norms))
        self.backward_prediction.set_data(layers, _shown(backward_prediction))
        # the range follows the measurement; a prediction far off it leaves the plot at the edge
        self.axes[0].set_ylim(*_log_limits(stds, norms))
        for ax in self.axes:
            ax.set_xlim(0.5, result.depth + 0.5)
        return self.figure


def plot_normalized_axes(axes: Sequence[Axes] | None = None) -> Sequence[Axes]:
    """The shape picture: a batch as a grid (examples × features); BatchNorm's statistics run down
    one feature's column (over the batch), LayerNorm's along one example's row (over features)."""
    if axes is None:
        axes = plt.subplots(1, 2, figsize=(8, 3.2))[1]
    examples, features = 6, 8
    for ax, title, column in zip(
        axes,
        ("BatchNorm1d: over the batch", "LayerNorm: over the features"),
        (True, False),
        strict=True,
    ):
        for i in range(examples):
            for j in range(features):
                picked = j == 2 if column else i == 2
                ax.add_patch(
                    Rectangle(
                        (j, examples - 1 - i),
                        0.92,
                        0.92,
                        color="tab:orange" if picked else "lightgray",
                    )
                )
        ax.set_xlim(-0.2, features + 0.1)
        ax.set_ylim(-0.2, examples + 0.1)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("features (C) →")
        ax.set_ylabel("← examples in the batch (N)")
        ax.set_title(title, fontsize=10)
    return axes


def plot_normalized_runs(runs: Sequence[NormalizedRun], figure: Figure | None = None) -> Figure:
    """Left: per-layer weight-gradient norm at the start (log). Right: the training loss."""
    figure = figure or plt.figure(figsize=(10, 3.6))
    left, right = figure.subplots(1, 2)
    for run, color in zip(runs, ("tab:red", "tab:blue"), strict=False):
        label = "with BatchNorm" if run.batchnorm else "without"
        norms = run.start.weight_grad_norm
        left.plot(np.arange(1, len(norms) + 1), _shown(norms), "o-", ms=3, color=color, label=label)
        right.plot(run.losses, color=color, label=label)
    left.set_yscale("log")
    left.set_xlabel("layer l")
    left.set_ylabel("‖∂L/∂W_l‖ at the start")
    left.legend(fontsize=8)
    right.set_xlabel("step")
    right.set_ylabel("training loss")
    right.legend(fontsize=8)
    figure.tight_layout()
    return figure


def plot_lr_runs(runs: Sequence[LrRun], figure: Figure | None = None) -> Figure:
    """Left: loss per step. Middle: median update-to-data ratio over layers (log, reference
    line at 1e-3). Right: the learning rate each step used."""
    figure = figure or plt.figure(figsize=(12, 3.6))
    loss_ax, ratio_ax, lr_ax = figure.subplots(1, 3)
    for run in runs:
        steps = np.arange(len(run.losses))
        loss_ax.plot(steps, run.losses, label=run.label, lw=1)
        ratio_ax.plot(steps, _shown(np.nanmedian(run.update_ratios, axis=1)), lw=1)
        lr_ax.plot(steps, run.lrs, lw=1)
    loss_ax.set_ylabel("training loss")
    loss_ax.legend(fontsize=8)
    ratio_ax.set_yscale("log")
    ratio_ax.axhline(UPDATE_RATIO_REFERENCE, color="gray", ls=":", label="1e-3")
    ratio_ax.set_ylabel("update / data (median over layers)")
    lr_ax.set_yscale("log")
    lr_ax.set_ylabel("learning rate")
    for ax in (loss_ax, ratio_ax, lr_ax):
        ax.set_xlabel("step")
    figure.tight_layout()
    return figure
