"""Chapter 6's norm-vs-value demo: every slider position computes a valid, labelled view; the widget
redraws on a move."""

import math

import matplotlib
import pytest

from gradlab.chapters.ch06_clipping.direction import THRESHOLDS, compute_clipping_view
from gradlab.chapters.ch06_clipping.plots import plot_clipping_plane
from gradlab.chapters.ch06_clipping.widgets import make_clipping_demo
from tests.helpers import find

matplotlib.use("Agg")


@pytest.mark.parametrize("threshold", THRESHOLDS, ids=lambda c: f"c={c:g}")
def test_every_slider_position_gives_a_valid_view(threshold):
    view = compute_clipping_view(threshold)
    numbers = [view.norm, view.norm_clipped_norm, view.value_clipped_norm, view.value_cosine]
    assert all(math.isfinite(n) for n in numbers)
    assert view.norm_cosine == pytest.approx(1.0, abs=1e-9)  # norm clipping never turns g
    assert view.norm_clipped_norm == pytest.approx(min(view.norm, threshold), rel=1e-5)
    assert 0 < view.value_cosine <= 1 + 1e-12
    assert view.value_clipped_norm <= view.norm * (1 + 1e-6)  # norm: float32, from clipping
    if view.clamped_fraction == 0:
        assert view.value_cosine == pytest.approx(1.0, abs=1e-12)
    else:
        assert view.value_cosine < 1 - 1e-6  # "value clipping < 1" whenever it cuts an entry
    text = view.summary()
    assert text.count("\n") == 2 and f"c = {threshold:g}," in text
    assert "nan" not in text and "inf" not in text


def test_the_angle_grows_as_the_threshold_shrinks():
    angles = [compute_clipping_view(c).value_angle_degrees for c in THRESHOLDS]
    assert angles == sorted(angles, reverse=True)
    assert angles[0] > 55 and angles[-1] == pytest.approx(0, abs=1e-4)


def test_bad_thresholds_are_named():
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="threshold must be a finite number > 0"):
            compute_clipping_view(bad)
    with pytest.raises(ValueError, match="threshold must be one of"):
        make_clipping_demo(threshold=0.3)


def test_widget_redraws_on_slider_move_at_every_position():
    import matplotlib.pyplot as plt

    demo = make_clipping_demo()
    assert "gradlab-clipping" in demo._dom_classes
    readout = find(demo, css_class="gradlab-readout")
    slider = find(demo, "threshold c")
    assert "threshold c = 0.1," in readout.value
    for threshold in THRESHOLDS:
        slider.value = threshold
        assert f"threshold c = {threshold:g}," in readout.value
        plt.close("all")


def test_the_plane_plot_draws_both_panels():
    import matplotlib.pyplot as plt

    axes = plot_clipping_plane(compute_clipping_view(0.01))
    assert len(axes) == 2 and "turns g by" in axes[1].get_title()
    assert [t.get_text() for t in axes[1].get_legend().get_texts()] == [
        "original g",
        "norm-clipped",
        "value-clipped",
    ]
    plt.close("all")
