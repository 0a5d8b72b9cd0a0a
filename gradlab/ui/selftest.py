"""A tiny widget that proves interactive widgets work in your Jupyter set-up.

Used in notebooks/00_start_here. Moving the slider reruns a Python function in the kernel and prints
its result below the slider, so a learner sees at once whether widgets render *and* respond. The
function is the simplest gradient there is: the slope of f(x) = x² at the slider's value.
"""

from dataclasses import dataclass

import ipywidgets as widgets

from gradlab.ui.controls import int_slider

SELFTEST_MIN = -5
SELFTEST_MAX = 5
SELFTEST_START = 3


@dataclass(frozen=True)
class SelftestReadout:
    """What the self-test prints for one slider position."""

    x: int
    value: int  # f(x) = x²
    slope: int  # f'(x) = 2x


def compute_selftest_readout(x: int) -> SelftestReadout:
    """Evaluate f(x) = x² and its derivative f'(x) = 2x at an integer slider value.

    Args:
        x: the slider value, an integer in [SELFTEST_MIN, SELFTEST_MAX].

    Returns:
        A SelftestReadout with x, x² and 2x.

    Raises:
        TypeError: x is not an int. ValueError: x is outside the slider's range.
    """
    if isinstance(x, bool) or not isinstance(x, int):
        raise TypeError(f"x must be an int, got {x!r} of type {type(x).__name__}")
    if not SELFTEST_MIN <= x <= SELFTEST_MAX:
        raise ValueError(f"x must be between {SELFTEST_MIN} and {SELFTEST_MAX}, got {x}")
    return SelftestReadout(x=x, value=x * x, slope=2 * x)


def format_selftest_readout(readout: SelftestReadout) -> str:
    """The line printed under the slider, e.g. "x = 3  ->  f(x) = x² = 9, slope f'(x) = 2x = 6"."""
    return f"x = {readout.x}  ->  f(x) = x² = {readout.value}, slope f'(x) = 2x = {readout.slope}"


def make_widget_selftest(x: int = SELFTEST_START) -> widgets.VBox:
    """Build the self-test: an integer slider and an output that prints the readout on every move.

    Args:
        x: where the slider starts.

    Returns:
        A VBox holding the slider (description "x") and the output; display it as a cell's last line.
    """
    start = compute_selftest_readout(x)  # validates x before any widget is built
    # the work is trivial, so every step may redraw
    slider = int_slider(start.x, SELFTEST_MIN, SELFTEST_MAX, "x", continuous_update=True)
    slider.add_class("gradlab-selftest-slider")
    output = widgets.Output()
    output.add_class("gradlab-selftest-output")

    def show(x: int) -> None:
        # Replace the output's content in one state update instead of print() inside
        # `with output:`: no flicker, and it behaves the same under nbval, nbclient and a live kernel.
        text = format_selftest_readout(compute_selftest_readout(x))
        output.outputs = ({"output_type": "stream", "name": "stdout", "text": text + "\n"},)

    def on_change(change: dict) -> None:
        show(change["new"])

    slider.observe(on_change, names="value")
    show(start.x)
    return widgets.VBox([slider, output])
