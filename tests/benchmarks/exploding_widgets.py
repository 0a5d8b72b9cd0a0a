"""Benchmark (run by hand): time per update of Chapter 3's two widgets at their heaviest settings.

    python tests/benchmarks/exploding_widgets.py

Prints the median over 20 updates of compute alone and of compute plus drawing the figure (what a
slider move costs in the kernel). Target: <= 150 ms.
"""

import statistics
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from gradlab.chapters.ch03_exploding.plots import plot_growth, plot_time_gradients
from gradlab.chapters.ch03_exploding.widgets import GROWTH_GRID, TIME_GRID, compute_time_comparison
from gradlab.measure.spectral import measure_growth


def median_ms(function, repeats: int = 20) -> float:
    function()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def drawn(compute, plot):
    def run() -> None:
        fig, ax = plt.subplots(figsize=(7, 3.6))
        plot(compute(), ax)
        fig.canvas.draw()
        plt.close(fig)

    return run


if __name__ == "__main__":
    depth = GROWTH_GRID.depth_max
    for kind, activation, scale in [("orthogonal", "linear", 3.0), ("gaussian", "tanh", 1.5)]:

        def compute(k=kind, a=activation, s=scale):
            return measure_growth(depth, s, kind=k, activation=a)

        print(
            f"growth demo, depth {depth}, {kind} {activation} x{scale}: "
            f"compute {median_ms(compute):.1f} ms, "
            f"compute + draw {median_ms(drawn(compute, plot_growth)):.1f} ms"
        )
    steps = TIME_GRID.steps_max
    for scale in (0.5, 3.0):
        compute = lambda s=scale: compute_time_comparison(s, steps)  # noqa: E731
        print(
            f"time demo, T = {steps}, |W_h| = {scale}: compute {median_ms(compute):.1f} ms, "
            f"compute + draw {median_ms(drawn(compute, plot_time_gradients)):.1f} ms"
        )
