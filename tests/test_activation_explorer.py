"""gradlab.chapters.ch02_activations.explorer against closed forms and torch's own functions."""

import math

import pytest
import torch

from gradlab.chapters.ch02_activations.explorer import (
    GRADIENT_NOTES,
    THRESHOLDS,
    activation_table,
    compute_activation_explorer,
    flat_zone,
    gradient_note,
)
from gradlab.models.activations import ACTIVATIONS, activation_derivative, negative_slope


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_curves_match_autograd(name):
    result = compute_activation_explorer(name, 0.7)
    xs = torch.tensor(result.xs, requires_grad=True)
    function = getattr(torch.nn.functional, name) if name not in ("sigmoid", "tanh") else None
    function = function or getattr(torch, name)
    (grad,) = torch.autograd.grad(function(xs).sum(), xs)
    away = xs.detach().abs() > 1e-9  # the kink at 0 is a convention for relu-like functions
    torch.testing.assert_close(torch.tensor(result.derivatives)[away], grad[away])
    torch.testing.assert_close(torch.tensor(result.values), function(xs.detach()))


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_values_at_x_and_note(name):
    result = compute_activation_explorer(name, -1.5)
    assert result.derivative == pytest.approx(float(activation_derivative(name, -1.5)))
    assert result.note == gradient_note(name) == GRADIENT_NOTES[name]
    assert result.zone.threshold == THRESHOLDS[name]
    assert result.summary().count("\n") == 2


def test_sigmoid_at_zero_and_in_zone():
    at_zero = compute_activation_explorer("sigmoid", 0.0)
    assert (at_zero.value, at_zero.derivative) == (0.5, 0.25)
    assert not at_zero.in_zone
    assert compute_activation_explorer("sigmoid", 4.0).in_zone
    assert "inside it" in compute_activation_explorer("sigmoid", -4.0).summary()


def test_zones_are_the_closed_forms():
    # sigmoid: s(1-s) = 0.05 -> s = (1 + sqrt(0.8)) / 2; tanh: 1 - t^2 = 0.1 -> t = sqrt(0.9)
    sigmoid_edge = math.log((1 + math.sqrt(0.8)) / (1 - math.sqrt(0.8)))
    tanh_edge = math.atanh(math.sqrt(0.9))
    assert flat_zone("sigmoid").intervals[-1][0] == pytest.approx(sigmoid_edge, abs=1e-6)
    assert flat_zone("tanh").intervals[-1][0] == pytest.approx(tanh_edge, abs=1e-6)
    assert flat_zone("elu").intervals[0][1] == pytest.approx(math.log(0.05), abs=1e-6)


def test_note_numbers_are_true():
    # gelu' and silu' are negative below the points the notes give, lowest where they say
    for name, below, minimum, at in (("gelu", -0.75, -0.13, -1.41), ("silu", -1.28, -0.10, -2.40)):
        region = negative_slope(name)
        assert f"f' < 0 for every x < {below}" in GRADIENT_NOTES[name]
        assert f"lowest about {minimum:.2f}, at x = {at:.2f}" in GRADIENT_NOTES[name]
        assert round(region.below, 2) == below and round(region.at, 2) == at
        assert round(region.minimum, 2) == minimum
    assert float(activation_derivative("gelu", -4.0)) == pytest.approx(-5e-4, rel=0.02)
    assert float(activation_derivative("silu", -4.0)) == pytest.approx(-0.05, rel=0.1)
    assert flat_zone("tanh").describe() == "x < -1.82 or x > 1.82"


def test_table_names_the_negative_slopes():
    table = activation_table()
    assert "gelu: f' < 0 for every x < -0.75 (lowest -0.129 at x = -1.41)" in table
    assert "silu: f' < 0 for every x < -1.28 (lowest -0.100 at x = -2.40)" in table
    assert "(where f' crosses 0)" in table


def test_table_has_every_activation():
    table = activation_table()
    assert all(name in table for name in ACTIVATIONS)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"activation": "swish", "x": 0.0}, "activation"),
        ({"activation": "relu", "x": math.nan}, "x"),
        ({"activation": "relu", "x": 0.0, "points": 1}, "points"),
        ({"activation": "relu", "x": 0.0, "x_limit": 0}, "x_limit"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        compute_activation_explorer(**kwargs)
