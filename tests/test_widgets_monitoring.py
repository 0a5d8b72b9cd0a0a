"""Chapter 7's dashboard: every control setting gives a valid, labelled run; the widget redraws."""

from __future__ import annotations

import itertools
import math

import matplotlib
import numpy as np
import pytest

from gradlab.chapters.ch07_monitoring.dashboard import compute_dashboard
from gradlab.chapters.ch07_monitoring.widgets import (
    DASHBOARD_GRID,
    make_dashboard_demo,
)
from tests.helpers import find

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks, as the chapters run them

matplotlib.use("Agg")

GRID = DASHBOARD_GRID
STEPS = list(range(GRID.steps_min, GRID.steps_max + 1, GRID.steps_step))


def assert_valid(run, steps: int) -> None:
    text = run.summary()
    assert 1 <= len(run.losses) <= steps
    assert run.layer_grad_norms.shape == (len(run.losses), len(run.layers))
    assert run.update_ratios.shape == run.layer_grad_norms.shape
    assert f"{steps} steps" in text and "gradlab diagnosis over" in text
    for value in (run.losses[0], run.losses[-1]):
        if not math.isfinite(value):
            assert "nan" in text or "inf" in text
    if run.stopped_at is not None:
        assert run.stopped_at == len(run.losses) - 1 and "training stopped" in text
        assert not run.report.ok
    with np.errstate(invalid="ignore"):
        assert not (run.update_ratios < 0).any() and not (run.layer_grad_norms < 0).any()


@pytest.mark.parametrize("scenario", GRID.scenarios)
@pytest.mark.parametrize("fixed", [False, True], ids=["broken", "fixed"])
def test_grid_sweep(scenario: str, fixed: bool) -> None:
    for steps in (GRID.steps_min, 20, 100, GRID.steps_max):
        run = compute_dashboard(scenario, fixed=fixed, steps=steps)
        assert_valid(run, steps)
        if fixed and steps == GRID.steps_max:
            assert run.report.ok, run.summary()  # every fix trains cleanly for the longest run


def test_every_steps_value_is_a_prefix_of_the_longest_run() -> None:
    longest = compute_dashboard("too_high_lr", fixed=False, steps=GRID.steps_max)
    for steps in STEPS:
        run = compute_dashboard("too_high_lr", fixed=False, steps=steps)
        assert_valid(run, steps)
        count = len(run.losses)
        np.testing.assert_array_equal(run.losses, longest.losses[:count])


def test_setting_extremes_and_every_scenario_label() -> None:
    assert GRID.scenarios[0] == "healthy" and len(GRID.scenarios) == 8
    for scenario, fixed in itertools.product(GRID.scenarios, (False, True)):
        run = compute_dashboard(scenario, fixed=fixed, steps=GRID.steps_min)
        assert f"scenario '{scenario}'" in run.summary()


def test_widget_redraws_on_every_control() -> None:
    demo = make_dashboard_demo(scenario="deep_sigmoid", steps=20)
    scenario, fixed, steps = (find(demo, name) for name in ("scenario", "apply the fix", "steps"))
    status, readout = find(demo, css_class="gradlab-busy"), find(demo, css_class="gradlab-readout")
    assert "vanishing" in readout.value and "20 steps" in readout.value
    steps.value = 30
    assert "30 steps" in readout.value
    fixed.value = True
    assert "fixed (ReLU activations with He init)" in readout.value
    scenario.value = "detached"
    assert "no problems found" in readout.value
    fixed.value = False
    assert "no_grad" in readout.value
    assert steps.continuous_update is False
    assert status.value == ""  # idle once a run is drawn
    assert not any(control.disabled for control in (scenario, fixed, steps))


def test_a_change_shows_training_at_once_and_clears_the_old_run() -> None:
    """The old plots and report never stand for a new setting while it trains (1-3 s)."""
    demo = make_dashboard_demo(scenario="healthy", steps=10)
    controls = [find(demo, name) for name in ("scenario", "apply the fix", "steps")]
    steps = controls[-1]
    status, plot, readout = (
        find(demo, css_class=name) for name in ("gradlab-busy", "gradlab-plot", "gradlab-readout")
    )
    seen = []
    for control in controls:
        control.observe(
            lambda change, name=control.description: seen.append((name, change["new"])),
            names="disabled",
        )
    status.observe(lambda change: seen.append(("status", change["new"])), names="value")
    readout.observe(lambda change: seen.append(("readout", change["new"])), names="value")
    plot.observe(lambda change: seen.append(("plot", len(change["new"]))), names="outputs")
    plot.outputs = ({"output_type": "stream", "name": "stdout", "text": "the old run"},)
    seen.clear()
    steps.value = 20
    assert seen[0] == ("status", "training 'healthy' for 20 steps…")
    # every control disabled, then the old plots and report gone, before the run starts
    assert seen[1:4] == [("scenario", True), ("apply the fix", True), ("steps", True)]
    assert seen[4:6] == [("plot", 0), ("readout", "")]
    # drawn, then the controls come back and the busy line empties
    assert seen[-5][0] == "readout" and "20 steps" in seen[-5][1]
    assert seen[-4:] == [
        ("scenario", False),
        ("apply the fix", False),
        ("steps", False),
        ("status", ""),
    ]
