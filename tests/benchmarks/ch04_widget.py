"""Benchmark (run by hand): time per update of Chapter 4's signal demo at the largest depth.

    python tests/benchmarks/ch04_widget.py

For every activation × init at depth 50 and the widest width, prints the median over 5 updates of
compute alone (one real forward and backward pass) and of compute plus drawing the figure (built
once, as in the widget) and rendering it to PNG. Target: well under 0.5 s per update.
"""

import io
import statistics
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch

from gradlab.chapters.ch04_init_norm.plots import SignalView
from gradlab.chapters.ch04_init_norm.propagation import measure_propagation
from gradlab.chapters.ch04_init_norm.widgets import SIGNAL_GRID


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
    depth, width = SIGNAL_GRID.depth_max, max(SIGNAL_GRID.widths)
    view = SignalView()
    computes, updates = [], []
    for activation in SIGNAL_GRID.activations:
        for init in SIGNAL_GRID.inits:

            def compute(activation=activation, init=init):
                return measure_propagation(activation, init, depth, width)

            def update(compute=compute):
                view.draw(compute())
                plt.savefig(io.BytesIO(), format="png")

            computes.append(median_s(compute))
            updates.append(median_s(update))
            print(
                f"{activation:>5}, {init:<18}: compute {computes[-1] * 1000:4.0f} ms, "
                f"with drawing {updates[-1] * 1000:4.0f} ms"
            )
    print(f"depth {depth}, width {width}:")
    print(
        f"compute: median {statistics.median(computes) * 1000:.0f} ms, worst {max(computes) * 1000:.0f} ms"
    )
    print(
        f"with drawing: median {statistics.median(updates) * 1000:.0f} ms, worst {max(updates) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
