"""Benchmark (run by hand): time per update of Chapter 7's dashboard, for every scenario.

    python tests/benchmarks/dashboard_widget.py

For each scenario (broken and fixed) at the largest number of steps, prints the median over 5
updates of compute alone and of compute plus drawing and rendering the figure to PNG (what a
control change costs in the kernel). Target: compute well under 1 s at the heaviest setting.
"""

import io
import statistics
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch

from gradlab.chapters.ch07_monitoring.dashboard import compute_dashboard
from gradlab.chapters.ch07_monitoring.plots import plot_dashboard
from gradlab.chapters.ch07_monitoring.widgets import DASHBOARD_GRID


def median_s(function, repeats: int = 5) -> float:
    function()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(1)
    steps = DASHBOARD_GRID.steps_max
    rows = []
    for scenario in DASHBOARD_GRID.scenarios:
        for fixed in (False, True):

            def compute(scenario=scenario, fixed=fixed):
                return compute_dashboard(scenario, fixed=fixed, steps=steps)

            def update(compute=compute):
                plot_dashboard(compute(), plt.figure(figsize=(11, 6.4)))
                plt.savefig(io.BytesIO(), format="png")
                plt.close("all")

            rows.append((scenario, fixed, median_s(compute), median_s(update)))
    for scenario, fixed, compute_s, update_s in rows:
        state = "fixed" if fixed else "broken"
        print(
            f"{scenario:>16} {state:<6}: compute {compute_s * 1000:5.0f} ms, "
            f"with drawing {update_s * 1000:5.0f} ms"
        )
    computes = [r[2] for r in rows]
    updates = [r[3] for r in rows]
    print(
        f"compute: median {statistics.median(computes) * 1000:.0f} ms, "
        f"worst {max(computes) * 1000:.0f} ms"
    )
    print(
        f"with drawing: median {statistics.median(updates) * 1000:.0f} ms, "
        f"worst {max(updates) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
