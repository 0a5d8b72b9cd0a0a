"""The numbers notebooks/07_monitoring states in its prose, recomputed (a failing test means the
text needs updating)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import gradlab
from gradlab import dashboard, scenarios, seed_monitor
from gradlab.data import load_digits_split

LOSS = nn.CrossEntropyLoss()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def batch(one_thread) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits_split(seed=0)
    return data.x_train[:128], data.y_train[:128]


def test_seed_monitor_section(batch) -> None:
    model = scenarios.make_mlp(64, 10, activation=nn.Sigmoid, depth=10, init=None)
    run = seed_monitor.run_seed_monitor(model, *batch, LOSS)
    first, last = run.stats["0"]["mean"], run.stats["20"]["mean"]
    assert f"{first:.0e}" == "3e-10"  # "about 3 x 10^-10"
    assert f"{last / first:.0e}" == "3e+08"  # "about 3 x 10^8 times less than the last"
    failed = seed_monitor.run_seed_monitor(seed_monitor.InplaceResidualMLP(64, 10), *batch, LOSS)
    assert not failed.ok and "is a view and is being modified inplace" in failed.error


def test_gradlab_monitor_watches_the_inplace_model(batch) -> None:
    model = seed_monitor.InplaceResidualMLP(64, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03)
    with gradlab.GradientMonitor(model) as monitor:
        for _ in range(50):
            optimizer.zero_grad()
            LOSS(model(batch[0]), batch[1]).backward()
            optimizer.step()
    assert not monitor.report().findings
    assert monitor.to_numpy()["update_ratio"].shape == (50, 3)


def test_the_table(batch) -> None:
    for name in scenarios.TABLE_SCENARIOS:
        scenario = scenarios.get_scenario(name)
        before = scenarios.diagnose_scenario(name, *batch)
        after = scenarios.diagnose_scenario(name, *batch, fixed=True)
        found = next(f for f in before.findings if f.kind == scenario.kind)
        assert found.layer == scenario.layer, name  # "at the layer where the problem starts"
        assert not after.findings, name  # "every fix leaves no finding at all"
    dead = scenarios.diagnose_scenario("dead_relus", *batch)
    # "two errors ... the dead units first, the vanishing gradient they cause below them second"
    assert [f.kind for f in dead.errors] == ["dead_units", "vanishing"]
    assert "fix those first" in dead.errors[1].fix


def test_update_ratio_section() -> None:
    runs = {
        lr: dashboard.compute_dashboard("healthy", lr=lr, steps=100) for lr in (0.003, 0.03, 1.5)
    }
    medians = {lr: float(np.nanmedian(run.update_ratios)) for lr, run in runs.items()}
    assert 2e-3 < medians[0.03] < 4e-3  # "about 3 x 10^-3, just above the line"
    per_layer = np.median(runs[0.03].update_ratios, axis=0)
    assert np.all((per_layer > 1e-3) & (per_layer < 5e-3))  # "every layer"
    assert 8 < medians[0.03] / medians[0.003] < 12  # "ten times smaller"
    assert runs[0.003].losses[-1] > 2  # "still above 2 after 100 steps"
    assert f"{runs[0.03].losses[0]:.2f}" == "2.96" and f"{runs[0.03].losses[-1]:.2f}" == "0.65"
    assert medians[1.5] > 0.5 and f"{medians[1.5]:.2f}" == "0.61"  # "more than half"
    assert len(runs[1.5].losses) == 11 and math.isnan(runs[1.5].losses[-1])  # "eleventh step"


def test_histogram_section() -> None:
    runs = {n: dashboard.compute_dashboard(n, steps=100) for n in ("healthy", "deep_sigmoid")}
    healthy = runs["healthy"].histograms.median_log10()
    assert np.all(np.abs(healthy + 2) <= 0.5)  # "around 10^-2"
    sigmoid = runs["deep_sigmoid"].histograms.median_log10()
    assert np.all(np.diff(sigmoid) > 0)  # "march left one layer at a time"
    assert abs(sigmoid[-1] + 2) <= 0.5 and abs(sigmoid[0] + 10) <= 0.5
    dead = dashboard.compute_dashboard("dead_relus", steps=100).histograms
    assert np.isnan(dead.median_log10()[:3]).all() and not np.isnan(dead.median_log10()[3])


def test_dashboard_section() -> None:
    sigmoid = dashboard.compute_dashboard("deep_sigmoid", steps=100)
    assert abs(sigmoid.losses[-1] - math.log(10)) < 0.05  # "stays near ln 10"
    for name in ("too_large_init", "too_high_lr"):
        run = dashboard.compute_dashboard(name, steps=100)
        assert run.stopped_at is not None and "non_finite" in run.report.kinds()
        assert "step " in next(f for f in run.report.findings if f.kind == "non_finite").evidence
    dead = dashboard.compute_dashboard("dead_relus", steps=100)
    zero = (dead.layer_grad_norms[:, :3] == 0).all(axis=1)
    assert not zero[:3].any() and zero[3:].mean() > 0.7  # "after a few steps ... at most steps"
    assert np.all(dead.histograms.counts[:3] == 0) and dead.histograms.zeros[:3].tolist() == [
        64 * 32 + 32,
        32 * 32 + 32,
        32 * 32 + 32,
    ]  # "empty histograms": every element exactly 0
    detached = dashboard.compute_dashboard("detached", steps=100)
    assert detached.losses[-1] < detached.losses[0] and detached.histograms.missing == [
        "body.0",
        "body.2",
    ]
