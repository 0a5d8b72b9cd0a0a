"""The live gradient dashboard of notebooks/07_monitoring: pick a scenario, apply its fix or not,
choose how many steps; a real monitored training run is drawn (loss, gradient norms, update
ratios, gradient histograms) and the monitor's report is printed beneath.

Controls are wired to gradlab.dashboard.compute_dashboard (compute) and
gradlab.monitor_plots.plot_dashboard (draw). Every setting gives a result: a diverging run stops
at its first non-finite loss and is drawn and labelled, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt

from gradlab.dashboard import DashboardRun, compute_dashboard
from gradlab.monitor_plots import plot_dashboard
from gradlab.scenarios import SCENARIOS
from gradlab.widgets import _wire

_STYLE = {"description_width": "initial"}


@dataclass(frozen=True)
class DashboardGrid:
    """The controls' grid (tests sweep exactly these values)."""

    steps_min: int = 10
    steps_max: int = 200
    steps_step: int = 10
    scenarios: tuple[str, ...] = tuple(SCENARIOS)


DASHBOARD_GRID = DashboardGrid()


def compute_dashboard_setting(scenario: str, fixed: bool, steps: int) -> DashboardRun:
    """The numbers behind one setting of the dashboard (a real, seeded training run)."""
    return compute_dashboard(scenario, fixed=fixed, steps=steps)


def make_dashboard_demo(
    scenario: str = "deep_sigmoid", fixed: bool = False, steps: int = 100
) -> widgets.VBox:
    """The live dashboard: scenario, "apply the fix" and steps → four panels and the report."""
    grid = DASHBOARD_GRID
    controls = {
        "scenario": widgets.Dropdown(
            options=[(SCENARIOS[name].title, name) for name in grid.scenarios],
            value=scenario,
            description="scenario",
            style=_STYLE,
        ),
        "fixed": widgets.Checkbox(value=fixed, description="apply the fix", indent=False),
        "steps": widgets.IntSlider(
            value=steps,
            min=grid.steps_min,
            max=grid.steps_max,
            step=grid.steps_step,
            description="steps",
            continuous_update=False,
            style=_STYLE,
        ),
    }

    def render(scenario: str, fixed: bool, steps: int) -> str:
        run = compute_dashboard_setting(scenario, fixed, steps)
        plot_dashboard(run, plt.figure(figsize=(11, 6.4)))
        return run.summary()

    return _wire(controls, render, "gradlab-dashboard")
