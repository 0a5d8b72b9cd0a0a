"""Benchmark (run by hand): time per update of Chapter 5's widget at its largest depth (50 blocks).

    python tests/benchmarks/ch05_widget.py

Prints the median over 20 updates of compute alone (two real forward + backward passes, plain and
residual) and of compute plus drawing the figure (what a slider move costs in the kernel).
"""

import statistics
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from gradlab.chapters.ch05_residual.plots import plot_side_by_side
from gradlab.chapters.ch05_residual.widgets import RESIDUAL_GRID, compute_plain_and_residual


def median_ms(function, repeats: int = 20) -> float:
    function()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


if __name__ == "__main__":
    depth = RESIDUAL_GRID.depth_max
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for activation, scale, variant in [
        ("relu", 0.7, "residual"),
        ("sigmoid", 2.0, "residual"),
        ("tanh", 0.25, "residual, zero-init branches"),
    ]:

        def compute(a=activation, s=scale, v=variant):
            return compute_plain_and_residual(depth, a, s, v)

        def compute_and_draw(compute=compute):
            plot_side_by_side(compute(), axes)
            figure.canvas.draw()

        print(
            f"residual demo, {depth} blocks, {activation} x{scale}, {variant}: "
            f"compute {median_ms(compute):.1f} ms, "
            f"compute + draw {median_ms(compute_and_draw):.1f} ms"
        )
