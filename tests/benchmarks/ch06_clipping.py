"""Benchmark (run by hand): Chapter 6's widget update and the clipping sweep.

    python tests/benchmarks/ch06_clipping.py

Prints the median over 20 updates of compute alone and of compute plus drawing the two panels (what
a slider move costs in the kernel), then the time of the notebook's default sweep (5 thresholds,
2 seeds, 800 steps) and of the RNN-vs-LSTM training (one seed).
"""

import statistics
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from gradlab.chapters.ch06_clipping import training
from gradlab.chapters.ch06_clipping.direction import THRESHOLDS, compute_clipping_view
from gradlab.chapters.ch06_clipping.plots import plot_clipping_plane


def median_ms(function, repeats: int = 20) -> float:
    function()  # warm up (the first call computes the cached gradient)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def drawn(threshold: float):
    def run() -> None:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
        plot_clipping_plane(compute_clipping_view(threshold), axes)
        fig.canvas.draw()
        plt.close(fig)

    return run


if __name__ == "__main__":
    for c in (THRESHOLDS[0], 0.1, THRESHOLDS[-1]):
        compute = median_ms(lambda c=c: compute_clipping_view(c))
        print(f"c = {c:g}: compute {compute:.2f} ms, compute + draw {median_ms(drawn(c)):.0f} ms")
    start = time.perf_counter()
    sweep = training.sweep(training.THRESHOLDS, (0, 1))
    print(f"clipping sweep (10 runs of up to 800 steps): {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    training.compare_kinds((0,))
    print(f"RNN vs LSTM training (one seed each): {time.perf_counter() - start:.1f} s")
