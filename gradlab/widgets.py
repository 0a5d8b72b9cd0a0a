"""Interactive demos: controls wired to a pure compute function and a plot_* that draws its result.

Used in notebooks/01_chain_rule ("Deep Network Gradient Flow") and later chapters. Every setting
a control allows gives a result: overflow is drawn and labelled 'exploded (inf/nan)', underflow
to exactly 0 'vanished (0)', never raised.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from gradlab.activations import ACTIVATIONS
from gradlab.models import INITS
from gradlab.plots import plot_gradient_flow
from gradlab.probe import GradientProbe, measure_gradient_flow
from gradlab.widgets_controls import dropdown, float_slider, int_slider, lay_out_controls


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


BUSY_TEXT = "computing…"


@contextmanager
def _busy_state(
    controls: Sequence[widgets.ValueWidget], status: widgets.HTML, text: str
) -> Iterator[None]:
    """Show `text` in `status` and disable `controls` while the body runs; undo both after.

    The undo sits in `finally`, so a compute that raises never leaves the widget frozen. Each
    trait change is sent to the browser at once, so the learner sees the busy state while the
    kernel works, not after.
    """
    was_disabled = [control.disabled for control in controls]
    status.value = html.escape(text, quote=False)
    for control in controls:
        control.disabled = True
    try:
        yield
    finally:
        for control, disabled in zip(controls, was_disabled, strict=True):
            control.disabled = disabled
        status.value = ""


def _wire(
    controls: Mapping[str, widgets.ValueWidget],
    render: Callable[..., str],
    css_class: str,
    *,
    busy: bool = False,
    busy_text: Callable[..., str] | None = None,
    clear_while_busy: bool = False,
) -> widgets.VBox:
    """Lay out controls above a plot and a text readout; redraw when any control changes.

    `render(**values)` draws into the current figure and returns the readout text. The controls
    get the shared layout of gradlab.widgets_controls (each slider on a row of its own).

    Args:
        busy: for a widget whose update can take over ~0.5 s. While it runs, a `.gradlab-busy`
            line (between the controls and the plot; it keeps its height, so nothing jumps)
            reads "computing…" and the controls are disabled. Fast widgets leave it off: their
            controls stay live for quick key presses and nothing flickers.
        busy_text: `busy_text(**values)` replaces "computing…" (e.g. what is being trained).
        clear_while_busy: also clear the old plot and readout at once when an update starts.
    """
    if not busy and (busy_text is not None or clear_while_busy):
        raise ValueError(
            f"busy_text={busy_text!r} and clear_while_busy={clear_while_busy!r} need busy=True"
        )
    plot = widgets.Output()
    plot.add_class("gradlab-plot")
    readout = widgets.HTML()
    readout.add_class("gradlab-readout")
    status = widgets.HTML(layout=widgets.Layout(min_height="1.6em"))
    status.add_class("gradlab-busy")

    def draw(values: dict[str, Any]) -> None:
        with plot:
            plot.clear_output(wait=True)
            text = render(**values)
            plt.show()
        readout.value = f"<pre>{html.escape(text)}</pre>"

    def update(_change: Any = None) -> None:
        values = {name: control.value for name, control in controls.items()}
        if not busy:
            draw(values)
            return
        text = BUSY_TEXT if busy_text is None else busy_text(**values)
        with _busy_state(list(controls.values()), status, text):
            if clear_while_busy:
                plot.outputs = ()  # synced at once, unlike clear_output(wait=True)
                readout.value = ""
            draw(values)

    for control in controls.values():
        control.observe(update, names="value")
    update()
    parts = [lay_out_controls(list(controls.values())), plot, readout]
    if busy:
        parts.insert(1, status)
    box = widgets.VBox(parts)
    box.add_class(css_class)
    return box


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
        probe = compute_gradient_flow(depth, activation, weight_scale, init)
        plot_gradient_flow(probe)
        return probe.summary()

    # Fast (at most ~0.17 s at depth 50 with the PNG), so no busy state: the depth slider stays
    # live for quick key presses.
    return _wire(controls, render, "gradlab-gradient-flow")


def show(widget: widgets.Widget) -> None:
    """Display a widget (the one place gradlab calls display)."""
    display(widget)
