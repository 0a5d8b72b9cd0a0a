"""gradlab.dead_units against a direct count and against what gradient descent can do."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gradlab.data import load_digits_split
from gradlab.dead_units import (
    compare_dead_unit_recovery,
    format_dead_unit_layers,
    format_dead_unit_table,
    measure_dead_fraction_vs_bias,
    measure_dead_units,
    run_dead_unit_experiment,
    shift_biases_,
)
from gradlab.models import make_mlp

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks, as the chapters run them


@pytest.fixture(scope="module")
def data():
    return load_digits_split(seed=0)


def test_matches_a_direct_count():
    model = make_mlp(3, 16, "relu", "he", in_features=8, seed=0)
    shift_biases_(model, -1.0)
    x = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    report = measure_dead_units(model, x)
    h, expected = x, []
    for layer in model.layers:
        z = layer.linear(h)
        expected.append(float((z <= 0).all(dim=0).float().mean()))
        h = torch.relu(z)
    np.testing.assert_allclose(report.dead_fractions, expected)
    assert report.layer_names == ("layers.0", "layers.1", "layers.2")
    assert report.dead_fraction == pytest.approx(np.mean(expected))


def test_dead_relu_units_get_exactly_zero_gradient():
    model = make_mlp(1, 32, "relu", "he", in_features=8, seed=0)
    shift_biases_(model, -2.0)
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(1))
    dead = measure_dead_units(model, x)
    assert 0 < dead.dead_fraction < 1
    loss = F.cross_entropy(model(x), torch.zeros(64, dtype=torch.long))
    (grad,) = torch.autograd.grad(loss, model.layers[0].linear.weight)
    z = model.layers[0].linear(x)
    dead_rows = (z <= 0).all(dim=0)
    assert torch.all(grad[dead_rows] == 0)
    assert torch.all(grad[~dead_rows].abs().sum(dim=1) > 0)


def test_hooks_are_removed_even_on_error():
    model = make_mlp(2, 8, "relu", "he", in_features=4, seed=0)
    with pytest.raises(RuntimeError):
        measure_dead_units(model, torch.zeros(3, 5))  # wrong input width
    assert all(not layer.linear._forward_hooks for layer in model.layers)


def test_plain_linears_and_bad_layers():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    report = measure_dead_units(model, torch.randn(10, 4), layers=[model[0], model[2]])
    assert report.units == (6, 2)
    with pytest.raises(ValueError, match="layers"):
        measure_dead_units(model, torch.randn(10, 4), layers=[model[1]])


def test_bias_shift_kills_more_units(data):
    reports = measure_dead_fraction_vs_bias((0.0, -2.0, -4.0), data=data)
    fractions = [report.dead_fraction for report in reports.values()]
    assert fractions == sorted(fractions)
    assert fractions[0] < 0.05 < 0.4 < fractions[-1]


def test_first_layer_relu_units_stay_dead(data):
    experiment = run_dead_unit_experiment("relu", bias_shift=-4.0, recover_steps=50, data=data)
    first_after_kill = experiment.after_kill.dead_fractions[0]
    assert first_after_kill > 0.1
    assert experiment.after_recovery.dead_fractions[0] == first_after_kill


def test_tables(data):
    experiments = compare_dead_unit_recovery(
        ("relu", "leaky_relu"), bias_shift=-2.0, recover_steps=5, data=data
    )
    assert format_dead_unit_table(experiments).count("\n") == 2
    assert "after recovery" in format_dead_unit_layers(experiments)
