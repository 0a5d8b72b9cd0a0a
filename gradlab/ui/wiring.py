"""Interactive demos: controls wired to a pure compute function and a plot_* that draws its result.

Used in notebooks/01_chain_rule ("Deep Network Gradient Flow") and later chapters. Every setting
a control allows gives a result: overflow is drawn and labelled 'exploded (inf/nan)', underflow
to exactly 0 'vanished (0)', never raised.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from gradlab.ui.controls import lay_out_controls

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


def wire(
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
    get the shared layout of gradlab.ui.controls (each slider on a row of its own).

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


def show(widget: widgets.Widget) -> None:
    """Display a widget (the one place gradlab calls display)."""
    display(widget)
