"""gradlab.chapters.ch07_monitoring.dashboard: a monitored training run per scenario, and per-layer gradient histograms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from gradlab.chapters.ch07_monitoring.dashboard import (
    HISTOGRAM_EDGES,
    compute_dashboard,
    compute_gradient_histograms,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks, as the chapters run them


def test_histograms_match_numpy_on_the_gradients() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3), nn.Linear(3, 2))
    model(torch.randn(4, 6)).sum().backward()
    model[0].weight.grad[0, :3] = 0.0  # exact zeros are counted apart
    model[2].weight.grad[1, 1] = float("inf")
    model[3].weight.grad = None
    model[3].bias.grad = None
    result = compute_gradient_histograms(model, ["0", "2", "3"])
    assert result.missing == ["3"]
    for i, layer in enumerate((model[0], model[2])):
        values = torch.cat([layer.weight.grad.reshape(-1), layer.bias.grad]).double().numpy()
        finite = values[np.isfinite(values)]
        assert result.non_finite[i] == (~np.isfinite(values)).sum()
        assert result.zeros[i] == (finite == 0).sum()
        logs = np.clip(np.log10(np.abs(finite[finite != 0])), -12, 4 - 1e-9)
        np.testing.assert_array_equal(result.counts[i], np.histogram(logs, HISTOGRAM_EDGES)[0])
    assert result.zeros[0] >= 3 and result.non_finite[1] == 1
    assert result.counts[2].sum() == 0
    medians = result.median_log10()
    assert np.isnan(medians[2])
    values = torch.cat([model[0].weight.grad.reshape(-1), model[0].bias.grad]).double().numpy()
    nonzero = np.abs(values[values != 0])
    assert abs(medians[0] - np.median(np.log10(nonzero))) <= 0.25 + 1e-9  # within its bin


def test_a_run_is_seeded_and_a_shorter_run_is_its_prefix() -> None:
    long = compute_dashboard("healthy", steps=30)
    again = compute_dashboard("healthy", steps=30)
    short = compute_dashboard("healthy", steps=10)
    np.testing.assert_array_equal(long.losses, again.losses)
    np.testing.assert_array_equal(long.losses[:10], short.losses)
    np.testing.assert_allclose(long.layer_grad_norms[:10], short.layer_grad_norms)
    assert long.layer_grad_norms.shape == (30, 7) and long.update_ratios.shape == (30, 7)
    assert long.recorded_steps.tolist() == list(range(30))


def test_healthy_run_learns_with_update_ratio_near_1e_3() -> None:
    run = compute_dashboard("healthy", steps=100)
    assert run.losses[-1] < run.losses[0] / 3
    assert run.report.ok and not run.report.findings
    median = np.median(run.update_ratios)
    assert 1e-3 < median < 1e-2


def test_nan_in_the_data_stops_at_step_zero_and_is_labelled() -> None:
    run = compute_dashboard("nan_loss", steps=50)
    assert len(run.losses) == 1 and math.isnan(run.losses[0]) and run.stopped_at == 0
    assert "non_finite" in run.report.kinds()
    assert "loss nan at step 0" in run.summary() and "training stopped" in run.summary()
    assert run.histograms.non_finite.sum() > 0


def test_too_large_init_diverges_within_a_few_steps() -> None:
    run = compute_dashboard("too_large_init", steps=50)
    assert run.stopped_at is not None and run.stopped_at < 10
    assert {"exploding", "non_finite"} <= run.report.kinds()
    assert "-> inf at step" in run.summary() or "-> nan at step" in run.summary()


def test_fix_and_lr_override() -> None:
    fixed = compute_dashboard("dead_relus", fixed=True, steps=20)
    assert fixed.report.ok and "fixed (" in fixed.summary()
    broken = compute_dashboard("dead_relus", steps=20)
    assert "dead_units" in broken.report.kinds()
    assert broken.histograms.zeros[0] == 64 * 32 + 32  # every element of layer 0: exactly 0
    assert compute_dashboard("healthy", steps=5, lr=0.1).lr == 0.1


def test_detached_body_is_missing_in_the_histograms() -> None:
    run = compute_dashboard("detached", steps=10)
    assert run.histograms.missing == ["body.linear1", "body.linear2"]
    assert np.isnan(run.layer_grad_norms[:, :2]).all()


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"steps": 0}, "steps"), ({"lr": -1.0}, "lr"), ({"lr": math.inf}, "lr")]
)
def test_bad_arguments_say_what_is_allowed(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compute_dashboard("healthy", **kwargs)
