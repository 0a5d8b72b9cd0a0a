"""The "Deep Network Gradient Flow" widget of notebooks/01_chain_rule: depth, activation, weight
scale and init → one real backward pass, drawn."""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets

from gradlab.measure.probe import measure_gradient_flow
from gradlab.models.activations import ACTIVATIONS
from gradlab.models.mlp import INITS
from gradlab.plotting.gradient_flow import plot_gradient_flow
from gradlab.ui.controls import dropdown, float_slider, int_slider
from gradlab.ui.wiring import wire


@dataclass(frozen=True)
class GradientFlowGrid:
    """The slider grid of the gradient-flow demo (tests sweep exactly these values)."""

    depth_min: int = 1
    depth_max: int = 50
    scale_min: float = 0.1
    scale_max: float = 3.0
    scale_step: float = 0.1
    activations: tuple[str, ...] = ACTIVATIONS
    inits: tuple[str, ...] = INITS


GRADIENT_FLOW_GRID = GradientFlowGrid()


def make_gradient_flow_demo(
    depth: int = 8, activation: str = "sigmoid", weight_scale: float = 1.0, init: str = "xavier"
) -> widgets.VBox:
    """The "Deep Network Gradient Flow" widget: depth, activation, weight scale and init."""
    grid = GRADIENT_FLOW_GRID
    controls = {
        "depth": int_slider(depth, grid.depth_min, grid.depth_max, "depth"),
        "activation": dropdown(grid.activations, activation, "activation"),
        "weight_scale": float_slider(
            weight_scale, grid.scale_min, grid.scale_max, grid.scale_step, "weight scale"
        ),
        "init": dropdown(grid.inits, init, "init"),
    }

    def render(depth: int, activation: str, weight_scale: float, init: str) -> str:
        # a fresh seeded network and one real backward pass per setting
        probe = measure_gradient_flow(depth, activation, weight_scale, init)
        plot_gradient_flow(probe)
        return probe.summary()

    # Fast (at most ~0.17 s at depth 50 with the PNG), so no busy state: the depth slider stays
    # live for quick key presses.
    return wire(controls, render, "gradlab-gradient-flow")
