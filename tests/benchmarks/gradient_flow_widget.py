"""Benchmark (run by hand): time per update of Chapter 1's gradient-flow widget at depth 50.

    python tests/benchmarks/gradient_flow_widget.py

Prints the median over 20 updates of compute alone (model + one backward pass) and of compute
plus drawing the figure (what a slider move costs in the kernel). Target: <= 150 ms.
"""

import statistics
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from gradlab.measure.probe import measure_gradient_flow
from gradlab.plotting.gradient_flow import plot_gradient_flow


def median_ms(function, repeats: int = 20) -> float:
    function()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def compute_and_draw(activation: str, scale: float, init: str) -> None:
    probe = measure_gradient_flow(50, activation, scale, init)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    plot_gradient_flow(probe, ax)
    fig.canvas.draw()
    plt.close(fig)


if __name__ == "__main__":
    for setting in [("sigmoid", 1.0, "xavier"), ("relu", 1.0, "he"), ("relu", 3.0, "normal")]:
        compute = median_ms(lambda s=setting: measure_gradient_flow(50, *s))
        full = median_ms(lambda s=setting: compute_and_draw(*s))
        print(f"depth 50 {setting}: compute {compute:.1f} ms, compute + draw {full:.1f} ms")
