"""The live gradient dashboard of notebooks/07_monitoring: pick a scenario, apply its fix or not,
choose how many steps; a real monitored training run is drawn (loss, gradient norms, update
ratios, gradient histograms) and the monitor's report is printed beneath.

Controls are wired to gradlab.chapters.ch07_monitoring.dashboard.compute_dashboard (compute) and
gradlab.chapters.ch07_monitoring.plots.plot_dashboard (draw). Every setting gives a result: a diverging run stops
at its first non-finite loss and is drawn and labelled, never raised. A run takes a second or
more, so a change first clears the old plots, says "training…" and disables the controls (the
busy state of gradlab.ui.wiring.wire), then draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt

from gradlab.chapters.ch07_monitoring.dashboard import compute_dashboard
from gradlab.chapters.ch07_monitoring.plots import DASHBOARD_FIGSIZE, plot_dashboard
from gradlab.chapters.ch07_monitoring.scenarios import SCENARIOS
from gradlab.ui.controls import dropdown, int_slider
from gradlab.ui.wiring import wire


@dataclass(frozen=True)
class DashboardGrid:
    """The controls' grid (tests sweep exactly these values)."""

    steps_min: int = 10
    steps_max: int = 200
    steps_step: int = 10
    scenarios: tuple[str, ...] = tuple(SCENARIOS)


DASHBOARD_GRID = DashboardGrid()


def busy_text(scenario: str, fixed: bool, steps: int) -> str:
    """What the dashboard shows while a run is under way (before its plots replace it)."""
    state = "" if scenario == "healthy" else " (fixed)" if fixed else " (broken)"
    return f"training '{scenario}'{state} for {steps} steps…"


def make_dashboard_demo(
    scenario: str = "deep_sigmoid", fixed: bool = False, steps: int = 100
) -> widgets.VBox:
    """The live dashboard: scenario, "apply the fix" and steps → four panels and the report."""
    grid = DASHBOARD_GRID
    controls = {
        "scenario": dropdown(
            [(SCENARIOS[name].title, name) for name in grid.scenarios], scenario, "scenario"
        ),
        "fixed": widgets.Checkbox(value=fixed, description="apply the fix", indent=False),
        "steps": int_slider(steps, grid.steps_min, grid.steps_max, "steps", step=grid.steps_step),
    }

    def render(scenario: str, fixed: bool, steps: int) -> str:
        run = compute_dashboard(scenario, fixed=fixed, steps=steps)
        plot_dashboard(run, plt.figure(figsize=DASHBOARD_FIGSIZE))
        return run.summary()

    # A run takes 0.3–2.5 s at 200 steps (measured over every scenario, broken and fixed, with
    # the PNG): the busy line names the run, the controls wait, and the old plots and report are
    # cleared at once so they never stand for the new setting.
    return wire(
        controls, render, "gradlab-dashboard", busy=True, busy_text=busy_text, clear_while_busy=True
    )
