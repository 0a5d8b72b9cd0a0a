"""The interactive demo of notebooks/06_clipping: a threshold slider wired to compute_clipping_view
and plot_clipping_plane (the compute → draw split of gradlab.ui.wiring). Every position of the
slider gives a valid result (tests sweep them all).
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt

from gradlab.chapters.ch06_clipping.direction import THRESHOLDS, compute_clipping_view
from gradlab.chapters.ch06_clipping.plots import plot_clipping_plane
from gradlab.ui.controls import style_control
from gradlab.ui.wiring import wire


def make_clipping_demo(threshold: float = 0.1) -> widgets.VBox:
    """ "Norm vs value clipping": threshold c → both clipped gradients, their lengths and angles."""
    if threshold not in THRESHOLDS:
        raise ValueError(f"threshold must be one of {THRESHOLDS}; got {threshold!r}")
    slider = widgets.SelectionSlider(
        options=[(f"{c:g}", c) for c in THRESHOLDS],
        value=threshold,
        description="threshold c",
        continuous_update=False,
    )
    controls = {"threshold": style_control(slider)}

    def render(threshold: float) -> str:
        view = compute_clipping_view(threshold)
        plot_clipping_plane(view, plt.subplots(1, 2, figsize=(9, 3.8))[1])
        return view.summary()

    # Two clippings of 1,185 numbers: under 1 ms; drawing the two panels dominates (see
    # tests/benchmarks/ch06_clipping.py). No busy state: the slider stays live.
    return wire(controls, render, "gradlab-clipping")
