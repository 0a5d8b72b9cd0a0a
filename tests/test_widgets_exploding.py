"""Chapter 3 demos: every slider setting computes a valid, labelled result; widgets redraw."""

import itertools
import math
import re

import matplotlib
import numpy as np
import pytest

from gradlab.chapters.ch03_exploding.plots import plot_growth, plot_time_gradients
from gradlab.chapters.ch03_exploding.widgets import (
    GROWTH_GRID,
    TIME_GRID,
    compute_time_comparison,
    make_growth_demo,
    make_time_demo,
)
from gradlab.measure.probe import STATUSES
from gradlab.measure.spectral import measure_growth
from tests.helpers import find

matplotlib.use("Agg")


def slider_values(low, high, step):
    count = round((high - low) / step) + 1
    return [round(low + i * step, 10) for i in range(count)]


GROWTH_SCALES = slider_values(GROWTH_GRID.scale_min, GROWTH_GRID.scale_max, GROWTH_GRID.scale_step)
TIME_SCALES = slider_values(TIME_GRID.scale_min, TIME_GRID.scale_max, TIME_GRID.scale_step)


GLUED = re.compile(r"[×~x]\s*(exploded|vanished|undefined)|gets (exploded|vanished)")


def reads_well(text):
    """One wording rule: no prefix glued to 'exploded (inf)' / 'vanished (0)' / 'undefined'."""
    return GLUED.search(text) is None


def labelled(value, text):
    """A number is shown either as a finite value or as 'exploded (inf)' / 'exploded (nan)'."""
    if math.isfinite(value):
        return True
    return ("exploded (inf)" if math.isinf(value) else "exploded (nan)") in text


def assert_valid_growth(result, depth):
    assert len(result.grad_norms) == depth + 1
    assert result.status in STATUSES
    text = result.summary()
    assert text.count("\n") == 2 and reads_well(text), text
    assert labelled(result.measured_growth, text) and labelled(result.predicted_growth, text)
    if not math.isfinite(result.measured_growth):
        assert result.status == "exploded"


def assert_valid_time(results, steps):
    assert [r.case for r in results] == ["linear", "tanh"]
    for result in results:
        assert len(result.grad_norms) == steps
        assert result.regime in ("vanishing", "preserved", "exploding")
        assert all(status in STATUSES for status in result.statuses)
        assert labelled(result.first_step, result.summary())
        assert reads_well(result.summary()), result.summary()


@pytest.mark.parametrize("kind", GROWTH_GRID.kinds)
@pytest.mark.parametrize("activation", GROWTH_GRID.activations)
def test_growth_grid_sweep(kind, activation):
    depths = (GROWTH_GRID.depth_min, 2, 10, 40, GROWTH_GRID.depth_max)
    scales = (GROWTH_GRID.scale_min, 0.5, 1.0, 1.5, 2.0, GROWTH_GRID.scale_max)
    for depth, scale in itertools.product(depths, scales):
        assert_valid_growth(measure_growth(depth, scale, kind=kind, activation=activation), depth)


def test_every_growth_scale_step_at_the_extreme_depths():
    for scale in GROWTH_SCALES:
        for depth in (GROWTH_GRID.depth_min, GROWTH_GRID.depth_max):
            assert_valid_growth(
                measure_growth(depth, scale, kind="orthogonal", activation="linear"), depth
            )


def test_every_time_slider_setting_at_the_extremes():
    for scale in TIME_SCALES:
        for steps in (TIME_GRID.steps_min, 2, TIME_GRID.steps_max):
            assert_valid_time(compute_time_comparison(scale, steps), steps)
    for steps in range(TIME_GRID.steps_min, TIME_GRID.steps_max + 1):
        for scale in (TIME_GRID.scale_min, 1.0, TIME_GRID.scale_max):
            assert_valid_time(compute_time_comparison(scale, steps), steps)


def test_extremes_overflow_and_are_labelled():
    deepest = measure_growth(
        GROWTH_GRID.depth_max, GROWTH_GRID.scale_max, kind="orthogonal", activation="linear"
    )
    assert deepest.status == "exploded" and "exploded (" in deepest.summary()
    linear, tanh = compute_time_comparison(TIME_GRID.scale_max, TIME_GRID.steps_max)
    assert "exploded (inf)" in linear.summary()
    assert math.isfinite(tanh.first_step)  # tanh saturates: it explodes far less
    smallest = measure_growth(
        GROWTH_GRID.depth_max, GROWTH_GRID.scale_min, kind="orthogonal", activation="relu"
    )
    assert smallest.status == "vanished"
    # the signal underflows to 0 deep in a small relu chain: the readout says why the slope is 0
    silent = measure_growth(
        GROWTH_GRID.depth_max, GROWTH_GRID.scale_min, kind="gaussian", activation="relu"
    )
    assert "slope = 0.00 (in " in silent.summary() and "no unit is active" in silent.summary()
    assert (
        "no unit is active"
        not in measure_growth(20, 1.5, kind="gaussian", activation="relu").summary()
    )


def test_plots_draw_overflowing_results():
    import matplotlib.pyplot as plt

    ax = plot_growth(measure_growth(100, 3.0))
    assert ax.get_yscale() == "log"
    ax = plot_time_gradients(compute_time_comparison(3.0, 100))
    assert any("exploded" in text.get_text() for text in ax.get_legend().get_texts())
    plt.close("all")


def test_gradient_plots_show_flat_as_flat_and_vanished_at_the_bottom():
    """At least MIN_DECADES decades on the y-axis (a flat curve is not blown up into a slope), and
    underflow-to-0 drawn on the bottom edge, below every drawn value (not at the output's 1)."""
    import matplotlib.pyplot as plt

    from gradlab.plotting.log_lines import MIN_DECADES

    flat = plot_growth(measure_growth(20, 1.0))
    low, high = flat.get_ylim()
    assert math.log10(high / low) >= MIN_DECADES and low < 1 < high
    time_flat = plot_time_gradients(compute_time_comparison(1.0, 50))
    assert math.log10(time_flat.get_ylim()[1] / time_flat.get_ylim()[0]) >= MIN_DECADES
    for ax in (
        plot_growth(measure_growth(100, 0.25, kind="gaussian", activation="relu")),
        plot_time_gradients(compute_time_comparison(0.1, 100)),
    ):
        bottom = ax.get_ylim()[0]
        drawn = np.concatenate([line.get_ydata() for line in ax.get_lines()])
        markers = [c.get_offsets()[:, 1] for c in ax.collections if len(c.get_offsets())]
        assert markers and all(np.all(m == bottom) for m in markers)
        assert np.all(drawn[np.isfinite(drawn)] > bottom)
    plt.close("all")


def test_widgets_redraw_on_slider_move():
    demo = make_growth_demo(depth=10, weight_scale=1.5)
    readout = find(demo, css_class="gradlab-readout")
    find(demo, "depth").value = 30
    assert "over 30 layers" in readout.value
    time_demo = make_time_demo()
    time_readout = find(time_demo, css_class="gradlab-readout")
    assert "t=1: 0.03125" in time_readout.value
    find(time_demo, "T (steps)").value = 50
    assert "T = 50" in time_readout.value
    np.testing.assert_equal(find(time_demo, "scale s of W_h").value, 0.5)


def test_readouts_at_every_slider_extreme():
    """Both demos' readouts, exactly as the widgets render them, at each corner of the grid."""
    import matplotlib.pyplot as plt

    growth_demo = make_growth_demo()
    scale_slider, depth_slider, kind_menu, activation_menu = (
        find(growth_demo, name) for name in ("weight scale", "depth", "weights", "activation")
    )
    readout = find(growth_demo, css_class="gradlab-readout")
    corners = itertools.product(
        (scale_slider.min, scale_slider.max),
        (depth_slider.min, depth_slider.max),
        kind_menu.options,
        activation_menu.options,
    )
    for scale, depth, kind, activation in corners:
        scale_slider.value, depth_slider.value = scale, depth
        kind_menu.value, activation_menu.value = kind, activation
        text = readout.value
        assert reads_well(text) and f"over {depth} layer" in text, text
        plt.close("all")
    time_demo = make_time_demo()
    scale_slider, steps_slider = find(time_demo, "scale s of W_h"), find(time_demo, "T (steps)")
    readout = find(time_demo, css_class="gradlab-readout")
    for scale, steps in itertools.product(
        (scale_slider.min, scale_slider.max), (steps_slider.min, steps_slider.max)
    ):
        scale_slider.value, steps_slider.value = scale, steps
        text = readout.value
        assert reads_well(text) and f"T = {steps}" in text, text
        plt.close("all")
    assert "exploded (inf)" in text  # s = 3, T = 100: the linear RNN overflows


def test_reads_well_catches_glued_prefixes():
    assert not reads_well("measured ×exploded (nan)")
    assert not reads_well("first step gets exploded (inf)")
    assert reads_well("measured exploded (nan)") and reads_well("estimate ×5.2e+47")
