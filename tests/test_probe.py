"""gradlab.measure.probe against a hand-written autograd pass, and its labels at the extremes."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gradlab.formatting import format_number
from gradlab.measure.probe import (
    STATUSES,
    classify_gradient,
    make_batch,
    measure_gradient_flow,
    probe_gradients,
)
from gradlab.models.mlp import make_mlp


def reference_norms(model, x, y):
    """‖∂L/∂h_l‖ and ‖∂L/∂W_l‖ by retain_grad on a manual forward pass (the oracle)."""
    hidden = []
    h = x.clone().requires_grad_(True)
    for layer in model.layers:
        h = layer(h)
        h.retain_grad()
        hidden.append(h)
    loss = F.cross_entropy(model.head(h), y)
    loss.backward()
    return (
        [float(t.grad.norm()) for t in hidden],
        [float(layer.linear.weight.grad.norm()) for layer in model.layers],
        float(loss.detach()),
    )


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "gelu"])
def test_norms_match_autograd_oracle(activation):
    model = make_mlp(depth=6, width=32, activation=activation, init="xavier", seed=2)
    x = make_batch(32, 16, seed=5)
    y = torch.randint(0, 10, (16,), generator=torch.Generator().manual_seed(9))
    probe = probe_gradients(model, x, y)
    hidden_norms, weight_norms, loss = reference_norms(model, x, y)
    np.testing.assert_allclose(probe.activation_grad_norms, hidden_norms, rtol=1e-5)
    np.testing.assert_allclose(probe.weight_grad_norms, weight_norms, rtol=1e-5)
    assert probe.loss == pytest.approx(loss, rel=1e-6)
    assert probe.layer_names == tuple(f"layers.{i}" for i in range(6))


def test_factors_multiply_to_total():
    probe = measure_gradient_flow(12, "tanh", 1.0, "xavier")
    assert np.prod(probe.measured_factors) == pytest.approx(probe.total_measured, rel=1e-9)
    assert probe.total_measured == pytest.approx(
        probe.input_grad_norm / probe.activation_grad_norms[-1]
    )


def test_sigmoid_prediction_close_to_measurement():
    probe = measure_gradient_flow(10, "sigmoid", 1.0, "xavier")
    # the mean-field prediction rms f'(z)·gain(W) tracks every layer within 20%
    np.testing.assert_allclose(probe.predicted_factors, probe.measured_factors, rtol=0.2)
    # and every factor is below sigmoid's ceiling of 0.25 times the weight gain
    assert np.all(probe.activation_slopes <= 0.25 + 1e-12)
    assert probe.statuses[0] in ("very small", "vanished")


def test_he_relu_keeps_gradients_healthy():
    probe = measure_gradient_flow(20, "relu", 1.0, "he")
    assert set(probe.statuses) == {"healthy"}
    assert 0.3 < probe.total_measured < 3


def test_overflow_gives_labels_not_exceptions():
    probe = measure_gradient_flow(50, "relu", 3.0, "normal")
    assert not math.isfinite(probe.total_measured)
    assert "exploded" in probe.statuses
    assert all(status in STATUSES for status in probe.statuses)
    assert "exploded" in probe.table()


def test_learner_model_with_explicit_layers():
    blocks = [nn.Sequential(nn.Linear(8, 8), nn.ReLU(inplace=True)) for _ in range(3)]
    model = nn.Sequential(*blocks, nn.Linear(8, 3))
    probe = probe_gradients(model, torch.randn(4, 8), layers=blocks)
    assert probe.layer_names == ("0", "1", "2")
    assert np.all(np.isnan(probe.predicted_factors))  # no .linear/.activation to predict from
    assert np.all(np.isfinite(probe.activation_grad_norms))


def sequential_oracle(model, x, y):
    """Per child of an nn.Sequential: ‖∂L/∂output‖ and ‖∂L/∂params‖, plus ‖∂L/∂x‖ (plain autograd).

    In-place ReLUs are replaced by out-of-place ones, so every stored output keeps its own value.
    """
    h = x.clone().requires_grad_(True)
    outputs = [h]
    for child in model:
        h = torch.relu(h) if isinstance(child, nn.ReLU) else child(h)
        h.retain_grad()
        outputs.append(h)
    F.cross_entropy(h, y).backward()
    grad_norms = [float(t.grad.norm()) for t in outputs]  # index 0 = x, index i+1 = child i
    param_norms = [
        math.hypot(*(float(p.grad.norm()) for p in child.parameters())) for child in model
    ]
    model.zero_grad()
    return grad_norms, param_norms


def make_sequential(inplace):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(16, 32),
        nn.ReLU(inplace=inplace),
        nn.Linear(32, 32),
        nn.ReLU(inplace=inplace),
        nn.Linear(32, 32),
        nn.Tanh(),
        nn.Linear(32, 4),
    )


@pytest.mark.parametrize("inplace", [False, True], ids=["relu", "relu-inplace"])
@pytest.mark.parametrize(
    "chosen",
    [(0, 2, 4, 6), (2, 4), (4,), (2, 3, 4), (0, 4)],
    ids=["all-linear", "middle-pair", "one", "linear-relu-linear", "not-a-chain"],
)
def test_sequential_subsets_match_autograd_oracle(inplace, chosen):
    model = make_sequential(inplace)
    x = torch.randn(8, 16, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 4, (8,), generator=torch.Generator().manual_seed(2))
    grad_norms, param_norms = sequential_oracle(model, x, y)
    probe = probe_gradients(model, x, y, F.cross_entropy, layers=[model[i] for i in chosen])

    outputs = [grad_norms[i + 1] for i in chosen]
    first_input = grad_norms[chosen[0]]  # the gradient at the input of the first probed layer
    np.testing.assert_allclose(probe.activation_grad_norms, outputs, rtol=1e-5)
    assert probe.input_grad_norm == pytest.approx(first_input, rel=1e-5)
    # factor = gradient at the previous probed point ÷ gradient at this layer's output
    np.testing.assert_allclose(
        probe.measured_factors, np.array([first_input, *outputs[:-1]]) / outputs, rtol=1e-5
    )
    assert probe.total_measured == pytest.approx(first_input / outputs[-1], rel=1e-5)
    has_parameters = [any(True for _ in model[i].parameters()) for i in chosen]
    assert probe.has_parameters == tuple(has_parameters)
    for i, weight_norm, has in zip(chosen, probe.weight_grad_norms, has_parameters, strict=True):
        assert (
            weight_norm == pytest.approx(param_norms[i], rel=1e-5)
            if has
            else math.isnan(weight_norm)
        )
    assert all(p.grad is None for p in model.parameters())  # the learner's .grad is left alone


def test_inplace_relu_block_matches_out_of_place_twin():
    blocks = [nn.Sequential(nn.Linear(8, 8), nn.ReLU(inplace=True)) for _ in range(3)]
    model = nn.Sequential(*blocks, nn.Linear(8, 3))
    twin = copy.deepcopy(model)
    for block in twin[:3]:
        block[1].inplace = False
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(3))
    probe = probe_gradients(model, x, layers=[model[0][0], model[1][0], model[2][0]])
    reference = probe_gradients(twin, x, layers=[twin[0][0], twin[1][0], twin[2][0]])
    np.testing.assert_allclose(probe.activation_grad_norms, reference.activation_grad_norms)
    np.testing.assert_allclose(probe.measured_factors, reference.measured_factors)


def test_undefined_prediction_prints_na_not_exploded():
    model = make_sequential(inplace=True)
    probe = probe_gradients(model, torch.randn(4, 16), layers=[model[2], model[3], model[4]])
    table, summary = probe.table(), probe.summary()
    assert "exploded" not in table + summary
    assert table.splitlines()[2].split("|")[2].strip() == "n/a"  # the ReLU has no weights
    assert table.splitlines()[1].split("|")[4].strip() == "n/a"  # no .linear/.activation
    assert table.endswith("predicted n/a")
    first, per_layer, parts = summary.splitlines()
    assert first.endswith("predicted n/a") and per_layer.endswith("predicted n/a")
    assert parts.startswith("Predicted per layer = n/a")
    assert set(probe.statuses) <= set(STATUSES) - {"exploded"}


def test_model_without_layers_needs_them_named():
    with pytest.raises(ValueError, match="layers must be given"):
        probe_gradients(nn.Linear(3, 2), torch.randn(2, 3))


def test_layer_not_in_forward_is_an_error():
    model = make_mlp(depth=2, width=4)
    with pytest.raises(ValueError, match="must run in the model's forward"):
        probe_gradients(model, torch.randn(2, 4), layers=[nn.Linear(4, 4)])


@pytest.mark.parametrize(
    ("relative", "status"),
    [
        (1.0, "healthy"),
        (0.05, "small"),
        (1e-5, "very small"),
        (1e-9, "vanished"),
        (50.0, "large"),
        (1e6, "exploded"),
        (math.inf, "exploded"),
        (math.nan, "exploded"),
    ],
)
def test_classify_gradient(relative, status):
    assert classify_gradient(relative) == status


def test_typical_factor_is_the_per_layer_root_of_the_total_when_nothing_underflows():
    probe = measure_gradient_flow(8, "sigmoid", 1.0, "xavier")
    assert probe.usable_factors.size == 8
    assert probe.typical_factor == pytest.approx(probe.total_measured ** (1 / 8), rel=1e-9)


def test_typical_factor_skips_layers_whose_gradient_underflowed():
    probe = measure_gradient_flow(50, "tanh", 0.1, "xavier")  # layers 1-8 underflow to 0
    assert probe.total_measured == 0
    assert 30 <= probe.usable_factors.size < 50
    assert probe.typical_factor == pytest.approx(0.1, rel=0.1)  # what each layer really does
    assert "measured vanished (0)" in probe.summary()
    assert "total over 50 layers: measured vanished (0)" in probe.table()


def test_summary_gives_one_number_for_the_whole_stack():
    probe = measure_gradient_flow(8, "sigmoid", 1.0, "xavier")
    first, per_layer, parts = probe.summary().splitlines()
    assert first.startswith("Through 8 layers, last layer's output → network input: measured ×")
    assert "first layer's output" not in probe.summary()  # no second 'first layer' number
    total = f"×{format_number(probe.total_measured)}"
    assert f"measured {total} (very small)" in first
    assert f"measured ×{format_number(probe.typical_factor)} (geometric mean of 8" in per_layer
    assert parts.startswith("Predicted per layer = rms f'(z) ")
