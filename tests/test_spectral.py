"""gradlab.measure.spectral: matrix sizes against torch.linalg, growth against autograd and closed forms."""

import math

import numpy as np
import pytest
import torch

from gradlab.measure.spectral import (
    compare_spectra,
    describe_matrix,
    format_spectra,
    largest_singular_value,
    make_weights,
    measure_growth,
    repeated_growth_rate,
    rms_singular_value,
    spectral_radius,
)


def random_matrix(seed, shape=(16, 16)):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matrix_sizes_match_torch_linalg(seed):
    weight = random_matrix(seed)
    assert largest_singular_value(weight) == pytest.approx(
        float(torch.linalg.svdvals(weight.double())[0]), rel=1e-10
    )
    assert spectral_radius(weight) == pytest.approx(
        float(torch.linalg.eigvals(weight.double()).abs().max()), rel=1e-10
    )
    singular = torch.linalg.svdvals(weight.double())
    assert rms_singular_value(weight) == pytest.approx(float(singular.pow(2).mean().sqrt()))


def test_bounds_between_sizes():
    spectrum = describe_matrix(random_matrix(3))
    assert spectrum.spectral_radius <= spectrum.largest_singular_value + 1e-12
    assert spectrum.rms_singular_value <= spectrum.largest_singular_value


def test_non_square_spectral_radius_is_refused():
    with pytest.raises(ValueError, match="square"):
        spectral_radius(random_matrix(0, (3, 4)))


@pytest.mark.parametrize("scale", [0.5, 1.0, 2.5])
def test_orthogonal_weights_have_all_singular_values_equal_to_scale(scale):
    weights = make_weights(3, 32, scale, "orthogonal", generator=torch.Generator().manual_seed(0))
    singular = torch.linalg.svdvals(weights.double())
    np.testing.assert_allclose(singular.numpy(), scale, rtol=1e-5)


def test_gaussian_weights_sizes_follow_random_matrix_theory():
    generator = torch.Generator().manual_seed(0)
    weight = make_weights(1, 256, 1.5, "gaussian", generator=generator)[0]
    spectrum = describe_matrix(weight)
    assert spectrum.rms_singular_value == pytest.approx(1.5, rel=0.05)
    assert spectrum.largest_singular_value == pytest.approx(3.0, rel=0.05)  # σ_max ≈ 2 × scale
    assert spectrum.spectral_radius == pytest.approx(1.5, rel=0.1)  # circular law


@pytest.mark.parametrize(("kind", "activation"), [("orthogonal", "tanh"), ("gaussian", "relu")])
def test_grad_norms_match_autograd_with_retain_grad(kind, activation):
    result = measure_growth(5, 1.3, kind=kind, activation=activation, width=16, batch_size=4)
    # independent replay of the same draws, gradients read from .grad via retain_grad
    generator = torch.Generator().manual_seed(0)
    weights = make_weights(5, 16, 1.3, kind, generator=generator)
    h = torch.randn(4, 16, generator=generator).requires_grad_(True)
    upstream = torch.randn(4, 16, generator=generator)
    upstream = upstream / upstream.norm()
    hidden = [h]
    f = torch.tanh if activation == "tanh" else torch.relu
    for weight in weights:
        nxt = f(hidden[-1] @ weight.T)
        nxt.retain_grad()
        hidden.append(nxt)
    (hidden[-1] * upstream).sum().backward()
    expected = [float(t.grad.double().norm()) for t in hidden]
    np.testing.assert_allclose(result.grad_norms, expected, rtol=1e-6)
    assert result.grad_norms[-1] == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize(("scale", "depth"), [(0.5, 10), (1.0, 30), (1.5, 20), (2.0, 40)])
def test_linear_orthogonal_chain_grows_exactly_like_scale_to_the_depth(scale, depth):
    result = measure_growth(depth, scale)
    assert result.measured_growth == pytest.approx(scale**depth, rel=1e-4)
    assert result.predicted_growth == pytest.approx(scale**depth, rel=1e-5)


def test_gaussian_bound_overshoots_typical_tracks():
    result = measure_growth(20, 1.0, kind="gaussian")
    assert result.predicted_growth > 1e4 * result.measured_growth  # σ_max ≈ 2: 2^20 ≈ 1e6
    assert result.typical_growth == pytest.approx(result.measured_growth, rel=0.5)


def test_overflow_is_labelled_not_raised():
    result = measure_growth(100, 3.0)
    assert not math.isfinite(result.measured_growth)
    assert result.status == "exploded"
    assert "exploded (" in result.summary()
    assert math.isfinite(result.predicted_growth)  # 3^100 fits in float64


@pytest.mark.parametrize("scale", [0.5, 1.5])
def test_repeated_growth_rate_tends_to_spectral_radius(scale):
    weight = make_weights(1, 64, scale, "gaussian", generator=torch.Generator().manual_seed(1))[0]
    rate = repeated_growth_rate(weight, steps=400)
    assert rate == pytest.approx(spectral_radius(weight), rel=0.03)
    assert rate < 0.7 * largest_singular_value(weight)


def test_compare_spectra_table():
    rows = compare_spectra((0.5, 2.0), width=32)
    assert [row.weight_scale for row in rows] == [0.5, 2.0]
    assert len(format_spectra(rows).splitlines()) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"depth": 0, "weight_scale": 1.0}, "depth must be an integer >= 1"),
        ({"depth": 3, "weight_scale": 0.0}, "weight_scale must be a finite number > 0"),
        ({"depth": 3, "weight_scale": 1.0, "kind": "uniform"}, "kind must be one of"),
        ({"depth": 3, "weight_scale": 1.0, "activation": "gelu"}, "activation must be one of"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        measure_growth(**kwargs)
