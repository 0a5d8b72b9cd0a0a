"""Interactive demos for notebooks/02_activations, wired with gradlab.ui.wiring.wire.

"Activation explorer" (activation and x) and "Gradient after N layers" (depth and init). Each
redraw calls a pure compute function and a plot_* that draws its result; every setting the
controls allow gives a labelled result (overflow reads 'exploded (inf)'), never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt

from gradlab.chapters.ch02_activations.depth import compute_gradient_after_depth
from gradlab.chapters.ch02_activations.explorer import compute_activation_explorer
from gradlab.chapters.ch02_activations.plots import (
    plot_activation_explorer,
    plot_gradient_after_depth,
)
from gradlab.models.activations import ACTIVATIONS
from gradlab.models.mlp import INITS
from gradlab.ui.controls import dropdown, float_slider, int_slider
from gradlab.ui.wiring import wire


@dataclass(frozen=True)
class ExplorerGrid:
    """The controls of the activation explorer (tests sweep exactly these values)."""

    activations: tuple[str, ...] = ACTIVATIONS
    x_min: float = -6.0
    x_max: float = 6.0
    x_step: float = 0.1

    def xs(self) -> tuple[float, ...]:
        """Every value the x slider can take."""
        count = round((self.x_max - self.x_min) / self.x_step) + 1
        return tuple(round(self.x_min + i * self.x_step, 10) for i in range(count))


@dataclass(frozen=True)
class DepthGrid:
    """The controls of the gradient-after-N-layers demo."""

    depth_min: int = 1
    depth_max: int = 50
    inits: tuple[str, ...] = INITS


EXPLORER_GRID = ExplorerGrid()
DEPTH_GRID = DepthGrid()


def make_activation_explorer_demo(activation: str = "sigmoid", x: float = 0.0) -> widgets.VBox:
    """The "Activation explorer": f and f' with the point x, its values, zone and note."""
    grid = EXPLORER_GRID
    controls = {
        "activation": dropdown(grid.activations, activation, "activation"),
        "x": float_slider(x, grid.x_min, grid.x_max, grid.x_step, "x"),
    }

    def render(activation: str, x: float) -> str:
        result = compute_activation_explorer(activation, x)
        plot_activation_explorer(result, plt.subplots(figsize=(7, 3.6))[1])
        return result.summary()

    # One function evaluated at one x (~0.06 s): fast, no busy state.
    return wire(controls, render, "gradlab-activation-explorer")


def make_gradient_after_depth_demo(depth: int = 10, init: str = "xavier") -> widgets.VBox:
    """ "Gradient after N layers": every activation measured in equal networks of one depth."""
    grid = DEPTH_GRID
    controls = {
        "depth": int_slider(depth, grid.depth_min, grid.depth_max, "depth"),
        "init": dropdown(grid.inits, init, "init"),
    }

    def render(depth: int, init: str) -> str:
        comparison = compute_gradient_after_depth(depth, init)
        plot_gradient_after_depth(comparison, plt.subplots(figsize=(7, 3.6))[1])
        return comparison.table()

    # 21 networks per update (7 activations × 3 seeds): 0.43–0.52 s measured at depth 50 (compute and PNG, one thread),
    # more in a busy browser, so the learner gets the busy state.
    return wire(controls, render, "gradlab-gradient-after-depth", busy=True)
