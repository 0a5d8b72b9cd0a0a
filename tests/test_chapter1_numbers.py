"""Every number the start page (Chapter 0) and Chapter 1 state in their prose, with the margin of
the statement. Single, seeded forward/backward passes: the properties hold under any CPU rounding.
"""

import math

import numpy as np
import pytest
import torch

from gradlab import theory
from gradlab.chapters.ch01_chain_rule.factor_measurement import measure_factor_table
from gradlab.measure import spectral
from gradlab.measure.probe import STATUS_BOUNDS, make_batch, measure_gradient_flow, probe_gradients
from gradlab.models.mlp import make_mlp

FLOAT32 = theory.float_limits(torch.float32)


# --- Chapter 0, the introduction -------------------------------------------------------------


def test_start_page_powers_and_overflow():
    assert theory.gradient_after_layers(0.9, 50) == pytest.approx(0.005, rel=0.05)  # ≈ 0.005
    assert 100 < theory.gradient_after_layers(1.1, 50) < 120  # "more than a hundred", ≈ 117
    assert theory.gradient_after_layers(1.5, 50) == pytest.approx(6.4e8, rel=0.01)
    # "still finite: float32 only overflows past about 3.4e38 ... more than 200 layers at 1.5"
    assert FLOAT32.largest == pytest.approx(3.4e38, rel=0.01)
    assert theory.gradient_after_layers(1.5, 50) < FLOAT32.largest / 1e29
    assert theory.layers_until_overflow(1.5) > 200


# --- Chapter 1, section 1: the factor table and float32 ----------------------------------------


def test_float32_numbers_in_the_factor_table_bullets():
    assert theory.gradient_after_layers(0.5, 50) == pytest.approx(1e-15, rel=0.15)
    assert FLOAT32.smallest_normal == pytest.approx(1.2e-38, rel=0.03)  # "about 1e-38"
    assert FLOAT32.smallest_subnormal == pytest.approx(1.4e-45, rel=0.01)
    assert round(FLOAT32.significant_digits) == 7  # "about 7 significant digits"
    weight = torch.tensor(0.1)
    assert bool(weight + theory.gradient_after_layers(0.5, 50) == weight)  # the update is lost


def test_measured_table_agrees_within_a_few_tens_of_percent_over_twenty_odd_decades():
    table = measure_factor_table()
    theory_values = [row.theory[d] for row in table.rows for d in table.depths]
    assert 20 < math.log10(max(theory_values) / min(theory_values)) < 30
    for row in table.rows:
        for depth in table.depths:
            assert 0.6 < row.ratio(depth) <= 1.05, (row.factor, depth)  # a shortfall, not excess


# --- Chapter 1, section 2: typical case vs strict bound ----------------------------------------


def test_sigmoid_typical_case_and_strict_bound():
    model = make_mlp(depth=8, width=64, activation="sigmoid", init="xavier", seed=0)
    weight = model.layers[0].linear.weight.detach()
    gain = float(weight.std() * math.sqrt(weight.shape[1]))
    largest = spectral.largest_singular_value(weight)
    assert gain == pytest.approx(1.0, abs=0.03)  # "unit gain"
    assert largest == pytest.approx(1.9, abs=0.05)  # "σ_max ≈ 1.9", "about twice the gain"
    assert 1.7 < largest / gain < 2.1
    assert 0.25 * largest == pytest.approx(0.47, abs=0.01)  # "about 0.47 per layer"
    assert theory.sigmoid_bound(10) == pytest.approx(1e-6, rel=0.05)  # "about 0.25^10 ≈ 1e-6"
    strict = theory.sigmoid_bound(10, largest)
    assert strict == pytest.approx(5e-4, rel=0.15)  # "≈ 5 × 10^-4"
    assert strict / theory.sigmoid_bound(10) > 500  # "over five hundred times more"


def test_sigmoid_bound_is_a_strict_bound_for_weights_that_do_not_stretch():
    # ten backward steps Qᵀ(σ'(z) ⊙ g) with orthogonal Q (‖Q‖₂ = 1): never more than 0.25^10 survives
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(16, generator=generator, dtype=torch.float64)
    gradient = start
    for _ in range(10):
        q, _ = torch.linalg.qr(torch.randn(16, 16, generator=generator, dtype=torch.float64))
        z = 3 * torch.randn(16, generator=generator, dtype=torch.float64)
        gradient = q.T @ (torch.sigmoid(z) * (1 - torch.sigmoid(z)) * gradient)
    kept = float(gradient.norm() / start.norm())
    assert 0 < kept <= theory.sigmoid_bound(10)
    assert theory.sigmoid_bound(10, 2.0) == pytest.approx(0.5**10)


def test_the_probed_networks_match_the_prose():
    sigmoid = measure_gradient_flow(8, "sigmoid", 1.0, "xavier")
    assert np.all((sigmoid.measured_factors > 0.2) & (sigmoid.measured_factors < 0.25))  # ≈ 0.23
    np.testing.assert_allclose(sigmoid.predicted_factors, sigmoid.measured_factors, rtol=0.1)
    relu = measure_gradient_flow(8, "relu", 1.0, "he")
    assert np.all((relu.measured_factors > 0.85) & (relu.measured_factors < 1.1))  # "near 1"


def test_status_bounds_as_the_chapter_lists_them():
    assert dict(STATUS_BOUNDS) == {
        "exploded": 1e4,
        "large": 10.0,
        "healthy": 0.1,
        "small": 1e-3,
        "very small": 1e-6,
    }


# --- Chapter 1, section 3: the settings "What to try" names ------------------------------------


def test_relu_he_is_level_and_tilts_up_with_scale():
    level = measure_gradient_flow(8, "relu", 1.0, "he")
    assert set(level.statuses) == {"healthy"}
    assert 0.9 < level.typical_factor < 1.1
    tilted = measure_gradient_flow(8, "relu", 1.5, "he")
    assert tilted.total_measured > 5  # grows towards the input: the line tilts the other way


def test_tanh_small_weights_underflow_to_exactly_zero():
    probe = measure_gradient_flow(50, "tanh", 0.1, "xavier")
    assert probe.typical_factor == pytest.approx(0.1, rel=0.1)  # "each layer keeps about a tenth"
    zeros = np.flatnonzero(probe.activation_grad_norms == 0)
    assert len(zeros) >= 3 and zeros[0] == 0  # "the first layers get exactly 0"
    assert np.all(zeros == np.arange(len(zeros)))  # a block at the input end
    assert probe.total_predicted < FLOAT32.smallest_subnormal  # below float32's smallest number


def test_relu_normal_init_is_labelled_exploded_long_before_it_overflows():
    for depth in range(2, 7):
        assert measure_gradient_flow(depth, "relu", 1.0, "normal").statuses[0] != "exploded"
    for depth in (7, 8, 20, 40, 49):
        probe = measure_gradient_flow(depth, "relu", 1.0, "normal")
        assert probe.statuses[0] == "exploded"  # "from depth 7 on"
        assert np.all(np.isfinite(probe.activation_grad_norms))  # "still finite, up to depth 49"
    assert measure_gradient_flow(8, "relu", 1.0, "normal").typical_factor > 5  # "more than 5"
    overflowed = measure_gradient_flow(50, "relu", 1.0, "normal")  # "at depth 50"
    assert math.isnan(overflowed.loss)
    assert np.all(np.isnan(overflowed.activation_grad_norms))  # "every gradient becomes nan"
    # "the network's output itself overflows float32 (it holds inf and nan)"; at 49 it does not
    batch = make_batch(64, 64, seed=0)
    with torch.no_grad():
        output_50 = make_mlp(50, 64, "relu", "normal", 1.0, seed=0)(batch)
        output_49 = make_mlp(49, 64, "relu", "normal", 1.0, seed=0)(batch)
    assert bool(torch.isinf(output_50).any()) and bool(torch.isnan(output_50).any())
    assert bool(torch.isfinite(output_49).all())


# --- Chapter 1 exercises: the fractions Exercise 1.4's table shows ------------------------------


def test_exercise_network_has_one_layer_above_the_typical_ceiling():
    model = make_mlp(depth=10, width=32, activation="sigmoid", init="xavier", seed=0)
    x = make_batch(32, batch_size=64, seed=0)
    y = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(0))
    norms = probe_gradients(model, x, y).activation_grad_norms
    fractions = norms[:-1] / norms[1:]
    assert fractions[0] > 0.27  # "the first row keeps 0.28: more than the sigmoid's 0.25"
    assert np.all((fractions[1:] > 0.21) & (fractions[1:] < 0.25))  # "between 0.21 and 0.25"
    largest = [
        spectral.largest_singular_value(layer.linear.weight.detach()) for layer in model.layers
    ]
    assert min(largest) > 1.7 and max(largest) < 2.2  # "σ_max ≈ 2 here"


# --- Chapter 1, section 1: the hand-built network the chapter shows -----------------------------


def hand_built_fraction(factor: float, depth: int, width: int = 256) -> float:
    """The chapter's plain-PyTorch cell: He-init ReLU layers scaled by `factor`, one backward."""
    generator = torch.Generator().manual_seed(0)
    layers: list[torch.nn.Module] = []
    for _ in range(depth):
        linear = torch.nn.Linear(width, width)
        with torch.no_grad():
            linear.weight.normal_(0.0, factor * math.sqrt(2 / width), generator=generator)
            linear.bias.zero_()
        layers += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers)
    x = torch.randn(128, width, generator=generator, requires_grad=True)
    top = model(x)
    upstream = torch.randn(top.shape, generator=generator)
    top.backward(upstream)
    return float(x.grad.norm() / upstream.norm())


@pytest.mark.parametrize("factor", [0.5, 0.9, 1.0, 1.5])
@pytest.mark.parametrize("depth", [10, 30])
def test_hand_built_network_follows_factor_to_the_depth(factor, depth):
    # "change factor and depth and run it again": what reaches the input stays near factor^depth
    ratio = hand_built_fraction(factor, depth) / factor**depth
    assert 0.6 < ratio < 1.1, ratio


def test_hand_built_network_as_printed():
    assert f"{hand_built_fraction(0.5, 10):.1e}" == "8.1e-04"  # theory 0.5^10 = 9.8e-04


def test_widget_follow_up_numbers():
    tiny = measure_gradient_flow(50, "tanh", 0.1, "xavier")
    assert f"{tiny.typical_factor:.2f}" == "0.10"  # "each layer keeps about a tenth"
    assert tiny.total_predicted < 1e-45  # "about 1e-50, far below float32's smallest number"
    assert int(np.sum(tiny.activation_grad_norms == 0)) == 8  # "the first 8 layers ... 0"
    assert measure_gradient_flow(8, "relu", 1.0, "normal").typical_factor > 5  # "more than 5"
