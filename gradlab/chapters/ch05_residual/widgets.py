"""The residual widget of notebooks/05_residual: depth × activation × weight scale × branch init →
the gradient reaching every block of the plain network and of the residual one, side by side.

Each move runs real forward and backward passes (gradlab.chapters.ch05_residual.block_gradients)
and redraws the one figure built when the widget is made. Every slider position gives a result:
underflow and overflow print as 'vanished (0)' / 'exploded (inf)' (gradlab.formatting).
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt

from gradlab.chapters.ch05_residual.block_gradients import (
    BlockGradients,
    measure_block_gradients,
)
from gradlab.chapters.ch05_residual.plots import plot_side_by_side
from gradlab.ui.controls import dropdown, float_slider, int_slider
from gradlab.ui.wiring import wire

RESIDUAL_VARIANTS: tuple[str, ...] = ("residual", "residual, zero-init branches")


@dataclass(frozen=True)
class ResidualGrid:
    """The slider grid (tests sweep exactly these values)."""

    depth_min: int = 1
    depth_max: int = 50
    scale_min: float = 0.25
    scale_max: float = 2.0
    scale_step: float = 0.05
    activations: tuple[str, ...] = ("relu", "tanh", "sigmoid")
    variants: tuple[str, ...] = RESIDUAL_VARIANTS


RESIDUAL_GRID = ResidualGrid()
CSS_CLASS = "gradlab-residual"


def compute_plain_and_residual(
    depth: int, activation: str, weight_scale: float, variant: str
) -> tuple[BlockGradients, BlockGradients]:
    """The plain network and the chosen residual one, same seed and weights, one pass each."""
    if variant not in RESIDUAL_VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(RESIDUAL_VARIANTS)}; got {variant!r}")
    plain = measure_block_gradients(depth, activation, weight_scale, "plain")
    residual = measure_block_gradients(depth, activation, weight_scale, variant)
    return plain, residual


def make_residual_demo(
    depth: int = 20,
    activation: str = "relu",
    weight_scale: float = 0.7,
    variant: str = "residual",
) -> widgets.VBox:
    """Plain vs residual: the gradient reaching every block, measured beside the prediction."""
    grid = RESIDUAL_GRID
    controls = {
        "depth": int_slider(depth, grid.depth_min, grid.depth_max, "blocks"),
        "weight_scale": float_slider(
            weight_scale, grid.scale_min, grid.scale_max, grid.scale_step, "weight scale"
        ),
        "activation": dropdown(grid.activations, activation, "activation"),
        "variant": dropdown(grid.variants, variant, "residual net"),
    }
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))  # built once, redrawn on every move

    def render(depth: int, weight_scale: float, activation: str, variant: str) -> str:
        results = compute_plain_and_residual(depth, activation, weight_scale, variant)
        plot_side_by_side(results, axes)
        figure.tight_layout()
        plt.figure(figure)  # the current figure: wire's plt.show() shows this one
        return "\n".join(result.summary() for result in results)

    # Two networks built and run forward + backward at every move, up to 50 blocks each: a few
    # hundred ms at the largest depth (tests/benchmarks/ch05_widget.py), more on a busy machine,
    # so the learner gets the busy state ("computing…", controls disabled) while it runs.
    return wire(controls, render, CSS_CLASS, busy=True)
