"""One layout for every gradlab control: slider tracks long enough to drag, labels that do not eat them.

Used by every demo wired with gradlab.ui.wiring.wire (Chapters 1, 2, 3 and 7) and by Chapter 0's
self-test (gradlab.ui.selftest). Why: in JupyterLab at 1280×900 with the file browser open, four
controls side by side in one row left Chapter 1's weight-scale track 31 px for 0.1–3.0 (about one
pixel per step). Here each slider gets a row of its own, up to SLIDER_WIDTH wide (less in a narrow
cell), and every label the same DESCRIPTION_WIDTH, so the track keeps the rest of the row (354 px
there); the other controls (dropdowns, as wide as their longest option, and checkboxes) share one
row beneath. Torch-free, so the self-test stays light.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets

DESCRIPTION_WIDTH = "110px"  # fits the longest label ("scale s of W_h") at Lab's font size
SLIDER_WIDTH = "560px"  # the whole slider row: label, track and the value readout
SLIDERS = (
    widgets.IntSlider,
    widgets.FloatSlider,
    widgets.FloatLogSlider,
    widgets.IntRangeSlider,
    widgets.FloatRangeSlider,
    widgets.SelectionSlider,
    widgets.SelectionRangeSlider,
)


def style_control(control: widgets.Widget) -> widgets.Widget:
    """Give a control the shared label width and, for a slider, its own full-width row; in place.

    Returns the control, so builders can end with `return style_control(...)`.
    """
    if isinstance(control, SLIDERS):
        control.layout.width = "100%"
        control.layout.max_width = SLIDER_WIDTH
    if isinstance(control, widgets.Dropdown):
        # as wide as its longest option (ipywidgets' fixed 300 px would cut the longer ones)
        control.layout.width = "max-content"
    if isinstance(control, (*SLIDERS, widgets.Dropdown)):
        control.style.description_width = DESCRIPTION_WIDTH
    return control


def int_slider(
    value: int,
    low: int,
    high: int,
    description: str,
    *,
    step: int = 1,
    continuous_update: bool = False,
) -> widgets.IntSlider:
    """An integer slider in the shared layout; by default it sends its value on release only."""
    slider = widgets.IntSlider(
        value=value,
        min=low,
        max=high,
        step=step,
        description=description,
        continuous_update=continuous_update,
    )
    return style_control(slider)


def float_slider(
    value: float,
    low: float,
    high: float,
    step: float,
    description: str,
    *,
    continuous_update: bool = False,
) -> widgets.FloatSlider:
    """A float slider in the shared layout; by default it sends its value on release only."""
    slider = widgets.FloatSlider(
        value=value,
        min=low,
        max=high,
        step=step,
        description=description,
        continuous_update=continuous_update,
    )
    return style_control(slider)


def dropdown(options: Sequence, value: object, description: str) -> widgets.Dropdown:
    """A dropdown in the shared layout (options as ipywidgets takes them: values or (label, value))."""
    return style_control(widgets.Dropdown(options=options, value=value, description=description))


def lay_out_controls(controls: Sequence[widgets.Widget]) -> widgets.VBox:
    """Each slider on its own row (in the given order), then the other controls in one wrapping row.

    Styles every control with style_control first, so a slider built elsewhere gets the layout too.
    """
    for control in controls:
        style_control(control)
    sliders = [control for control in controls if isinstance(control, SLIDERS)]
    others = [control for control in controls if not isinstance(control, SLIDERS)]
    rows: list[widgets.Widget] = list(sliders)
    if others:
        rows.append(widgets.HBox(others, layout=widgets.Layout(flex_flow="row wrap")))
    box = widgets.VBox(rows)
    box.add_class("gradlab-controls")
    return box
