"""Chapter 4's signal demo: every control setting computes a valid, labelled result (the compute
function swept over the whole grid), and the widget redraws one figure built once."""

import itertools
import math
import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from gradlab.chapters.ch04_init_norm.propagation import measure_propagation
from gradlab.chapters.ch04_init_norm.widgets import CSS_CLASS, SIGNAL_GRID, make_signal_demo
from gradlab.formatting import EXPLODED_INF, EXPLODED_NAN, VANISHED
from tests.helpers import find

matplotlib.use("Agg")

DEPTHS = range(SIGNAL_GRID.depth_min, SIGNAL_GRID.depth_max + 1, SIGNAL_GRID.depth_step)
GLUED = re.compile(r"[×~x]\s*(exploded|vanished|undefined)")


def assert_valid(result, depth):
    profile = result.profile
    assert len(profile.names) == depth == len(profile.activation_std) == len(profile.grad_norm)
    assert profile.names[0] == "blocks.1.linear" and profile.names[-1] == f"blocks.{depth}.linear"
    text = result.summary()
    assert text.count("\n") == 2 and GLUED.search(text) is None, text
    for value in (profile.activation_std[0], profile.activation_std[-1], profile.grad_norm[0]):
        if value == 0:
            assert VANISHED in text
        elif not math.isfinite(value):
            assert EXPLODED_INF in text or EXPLODED_NAN in text
    assert math.isfinite(result.predicted) and result.predicted > 0


@pytest.mark.parametrize("activation", SIGNAL_GRID.activations)
@pytest.mark.parametrize("init", SIGNAL_GRID.inits)
def test_whole_grid_sweep(activation, init):
    for depth, width in itertools.product(DEPTHS, SIGNAL_GRID.widths):
        result = measure_propagation(activation, init, depth, width)
        assert_valid(result, depth)
        # on this grid nothing overflows or underflows (the worst: relu too small, depth 50)
        assert np.all(np.isfinite(result.profile.activation_std))
        assert np.all(result.profile.grad_norm > 0)


def test_summary_words_vanished_and_exploded_values():
    result = measure_propagation("relu", "he", 5, 32)
    profile = result.profile
    profile.activation_std[-1] = 0.0
    profile.grad_norm[0] = float("inf")
    text = result.summary()
    assert VANISHED in text and EXPLODED_INF in text and GLUED.search(text) is None


def test_demo_redraws_one_figure_built_once():
    plt.close("all")
    demo = make_signal_demo(activation="relu", init="he", depth=10, width=32)
    assert CSS_CLASS in demo._dom_classes
    readout = find(demo, css_class="gradlab-readout")
    assert "relu, he, depth 10, width 32" in readout.value
    figures = plt.get_fignums()
    assert len(figures) == 1
    find(demo, description="depth").value = 50
    find(demo, description="init").value = "xavier"
    find(demo, description="activation").value = "tanh"
    find(demo, description="width").value = 256
    assert "tanh, xavier, depth 50, width 256" in readout.value
    assert plt.get_fignums() == figures  # the same figure, updated in place
    line = plt.figure(figures[0]).axes[0].lines[0]
    assert len(line.get_xdata()) == 50
    plt.close("all")


def test_controls_cover_the_grid():
    demo = make_signal_demo()
    depth = find(demo, description="depth")
    assert (depth.min, depth.max, depth.step) == (5, 50, 5)
    assert tuple(find(demo, description="width").options) == SIGNAL_GRID.widths
    assert tuple(find(demo, description="init").options) == SIGNAL_GRID.inits
    plt.close("all")
