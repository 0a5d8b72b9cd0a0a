"""Interactive demo for notebooks/04_init_norm: activation × init × depth × width → the forward
and the backward signal per layer, measured on one real forward and backward pass, beside the
variance argument's prediction (the same compute → draw split as gradlab.ui.wiring).

Every setting the controls allow gives a result; a value that vanished to 0 or overflowed reads
'vanished (0)' / 'exploded (inf)' through gradlab.formatting.
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets

from gradlab.chapters.ch04_init_norm.plots import SignalView
from gradlab.chapters.ch04_init_norm.propagation import ACTIVATIONS, INITS, measure_propagation
from gradlab.ui.controls import dropdown, int_slider
from gradlab.ui.wiring import wire


@dataclass(frozen=True)
class SignalGrid:
    """The controls' grid (tests sweep exactly these values)."""

    depth_min: int = 5
    depth_max: int = 50
    depth_step: int = 5
    widths: tuple[int, ...] = (32, 64, 128, 256)
    activations: tuple[str, ...] = ACTIVATIONS
    inits: tuple[str, ...] = INITS


SIGNAL_GRID = SignalGrid()
CSS_CLASS = "gradlab-signal"


def make_signal_demo(
    activation: str = "relu", init: str = "he", depth: int = 50, width: int = 128
) -> widgets.VBox:
    """ "Signal forward and backward": std of z_l and ‖∂L/∂z_l‖ per layer, with the prediction."""
    grid = SIGNAL_GRID
    controls = {
        "depth": int_slider(depth, grid.depth_min, grid.depth_max, "depth", step=grid.depth_step),
        "activation": dropdown(grid.activations, activation, "activation"),
        "init": dropdown(grid.inits, init, "init"),
        "width": dropdown(grid.widths, width, "width"),
    }
    view = SignalView()  # the figure is built once; each move only changes its lines

    def render(depth: int, activation: str, init: str, width: int) -> str:
        result = measure_propagation(activation, init, depth, width)
        view.draw(result)
        return result.summary()

    # One forward and backward pass through at most 50 layers of 256 units (batch 128): see
    # tests/benchmarks/ch04_widget.py for the time per update; fast enough for live controls.
    return wire(controls, render, CSS_CLASS)
