"""Interactive demos: controls wired to a pure compute function and a plot_* that draws its result.

Used in notebooks/01_chain_rule ("Deep Network Gradient Flow") and later chapters. Every setting
a control allows gives a result: overflow is drawn and labelled 'exploded (inf/nan)', underflow
to exactly 0 'vanished (0)', never raised.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from gradlab.activations import ACTIVATIONS
from gradlab.models import INITS
from gradlab.plots import plot_gradient_flow
from gradlab.probe import GradientProbe, measure_gradient_flow


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


def compute_gradient_flow(
    depth: int, activation: str, weight_scale: float, init: str, *, seed: int = 0
) -> GradientProbe:
    """The numbers behind one setting of the demo: a fresh network, one real backward pass."""
    return measure_gradient_flow(depth, activation, weight_scale, init, seed=seed)


def _wire(
    controls: Mapping[str, widgets.ValueWidget],
    render: Callable[..., str],
    css_class: str,
) -> widgets.VBox:
    """Lay out controls above a plot and a text readout; redraw when any control changes.

    `render(**values)` draws into the current figure and returns the readout text.
    """
    plot = widgets.Output()
    readout = widgets.HTML()
    readout.add_class("gradlab-readout")

    def update(_change: Any = None) -> None:
        values = {name: control.value for name, control in controls.items()}
        with plot:
            plot.clear_output(wait=True)
            text = render(**values)
            plt.show()
        readout.value = f"<pre>{html.escape(text)}</pre>"

    for control in controls.values():
        control.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox(list(controls.values())), plot, readout])
    box.add_class(css_class)
    return box


def make_gradient_flow_demo(
    depth: int = 8, activation: str = "sigmoid", weight_scale: float = 1.0, init: str = "xavier"
) -> widgets.VBox:
    """The "Deep Network Gradient Flow" widget: depth, activation, weight scale and init."""
    grid = GRADIENT_FLOW_GRID
    style = {"description_width": "initial"}
    controls = {
        "depth": widgets.IntSlider(
            value=depth,
            min=grid.depth_min,
            max=grid.depth_max,
            description="depth",
            continuous_update=False,
            style=style,
        ),
        "activation": widgets.Dropdown(
            options=grid.activations, value=activation, description="activation", style=style
        ),
        "weight_scale": widgets.FloatSlider(
            value=weight_scale,
            min=grid.scale_min,
            max=grid.scale_max,
            step=grid.scale_step,
            description="weight scale",
            continuous_update=False,
            style=style,
        ),
        "init": widgets.Dropdown(options=grid.inits, value=init, description="init", style=style),
    }

    def render(depth: int, activation: str, weight_scale: float, init: str) -> str:
        probe = compute_gradient_flow(depth, activation, weight_scale, init)
        plot_gradient_flow(probe)
        return probe.summary()

    return _wire(controls, render, "gradlab-gradient-flow")


def show(widget: widgets.Widget) -> None:
    """Display a widget (the one place gradlab calls display)."""
    display(widget)
