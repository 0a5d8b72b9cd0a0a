"""Chapter 2 demos: every slider setting computes a valid, labelled result; moves redraw."""

import math

import matplotlib
import numpy as np
import pytest

from gradlab.chapters.ch02_activations.depth import compute_gradient_after_depth
from gradlab.chapters.ch02_activations.explorer import compute_activation_explorer
from gradlab.chapters.ch02_activations.widgets import (
    DEPTH_GRID,
    EXPLORER_GRID,
    make_activation_explorer_demo,
    make_gradient_after_depth_demo,
)
from gradlab.formatting import format_percent
from gradlab.measure.probe import STATUSES
from tests.helpers import find

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks, as the chapters run them


matplotlib.use("Agg")


def test_explorer_grid_includes_extremes():
    xs = EXPLORER_GRID.xs()
    assert xs[0] == EXPLORER_GRID.x_min and xs[-1] == EXPLORER_GRID.x_max
    assert len(xs) == 121 and 0.0 in xs


@pytest.mark.parametrize("activation", EXPLORER_GRID.activations)
def test_sweep_explorer_grid(activation):
    for x in EXPLORER_GRID.xs():
        result = compute_activation_explorer(activation, x)
        assert math.isfinite(result.value) and math.isfinite(result.derivative)
        assert np.isfinite(result.values).all() and np.isfinite(result.derivatives).all()
        summary = result.summary()
        assert summary.count("\n") == 2 and activation in summary
        assert ("inside it" in summary) == result.in_zone


DEPTHS = (DEPTH_GRID.depth_min, 2, 10, 25, DEPTH_GRID.depth_max)


@pytest.mark.parametrize("init", DEPTH_GRID.inits)
def test_sweep_depth_grid(init):
    for depth in DEPTHS:
        comparison = compute_gradient_after_depth(depth, init)
        assert comparison.depth == depth
        assert all(status in STATUSES for status in comparison.statuses())
        for value, status in zip(comparison.remaining, comparison.statuses(), strict=True):
            text = format_percent(float(value))
            assert text
            if not math.isfinite(value):
                assert status == "exploded" and text.startswith("exploded (")
        assert comparison.table().count("\n") == 1 + len(comparison.activations)


def test_extremes_behave_as_taught():
    deep = compute_gradient_after_depth(DEPTH_GRID.depth_max, "normal")
    assert deep.statuses()[deep.activations.index("relu")] == "exploded"
    assert "exploded (" in deep.table()
    assert compute_gradient_after_depth(50, "xavier").statuses()[0] == "vanished"  # sigmoid


def test_every_depth_with_he_init():
    for depth in range(DEPTH_GRID.depth_min, DEPTH_GRID.depth_max + 1, 7):
        comparison = compute_gradient_after_depth(depth, "he", seeds=1)
        assert len(comparison.statuses()) == len(comparison.activations)


def test_explorer_redraws_on_move():
    demo = make_activation_explorer_demo()
    readout = find(demo, css_class="gradlab-readout")
    activation, x = find(demo, "activation"), find(demo, "x")
    before = readout.value
    x.value = EXPLORER_GRID.x_max
    assert readout.value != before and "x = 6.00" in readout.value
    activation.value = "tanh"
    assert "tanh at x = 6.00" in readout.value and "inside it" in readout.value


def test_depth_demo_redraws_on_move():
    demo = make_gradient_after_depth_demo(depth=3)
    readout = find(demo, css_class="gradlab-readout")
    depth, init = find(demo, "depth"), find(demo, "init")
    depth.value = 12
    assert "after 12 layers" in readout.value
    init.value = "he"
    assert "init he" in readout.value
