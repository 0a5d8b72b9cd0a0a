"""Chapter 5's figures (notebooks/05_residual): they draw stored numbers and compute nothing."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from gradlab.chapters.ch05_residual.block_gradients import BlockGradients
from gradlab.chapters.ch05_residual.transformers import CHANCE_LOSS, TransformerRun
from gradlab.plotting.log_lines import (
    mark_overflow_in_legend,
    mark_vanished_in_legend,
    plot_log_line,
    span_log_range,
)
from gradlab.training.loop import TrainingRecord

COLOURS = {"plain": "tab:red", "residual": "tab:blue", "residual, zero-init branches": "tab:green"}


def plot_block_gradients(result: BlockGradients, ax: Axes | None = None) -> Axes:
    """The gradient reaching every block (log axis), measured (solid) and predicted (dashed)."""
    ax = ax or plt.subplots(figsize=(5, 3.6))[1]
    blocks = np.arange(1, result.depth + 2)  # block i's input; the last point is the top
    colour = COLOURS.get(result.network, "tab:blue")
    plot_log_line(ax, blocks, result.grad_norms, "o-", color=colour, ms=3, label="measured")
    plot_log_line(ax, blocks, result.predicted, "--", color="black", lw=1, label="predicted")
    low = span_log_range(ax, result.grad_norms, result.predicted)
    vanished = result.grad_norms == 0
    if vanished.any():
        ax.scatter(blocks[vanished], np.full(vanished.sum(), low), marker="v", color="black")
    mark_overflow_in_legend(ax, result.grad_norms)
    mark_vanished_in_legend(ax, result.grad_norms)
    ax.set_xlabel("block (input of block i; last point: the top)")
    ax.set_ylabel("‖∂L/∂x‖ / ‖∂L/∂(top)‖")
    ax.set_title(f"{result.network}, {result.depth} blocks", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return ax


def plot_side_by_side(results: Sequence[BlockGradients], axes: Sequence[Axes]) -> Sequence[Axes]:
    """One panel per network, sharing the y-range so the two curves compare at a glance."""
    for result, ax in zip(results, axes, strict=True):
        ax.clear()
        plot_block_gradients(result, ax)
    low = min(ax.get_ylim()[0] for ax in axes)
    high = max(ax.get_ylim()[1] for ax in axes)
    for ax in axes:
        ax.set_ylim(low, high)
    return axes


def plot_training(records: dict[str, Sequence[TrainingRecord]], ax: Axes | None = None) -> Axes:
    """Training loss per step, one line per run (non-finite steps are left out)."""
    ax = ax or plt.subplots(figsize=(7, 3.6))[1]
    colours = ["tab:red", "tab:blue", "tab:orange"]
    for colour, (name, runs) in zip(colours, records.items(), strict=False):
        for index, record in enumerate(runs):
            losses = np.where(np.isfinite(record.losses), record.losses, np.nan)
            ax.plot(losses, color=colour, alpha=0.8, lw=1, label=name if index == 0 else None)
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 1e3)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (log)")
    ax.legend(fontsize=8)
    return ax


def plot_transformer_layers(norms: dict[str, np.ndarray], ax: Axes | None = None) -> Axes:
    """‖∂L/∂θ‖ per layer at init, one line per stack."""
    ax = ax or plt.subplots(figsize=(6, 3.4))[1]
    for name, values in norms.items():
        ax.plot(np.arange(1, len(values) + 1), values, "o-", ms=3, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("‖∂L/∂θ‖ of the layer")
    ax.legend(fontsize=8)
    return ax


def plot_transformer_runs(runs: Sequence[TransformerRun], ax: Axes | None = None) -> Axes:
    """Loss per step of each run, with the chance level ln(vocabulary)."""
    ax = ax or plt.subplots(figsize=(6, 3.4))[1]
    for run in runs:
        ax.plot(run.losses, label=run.label)
    ax.axhline(CHANCE_LOSS, color="grey", ls=":", label="chance (ln 8)")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    return ax
