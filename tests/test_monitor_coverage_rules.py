"""Diagnosis rules on constructions whose measured value is known in advance, from plain autograd.

Custom Thresholds flip each finding; the global-norm-only exploding finding. The low update-ratio
warning, diagnose(model, x) without y and diagnose(lr=...): test_monitor_coverage_diagnose.py.
The constructions are extreme on purpose (a gradient scaled by 1e6 in backward only, units dead or
saturated by a bias of +-1 or 4), so they read the same under any reasonable gradient measure.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import findings_of as find
from torch import nn

import gradlab
from gradlab import GradientMonitor, Thresholds

pytestmark = pytest.mark.usefixtures("one_thread")

WIDTH = 32
LOSS = nn.CrossEntropyLoss()


def batch(seed: int = 1, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(size, WIDTH, generator=generator)
    return x, torch.randint(0, 10, (size,), generator=generator)


class GradScale(nn.Module):
    """Identity in forward (exactly: h + (c - 1) * 0); multiplies the gradient by c in backward."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + (self.factor - 1.0) * (h - h.detach())


def he_linear(fan_in: int, fan_out: int) -> nn.Linear:
    layer = nn.Linear(fan_in, fan_out)
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    nn.init.zeros_(layer.bias)
    return layer


def scaled_mlp(factor: float) -> nn.Sequential:
    """He ReLU MLP whose first layer receives `factor` times the gradient it would (forward
    unchanged). Linear layers: '0' (the scaled one), '3', '5', '7' (output)."""
    torch.manual_seed(0)
    return nn.Sequential(
        he_linear(WIDTH, WIDTH), GradScale(factor), nn.ReLU(),
        he_linear(WIDTH, WIDTH), nn.ReLU(),
        he_linear(WIDTH, WIDTH), nn.ReLU(),
        he_linear(WIDTH, 10),
    )  # fmt: skip


def global_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, scale: float = 1.0) -> float:
    """Oracle: the global gradient norm of scale * CE(model(x), y), by plain autograd."""
    model.zero_grad()
    (scale * LOSS(model(x), y)).backward()
    norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]).item()
    model.zero_grad()
    return norm


def scaled_loss(scale: float):
    return lambda output, y: scale * LOSS(output, y)


# ----------------------------------------------------------------- 4. custom Thresholds
def test_exploding_thresholds_flip_the_per_layer_finding() -> None:
    """Layer '0' gets 1e6 times its gradient, the loss is scaled so the global norm is 1: only the
    per-layer rule can fire. 1e6 lies above the default error level 1e4 and below 1e9."""
    model = scaled_mlp(1e6)
    x, y = batch()
    loss_fn = scaled_loss(1.0 / global_norm(model, x, y))
    assert global_norm(model, x, y, 1.0 / global_norm(model, x, y)) == pytest.approx(1.0)
    default = find(gradlab.diagnose(model, (x, y), loss_fn), "exploding")
    assert [(f.layer, f.severity) for f in default] == [("0", "error")]
    raised_error = Thresholds(exploding_error=1e9)
    found = find(gradlab.diagnose(model, (x, y), loss_fn, thresholds=raised_error), "exploding")
    assert [(f.layer, f.severity) for f in found] == [("0", "warning")]
    raised_both = Thresholds(exploding_warning=1e9, exploding_error=1e10)
    assert not find(gradlab.diagnose(model, (x, y), loss_fn, thresholds=raised_both), "exploding")


def test_vanishing_thresholds_flip_the_finding() -> None:
    """Layer '0' gets 1e-6 of its gradient: between the default error level 1e-4 and 1e-9."""
    model = scaled_mlp(1e-6)
    data = batch()
    default = find(gradlab.diagnose(model, data, LOSS), "vanishing")
    assert [(f.layer, f.severity) for f in default] == [("0", "error")]
    lowered_error = Thresholds(vanishing_error=1e-9)
    found = find(gradlab.diagnose(model, data, LOSS, thresholds=lowered_error), "vanishing")
    assert [(f.layer, f.severity) for f in found] == [("0", "warning")]
    lowered_both = Thresholds(vanishing_warning=1e-9, vanishing_error=1e-10)
    assert not find(gradlab.diagnose(model, data, LOSS, thresholds=lowered_both), "vanishing")
    assert not find(gradlab.diagnose(scaled_mlp(1.0), data, LOSS), "vanishing")  # the control


def biased_layer_model(activation: nn.Module, biases: torch.Tensor) -> nn.Sequential:
    """Linear(32, n) with tiny weights: each unit's pre-activation has the sign and size of its
    bias, so the fraction of dead or saturated units is set exactly by the biases."""
    torch.manual_seed(0)
    first = nn.Linear(WIDTH, len(biases))
    with torch.no_grad():
        first.weight.normal_(0.0, 0.005)
        first.bias.copy_(biases)
    return nn.Sequential(first, activation, nn.Linear(len(biases), 10))


def unit_biases(flagged: int, total: int, flagged_bias: float, other_bias: float) -> torch.Tensor:
    return torch.tensor([flagged_bias] * flagged + [other_bias] * (total - flagged))


def _pre_activations_follow_the_biases(model: nn.Sequential, x: torch.Tensor, margin: float):
    pre = model[0](x).detach()
    bias = model[0].bias.detach()
    assert ((pre - bias).abs() < margin).all()  # oracle: the weights move no unit across


@pytest.mark.parametrize(
    "flagged,thresholds,expected",
    [
        (38, None, "warning"),  # 0.95: between the defaults 0.9 and 0.99
        (38, Thresholds(dead_warning=0.96), None),
        (38, Thresholds(dead_error=0.94), "error"),
        (20, None, None),  # 0.5
        (20, Thresholds(dead_warning=0.4), "warning"),
    ],
    ids=["0.95-default", "0.95-warning-0.96", "0.95-error-0.94", "0.5-default", "0.5-warning-0.4"],
)
def test_dead_unit_thresholds_flip_the_finding(flagged, thresholds, expected) -> None:
    model = biased_layer_model(nn.ReLU(), unit_biases(flagged, 40, -1.0, 1.0))
    x, y = batch()
    _pre_activations_follow_the_biases(model, x, margin=0.5)
    found = find(gradlab.diagnose(model, (x, y), LOSS, thresholds=thresholds), "dead_units")
    assert [(f.layer, f.severity) for f in found] == ([("0", expected)] if expected else [])
    if found:
        assert f"{flagged / 40:.0%}" in found[0].evidence, found[0].evidence


@pytest.mark.parametrize(
    "flagged,thresholds,expected",
    [
        (28, None, "warning"),  # 0.7: between the defaults 0.5 and 0.9
        (28, Thresholds(saturated_warning=0.8), None),
        (28, Thresholds(saturated_error=0.6), "error"),
        (12, None, None),  # 0.3
        (12, Thresholds(saturated_warning=0.2), "warning"),
    ],
    ids=["0.7-default", "0.7-warning-0.8", "0.7-error-0.6", "0.3-default", "0.3-warning-0.2"],
)
def test_saturation_thresholds_flip_the_finding(flagged, thresholds, expected) -> None:
    # tanh'(4) = 1.3e-3 (saturated by any threshold), tanh'(0 +- 0.25) > 0.93 (not)
    model = biased_layer_model(nn.Tanh(), unit_biases(flagged, 40, 4.0, 0.0))
    x, y = batch()
    _pre_activations_follow_the_biases(model, x, margin=0.25)
    found = find(gradlab.diagnose(model, (x, y), LOSS, thresholds=thresholds), "saturation")
    assert [(f.layer, f.severity) for f in found] == ([("0", expected)] if expected else [])
    if found:
        assert f"{flagged / 40:.0%}" in found[0].evidence, found[0].evidence


def sgd_ratios_by_hand(model: nn.Module, data, layers: list[str], lr: float) -> np.ndarray:
    """Oracle for diagnose(lr=...): per layer lr * ||grad|| / ||theta|| over all its parameters."""
    model.zero_grad()
    LOSS(model(data[0]), data[1]).backward()
    modules = dict(model.named_modules())
    ratios = []
    for name in layers:
        params = list(modules[name].parameters(recurse=False))
        grad = torch.sqrt(sum(p.grad.double().square().sum() for p in params))
        theta = torch.sqrt(sum(p.detach().double().square().sum() for p in params))
        ratios.append(lr * (grad / theta).item())
    model.zero_grad()
    return np.asarray(ratios)


def test_update_ratio_thresholds_flip_the_finding() -> None:
    model, data = scaled_mlp(1.0), batch()
    layers = ["0", "3", "5", "7"]
    per_unit_lr = sgd_ratios_by_hand(model, data, layers, lr=1.0)
    hidden = per_unit_lr[:-1]
    lr = 0.05 / hidden.max()  # the largest hidden ratio: 0.05, between 3e-2 and 6e-2
    assert lr * per_unit_lr[-1] < 0.1  # the output layer stays below its (error) level
    assert lr * per_unit_lr.min() > 1e-5  # and no layer is low

    def ratio_findings(thresholds=None):
        report = gradlab.diagnose(model, data, LOSS, lr=lr, thresholds=thresholds)
        return [(f.layer, f.severity) for f in find(report, "bad_update_ratio")]

    top = layers[int(np.argmax(hidden))]
    assert ratio_findings() == [(top, "warning")]
    assert ratio_findings(Thresholds(update_ratio_high_warning=0.06)) == []
    lowered_error = Thresholds(update_ratio_high_error=0.045)  # the output is judged at it too
    assert [s for _, s in ratio_findings(lowered_error)] == ["error"]
    # low: an lr that puts the smallest ratio at 1e-6, below the default 1e-5 and above 1e-7
    low_lr = 1e-6 / per_unit_lr.min()
    low = find(gradlab.diagnose(model, data, LOSS, lr=low_lr), "bad_update_ratio")
    assert [(f.layer, f.severity) for f in low] == [
        (layers[int(np.argmin(per_unit_lr))], "warning")
    ]
    quiet = Thresholds(update_ratio_low_warning=1e-7)
    assert not find(
        gradlab.diagnose(model, data, LOSS, lr=low_lr, thresholds=quiet), "bad_update_ratio"
    )


# ----------------------------------------------------------------- 6. global-norm-only exploding
def test_a_flat_profile_with_a_huge_global_norm_is_exploding_from_the_global_norm() -> None:
    model, (x, y) = scaled_mlp(1.0), batch()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    # Oracle: the per-layer profile is flat (output gradients within 10x of each other) ...
    outputs = []
    handles = [m.register_forward_hook(lambda m, a, out: outputs.append(out)) for m in linears]
    out = model(x)
    for handle in handles:
        handle.remove()
    for h in outputs:
        h.retain_grad()
    LOSS(out, y).backward()
    profile = np.array([h.grad.norm().item() for h in outputs])
    assert profile.max() < 10 * profile.min()
    layer_norms = [
        torch.cat([p.grad.flatten() for p in m.parameters()]).norm().item() for m in linears
    ]
    largest = ["0", "3", "5", "7"][int(np.argmax(layer_norms))]
    model.zero_grad()
    unit = global_norm(model, x, y)  # ... and the global norm scales with the loss

    def exploding(target: float, thresholds=None):
        report = gradlab.diagnose(model, (x, y), scaled_loss(target / unit), thresholds=thresholds)
        return find(report, "exploding")

    (error,) = exploding(5000.0)  # above global_norm_error = 1e3
    assert (error.layer, error.severity) == (largest, "error")
    assert "median global gradient norm 5000" in error.evidence, error.evidence
    assert "times the one at the last layer" not in error.evidence  # the profile is flat
    (warning,) = exploding(300.0)  # between 1e2 and 1e3
    assert (warning.layer, warning.severity) == (largest, "warning")
    assert "median global gradient norm 300" in warning.evidence, warning.evidence
    assert not exploding(30.0)
    assert exploding(30.0, Thresholds(global_norm_warning=20.0, global_norm_error=1e3))


def test_the_global_norm_finding_reads_the_median_over_recorded_steps() -> None:
    model, (x, y) = scaled_mlp(1.0), batch()
    unit = global_norm(model, x, y)
    with GradientMonitor(model) as monitor:
        for target in (5000.0, 50.0, 500.0, 20000.0, 70.0):  # median 500: a warning
            model.zero_grad()
            scaled_loss(target / unit)(model(x), y).backward()
    recorded = monitor.to_numpy()["global_grad_norm"][:, 0]
    np.testing.assert_allclose(recorded, [5000, 50, 500, 20000, 70], rtol=1e-4)
    (finding,) = find(monitor.report(), "exploding")
    assert finding.severity == "warning"
    assert "median global gradient norm 500 " in finding.evidence, finding.evidence


def test_large_activation_thresholds_flip_the_finding() -> None:
    """Layer '0' scaled so its outputs have std ~500 (oracle: measured directly), between the
    default warning 1e2 and error 1e4; the head scaled back so nothing else is large."""
    torch.manual_seed(0)
    model = nn.Sequential(he_linear(WIDTH, WIDTH), nn.ReLU(), he_linear(WIDTH, 10))
    with torch.no_grad():
        model[0].weight.mul_(500.0)
        model[2].weight.div_(500.0)
    data = batch()
    std = model[0](data[0]).detach().double().std(correction=0).item()
    assert 200 < std < 2000
    assert model(data[0]).detach().std().item() < 10

    def large(thresholds=None):
        report = gradlab.diagnose(model, data, LOSS, thresholds=thresholds)
        return [(f.layer, f.severity) for f in find(report, "large_activations")]

    assert large() == [("0", "warning")]
    assert large(Thresholds(activation_std_warning=2 * std, activation_std_error=1e4)) == []
    assert large(Thresholds(activation_std_error=std / 2)) == [("0", "error")]


def test_clipping_thresholds_flip_the_finding() -> None:
    """Every step's global norm is 12 x max_norm (the loss scaled by hand): above the default
    factor 10, below 20; on every step, above a fraction 0.5."""
    model, (x, y) = scaled_mlp(1.0), batch()
    unit = global_norm(model, x, y)
    max_norm = 0.5
    with GradientMonitor(model) as monitor:
        for _ in range(4):
            model.zero_grad()
            scaled_loss(12 * max_norm / unit)(model(x), y).backward()
    np.testing.assert_allclose(monitor.to_numpy()["global_grad_norm"][:, 0], 6.0, rtol=1e-4)

    def clipping(thresholds=None):
        report = monitor.report(clip_threshold=max_norm, thresholds=thresholds)
        return [(f.layer, f.severity) for f in find(report, "clipping_too_aggressive")]

    assert clipping() == [("", "warning")]
    assert clipping(Thresholds(clipped_factor=20.0)) == []
    assert clipping(Thresholds(clipped_fraction=1.01)) == []  # more than every step: never
    lenient = 3 * max_norm  # the norm is 4 x this max_norm: below the default factor 10
    assert not find(monitor.report(clip_threshold=lenient), "clipping_too_aggressive")
    strict = Thresholds(clipped_factor=3.0)
    found = find(
        monitor.report(clip_threshold=lenient, thresholds=strict), "clipping_too_aggressive"
    )
    assert [f.severity for f in found] == ["warning"]
