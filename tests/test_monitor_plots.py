"""gradlab.chapters.ch07_monitoring.plots draws stored numbers, including overflow, zeros and missing gradients."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from gradlab.chapters.ch07_monitoring.dashboard import compute_dashboard
from gradlab.chapters.ch07_monitoring.plots import (
    UPDATE_RATIO_REFERENCE,
    plot_dashboard,
    plot_grad_norms,
    plot_loss_curve,
    plot_update_ratios,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_grad_norms_mark_overflow_zero_and_missing() -> None:
    steps = np.arange(3)
    norms = np.array([[1.0, 0.0, np.nan], [np.inf, 0.0, np.nan], [2.0, 0.0, np.nan]])
    ax = plot_grad_norms(steps, norms, ["a", "b", "c"], missing=["c"])
    texts = legend_texts(ax)
    assert "'a'" in texts and "'b': exactly 0" in texts and "'c': None" in texts
    assert "exploded (inf/nan)" in texts
    assert ax.get_yscale() == "log"


def test_update_ratios_draw_the_reference_line_and_skip_unmeasured_steps() -> None:
    ratios = np.array([[1e-3, np.nan], [2e-3, np.nan]])
    ax = plot_update_ratios(np.arange(2), ratios, ["a", "b"])
    ys = [line.get_ydata()[0] for line in ax.get_lines() if len(line.get_ydata())]
    assert UPDATE_RATIO_REFERENCE == 1e-3 and 1e-3 in ys
    assert "exploded (inf/nan)" not in legend_texts(ax)
    ax = plot_update_ratios(np.arange(2), np.full((2, 2), np.nan), ["a", "b"])
    assert any(t.get_text() == "nothing measured" for t in ax.texts)


def test_losses_linear_when_narrow_log_when_wide_and_nan_marked() -> None:
    assert plot_loss_curve(np.array([2.3, 2.2, 2.1])).get_yscale() == "linear"
    assert plot_loss_curve(np.array([2.3, 4e4, 1e9])).get_yscale() == "log"
    ax = plot_loss_curve(np.array([np.nan]))
    low, high = ax.get_ylim()
    assert high > low and "exploded (inf/nan)" in legend_texts(ax)


@pytest.mark.parametrize("name", ["nan_loss", "too_large_init", "detached", "dead_relus"])
def test_dashboard_draws_broken_runs_without_warnings(name: str, recwarn) -> None:
    axes = plot_dashboard(compute_dashboard(name, steps=20))
    assert axes.shape == (2, 2)
    plt.gcf().canvas.draw()
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


@pytest.mark.parametrize("name", ["too_large_init", "too_high_lr"])
def test_overflow_markers_are_not_under_any_legend(name: str) -> None:
    """ "What to try" sends the learner to the x of a diverging run: no legend may cover it."""
    axes = plot_dashboard(compute_dashboard(name, steps=100))
    figure = plt.gcf()
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    legends = [ax.get_legend().get_window_extent(renderer) for ax in axes.flat]
    marked = 0
    for ax in axes.flat:
        for collection in ax.collections:
            points = ax.transData.transform(np.asarray(collection.get_offsets(), dtype=float))
            for x, y in points:
                marked += 1
                assert not any(box.contains(x, y) for box in legends), (ax.get_title(), x, y)
    assert marked >= 2  # the loss panel and the gradient-norm panel each have an x


@pytest.mark.parametrize("name", ["deep_sigmoid", "dead_relus"])
def test_dashboard_legends_stay_inside_the_figure(name: str) -> None:
    axes = plot_dashboard(compute_dashboard(name, steps=20))
    figure = plt.gcf()
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    width = figure.bbox.width
    boxes = [ax.get_legend().get_window_extent(renderer) for ax in axes.flat]
    assert all(box.x1 <= width for box in boxes)  # nothing cut at the right edge
    for row in axes:  # a left panel's legend ends before the right panel starts
        left_legend = row[0].get_legend().get_window_extent(renderer)
        assert left_legend.x1 < row[1].get_window_extent(renderer).x0
