"""The gradient-flow demo: every slider setting computes a valid, labelled result."""

import itertools
import re

import matplotlib
import numpy as np
import pytest

from gradlab.chapters.ch01_chain_rule.widgets import GRADIENT_FLOW_GRID, make_gradient_flow_demo
from gradlab.formatting import format_number
from gradlab.measure.probe import STATUSES, classify_gradient, measure_gradient_flow
from tests.helpers import find

matplotlib.use("Agg")

GRID = GRADIENT_FLOW_GRID
DEPTHS = (GRID.depth_min, 2, 10, 25, GRID.depth_max)
SCALES = (GRID.scale_min, 0.5, 1.0, 1.5, GRID.scale_max)
# A finite number as gradlab.formatting prints it: '0.229', '1', '7.6e-06', '1.2e+05'
NUMBER = r"\d+(?:\.\d+)?(?:e[+-]\d+)?"
WORDS = ("vanished (0)", "exploded (inf)", "exploded (nan)", "undefined (nan)", "n/a")


def assert_readout_follows_the_wording_rule(text):
    """× only before a finite number; 0, inf and nan only as the formatting module's phrases."""
    assert re.search(r"×[a-z(~]", text) is None, text  # never '×exploded', '×vanished', '×n/a'
    assert "~" not in text
    for value in re.findall(r"(?:measured|predicted) (\S+ ?\S*)", text):
        assert re.match("×" + NUMBER, value) or value.startswith(WORDS), (value, text)
    # inf/nan never print bare, only inside the phrases (and in the note naming them as words)
    words_removed = re.sub(r"\((?:inf|nan)\)|0, inf or nan", "", text)
    assert re.search(r"\b(?:inf|nan)\b", words_removed) is None, text


def assert_valid(probe, depth):
    assert probe.depth == depth
    assert len(probe.statuses) == depth
    assert all(status in STATUSES for status in probe.statuses)
    # a non-finite gradient is always labelled as exploded, an exact 0 as vanished
    for norm, status in zip(probe.relative_grad_norms, probe.statuses, strict=True):
        if not np.isfinite(norm):
            assert status == "exploded"
        if norm == 0:
            assert status == "vanished"
    summary = probe.summary()
    assert summary.count("\n") == 2
    assert f"Through {depth} layer" in summary
    assert_readout_follows_the_wording_rule(summary)
    _header, *rows, total = probe.table().splitlines()
    assert_readout_follows_the_wording_rule(total)
    for row in rows:
        _, grad, weight_grad, factor, predicted, _ = (cell.strip() for cell in row.split("|"))
        for cell in (grad, weight_grad, factor.lstrip("×"), predicted.lstrip("×")):
            assert re.fullmatch(NUMBER, cell) or cell.startswith(WORDS), (cell, row)


@pytest.mark.parametrize("activation", GRID.activations)
@pytest.mark.parametrize("init", GRID.inits)
def test_sweep_slider_grid(activation, init):
    for depth, scale in itertools.product(DEPTHS, SCALES):
        assert_valid(measure_gradient_flow(depth, activation, scale, init), depth)


def test_every_scale_step_at_the_deepest_setting():
    steps = round((GRID.scale_max - GRID.scale_min) / GRID.scale_step) + 1
    for i in range(steps):
        scale = GRID.scale_min + i * GRID.scale_step
        for activation in ("sigmoid", "relu"):
            assert_valid(measure_gradient_flow(GRID.depth_max, activation, scale, "normal"), 50)


def test_extremes_behave_as_taught():
    deep_sigmoid = measure_gradient_flow(50, "sigmoid", 1.0, "xavier")
    assert deep_sigmoid.statuses[0] == "vanished"
    blown_up = measure_gradient_flow(50, "relu", GRID.scale_max, "normal")
    assert blown_up.statuses[0] == "exploded"
    assert measure_gradient_flow(50, "relu", 1.0, "he").statuses[0] == "healthy"


def test_widget_redraws_on_slider_move():
    demo = make_gradient_flow_demo(depth=8, activation="sigmoid")
    readout = find(demo, css_class="gradlab-readout")
    before = readout.value
    depth_slider = find(demo, "depth")
    depth_slider.value = 30
    assert readout.value != before
    assert "Through 30 layers" in readout.value


EXTREMES = list(
    itertools.product(
        GRID.activations,
        GRID.inits,
        (GRID.depth_min, GRID.depth_max),
        (GRID.scale_min, GRID.scale_max),
    )
)


@pytest.mark.parametrize(
    ("activation", "init", "depth", "scale"),
    EXTREMES,
    ids=[f"{a}-{i}-d{d}-s{s}" for a, i, d, s in EXTREMES],
)
def test_readout_at_every_extreme_of_the_grid(activation, init, depth, scale):
    probe = measure_gradient_flow(depth, activation, scale, init)
    summary = probe.summary()
    assert_readout_follows_the_wording_rule(summary)
    first, per_layer, _ = summary.splitlines()
    # one number for the whole stack: the input's gradient over the last layer's
    total = probe.total_measured
    assert first.count("measured") == 1
    if np.isfinite(total) and total > 0:
        assert f"measured ×{format_number(total)} ({classify_gradient(total)})" in first
    elif total == 0:
        assert "measured vanished (0)" in first
    else:
        assert "measured exploded (inf)" in first or "measured undefined (nan)" in first
    assert per_layer.startswith("Per layer: measured ")


def test_readouts_at_the_settings_the_chapter_names():
    underflow = measure_gradient_flow(50, "tanh", 0.1, "xavier").summary()
    assert "measured vanished (0)" in underflow
    assert "geometric mean of the" in underflow  # the per-layer factor from the usable layers
    overflow = measure_gradient_flow(50, "relu", 1.0, "normal").summary()
    assert "the input's gradient is exploded (nan)" in overflow
    start = measure_gradient_flow(8, "sigmoid", 1.0, "xavier").summary()
    assert "(very small)" in start and "geometric mean of 8 factors" in start
