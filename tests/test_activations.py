"""gradlab.models.activations against torch.autograd and against the numbers Chapters 1–2 quote."""

import math

import pytest
import torch

from gradlab.models.activations import (
    ACTIVATIONS,
    activation_derivative,
    activation_function,
    activation_value,
    max_derivative,
    negative_slope,
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


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _normal_pdf(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def test_gelu_negative_slope_against_closed_form():
    # GELU' = Φ(x) + xφ(x); GELU'' = φ(x)(2 − x²) is 0 at x = −√2, the minimum of GELU'
    region = negative_slope("gelu")
    assert _normal_cdf(region.below) + region.below * _normal_pdf(region.below) == pytest.approx(
        0, abs=1e-12
    )
    assert region.at == pytest.approx(-math.sqrt(2), abs=1e-6)
    minimum = _normal_cdf(-math.sqrt(2)) - math.sqrt(2) * _normal_pdf(math.sqrt(2))
    assert region.minimum == pytest.approx(minimum, abs=1e-12)
    # the numbers the chapter's text quotes
    assert f"{region.below:.2f}" == "-0.75" and f"{region.at:.2f}" == "-1.41"
    assert -0.135 < region.minimum < -0.125  # "about -0.13"


def test_silu_negative_slope_against_closed_form():
    # SiLU' = σ(1 + x(1 − σ)) is 0 where 1 + x(1 − σ(x)) = 0
    region = negative_slope("silu")
    sigma = 1 / (1 + math.exp(-region.below))
    assert 1 + region.below * (1 - sigma) == pytest.approx(0, abs=1e-10)
    assert f"{region.below:.2f}" == "-1.28" and f"{region.at:.2f}" == "-2.40"
    assert -0.105 < region.minimum < -0.095  # "about -0.10"
    # the minimum is a minimum: f' is higher on both sides, and negative all the way down
    for x in (region.at - 0.01, region.at + 0.01):
        assert float(activation_derivative("silu", x)) > region.minimum
    far = torch.tensor([-3.0, -5.0, -8.0, -11.0], dtype=torch.float64)
    assert (activation_derivative("silu", far) < 0).all()


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu", "elu"])
def test_no_negative_slope(name):
    assert negative_slope(name) is None


@pytest.mark.parametrize("name", ["gelu", "silu"])
def test_middle_flat_interval_is_where_the_derivative_crosses_zero(name):
    zone = saturation_zone(name, 0.05)
    _, (low, high) = zone.intervals
    assert zone.crossings == (False, True)
    assert low < negative_slope(name).below < high
    assert "(where f' crosses 0)" in zone.describe()
    assert "crosses" not in saturation_zone("sigmoid", 0.05).describe()
