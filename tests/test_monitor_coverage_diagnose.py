"""diagnose() and the update-ratio rules, against values computed by hand with plain autograd.

The low update-ratio warning in training names the slowest layer; diagnose(model, x) without y
calls loss_fn(model(x)); diagnose(lr=...) estimates lr * ||grad|| / ||theta|| per layer and names
the layer that crosses the limit. Constructions: test_monitor_coverage_rules.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from test_monitor_coverage_rules import (
    LOSS,
    WIDTH,
    GradScale,
    batch,
    biased_layer_model,
    find,
    he_linear,
    sgd_ratios_by_hand,
    unit_biases,
)
from torch import nn

import gradlab
from gradlab import GradientMonitor, Thresholds

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------- 5. low update ratio in training
class PickedLayerMLP(nn.Module):
    """He ReLU MLP, layers 'layers.0' .. 'layers.3' (output); layer `picked` alone receives
    `factor` times its gradient (scaled at its output, unscaled again at its input), so its
    update ratio under plain SGD is `factor` times what it would be. Forward unchanged."""

    def __init__(self, picked: int, factor: float) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = nn.ModuleList(
            [he_linear(WIDTH, WIDTH) for _ in range(3)] + [he_linear(WIDTH, 10)]
        )
        self.picked, self.factor = picked, factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            if i == self.picked:
                x = GradScale(self.factor)(layer(GradScale(1.0 / self.factor)(x)))
            else:
                x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


def train_with_snapshots(model: nn.Module, lr: float, steps: int = 3):
    """SGD under a monitor; oracle: each layer's ||delta W|| / ||W|| from copies of the weights."""
    x, y = batch()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    weights = [layer.weight for layer in model.layers]
    by_hand = []
    with GradientMonitor(model, update_sample=None) as monitor:
        for _ in range(steps):
            optimizer.zero_grad()
            LOSS(model(x), y).backward()
            before = [w.detach().clone() for w in weights]
            optimizer.step()
            by_hand.append(
                [((w - b).norm() / b.norm()).item() for w, b in zip(weights, before, strict=True)]
            )
    return monitor, np.median(np.asarray(by_hand), axis=0)


@pytest.mark.parametrize("picked", [0, 2], ids=["first", "third"])
def test_a_tiny_learning_rate_gives_the_low_update_warning_at_the_slowest_layer(picked) -> None:
    monitor, by_hand = train_with_snapshots(PickedLayerMLP(picked, 0.1), lr=1e-5)
    names = [f"layers.{i}" for i in range(4)]
    np.testing.assert_allclose(
        np.nanmedian(monitor.to_numpy()["update_ratio"], 0), by_hand, rtol=1e-4
    )
    slowest = int(np.argmin(by_hand))
    assert slowest == picked and by_hand[slowest] < 1e-5
    assert np.sort(by_hand)[1] > 3 * by_hand[slowest]  # unambiguous
    found = find(monitor.report(), "bad_update_ratio")
    assert [(f.layer, f.severity) for f in found] == [(names[slowest], "warning")]
    assert "barely move" in found[0].evidence


def test_a_normal_learning_rate_gives_no_low_update_warning() -> None:
    monitor, by_hand = train_with_snapshots(PickedLayerMLP(0, 0.1), lr=0.02)
    assert by_hand.min() > 1e-5 and by_hand.max() < 3e-2  # oracle: within both limits
    assert not find(monitor.report(), "bad_update_ratio")


# ----------------------------------------------------------------- 7. diagnose(model, x) without y
def test_diagnose_with_x_alone_calls_loss_fn_on_the_output_only() -> None:
    model = biased_layer_model(nn.ReLU(), unit_biases(38, 40, -1.0, 1.0))  # a dead-unit warning
    x, _ = batch()
    calls = []

    def loss_fn(*args: torch.Tensor) -> torch.Tensor:
        calls.append(args)
        return args[0].square().mean()

    report = gradlab.diagnose(model, x, loss_fn)
    assert len(calls) == 1 and len(calls[0]) == 1
    torch.testing.assert_close(calls[0][0], model(x))
    # The same computation by hand: a monitor around loss_fn(model(x)).backward()
    with GradientMonitor(model, updates=False) as monitor:
        loss_fn(model(x)).backward()
    by_hand = monitor.report()
    assert report.findings == by_hand.findings and report.steps == by_hand.steps == 1
    assert [f.kind for f in report.findings] == ["dead_units"], str(report)
    # the loss is checked too: a NaN from loss_fn(output) alone is a non_finite finding
    nan_report = gradlab.diagnose(model, x, lambda out: out.sum() * float("nan"))
    assert find(nan_report, "non_finite")


# ----------------------------------------------------------------- 8. diagnose(lr=...)'s estimate
ABOVE = re.compile(r"\((\d+) of (\d+) layers above")


def layers_at_or_above(model, data, lr: float, threshold: float) -> int:
    """How many layers diagnose(lr=lr) puts at or above `threshold` (0 without a finding)."""
    limits = Thresholds(
        update_ratio_high_warning=threshold, update_ratio_high_error=threshold,
        update_ratio_low_warning=0.0,
    )  # fmt: skip
    found = find(gradlab.diagnose(model, data, LOSS, lr=lr, thresholds=limits), "bad_update_ratio")
    if not found:
        return 0
    match = ABOVE.search(found[0].evidence)
    assert match, found[0].evidence
    return int(match.group(1))


def test_diagnose_lr_estimate_is_lr_grad_over_theta_for_every_layer() -> None:
    model, data = PickedLayerMLP(1, 1.0), batch()
    names = [f"layers.{i}" for i in range(4)]
    lr = 0.01
    by_hand = sgd_ratios_by_hand(model, data, names, lr)  # weight and bias together
    weights_only = lr * np.array(
        [
            torch.autograd.grad(LOSS(model(data[0]), data[1]), layer.weight)[0].norm().item()
            / layer.weight.norm().item()
            for layer in model.layers
        ]
    )
    assert np.abs(by_hand / weights_only - 1).max() > 1e-3  # the bias is in it: they differ
    ordered = np.sort(by_hand)
    assert (np.diff(ordered) > 1e-3 * ordered[1:]).all()  # distinct enough to bracket
    for value in by_hand:
        rank = int((by_hand >= value).sum())
        assert layers_at_or_above(model, data, lr, value * (1 - 1e-4)) == rank, value
        assert layers_at_or_above(model, data, lr, value * (1 + 1e-4)) == rank - 1, value


@pytest.mark.parametrize("picked", [0, 1, 2, 3], ids=lambda p: f"layers.{p}")
def test_diagnose_lr_names_the_layer_that_crosses_the_threshold(picked: int) -> None:
    """Layer `picked` gets 20x its gradient, so an lr exists where it alone crosses its limit
    (3e-2 for hidden layers, 1e-1 for the output layer)."""
    model, data = PickedLayerMLP(picked, 20.0), batch()
    names = [f"layers.{i}" for i in range(4)]
    unit = sgd_ratios_by_hand(model, data, names, lr=1.0)
    limit = 0.1 if picked == 3 else 3e-2
    lr = 1.5 * limit / unit[picked]
    others = np.delete(lr * unit, picked)
    assert others.max() < 3e-2 / 1.5 and (lr * unit).min() > 1e-5  # oracle: only it crosses
    found = find(gradlab.diagnose(model, data, LOSS, lr=lr), "bad_update_ratio")
    assert [f.layer for f in found] == [names[picked]], [f.evidence for f in found]
    assert f"update/data ratio {1.5 * limit:.3g} at '{names[picked]}'" in found[0].evidence
    assert not find(gradlab.diagnose(model, data, LOSS, lr=lr / 3), "bad_update_ratio")
