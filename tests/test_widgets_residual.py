"""Chapter 5's widget: every slider position computes a valid, labelled result; the widget redraws
one figure and its readout changes when a slider moves."""

import itertools
import math
import re

import matplotlib
import numpy as np
import pytest

from gradlab.chapters.ch05_residual.widgets import (
    CSS_CLASS,
    RESIDUAL_GRID,
    compute_plain_and_residual,
    make_residual_demo,
)
from tests.helpers import find

matplotlib.use("Agg")

GLUED = re.compile(r"[×~x]\s*(exploded|vanished|undefined)")


def slider_values(low, high, step):
    count = round((high - low) / step) + 1
    return [round(low + i * step, 10) for i in range(count)]


SCALES = slider_values(RESIDUAL_GRID.scale_min, RESIDUAL_GRID.scale_max, RESIDUAL_GRID.scale_step)


def assert_valid(results, depth):
    plain, residual = results
    assert plain.network == "plain" and residual.network != "plain"
    for result in results:
        assert len(result.grad_norms) == len(result.predicted) == depth + 1
        assert result.grad_norms[-1] == 1.0 or not math.isfinite(result.grad_norms[-1])
        text = result.summary()
        assert GLUED.search(text) is None, text
        assert "\n" not in text
        for value in (result.first_block, result.predicted_first_block):
            if value == 0:
                assert "vanished (0)" in text
            elif math.isinf(value):
                assert "exploded (inf)" in text
            elif math.isnan(value):
                assert "exploded (nan)" in text
    if residual.network == "residual, zero-init branches":
        np.testing.assert_allclose(residual.grad_norms, 1.0, rtol=1e-5)


@pytest.mark.parametrize("activation", RESIDUAL_GRID.activations)
@pytest.mark.parametrize("variant", RESIDUAL_GRID.variants)
def test_every_scale_at_the_extreme_depths(activation, variant):
    for depth, scale in itertools.product(
        (RESIDUAL_GRID.depth_min, RESIDUAL_GRID.depth_max), SCALES
    ):
        assert_valid(compute_plain_and_residual(depth, activation, scale, variant), depth)


@pytest.mark.parametrize("scale", [RESIDUAL_GRID.scale_min, RESIDUAL_GRID.scale_max])
def test_every_depth_at_the_extreme_scales(scale):
    for depth in range(RESIDUAL_GRID.depth_min, RESIDUAL_GRID.depth_max + 1):
        assert_valid(compute_plain_and_residual(depth, "sigmoid", scale, "residual"), depth)


@pytest.mark.parametrize("activation", RESIDUAL_GRID.activations)
@pytest.mark.parametrize("variant", RESIDUAL_GRID.variants)
def test_grid_sample(activation, variant):
    depths = (2, 10, 25, 40)
    scales = (0.5, 0.7, 1.0, 1.5)
    for depth, scale in itertools.product(depths, scales):
        assert_valid(compute_plain_and_residual(depth, activation, scale, variant), depth)


def test_extremes_are_labelled():
    plain, _ = compute_plain_and_residual(50, "relu", 0.25, "residual")
    assert plain.first_block == 0.0 and "vanished (0)" in plain.summary()
    _, residual = compute_plain_and_residual(50, "relu", 2.0, "residual")
    assert residual.first_block > 1e20  # grows: √(1 + b²) per block with b ≈ 4


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="variant must be one of"):
        compute_plain_and_residual(3, "relu", 1.0, "dense")


def test_widget_redraws_one_figure_and_readout_changes():
    import matplotlib.pyplot as plt

    demo = make_residual_demo(depth=5)
    assert CSS_CLASS in demo._dom_classes
    readout = find(demo, css_class="gradlab-readout")
    before = readout.value
    figures = len(plt.get_fignums())
    find(demo, description="weight scale").value = 0.3
    assert readout.value != before and "plain" in readout.value
    find(demo, description="residual net").value = "residual, zero-init branches"
    assert "zero-init" in readout.value
    find(demo, description="blocks").value = RESIDUAL_GRID.depth_max
    assert len(plt.get_fignums()) <= figures  # no new figure per move
