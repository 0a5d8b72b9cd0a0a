"""gradlab.chapters.ch02_activations.plots draws every kind of result, including overflowed ones."""

import math

import matplotlib
import numpy as np
import pytest

from gradlab.chapters.ch02_activations.dead_units import study_dead_unit_recovery
from gradlab.chapters.ch02_activations.depth import DepthComparison
from gradlab.chapters.ch02_activations.explorer import compute_activation_explorer
from gradlab.chapters.ch02_activations.plots import (
    plot_activation_explorer,
    plot_dead_units,
    plot_gradient_after_depth,
    plot_training_comparison,
)
from gradlab.chapters.ch02_activations.training_comparison import compare_activation_training
from gradlab.training.data import load_digits_split

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks, as the chapters run them

matplotlib.use("Agg")


@pytest.mark.parametrize("name", ["sigmoid", "gelu", "relu"])
def test_explorer_plot(name):
    ax = plot_activation_explorer(compute_activation_explorer(name, -2.0))
    assert name in ax.get_title()
    assert len(ax.lines) >= 2


def test_depth_plot_survives_inf_nan_and_zero():
    values = np.array([0.5, math.inf, math.nan, 0.0])
    comparison = DepthComparison(3, "normal", 1.0, ("a", "b", "c", "d"), values[:, None], values)
    ax = plot_gradient_after_depth(comparison)
    texts = [text.get_text() for text in ax.texts]
    assert any("exploded (inf)" in t for t in texts)
    assert any("exploded (nan)" in t for t in texts)
    assert any("vanished (0)" in t for t in texts)


def test_dead_unit_and_training_plots():
    data = load_digits_split(seed=0)
    study = study_dead_unit_recovery(
        ("relu", "gelu"), seeds=(0, 1), bias_shift=-3.0, recover_steps=3, data=data
    )
    assert len(plot_dead_units(study).patches) == 6
    comparison = compare_activation_training(("relu", "tanh"), depth=1, steps=5, data=data)
    assert len(plot_training_comparison(comparison).lines) == 2
