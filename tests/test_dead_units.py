"""Dead units: Chapter 2's dead_units against a direct count and what gradient descent can do;
the monitor's dead count (|f'(x)| below a threshold) against the derivative by autograd."""

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
from gradlab.measure.activation_stats import (
    DEAD_DERIVATIVE_THRESHOLD,
    classify_activation,
    count_flagged,
    dead_regions,
)
from gradlab.models.mlp import make_mlp
from gradlab.monitor.gradient_monitor import GradientMonitor
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


# ----------------------------------------------------------------- dead = |f'(x)| < threshold
# gradlab.measure.activation_stats.count_flagged (what GradientMonitor's fraction_dead counts)
# against an oracle: the activation's derivative at each input, by autograd.
ACTIVATIONS = {
    "relu6": lambda: nn.ReLU6(),
    "hardtanh": lambda: nn.Hardtanh(-2.0, 3.0),
    "leaky_relu_0.001": lambda: nn.LeakyReLU(0.001),
    "elu": lambda: nn.ELU(),
    "elu_0.005": lambda: nn.ELU(alpha=0.005),  # alpha below the threshold: all of x <= 0
    "selu": lambda: nn.SELU(),
    "celu_2": lambda: nn.CELU(alpha=2.0),
    "gelu": lambda: nn.GELU(),
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "silu": lambda: nn.SiLU(),
    "mish": lambda: nn.Mish(),
    "hardswish": lambda: nn.Hardswish(),
}
# The output determines the derivative for these when they run in place; not for SiLU, Mish,
# Hardswish (two inputs give one output, one dead, one alive).
IN_PLACE = {
    "relu6": (lambda: nn.ReLU6(inplace=True), True),
    "hardtanh": (lambda: nn.Hardtanh(-2.0, 3.0, inplace=True), True),
    "leaky_relu_0.001": (lambda: nn.LeakyReLU(0.001, inplace=True), True),
    "elu": (lambda: nn.ELU(inplace=True), True),
    "selu": (lambda: nn.SELU(inplace=True), True),
    "celu_2": (lambda: nn.CELU(alpha=2.0, inplace=True), True),
    "silu": (lambda: nn.SiLU(inplace=True), False),
    "mish": (lambda: nn.Mish(inplace=True), False),
    "hardswish": (lambda: nn.Hardswish(inplace=True), False),
}


def spread_inputs() -> torch.Tensor:
    """Inputs over [-12, 12], dense near every dead-region edge, plus the edges themselves."""
    generator = torch.Generator().manual_seed(0)
    edges = torch.tensor(
        [-6.26, -5.17, -4.61, -3.07, -3.0, -2.0, -1.5, -1.28, -0.75, 0.0, 3.0, 6.0]
    )
    near = edges[:, None] + 0.05 * torch.randn(len(edges), 400, generator=generator)
    wide = 12 * (2 * torch.rand(4000, generator=generator) - 1)
    return torch.cat([wide, near.flatten(), edges, torch.zeros(10)])


def derivative(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Oracle: f'(x) of the activation at each input, by autograd (a copy, for in-place ones)."""
    x = x.clone().requires_grad_()
    (slope,) = torch.autograd.grad(module(x.clone()).sum(), x)
    return slope


def assert_matches_oracle(counted: torch.Tensor, slope: torch.Tensor) -> None:
    """The count equals the oracle's, up to inputs whose |f'| is within 1e-5 of the threshold
    (float32 derivatives there round either way)."""
    dead = slope.abs() < DEAD_DERIVATIVE_THRESHOLD
    borderline = ((slope.abs() - DEAD_DERIVATIVE_THRESHOLD).abs() < 1e-5).sum()
    assert abs(int(counted) - int(dead.sum())) <= int(borderline), (int(counted), int(dead.sum()))


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_dead_count_is_the_number_of_near_zero_derivatives(name: str) -> None:
    module, x = ACTIVATIONS[name](), spread_inputs()
    kind = classify_activation(module)
    counted = count_flagged(module(x), kind, module_input=x, module=module)
    assert counted.dim() == 0
    slope = derivative(module, x)
    assert_matches_oracle(counted, slope)
    assert 0 < int(counted) < len(x)  # the inputs reach both sides


@pytest.mark.parametrize("name", list(IN_PLACE))
def test_in_place_activations_are_counted_from_the_output_or_not_at_all(name: str) -> None:
    make, invertible = IN_PLACE[name]
    module, x = make(), spread_inputs()
    slope = derivative(ACTIVATIONS[name](), x)
    output = module(x.clone())  # in place: the input is gone
    counted = count_flagged(output, classify_activation(module), module=module)
    if invertible:
        assert_matches_oracle(counted, slope)
    else:
        assert torch.isnan(counted)


@pytest.mark.parametrize("inplace", [False, True], ids=["relu", "relu_inplace"])
def test_relu_dead_fraction_is_the_zero_derivative_fraction(inplace: bool) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(inplace=inplace), nn.Linear(64, 2))
    x = torch.randn(32, 16)
    with GradientMonitor(model, updates=False) as monitor:
        model(x).sum().backward()
    pre = model[0](x).detach()
    expected = (derivative(nn.ReLU(), pre) == 0).float().mean().item()
    assert 0.3 < expected < 0.7
    assert monitor.to_numpy()["fraction_dead"][0, 0] == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize("name", [*ACTIVATIONS, "silu_inplace"])
def test_monitor_dead_fraction_matches_the_oracle(name: str) -> None:
    """End to end: the monitor's fraction_dead after Linear -> activation, inputs of std 4."""
    activation = IN_PLACE["silu"][0]() if name == "silu_inplace" else ACTIVATIONS[name]()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 64), activation, nn.Linear(64, 2))
    x = 4 * torch.randn(32, 16)
    with GradientMonitor(model, updates=False) as monitor:
        model(x).sum().backward()
    fraction = monitor.to_numpy()["fraction_dead"][0, 0]
    if name == "silu_inplace":
        assert np.isnan(fraction)  # not measured, rather than a guess
        assert monitor.non_finite is None  # and no NaN/inf event for it
        return
    slope = derivative(ACTIVATIONS[name](), model[0](x).detach())
    dead = (slope.abs() < DEAD_DERIVATIVE_THRESHOLD).float().mean().item()
    assert fraction == pytest.approx(dead, abs=1.5 / slope.numel())


@pytest.mark.parametrize("inplace", [False, True], ids=["leaky", "leaky_inplace"])
def test_default_leaky_relu_is_never_dead(inplace: bool) -> None:
    """Slope 0.01 = the threshold: every unit passes back at least 1 % of its gradient."""
    module = nn.LeakyReLU(inplace=inplace)
    x = -1.0 - torch.rand(1000, generator=torch.Generator().manual_seed(0))  # all negative
    counted = count_flagged(module(x.clone()), "leaky_relu", module_input=None, module=module)
    assert int(counted) == 0
    assert int(count_flagged(module(x.clone()), "leaky_relu", module_input=x, module=module)) == 0
    assert (derivative(nn.LeakyReLU(), x).abs() >= DEAD_DERIVATIVE_THRESHOLD).all()


def test_dead_regions_are_computed_once_and_checked() -> None:
    dead_regions.cache_clear()
    for _ in range(3):
        count_flagged(torch.randn(10), "gelu", module_input=torch.randn(10), module=nn.GELU())
    assert dead_regions.cache_info().misses == 1
    with pytest.raises(ValueError, match="kind must be one of"):
        count_flagged(torch.randn(3), "softsign")
