"""Interactive demos for notebooks/03_exploding: controls wired to a pure compute function and a
plot_* that draws its result (the same compute → draw split as gradlab.ui.wiring).

Every setting a slider allows gives a result; overflow is drawn and labelled
'exploded (inf)' / 'exploded (nan)', never raised.
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt

from gradlab.chapters.ch03_exploding.plots import plot_growth, plot_time_gradients
from gradlab.measure.rnn import RNN_CASES, TimeGradients, compute_time_gradients
from gradlab.measure.spectral import CHAIN_ACTIVATIONS, WEIGHT_KINDS, measure_growth
from gradlab.ui.controls import dropdown, float_slider, int_slider
from gradlab.ui.wiring import wire


@dataclass(frozen=True)
class GrowthGrid:
    """The slider grid of the weight-scale demo (tests sweep exactly these values)."""

    depth_min: int = 1
    depth_max: int = 100
    scale_min: float = 0.25
    scale_max: float = 3.0
    scale_step: float = 0.05
    kinds: tuple[str, ...] = WEIGHT_KINDS
    activations: tuple[str, ...] = CHAIN_ACTIVATIONS


@dataclass(frozen=True)
class TimeGrid:
    """The slider grid of the gradients-through-time demo."""

    steps_min: int = 1
    steps_max: int = 100
    scale_min: float = 0.1
    scale_max: float = 3.0
    scale_step: float = 0.05


GROWTH_GRID = GrowthGrid()
TIME_GRID = TimeGrid()


def compute_time_comparison(recurrent_scale: float, steps: int) -> list[TimeGradients]:
    """‖∂L/∂h_t‖ for every t, for the linear and the tanh nn.RNN with the same scale s and T."""
    return [compute_time_gradients(case, recurrent_scale, steps) for case in RNN_CASES]


def make_growth_demo(
    depth: int = 20,
    weight_scale: float = 1.5,
    kind: str = "orthogonal",
    activation: str = "linear",
) -> widgets.VBox:
    """ "Weight scale and depth": the (σ_max × slope)^L estimate beside the measured gradient."""
    grid = GROWTH_GRID
    controls = {
        "weight_scale": float_slider(
            weight_scale, grid.scale_min, grid.scale_max, grid.scale_step, "weight scale"
        ),
        "depth": int_slider(depth, grid.depth_min, grid.depth_max, "depth"),
        "kind": dropdown(grid.kinds, kind, "weights"),
        "activation": dropdown(grid.activations, activation, "activation"),
    }

    def render(weight_scale: float, depth: int, kind: str, activation: str) -> str:
        result = measure_growth(depth, weight_scale, kind=kind, activation=activation)
        plot_growth(result, plt.subplots(figsize=(7, 3.6))[1])
        return result.summary()

    # One backward pass through at most 100 layers: 0.19 s at worst with the PNG (about 0.25 s from
    # key press to plot in Lab), so no busy state: the sliders stay live for quick key presses.
    return wire(controls, render, "gradlab-growth")


def make_time_demo(recurrent_scale: float = 0.5, steps: int = 6) -> widgets.VBox:
    """ "Gradients through time": scale s of W_h and T → ‖∂L/∂h_t‖ for every t on a log axis."""
    grid = TIME_GRID
    controls = {
        "recurrent_scale": float_slider(
            recurrent_scale, grid.scale_min, grid.scale_max, grid.scale_step, "scale s of W_h"
        ),
        "steps": int_slider(steps, grid.steps_min, grid.steps_max, "T (steps)"),
    }

    def render(recurrent_scale: float, steps: int) -> str:
        results = compute_time_comparison(recurrent_scale, steps)
        plot_time_gradients(results, plt.subplots(figsize=(7, 3.6))[1])
        return "\n".join(result.summary() for result in results)

    # T steps unrolled one at a time, twice: 0.13 s alone at T = 100 with the PNG, but 0.3-0.6 s
    # from key press to plot in Lab (1.4 s on a loaded machine), so the learner gets the busy state.
    return wire(controls, render, "gradlab-time", busy=True)
