"""gradlab.activations against torch.autograd and against the numbers Chapters 1–2 quote."""

import math

import pytest
import torch

from gradlab.activations import (
    ACTIVATIONS,
    activation_derivative,
    activation_function,
    activation_value,
    max_derivative,
    saturation_zone,
)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_derivative_matches_autograd(name):
    x = torch.linspace(-6, 6, 1201, dtype=torch.float64).requires_grad_(True)
    # skip the kink at 0 where relu-like derivatives are a convention
    x_away = x[(x.detach().abs() > 1e-6)]
    (grad,) = torch.autograd.grad(activation_function(name)(x_away).sum(), x)
    expected = grad[(x.detach().abs() > 1e-6)]
    got = activation_derivative(name, x_away.detach())
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_value_matches_torch_module(name):
    modules = {
        "sigmoid": torch.nn.Sigmoid(),
        "tanh": torch.nn.Tanh(),
        "relu": torch.nn.ReLU(),
        "leaky_relu": torch.nn.LeakyReLU(0.01),
        "elu": torch.nn.ELU(),
        "gelu": torch.nn.GELU(),
        "silu": torch.nn.SiLU(),
    }
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    torch.testing.assert_close(activation_value(name, x), modules[name](x))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("sigmoid", 0.25), ("tanh", 1.0), ("relu", 1.0), ("leaky_relu", 1.0), ("elu", 1.0)],
)
def test_max_derivative_closed_forms(name, expected):
    assert max_derivative(name) == pytest.approx(expected, abs=1e-9)


def test_smooth_relus_overshoot_one():
    # GELU and SiLU have a small bump above 1 just right of 0
    assert 1.12 < max_derivative("gelu") < 1.14
    assert 1.09 < max_derivative("silu") < 1.11


def test_sigmoid_saturation_zone_quoted_in_text():
    zone = saturation_zone("sigmoid", 0.05)
    assert len(zone.intervals) == 2
    (low_end, edge_left), (edge_right, high_end) = zone.intervals
    assert math.isinf(low_end) and math.isinf(high_end)
    assert edge_right == pytest.approx(-edge_left, abs=1e-9)
    # the boundary is where σ'(x) equals the threshold, and it is below 3
    assert float(activation_derivative("sigmoid", edge_right)) == pytest.approx(0.05, abs=1e-9)
    assert 2.8 < edge_right < 3.0
    assert zone.contains(3.0) and zone.contains(-3.0) and not zone.contains(2.0)


def test_tanh_saturation_zone_quoted_in_text():
    zone = saturation_zone("tanh", 0.1)
    edge = zone.intervals[1][0]
    assert float(activation_derivative("tanh", edge)) == pytest.approx(0.1, abs=1e-9)
    assert edge < 2.0
    assert zone.contains(2.0) and not zone.contains(1.5)


def test_relu_zone_is_the_negative_half():
    zone = saturation_zone("relu", 0.05)
    assert zone.contains(-0.5) and not zone.contains(0.5)
    assert zone.describe() == "x < 0.00"


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match="activation must be one of sigmoid, tanh, relu"):
        activation_derivative("swish2", 0.0)


def test_threshold_must_be_positive():
    with pytest.raises(ValueError, match="threshold"):
        saturation_zone("tanh", 0)
