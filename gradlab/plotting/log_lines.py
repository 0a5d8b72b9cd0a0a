"""Log-axis lines that show every value: inf/nan marked with an x at the top and labelled
'exploded (inf/nan)', exact zeros marked on the bottom edge as 'vanished (0)'; gradient plots span
at least MIN_DECADES decades so a flat curve looks flat."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from gradlab.formatting import VANISHED


def plot_log_line(ax: Axes, x: np.ndarray, y: np.ndarray, style: str, **kwargs) -> None:
    """Draw the positive finite part of y; mark inf/nan with an x at the top of the drawn range.

    Values that are exactly 0 are left to _mark_vanished_at_bottom, once the y-range is set.
    """
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        shown = np.isfinite(y) & (y > 0)
    if shown.any():
        ax.plot(x[shown], y[shown], style, **kwargs)
    bad = ~np.isfinite(y)
    if bad.any():
        top = y[shown].max() if shown.any() else 1.0
        ax.scatter(x[bad], np.full(bad.sum(), top), marker="x", color="black", zorder=4)


MIN_DECADES = 6  # a gradient plot's y-axis spans at least this: flat looks flat, vanishing falls


def span_log_range(ax: Axes, *curves: np.ndarray, decades: int = MIN_DECADES) -> float:
    """Set a log y-range covering every positive finite value of the curves and at least `decades`
    decades centred on 1 (the gradient where the loss is read); return its bottom edge."""
    values = np.concatenate([np.asarray(c, dtype=np.float64).ravel() for c in curves])
    with np.errstate(invalid="ignore"):
        values = values[np.isfinite(values) & (values > 0)]
    low = min(float(values.min(initial=1.0)), 10.0 ** (-decades / 2)) / 2
    high = max(float(values.max(initial=1.0)), 10.0 ** (decades / 2)) * 2
    ax.set_yscale("log")
    ax.set_ylim(low, high)
    return low


def mark_overflow_in_legend(ax: Axes, *curves: np.ndarray) -> None:
    """Add an "exploded (inf/nan)" legend entry when any curve has a non-finite value."""
    if any((~np.isfinite(np.asarray(c, dtype=np.float64))).any() for c in curves):
        ax.scatter([], [], marker="x", color="black", label="exploded (inf/nan)")


def mark_vanished_in_legend(ax: Axes, *curves: np.ndarray) -> None:
    """Add a "vanished (0)" legend entry when any curve has a value that underflowed to 0."""
    if any((np.asarray(c, dtype=np.float64) == 0).any() for c in curves):
        ax.scatter([], [], marker="v", color="black", label=VANISHED)
