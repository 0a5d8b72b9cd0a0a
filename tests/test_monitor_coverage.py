"""GradientMonitor and diagnose() on cases the oracle tests of test_monitor.py do not reach.

Where a non-finite value is blamed when it first appears in backward; tied and frozen parameters;
a layer called several times in one step. Each quantity is checked against plain autograd on the
same model. Rules and thresholds: test_monitor_coverage_rules.py; CNN/LSTM/transformer oracles:
test_monitor_coverage_models.py; update ratios under several optimizers:
test_monitor_coverage_updates.py; a forward or backward pass that raises:
test_monitor_coverage_errors.py.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from helpers import findings_of as find
from torch import nn

import gradlab
from gradlab import GradientMonitor

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------- 1. where a NaN/inf is blamed
class InfInBackward(torch.autograd.Function):
    """Identity in forward; backward turns the incoming gradient into inf (sign kept)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad * float("inf")


def inf_in_backward_function(h: torch.Tensor) -> torch.Tensor:
    return InfInBackward.apply(h)


def inf_in_backward_sqrt(h: torch.Tensor) -> torch.Tensor:
    """No custom Function, no hook: sqrt(0) is 0 in forward, its derivative 1/(2 sqrt 0) is inf."""
    return h + torch.sqrt(h - h.detach())


class BlowsUpBehindMiddle(nn.Module):
    """first -> relu -> middle -> (inf only in backward) -> last: the gradient reaching middle's
    output is the first non-finite value autograd makes."""

    def __init__(self, op) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first, self.middle, self.last = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 3)
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.op(self.middle(torch.relu(self.first(x)))))


class WeightGradInf(torch.autograd.Function):
    """y = x * w; dL/dx = g * w (finite), dL/dw = inf (the parameter's gradient only)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(w)
        return x * w

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        (w,) = ctx.saved_tensors
        return grad * w, torch.full_like(w, float("inf"))


class Gain(nn.Module):
    """A per-feature gain whose weight gradient alone is non-finite."""

    def __init__(self, features: int, custom_function: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.linspace(0.5, 1.5, features))
        self.custom_function = custom_function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        if self.custom_function:
            return WeightGradInf.apply(x, w)
        # sqrt(w - w.detach()) is 0 in forward; its derivative in w is inf, in x nothing
        return x * (w + torch.sqrt(w - w.detach()))


def gain_model(custom_function: bool) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(8, 8), nn.ReLU(), Gain(8, custom_function), nn.Linear(8, 8), nn.ReLU(),
        nn.Linear(8, 3),
    )  # fmt: skip


@pytest.mark.parametrize(
    "op", [inf_in_backward_function, inf_in_backward_sqrt], ids=["custom_function", "sqrt_at_0"]
)
def test_inf_first_in_an_output_gradient_is_blamed_on_that_layer(op) -> None:
    model = BlowsUpBehindMiddle(op)
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    reference = copy.deepcopy(model)
    # Oracle: the forward is finite, the gradient of middle's output is not, last's output is.
    h = reference.middle(torch.relu(reference.first(x)))
    h.retain_grad()
    out = reference.last(reference.op(h))
    out.retain_grad()
    out.square().mean().backward()
    assert torch.isfinite(out).all() and torch.isfinite(out.grad).all()
    assert not torch.isfinite(h.grad).all()

    with GradientMonitor(model) as monitor:
        model(x).square().mean().backward()
    event = monitor.non_finite
    assert event is not None, "the inf reaching 'middle' was not noticed"
    assert (event.step, event.layer, event.quantity) == (0, "middle", "output_grad")
    (finding,) = find(monitor.report(), "non_finite")
    assert finding.layer == "middle" and "output grad" in finding.evidence, finding
    (finding,) = find(gradlab.diagnose(model, x, lambda out: out.square().mean()), "non_finite")
    assert finding.layer == "middle" and finding.severity == "error"


@pytest.mark.parametrize("custom_function", [True, False], ids=["custom_function", "sqrt_at_0"])
def test_inf_only_in_a_parameter_gradient_is_blamed_on_its_layer(custom_function: bool) -> None:
    model = gain_model(custom_function)
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    reference = copy.deepcopy(model)
    outputs, h = [], x
    for module in reference:
        h = module(h)
        h.retain_grad()
        outputs.append(h)
    h.square().mean().backward()
    # Oracle: every activation and output gradient is finite; only the gain's weight grad is not.
    assert all(torch.isfinite(o).all() and torch.isfinite(o.grad).all() for o in outputs)
    bad = [n for n, p in reference.named_parameters() if not torch.isfinite(p.grad).all()]
    assert bad == ["2.weight"]

    with GradientMonitor(model) as monitor:
        model(x).square().mean().backward()
    event = monitor.non_finite
    assert event is not None, "the inf in '2.weight'.grad was not noticed"
    assert (event.step, event.layer, event.quantity) == (0, "2", "param_grad")
    (finding,) = find(monitor.report(), "non_finite")
    assert finding.layer == "2" and "param grad" in finding.evidence, finding
    (finding,) = find(gradlab.diagnose(model, x, lambda out: out.square().mean()), "non_finite")
    assert finding.layer == "2"


def test_without_output_gradients_the_inf_is_blamed_on_the_layer_s_parameter_gradient() -> None:
    """output_grads=False: the first non-finite recorded value is then middle's weight gradient
    (its output gradient is inf, so its weight gradient is too; last's are finite)."""
    model = BlowsUpBehindMiddle(inf_in_backward_function)
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    with GradientMonitor(model, output_grads=False, activations=False) as monitor:
        model(x).square().mean().backward()
    assert torch.isfinite(model.last.weight.grad).all()
    assert not torch.isfinite(model.middle.weight.grad).all()
    event = monitor.non_finite
    assert event is not None and (event.layer, event.quantity) == ("middle", "param_grad")


def test_a_finite_step_before_the_inf_is_not_blamed() -> None:
    """Step 0 finite, step 1 blows up in backward only: the event is step 1 at 'middle'."""
    switch = {"on": False}

    def sometimes(h: torch.Tensor) -> torch.Tensor:
        return inf_in_backward_function(h) if switch["on"] else h

    model = BlowsUpBehindMiddle(sometimes)
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    with GradientMonitor(model) as monitor:
        model(x).square().mean().backward()
        switch["on"] = True
        model(x).square().mean().backward()
    event = monitor.non_finite
    assert event is not None and (event.step, event.layer, event.quantity) == (
        1,
        "middle",
        "output_grad",
    )


# ----------------------------------------------------------------- 2. tied and frozen parameters
class TiedLanguageModel(nn.Module):
    """Embedding shared with the output projection (weight tying, as in GPT-2)."""

    def __init__(self, vocab: int = 20, width: int = 12) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(vocab, width)
        self.hidden = nn.Linear(width, width)
        self.head = nn.Linear(width, vocab)
        self.head.weight = self.embedding.weight  # one Parameter, two modules

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.hidden(self.embedding(tokens))))


def lm_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits.flatten(0, 1), tokens.roll(-1, 1).flatten())


def test_a_tied_parameter_is_counted_once_with_its_summed_gradient() -> None:
    model = TiedLanguageModel()
    tokens = torch.randint(0, 20, (6, 9), generator=torch.Generator().manual_seed(1))
    # Oracle: an untied copy gives the two uses' gradients separately; the tied grad is their sum.
    untied = copy.deepcopy(model)
    untied.head.weight = nn.Parameter(untied.embedding.weight.detach().clone())
    lm_loss(untied(tokens), tokens).backward()
    as_embedding, as_head = untied.embedding.weight.grad, untied.head.weight.grad
    summed = (as_embedding + as_head).norm().item()
    assert abs(summed - as_embedding.norm().item()) > 0.05 * summed  # both uses matter
    assert abs(summed - as_head.norm().item()) > 0.05 * summed

    with GradientMonitor(model) as monitor:
        lm_loss(model(tokens), tokens).backward()
    assert monitor.params == ["embedding.weight", "hidden.weight", "hidden.bias", "head.bias"]
    assert monitor.layers == ["embedding", "hidden", "head"]
    row = monitor.to_numpy()
    grad_norm = dict(zip(monitor.params, row["grad_norm"][0], strict=True))
    assert grad_norm["embedding.weight"] == pytest.approx(summed, rel=1e-5)
    assert grad_norm["embedding.weight"] == pytest.approx(model.embedding.weight.grad.norm().item())
    layer_norm = dict(zip(monitor.layers, row["layer_grad_norm"][0], strict=True))
    assert layer_norm["embedding"] == pytest.approx(summed, rel=1e-5)
    assert layer_norm["head"] == pytest.approx(model.head.bias.grad.norm().item(), rel=1e-5)
    total = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]).item()
    assert row["global_grad_norm"][0, 0] == pytest.approx(total, rel=1e-5)
    assert not find(gradlab.diagnose(model, (tokens, tokens), lm_loss), "no_grad")


class PartlyFrozen(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Linear(8, 8)  # frozen entirely
        self.body = nn.Linear(8, 8)  # weight frozen, bias trained
        self.head = nn.Linear(8, 3)
        self.stem.requires_grad_(False)
        self.body.weight.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(torch.relu(self.stem(x)))))


def test_frozen_parameters_are_not_watched_and_not_reported() -> None:
    model = PartlyFrozen()
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(2))
    with GradientMonitor(model) as monitor:
        nn.functional.cross_entropy(model(x), y).backward()
    assert monitor.params == ["body.bias", "head.weight", "head.bias"]
    assert monitor.layers == ["body", "head"]
    row = monitor.to_numpy()
    expected = [
        model.body.bias.grad.norm().item(),
        *(p.grad.norm().item() for p in model.head.parameters()),
    ]
    np.testing.assert_allclose(row["grad_norm"][0], expected, rtol=1e-5)
    assert row["has_grad"][0].tolist() == [1, 1, 1]
    assert model.stem.weight.grad is None and model.body.weight.grad is None
    report = gradlab.diagnose(model, (x, y), nn.CrossEntropyLoss())
    assert not find(report, "no_grad"), str(report)
    assert all(f.layer != "stem" for f in report.findings), str(report)


@pytest.mark.parametrize("every,freeze_at", [(1, 0), (2, 2)], ids=["before-first-step", "every-2"])
def test_freezing_a_layer_after_the_monitor_started_does_not_crash_or_alarm(every, freeze_at):
    """Fine-tuning: a layer frozen after the monitor was made (or between its recorded steps),
    unfrozen again at step 6. Until 7c13f26 the next recorded step's forward raised 'cannot
    register a hook on a tensor that doesn't require gradient' inside the learner's loop."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    norms = {}  # oracle: the first layer's weight-gradient norm per step, None when frozen
    with GradientMonitor(model, every=every) as monitor:
        for step in range(8):
            if step in (freeze_at, 6):
                model[0].requires_grad_(step == 6)
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            grad = model[0].weight.grad
            norms[step] = None if grad is None else grad.norm().item()
            optimizer.step()
            if step == 5:  # frozen now; with freeze_at 0 it never had a gradient so far
                frozen_report = monitor.report()
    arrays = monitor.to_numpy()
    first = monitor.params.index("0.weight")
    head = [monitor.params.index(n) for n in ("2.weight", "2.bias")]
    assert (arrays["has_grad"][:, head] == 1).all()
    for row, step in enumerate(arrays["steps"]):
        expected = norms[int(step)]
        assert arrays["has_grad"][row, first] == (expected is not None), step
        if expected is not None:
            assert arrays["grad_norm"][row, first] == pytest.approx(expected, rel=1e-5)
    assert [norms[s] is None for s in range(8)] == [freeze_at <= s < 6 for s in range(8)]
    report = monitor.report()
    assert not find(report, "no_grad"), str(report)
    assert not find(frozen_report, "no_grad"), str(frozen_report)


# ----------------------------------------------------------------- 3. a layer called several times
class Looped(nn.Module):
    """The same Linear (and ReLU) applied three times, as in a weight-shared or recurrent block."""

    def __init__(self, repeats: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem, self.shared, self.head = nn.Linear(6, 10), nn.Linear(10, 10), nn.Linear(10, 2)
        self.relu, self.repeats = nn.ReLU(), repeats

    def forward(self, x: torch.Tensor, keep: list | None = None) -> torch.Tensor:
        h = torch.tanh(self.stem(x))
        for _ in range(self.repeats):
            out = self.shared(h)
            if keep is not None:
                out.retain_grad()
                keep.append(out)
            h = self.relu(out)
        return self.head(h)


def test_a_layer_called_several_times_pools_its_calls() -> None:
    model = Looped()
    reference = copy.deepcopy(model)
    x = torch.randn(32, 6, generator=torch.Generator().manual_seed(1))
    calls: list[torch.Tensor] = []
    reference(x, keep=calls).square().mean().backward()
    assert len(calls) == 3
    pooled = torch.cat([c.detach().flatten() for c in calls])
    per_call_grads = torch.stack([c.grad.norm() for c in calls])
    assert per_call_grads.max() < 0.9 * per_call_grads.square().sum().sqrt()  # pooling matters

    with GradientMonitor(model, activation_sample=None) as monitor:
        model(x).square().mean().backward()
    row = monitor.to_numpy()
    shared = monitor.layers.index("shared")
    assert row["called"][0, shared] == 1
    assert row["output_grad_norm"][0, shared] == pytest.approx(
        per_call_grads.square().sum().sqrt().item(), rel=1e-5
    )
    elements = pooled.numel()
    assert row["output_grad_rms"][0, shared] == pytest.approx(
        (per_call_grads.square().sum() / elements).sqrt().item(), rel=1e-5
    )
    assert row["activation_mean"][0, shared] == pytest.approx(pooled.mean().item(), abs=1e-6)
    assert row["activation_std"][0, shared] == pytest.approx(
        pooled.std(correction=0).item(), rel=1e-4
    )
    dead = (pooled <= 0).double().mean().item()
    assert 0.2 < dead < 0.8
    assert row["fraction_dead"][0, shared] == pytest.approx(dead, abs=1e-9)
    shared_grad = torch.cat([p.grad.flatten() for p in reference.shared.parameters()])
    assert row["layer_grad_norm"][0, shared] == pytest.approx(shared_grad.norm().item(), rel=1e-5)
