"""gradlab.chapters.ch02_activations.dead_units against a direct count and against what gradient descent can do."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gradlab.chapters.ch02_activations.dead_units import (
    DeadUnitExperiment,
    DeadUnitReport,
    RecoveryStudy,
    measure_dead_fraction_vs_bias,
    measure_dead_units,
    run_dead_unit_experiment,
    shift_biases_,
    study_dead_unit_recovery,
)
from gradlab.models.mlp import make_mlp
from gradlab.training.data import load_digits_split

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


def test_report_keeps_which_units_are_never_positive():
    model = make_mlp(2, 16, "relu", "he", in_features=8, seed=0)
    shift_biases_(model, -1.0)
    x = torch.randn(40, 8, generator=torch.Generator().manual_seed(2))
    report = measure_dead_units(model, x)
    z = model.layers[0].linear(x)
    np.testing.assert_array_equal(report.never_positive[0], (z <= 0).all(dim=0).numpy())
    assert [mask.mean() for mask in report.never_positive] == pytest.approx(report.dead_fractions)


def _report(first_layer: list[bool]) -> DeadUnitReport:
    mask = np.array(first_layer)
    return DeadUnitReport(("layers.0",), (len(mask),), np.array([mask.mean()]), (mask,))


def _experiment(name: str, after_kill: list[bool], after: list[bool], accuracy: float):
    report = _report(after_kill)
    return DeadUnitExperiment(name, report, report, _report(after), accuracy)


def test_study_summaries_can_fail():
    study = RecoveryStudy(
        (0, 1),
        {
            "relu": (
                _experiment("relu", [True, False], [True, True], 0.3),  # one more died: fine
                _experiment("relu", [True, False], [False, False], 0.5),  # one came back
            ),
            "leaky_relu": (
                _experiment("leaky_relu", [True, True], [False, False], 0.9),
                _experiment("leaky_relu", [True, True], [False, False], 0.45),
            ),
        },
    )
    assert not study.first_layer_stayed_off("relu")
    assert not study.first_layer_stayed_off("leaky_relu")
    assert study.median_accuracy_verdict("relu") == "median below 50%"
    assert study.median_accuracy_verdict("leaky_relu") == "median between 50% and 80%"
    assert not study.separates(("leaky_relu",), ("relu",))  # 0.45 < 0.5
    np.testing.assert_array_equal(study.fractions("relu", "after_recovery"), [1.0, 0.0])
    with pytest.raises(ValueError, match="stage"):
        study.fractions("relu", "end")
    assert study.table().count("\n") == 3


def test_study_runs_each_seed(data):
    study = study_dead_unit_recovery(
        ("relu", "silu"), seeds=(0, 3), bias_shift=-2.0, recover_steps=5, data=data
    )
    single = run_dead_unit_experiment("silu", bias_shift=-2.0, recover_steps=5, seed=3, data=data)
    assert study.seeds == (0, 3)
    assert study.experiments["silu"][1].test_accuracy == single.test_accuracy
    with pytest.raises(ValueError, match="seeds"):
        study_dead_unit_recovery(("relu",), seeds=(), data=data)
