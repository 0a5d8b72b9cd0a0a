"""gradlab.plotting.gradient_flow: the gradient-flow plot draws 0 as vanished, inf/nan as exploded, on a wide axis."""

import itertools
import math

import matplotlib
import numpy as np
import pytest

from gradlab.chapters.ch01_chain_rule.widgets import GRADIENT_FLOW_GRID
from gradlab.formatting import VANISHED
from gradlab.measure.probe import measure_gradient_flow
from gradlab.plotting.gradient_flow import (
    DECADES_AROUND_LAST,
    EXPLODED_LABEL,
    gradient_flow_ylim,
    plot_factor_curves,
    plot_gradient_flow,
)
from gradlab.theory import factor_curves

matplotlib.use("Agg")
import matplotlib.pyplot as plt

GRID = GRADIENT_FLOW_GRID
EXTREMES = list(
    itertools.product(
        GRID.activations,
        GRID.inits,
        (GRID.depth_min, 8, GRID.depth_max),
        (GRID.scale_min, 1.0, GRID.scale_max),
    )
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def edge_markers(ax, label):
    """(x positions, y positions in axes fractions) of the scatter drawn with this legend label."""
    for collection in ax.collections:
        if collection.get_label() == label:
            offsets = collection.get_offsets()
            return np.asarray(offsets[:, 0]), np.asarray(offsets[:, 1])
    return np.array([]), np.array([])


def decades(limits):
    return math.log10(limits[1]) - math.log10(limits[0])


def test_underflow_to_zero_is_drawn_as_vanished_at_the_bottom():
    # tanh, Xavier, scale 0.1, depth 50: each layer keeps ~0.1, so layers 1-8 underflow to 0
    probe = measure_gradient_flow(50, "tanh", 0.1, "xavier")
    zero_layers = np.flatnonzero(probe.activation_grad_norms == 0) + 1
    assert len(zero_layers) >= 5
    ax = plot_gradient_flow(probe)
    x, y = edge_markers(ax, VANISHED)
    np.testing.assert_array_equal(x, zero_layers)
    assert np.all(y < 0.1)  # on the bottom edge
    labels = ax.get_legend_handles_labels()[1]
    assert VANISHED in labels
    assert EXPLODED_LABEL not in labels
    assert "smallest float32 (1.4e-45)" in labels  # why they are 0


def test_overflow_is_drawn_as_exploded_at_the_top():
    probe = measure_gradient_flow(50, "relu", 1.0, "normal")  # the output overflows: all nan
    assert not np.isfinite(probe.activation_grad_norms).any()
    ax = plot_gradient_flow(probe)
    x, y = edge_markers(ax, EXPLODED_LABEL)
    np.testing.assert_array_equal(x, np.arange(1, 51))
    assert np.all(y > 0.9)  # on the top edge
    assert VANISHED not in ax.get_legend_handles_labels()[1]
    # nothing finite to place on the axis: no tick claims a value (no run drawn at 10^0)
    assert len(ax.get_yticks()) == 0
    assert any("exploded (inf/nan)" in text.get_text() for text in ax.texts)


@pytest.mark.parametrize(
    ("activation", "init", "depth", "scale"),
    EXTREMES,
    ids=[f"{a}-{i}-d{d}-s{s}" for a, i, d, s in EXTREMES],
)
def test_axis_spans_several_decades_and_holds_every_point(activation, init, depth, scale):
    probe = measure_gradient_flow(depth, activation, scale, init)
    ax = plot_gradient_flow(probe)
    measured = probe.activation_grad_norms
    finite = np.isfinite(measured) & (measured > 0)
    low, high = ax.get_ylim()
    if finite.any():
        assert decades((low, high)) >= 2 * DECADES_AROUND_LAST
        assert low < measured[finite].min() and measured[finite].max() < high
    # every layer is drawn: as a point, as vanished (0) at the bottom, or exploded at the top
    assert len(edge_markers(ax, VANISHED)[0]) == int((measured == 0).sum())
    assert len(edge_markers(ax, EXPLODED_LABEL)[0]) == int((~np.isfinite(measured)).sum())


def test_healthy_network_looks_flat_and_vanishing_looks_steep():
    flat = measure_gradient_flow(8, "relu", 1.0, "he")
    ax = plot_gradient_flow(flat)
    spread = np.log10(flat.activation_grad_norms.max() / flat.activation_grad_norms.min())
    assert spread / decades(ax.get_ylim()) < 0.05  # noise fills under 5 % of the height
    plt.close("all")
    fading = measure_gradient_flow(8, "sigmoid", 1.0, "xavier")
    ax = plot_gradient_flow(fading)
    fall = np.log10(fading.activation_grad_norms.max() / fading.activation_grad_norms.min())
    assert fall / decades(ax.get_ylim()) > 0.5  # the fall fills most of the height


def test_ylim_is_none_only_without_finite_values():
    assert gradient_flow_ylim(measure_gradient_flow(50, "relu", 1.0, "normal")) is None
    limits = gradient_flow_ylim(measure_gradient_flow(8, "relu", 1.0, "he"))
    assert limits is not None and decades(limits) >= 2 * DECADES_AROUND_LAST


def test_legend_sits_outside_the_axes():
    ax = plot_gradient_flow(measure_gradient_flow(50, "tanh", 0.1, "xavier"))
    ax.figure.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 >= ax.get_window_extent().x1  # never hides a marker on an edge


def test_factor_curves_draws_one_line_per_factor(tmp_path):
    ax = plot_factor_curves(factor_curves())
    assert len(ax.get_lines()) == 5
    ax.figure.savefig(tmp_path / "curves.png")
