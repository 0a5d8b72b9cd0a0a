"""Drawing only, for notebooks/06_clipping: each plot_* takes computed results and an optional Axes
(or two) and returns what it drew on. Non-finite losses (a diverged run) end the curve; the run is
marked 'diverged' in the legend.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from gradlab.chapters.ch06_clipping.direction import ClippingView
from gradlab.chapters.ch06_clipping.spikes import SpikeRun, corrupted_steps
from gradlab.chapters.ch06_clipping.thresholds import NormHistory
from gradlab.chapters.ch06_clipping.through_time import TimeProfile
from gradlab.chapters.ch06_clipping.training import Sweep
from gradlab.training.sequence_tasks import BASELINE_MSE

SWEEP_TOP = 1e4  # the loss axis of the sweep ends here (a diverged run's x sits on it)
COLORS = ("black", "tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange")


def _axes(ax: Axes | None, figsize: tuple[float, float] = (7, 3.6)) -> Axes:
    return plt.subplots(figsize=figsize)[1] if ax is None else ax


def plot_clipping_plane(view: ClippingView, axes: Sequence[Axes] | None = None) -> Sequence[Axes]:
    """Left: g, norm-clipped and value-clipped at their true lengths in the plane of g and the
    value-clipped gradient, with the circle ‖g‖ = c. Right: the same three as unit directions."""
    if axes is None:
        axes = plt.subplots(1, 2, figsize=(9, 3.8))[1]
    names = ("original g", "norm-clipped", "value-clipped")
    colors = ("black", "tab:blue", "tab:red")
    widths = (0.012, 0.02, 0.012)
    for ax, unit in zip(axes, (False, True), strict=True):
        vectors = (
            view.plane / np.linalg.norm(view.plane, axis=1, keepdims=True) if unit else view.plane
        )
        for vector, name, color, width in zip(vectors, names, colors, widths, strict=True):
            ax.quiver(
                0,
                0,
                *vector,
                angles="xy",
                scale_units="xy",
                scale=1,
                color=color,
                width=width,
                label=name,
            )
        reach = 1.1 * (1.0 if unit else float(np.abs(view.plane).max()))
        if not unit:
            circle = plt.Circle((0, 0), view.threshold, fill=False, ls="--", color="tab:blue")
            ax.add_patch(circle)
        ax.set_xlim(-0.1 * reach, reach)
        ax.set_ylim(-0.1 * reach, reach)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
    axes[0].set_title(f"lengths (dashed circle: radius c = {view.threshold:g})", fontsize=10)
    axes[1].set_title(
        f"directions: value clipping turns g by {view.value_angle_degrees:.1f}°", fontsize=10
    )
    axes[0].set_xlabel("along g")
    axes[0].set_ylabel("across g (towards the value-clipped g)")
    axes[1].legend(loc="upper right", fontsize=8)
    return axes


def plot_sweep(sweep: Sweep, ax: Axes | None = None) -> Axes:
    """Training loss per step for every threshold (first seed solid, the others faint), log y."""
    ax = _axes(ax, (8, 4))
    for color, threshold in zip(COLORS, sweep.thresholds, strict=False):
        name = "no clipping" if threshold is None else f"max_norm = {threshold:g}"
        for index, seed in enumerate(sweep.seeds):
            record = sweep.runs[threshold, seed]
            # a diverged run climbs to 1e30 and beyond: drawn up to the top edge, an x there
            losses = np.minimum(record.losses[np.isfinite(record.losses)], SWEEP_TOP)
            label = name + (" (diverged: x)" if record.diverged else "") if index == 0 else None
            ax.plot(
                losses,
                color=color,
                lw=1.0 if index == 0 else 0.6,
                alpha=0.9 if index == 0 else 0.35,
                label=label,
            )
            if record.diverged:
                ax.plot(len(losses), SWEEP_TOP, "x", color=color, ms=9, mew=2, clip_on=False)
    ax.axhline(BASELINE_MSE, color="grey", ls=":", label="baseline (always answer 1.0)")
    ax.set_yscale("log")
    ax.set_ylim(top=SWEEP_TOP)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (MSE)")
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    return ax


def plot_time_profiles(profiles: Sequence[TimeProfile], ax: Axes | None = None) -> Axes:
    """‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ over t for each profile (geometric mean over seeds), log y."""
    ax = _axes(ax)
    for color, profile in zip(COLORS[1:], profiles, strict=False):
        steps = np.arange(1, len(profile.typical) + 1)
        for row in profile.per_seed:
            ax.plot(steps, row, color=color, lw=0.5, alpha=0.3)
        ax.plot(steps, profile.typical, color=color, lw=1.8, label=profile.label)
    ax.set_yscale("log")
    ax.set_xlabel("time step t (the loss is read at the last step)")
    ax.set_ylabel("‖∂L/∂h_t‖ / ‖∂L/∂h_T‖")
    ax.legend(fontsize=8)
    return ax


def plot_spike_norms(run: SpikeRun, spikes: Sequence[int], ax: Axes | None = None) -> Axes:
    """The recorded pre-clip gradient norm per step, the flagged spikes circled."""
    ax = _axes(ax)
    ax.plot(
        run.grad_norms, color="tab:blue", lw=0.8, label="global gradient norm (before clipping)"
    )
    for step in corrupted_steps(len(run.grad_norms)):
        ax.axvline(step, color="tab:red", alpha=0.25, lw=4)
    ax.plot(
        list(spikes),
        run.grad_norms[list(spikes)],
        "o",
        mfc="none",
        color="tab:red",
        ms=10,
        label="flagged spikes",
    )
    ax.set_yscale("log")
    ax.set_xlabel("step (red bands: batches with corrupted targets)")
    ax.set_ylabel("‖g‖")
    ax.legend(fontsize=8)
    return ax


def plot_norm_histories(
    histories: Sequence[NormHistory],
    percentiles: Sequence[float] = (95.0, 99.0),
    axes: Sequence[Axes] | None = None,
) -> Sequence[Axes]:
    """One panel per setup: its recorded norms per step, the median and the percentile lines."""
    if axes is None:
        axes = plt.subplots(1, len(histories), figsize=(10, 3.6), sharey=True)[1]
    for ax, history in zip(axes, histories, strict=True):
        ax.plot(history.norms, color="tab:blue", lw=0.8)
        ax.axhline(history.median, color="black", ls=":", label=f"median {history.median:.2f}")
        for style, q in zip(("--", "-."), percentiles, strict=False):
            value = float(np.percentile(history.norms, q))
            ax.axhline(value, color="tab:red", ls=style, label=f"{q:g}th percentile {value:.2f}")
        ax.axhline(1.0, color="grey", lw=2, alpha=0.4, label="max_norm = 1.0")
        ax.set_yscale("log")
        ax.set_title(history.label, fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("global gradient norm ‖g‖")
    return axes
