"""The gradient-flow demo: every slider setting computes a valid, labelled result."""

import itertools
import math

import matplotlib
import numpy as np
import pytest

from gradlab.formatting import format_magnitude
from gradlab.probe import STATUSES
from gradlab.widgets import GRADIENT_FLOW_GRID, compute_gradient_flow, make_gradient_flow_demo

matplotlib.use("Agg")

GRID = GRADIENT_FLOW_GRID
DEPTHS = (GRID.depth_min, 2, 10, 25, GRID.depth_max)
SCALES = (GRID.scale_min, 0.5, 1.0, 1.5, GRID.scale_max)


def assert_valid(probe, depth):
    assert probe.depth == depth
    assert len(probe.statuses) == depth
    assert all(status in STATUSES for status in probe.statuses)
    for value in (probe.total_measured, probe.total_predicted, probe.typical_factor):
        text = format_magnitude(value)
        assert text and ("exploded" in text or math.isfinite(value))
    # a non-finite gradient is always labelled as exploded
    for norm, status in zip(probe.relative_grad_norms, probe.statuses, strict=True):
        if not np.isfinite(norm):
            assert status == "exploded"
    assert probe.summary().count("\n") == 2


@pytest.mark.parametrize("activation", GRID.activations)
@pytest.mark.parametrize("init", GRID.inits)
def test_sweep_slider_grid(activation, init):
    for depth, scale in itertools.product(DEPTHS, SCALES):
        assert_valid(compute_gradient_flow(depth, activation, scale, init), depth)


def test_every_scale_step_at_the_deepest_setting():
    steps = round((GRID.scale_max - GRID.scale_min) / GRID.scale_step) + 1
    for i in range(steps):
        scale = GRID.scale_min + i * GRID.scale_step
        for activation in ("sigmoid", "relu"):
            assert_valid(compute_gradient_flow(GRID.depth_max, activation, scale, "normal"), 50)


def test_extremes_behave_as_taught():
    deep_sigmoid = compute_gradient_flow(50, "sigmoid", 1.0, "xavier")
    assert deep_sigmoid.statuses[0] == "vanished"
    blown_up = compute_gradient_flow(50, "relu", GRID.scale_max, "normal")
    assert blown_up.statuses[0] == "exploded"
    assert compute_gradient_flow(50, "relu", 1.0, "he").statuses[0] == "healthy"


def test_widget_redraws_on_slider_move():
    demo = make_gradient_flow_demo(depth=8, activation="sigmoid")
    readout = demo.children[2]
    before = readout.value
    depth_slider = demo.children[0].children[0]
    assert depth_slider.description == "depth"
    depth_slider.value = 30
    assert readout.value != before
    assert "Through 30 layers" in readout.value


def test_plots_draw_without_computing(tmp_path):
    from gradlab.plots import plot_factor_curves, plot_gradient_flow
    from gradlab.theory import factor_curves

    ax = plot_factor_curves(factor_curves())
    assert len(ax.get_lines()) == 5
    blown = compute_gradient_flow(50, "relu", GRID.scale_max, "normal")
    ax = plot_gradient_flow(blown)
    labels = ax.get_legend_handles_labels()[1]
    assert "exploded (inf/nan)" in labels
    ax.figure.savefig(tmp_path / "flow.png")
