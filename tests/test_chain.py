"""gradlab.measure.chain: the one result type for a gradient measured through a chain of layers."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from gradlab.measure.chain import (
    GradientChain,
    classify_gradient,
    geometric_mean,
    grad_norm_curve,
)
from gradlab.measure.probe import GradientProbe, measure_gradient_flow, probe_gradients
from gradlab.measure.spectral import GrowthMeasurement, measure_growth
from gradlab.models.mlp import make_mlp


def chain(grad_norms, predicted) -> GradientChain:
    grad_norms = np.asarray(grad_norms, dtype=float)
    names = tuple(f"layer{i}" for i in range(1, len(grad_norms)))
    return GradientChain(
        layer_names=names,
        grad_norms=grad_norms,
        predicted_factors=np.asarray(predicted, dtype=float),
    )


@pytest.mark.parametrize(
    "result",
    [
        pytest.param(lambda: measure_gradient_flow(6, "tanh", 1.0, "xavier"), id="probe"),
        pytest.param(lambda: measure_growth(6, 1.2, activation="tanh"), id="growth"),
    ],
)
def test_both_builders_return_a_gradient_chain(result) -> None:
    measured = result()
    assert isinstance(measured, GradientChain)
    assert measured.depth == 6 and len(measured.layer_names) == 6
    assert measured.grad_norms.shape == (7,) and measured.predicted_factors.shape == (6,)
    # the chain's derived numbers are the ones each result type has always shown
    assert np.prod(measured.measured_factors) == pytest.approx(measured.total_measured, rel=1e-9)
    assert measured.predicted_grad_norms[0] == pytest.approx(
        measured.grad_norms[-1] * measured.total_predicted, rel=1e-9
    )
    assert measured.status == classify_gradient(measured.total_measured)


def test_probe_and_growth_keep_their_own_names_for_the_chain_numbers() -> None:
    probe = measure_gradient_flow(5, "relu", 1.0, "he")
    assert isinstance(probe, GradientProbe)
    np.testing.assert_array_equal(probe.activation_grad_norms, probe.grad_norms[1:])
    assert probe.input_grad_norm == probe.grad_norms[0]
    growth = measure_growth(5, 0.8)
    assert isinstance(growth, GrowthMeasurement)
    assert growth.measured_growth == growth.total_measured
    assert growth.predicted_growth == growth.total_predicted
    np.testing.assert_allclose(
        growth.predicted_factors, growth.largest_singular_values * growth.slopes
    )


def test_probe_chain_matches_retain_grad_oracle() -> None:
    model = make_mlp(depth=4, width=16, activation="sigmoid", init="xavier", seed=1)
    x = torch.randn(8, 16, generator=torch.Generator().manual_seed(2))
    y = torch.randint(0, 10, (8,), generator=torch.Generator().manual_seed(3))
    probe = probe_gradients(model, x, y)
    h = x.clone().requires_grad_(True)
    hidden = [h]
    for layer in model.layers:
        hidden.append(layer(hidden[-1]))
    grads = torch.autograd.grad(
        torch.nn.functional.cross_entropy(model.head(hidden[-1]), y), hidden
    )
    np.testing.assert_allclose(probe.grad_norms, [float(g.norm()) for g in grads], rtol=1e-5)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([2.0, 8.0], 4.0, id="two"),
        pytest.param([0.1] * 10, 0.1, id="constant"),
        pytest.param([1e-30, 1e30], 1.0, id="extremes-cancel"),
        pytest.param(np.array([0.5, 2.0, 4.0, 0.25]), 1.0, id="array"),
        pytest.param([0.0, 5.0], 0.0, id="zero"),
        pytest.param([math.inf, 5.0], math.inf, id="inf"),
    ],
)
def test_geometric_mean_of_known_values(values, expected) -> None:
    assert geometric_mean(values) == pytest.approx(expected, rel=1e-12)


def test_geometric_mean_is_the_per_layer_factor_of_a_product() -> None:
    factors = np.random.default_rng(0).uniform(0.1, 3.0, size=20)
    assert geometric_mean(factors) ** 20 == pytest.approx(np.prod(factors), rel=1e-9)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([0.0, math.inf], id="zero-and-inf"),
        pytest.param([math.nan, 2.0], id="nan"),
        pytest.param([-1.0, 2.0], id="negative"),
        pytest.param([], id="empty"),
    ],
)
def test_geometric_mean_undefined_is_nan_without_warnings(values) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(geometric_mean(values))


def test_derived_numbers_of_a_hand_built_chain() -> None:
    # input 0.01, outputs 0.1, 1.0: each layer kept a tenth
    measured = chain([0.01, 0.1, 1.0], [0.2, 0.5])
    np.testing.assert_allclose(measured.measured_factors, [0.1, 0.1])
    np.testing.assert_allclose(measured.output_grad_norms, [0.1, 1.0])
    assert measured.total_measured == pytest.approx(0.01)
    assert measured.total_predicted == pytest.approx(0.1)
    assert measured.typical_factor == pytest.approx(0.1)
    np.testing.assert_allclose(measured.predicted_grad_norms, [0.1, 0.5, 1.0])
    np.testing.assert_allclose(measured.relative_grad_norms, [0.1, 1.0])
    assert measured.statuses == ("healthy", "healthy")
    assert measured.status == "small"


def test_non_finite_gradients_are_labelled_not_raised() -> None:
    overflowed = chain([math.inf, math.inf, 1.0], [2.0, 2.0])
    assert math.isnan(overflowed.measured_factors[0])  # inf / inf
    assert overflowed.statuses == ("exploded", "healthy")
    assert overflowed.status == "exploded"
    assert overflowed.usable_factors.size == 0 and math.isnan(overflowed.typical_factor)
    underflowed = chain([0.0, 0.0, 0.0], [0.5, 0.5])
    # the last layer's gradient is 0: a 0 elsewhere is 0 relative to it, never 0/0
    np.testing.assert_array_equal(underflowed.relative_grad_norms, [0.0, 0.0])
    assert underflowed.statuses == ("vanished", "vanished")
    partly = chain([0.0, 1e-3, 1.0], [math.nan, 0.5])
    np.testing.assert_allclose(partly.usable_factors, [1e-3])  # 0/1e-3 left out
    assert math.isnan(partly.total_predicted)


def test_grad_norm_curve_is_the_product_of_the_factors_above_each_layer() -> None:
    factors = np.array([2.0, 3.0, 5.0])
    np.testing.assert_allclose(grad_norm_curve(factors, 7.0), [7 * 30, 7 * 15, 7 * 5, 7])


@pytest.mark.parametrize(
    ("grad_norms", "predicted", "match"),
    [
        pytest.param([1.0, 1.0], [1.0, 1.0], "predicted_factors must have shape", id="predicted"),
        pytest.param([1.0, 1.0, 1.0], [1.0], "grad_norms must have shape", id="grad_norms"),
    ],
)
def test_shapes_that_do_not_fit_the_layers_are_refused(grad_norms, predicted, match) -> None:
    with pytest.raises(ValueError, match=match):
        GradientChain(
            layer_names=("a",),
            grad_norms=np.array(grad_norms),
            predicted_factors=np.array(predicted),
        )
