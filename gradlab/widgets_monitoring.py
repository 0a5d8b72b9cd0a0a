"""The live gradient dashboard of notebooks/07_monitoring: pick a scenario, apply its fix or not,
choose how many steps; a real monitored training run is drawn (loss, gradient norms, update
ratios, gradient histograms) and the monitor's report is printed beneath.

Controls are wired to gradlab.dashboard.compute_dashboard (compute) and
gradlab.monitor_plots.plot_dashboard (draw). Every setting gives a result: a diverging run stops
at its first non-finite loss and is drawn and labelled, never raised. A run takes a second or
more, so a change first clears the old plots and says "training…" (the busy state), then draws.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt

from gradlab.dashboard import DashboardRun, compute_dashboard
from gradlab.monitor_plots import DASHBOARD_FIGSIZE, plot_dashboard
from gradlab.scenarios import SCENARIOS

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
    status = widgets.HTML()
    status.add_class("gradlab-dashboard-status")
    plot = widgets.Output()
    readout = widgets.HTML()
    readout.add_class("gradlab-readout")

    def update(_change: Any = None) -> None:
        values = {name: control.value for name, control in controls.items()}
        # Busy state first: these messages reach the browser before the run starts, so the old
        # plots and report never stand for the new setting.
        status.value = f"<b>{html.escape(busy_text(**values), quote=False)}</b>"
        plot.outputs = ()  # synced at once, unlike clear_output(wait=True)
        readout.value = ""
        run = compute_dashboard_setting(**values)
        with plot:
            plot_dashboard(run, plt.figure(figsize=DASHBOARD_FIGSIZE))
            plt.show()
        status.value = ""
        readout.value = f"<pre>{html.escape(run.summary())}</pre>"

    for control in controls.values():
        control.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox(list(controls.values())), status, plot, readout])
    box.add_class("gradlab-dashboard")
    return box
