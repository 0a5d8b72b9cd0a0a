"""Drawing only, for notebooks/07_monitoring: monitored quantities over steps, per layer.

Each plot_* takes stored numbers (a GradientMonitor's arrays, a DashboardRun, histograms) and an
optional Axes, and returns the Axes; nothing is computed here but the drawing. Layers are coloured
from dark (first) to light (last). Non-finite values cannot sit on a log axis: they are marked
with an x at the top of the drawn range and labelled 'exploded (inf/nan)'. That x sits where a
diverging run ends, the top right corner, so legends of lines over steps go outside the axes, to
their right, where they cannot cover it.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gradlab.chapters.ch07_monitoring.dashboard import DashboardRun, GradientHistograms
from gradlab.formatting import format_percent
from gradlab.plotting.log_lines import mark_overflow_in_legend, plot_log_line

UPDATE_RATIO_REFERENCE = 1e-3  # Karpathy's rule of thumb for a healthy update-to-data ratio
DASHBOARD_FIGSIZE = (12.5, 6.4)  # inches; wide enough for a legend beside each panel


def _axes(ax: Axes | None, figsize: tuple[float, float] = (7, 3.4)) -> Axes:
    return plt.subplots(figsize=figsize)[1] if ax is None else ax


def _legend_outside(ax: Axes, ncol: int = 1) -> None:
    """A legend to the right of the axes: it never covers a marker drawn inside them."""
    ax.legend(
        fontsize=7, ncol=ncol, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0
    )


def _layer_colors(count: int) -> list:
    return [plt.cm.viridis(v) for v in np.linspace(0.0, 0.85, max(count, 1))]


def _per_layer_lines(
    ax: Axes,
    steps: np.ndarray,
    values: np.ndarray,
    layers: Sequence[str],
    *,
    missing: Sequence[str] = (),
    nan_means_overflow: bool = True,
) -> None:
    """One log-axis line per layer; `missing` layers (no gradient at all) are named as None.

    With nan_means_overflow=False a NaN means "not measured at this step" and is left out.
    """
    steps = np.asarray(steps)
    values = np.asarray(values, dtype=np.float64).reshape(len(steps), len(layers))
    drawn = []
    for column, (layer, color) in enumerate(zip(layers, _layer_colors(len(layers)), strict=True)):
        y, x = values[:, column], steps
        if not nan_means_overflow:
            x, y = x[~np.isnan(y)], y[~np.isnan(y)]
        if layer in missing or not len(y):
            if layer in missing:
                ax.plot([], [], ls="none", label=f"'{layer}': None")
            continue
        drawn.append(y)
        if np.isfinite(y).any() and not y[np.isfinite(y)].any():
            # zero cannot be drawn on a log axis: a legend entry says so
            ax.plot([], [], color=color, ls=":", label=f"'{layer}': exactly 0")
            continue
        plot_log_line(ax, x, y, "-", color=color, label=f"'{layer}'")
    mark_overflow_in_legend(ax, *drawn)
    _log_axis(ax)
    ax.set_xlabel("step")
    if ax.get_legend_handles_labels()[0]:
        _legend_outside(ax)
    else:
        ax.text(0.5, 0.5, "nothing measured", transform=ax.transAxes, ha="center")


def _log_axis(ax: Axes) -> None:
    """Log y axis; when nothing positive and finite was drawn, a fixed range (not a singular one)."""
    ax.set_yscale("log")
    finite = [y for line in ax.get_lines() for y in np.asarray(line.get_ydata(), dtype=float)] + [
        y for c in ax.collections for y in np.asarray(c.get_offsets())[:, 1]
    ]
    shown = np.asarray(finite, dtype=float)
    shown = shown[np.isfinite(shown) & (shown > 0)]
    if not len(shown) or shown.min() == shown.max():
        center = shown[0] if len(shown) else 1.0
        ax.set_ylim(center / 10, center * 10)
    ax.grid(True, which="major", alpha=0.3)


def plot_grad_norms(
    steps: np.ndarray,
    norms: np.ndarray,
    layers: Sequence[str],
    ax: Axes | None = None,
    *,
    missing: Sequence[str] = (),
) -> Axes:
    """Each layer's parameter-gradient norm over steps (log axis); norms: (steps, layers).

    NaN is drawn as overflow, except for the `missing` layers, which got no gradient (None).
    """
    ax = _axes(ax)
    _per_layer_lines(ax, steps, norms, layers, missing=missing)
    ax.set_ylabel("‖∂L/∂θ‖ per layer")
    ax.set_title("Gradient norm per layer")
    return ax


def plot_update_ratios(
    steps: np.ndarray,
    ratios: np.ndarray,
    layers: Sequence[str],
    ax: Axes | None = None,
    *,
    reference: float = UPDATE_RATIO_REFERENCE,
) -> Axes:
    """Each layer's update-to-data ratio ‖Δθ‖/‖θ‖ over steps, with the ≈1e-3 reference line.

    NaN means no update was measured at that step (no gradient, or the run stopped) and is left
    out; inf is drawn as overflow.
    """
    ax = _axes(ax)
    _per_layer_lines(ax, steps, ratios, layers, nan_means_overflow=False)
    ax.axhline(reference, color="black", ls="--", lw=1)
    ax.annotate(f"{reference:g}", (0.0, reference), xycoords=("axes fraction", "data"), fontsize=8)
    ax.set_ylabel("‖Δθ‖ / ‖θ‖")
    ax.set_title(f"Update-to-data ratio (dashed: {reference:g})")
    return ax


def plot_loss_curve(losses: np.ndarray, ax: Axes | None = None) -> Axes:
    """Training loss per step (log axis when it spans > 20x); non-finite: an x labelled 'exploded'."""
    ax = _axes(ax)
    losses = np.asarray(losses, dtype=np.float64)
    plot_log_line(ax, np.arange(len(losses)), losses, "-", color="tab:blue", label="loss")
    mark_overflow_in_legend(ax, losses)
    _log_axis(ax)
    finite = losses[np.isfinite(losses) & (losses > 0)]
    if len(finite) > 1 and finite.max() < 20 * finite.min() and np.isfinite(losses).all():
        ax.set_yscale("linear")  # a log axis over less than a decade only hides the numbers
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("Loss")
    _legend_outside(ax)
    return ax


def plot_gradient_histograms(histograms: GradientHistograms, ax: Axes | None = None) -> Axes:
    """Per layer, the distribution of log10 |gradient element| (fraction per bin, step lines).

    Exact zeros and layers without any gradient cannot be drawn on this axis: the legend gives
    each layer's share of elements that are exactly 0 ("'linear1': 100% = 0") and names the
    layers without a gradient (None).
    """
    ax = _axes(ax)
    edges = histograms.edges
    centers = (edges[:-1] + edges[1:]) / 2
    colors = _layer_colors(len(histograms.layers))
    for i, (layer, color) in enumerate(zip(histograms.layers, colors, strict=True)):
        if layer in histograms.missing:
            ax.plot([], [], ls="none", label=f"'{layer}': None")
            continue
        total = histograms.counts[i].sum() + histograms.zeros[i] + histograms.non_finite[i]
        label = f"'{layer}'"
        if histograms.zeros[i]:
            label += f": {format_percent(histograms.zeros[i] / total)} = 0"
        if histograms.non_finite[i]:
            label += f", {format_percent(histograms.non_finite[i] / total)} inf/nan"
        ax.step(
            centers, histograms.counts[i] / max(total, 1), where="mid", color=color, label=label
        )
    ax.set_xlabel("log10 |gradient element|")
    ax.set_ylabel("fraction of the layer's elements")
    ax.set_title("Gradient histogram per layer (last step)")
    _legend_outside(ax)
    ax.grid(True, alpha=0.3)
    return ax


def plot_dashboard(run: DashboardRun, fig: Figure | None = None) -> np.ndarray:
    """The dashboard's four panels: loss, gradient norms, update ratios, histograms (2 × 2).

    The left panels' legends sit in the gap between the columns, the right ones in the margin.
    """
    fig = plt.figure(figsize=DASHBOARD_FIGSIZE) if fig is None else fig
    axes = fig.subplots(2, 2)
    plot_loss_curve(run.losses, axes[0, 0])
    plot_grad_norms(
        run.recorded_steps,
        run.layer_grad_norms,
        run.layers,
        axes[0, 1],
        missing=run.histograms.missing,
    )
    plot_update_ratios(run.recorded_steps, run.update_ratios, run.layers, axes[1, 0])
    plot_gradient_histograms(run.histograms, axes[1, 1])
    state = "fixed" if run.fixed else "broken"
    if run.scenario == "healthy":
        state = "healthy"
    fig.suptitle(f"'{run.scenario}' ({state}), SGD lr = {run.lr:g}", fontsize=11)
    # fixed margins: tight_layout would measure every tick label and double the drawing time
    fig.subplots_adjust(left=0.06, right=0.85, bottom=0.08, top=0.91, wspace=0.42, hspace=0.38)
    return axes
