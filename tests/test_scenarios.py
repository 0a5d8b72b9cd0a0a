"""gradlab.chapters.ch07_monitoring.scenarios: each row of the diagnosis table is found where expected, and its fix works."""

from __future__ import annotations

import pytest
import torch

from gradlab.chapters.ch07_monitoring.scenarios import (
    SCENARIOS,
    TABLE_SCENARIOS,
    build,
    diagnose_scenario,
    get_scenario,
)
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
    report = diagnose_scenario(name, *batch)
    found = [f for f in report.findings if f.kind == scenario.kind]
    assert found, f"expected {scenario.kind}, got:\n{report}"
    assert found[0].layer == scenario.layer, str(report)
    assert not report.ok


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fixed_setup_has_no_error(name: str, batch) -> None:
    report = diagnose_scenario(name, *batch, fixed=True)
    assert report.ok, str(report)
    assert SCENARIOS[name].kind not in {f.kind for f in report.findings} or name == "healthy"


def test_healthy_is_clean_and_the_same_when_fixed(batch) -> None:
    assert not diagnose_scenario("healthy", *batch).findings
    assert SCENARIOS["healthy"].broken == SCENARIOS["healthy"].fixed


def test_builds_are_seeded_and_fresh() -> None:
    first, _ = build("dead_relus", fixed=False, in_features=64, num_classes=10)
    second, _ = build("dead_relus", fixed=False, in_features=64, num_classes=10)
    assert first is not second
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.all(first[4].bias == -10.0)


def test_unknown_scenario_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="deep_sigmoid"):
        get_scenario("nope")
