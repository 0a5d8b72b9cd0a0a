"""gradlab.chapters.ch07_monitoring.scenarios: each row of the diagnosis table is found where expected, and its fix works."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from gradlab.chapters.ch07_monitoring.scenarios import (
    SCENARIOS,
    TABLE_SCENARIOS,
    BodyHead,
    build,
    get_scenario,
    he_init_,
    make_scenario_mlp,
    run_scenario,
)
from gradlab.chapters.ch07_monitoring.tutorial_monitor import InplaceResidualMLP
from gradlab.training.data import load_digits_split

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def batch(one_thread) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits_split(seed=0)
    return data.x_train[:128], data.y_train[:128]


def test_the_table_has_the_six_signals() -> None:
    signals = [SCENARIOS[name].signal for name in TABLE_SCENARIOS]
    assert signals == [
        "loss becomes nan",
        "early-layer gradient norms near zero",
        "very large gradient norms",
        "activations have huge magnitude",
        "activations mostly zero",
        "gradients are None",
    ]


@pytest.mark.parametrize("name", [n for n in SCENARIOS if SCENARIOS[n].kind])
def test_broken_setup_gets_its_finding_at_its_layer(name: str, batch) -> None:
    scenario = SCENARIOS[name]
    report = run_scenario(name, *batch)
    found = [f for f in report.findings if f.kind == scenario.kind]
    assert found, f"expected {scenario.kind}, got:\n{report}"
    assert found[0].layer == scenario.layer, str(report)
    assert not report.ok


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fixed_setup_has_no_error(name: str, batch) -> None:
    report = run_scenario(name, *batch, fixed=True)
    assert report.ok, str(report)
    assert SCENARIOS[name].kind not in {f.kind for f in report.findings} or name == "healthy"


def test_healthy_is_clean_and_the_same_when_fixed(batch) -> None:
    assert not run_scenario("healthy", *batch).findings
    assert SCENARIOS["healthy"].broken == SCENARIOS["healthy"].fixed


def test_builds_are_seeded_and_fresh() -> None:
    first, _ = build("dead_relus", fixed=False, in_features=64, num_classes=10)
    second, _ = build("dead_relus", fixed=False, in_features=64, num_classes=10)
    assert first is not second
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.all(first[4].bias == -10.0)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_building_leaves_the_global_random_state_alone(name: str) -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    for fixed in (False, True):
        build(name, fixed=fixed, in_features=64, num_classes=10)
    InplaceResidualMLP(64, 10)
    assert torch.equal(torch.random.get_rng_state(), before)


def assert_same_parameters(model: nn.Module, reference: nn.Module) -> None:
    ours, theirs = list(model.parameters()), list(reference.parameters())
    assert [p.shape for p in ours] == [p.shape for p in theirs]
    for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert torch.equal(a, b), f"parameter {index}"


def test_models_match_nn_linear_after_a_global_seed() -> None:
    """The oracle: torch.manual_seed(seed), then nn.Linear(...) and nn.init, as a learner writes it."""
    torch.manual_seed(3)
    reference = nn.Sequential(nn.Linear(64, 32), nn.Sigmoid(), nn.Linear(32, 10))
    assert_same_parameters(
        make_scenario_mlp(64, 10, activation=nn.Sigmoid, depth=1, init=None, seed=3), reference
    )

    torch.manual_seed(0)
    body = nn.Sequential(
        OrderedDict(
            linear1=nn.Linear(64, 32), relu1=nn.ReLU(), linear2=nn.Linear(32, 32), relu2=nn.ReLU()
        )
    )
    head = nn.Linear(32, 10)
    for layer in (body.linear1, body.linear2, head):
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        nn.init.zeros_(layer.bias)
    assert_same_parameters(BodyHead(64, 10), nn.ModuleDict({"body": body, "head": head}))

    torch.manual_seed(0)
    stem, block, head = nn.Linear(64, 32), nn.Linear(32, 32), nn.Linear(32, 10)
    assert_same_parameters(
        InplaceResidualMLP(64, 10), nn.ModuleDict({"stem": stem, "block": block, "head": head})
    )


def test_he_init_draws_from_the_generator_given() -> None:
    first, second = nn.Linear(64, 32), nn.Linear(64, 32)
    he_init_(first, torch.Generator().manual_seed(5))
    he_init_(second, torch.Generator().manual_seed(5))
    assert torch.equal(first.weight, second.weight)
    assert first.weight.std().item() == pytest.approx((2 / 64) ** 0.5, rel=0.1)
    assert torch.all(first.bias == 0)


def test_unknown_scenario_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="deep_sigmoid"):
        get_scenario("nope")
