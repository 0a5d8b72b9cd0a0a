"""gradlab after a forward or backward pass that raises: gradients restored, no hook left behind.

diagnose() sets the learner's .grad aside and must put the very same tensors back; a
GradientMonitor in a loop that skips a failing batch must record the other steps correctly.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.optim.optimizer as optim_hooks
from torch import nn

import gradlab
from gradlab import GradientMonitor

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------- 9. a forward pass that raises
class FailsMidway(nn.Module):
    """Raises after its first layers ran (their hooks are installed), when told to."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first, self.second, self.head = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 3)
        self.unused = nn.Linear(8, 8)  # its .grad stays None throughout
        self.fail = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.second(torch.relu(self.first(x))))
        if self.fail:
            raise RuntimeError("forward failed")
        return self.head(h)


def _hooks_left(model: nn.Module) -> list[str]:
    """Every hook still registered on the model, its parameters or torch.optim globally."""
    left = [
        f"{name or 'model'}.{kind}"
        for name, m in model.named_modules()
        for kind in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks")
        if getattr(m, kind)
    ]
    left += [
        f"{name} post-accumulate"
        for name, p in model.named_parameters()
        if getattr(p, "_post_accumulate_grad_hooks", None)
    ]
    if optim_hooks._global_optimizer_pre_hooks or optim_hooks._global_optimizer_post_hooks:
        left.append("global optimizer hooks")
    return left


def test_diagnose_restores_gradients_and_hooks_when_the_forward_raises() -> None:
    model = FailsMidway()
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(2))
    generator = torch.Generator().manual_seed(3)
    for module in (model.first, model.second, model.head):
        for p in module.parameters():
            p.grad = torch.randn(p.shape, generator=generator)
    held = {name: p.grad for name, p in model.named_parameters()}
    values = {name: None if g is None else g.clone() for name, g in held.items()}

    with pytest.raises(RuntimeError, match="forward failed"):
        gradlab.diagnose(model, (x, y), nn.CrossEntropyLoss())

    for name, p in model.named_parameters():
        assert p.grad is held[name], f"{name}.grad is not the tensor it held before"
        if values[name] is None:
            assert p.grad is None
        else:
            assert torch.equal(p.grad, values[name]), name
    assert _hooks_left(model) == []
    # A plain backward afterwards accumulates onto the restored gradients, as without gradlab.
    model.fail = False
    reference = copy.deepcopy(model)
    for p in reference.parameters():
        p.grad = None
    nn.functional.cross_entropy(reference(x), y).backward()
    nn.functional.cross_entropy(model(x), y).backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        if values[name] is None:
            assert p.grad is None if q.grad is None else torch.allclose(p.grad, q.grad)
        else:
            torch.testing.assert_close(p.grad, values[name] + q.grad, msg=name)
    assert _hooks_left(model) == []


class FailsInBackward(torch.autograd.Function):
    """Identity in forward; raises in backward, after the layers behind the loss got their grads."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("backward failed")


class RaisesInBackward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body, self.head = nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(FailsInBackward.apply(self.body(x)))


def test_diagnose_restores_gradients_and_hooks_when_the_backward_raises() -> None:
    model = RaisesInBackward()
    held = {}
    for name, p in model.named_parameters():
        p.grad = torch.full_like(p, 0.25)
        held[name] = p.grad
    with pytest.raises(RuntimeError, match="backward failed"):
        gradlab.diagnose(model, torch.randn(4, 8), lambda out: out.sum())
    # head's gradient may be accumulated before the failure; the learner's come back all the same
    for name, p in model.named_parameters():
        assert p.grad is held[name] and bool((p.grad == 0.25).all()), name
    assert _hooks_left(model) == []


def test_a_monitor_records_the_steps_around_a_batch_whose_forward_raised() -> None:
    model = FailsMidway()
    model.fail = False
    reference = copy.deepcopy(model)
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    with GradientMonitor(model, updates=False) as monitor:
        for step in range(3):
            model.zero_grad()
            model.fail = step == 1
            try:
                model(x).square().mean().backward()
            except RuntimeError:
                continue  # the learner skips the bad batch
    model.fail = False
    reference(x).square().mean().backward()
    grads = [reference.get_parameter(name).grad for name in monitor.params]
    expected = [np.nan if g is None else g.norm().item() for g in grads]  # 'unused': no grad
    arrays = monitor.to_numpy()
    assert arrays["steps"].tolist() == [0, 2]  # the failed step has no backward: no row
    for row in arrays["grad_norm"]:
        np.testing.assert_allclose(row, expected, rtol=1e-5)
    assert arrays["called"][1].tolist() == arrays["called"][0].tolist()
    assert monitor.non_finite is None and _hooks_left(model) == []
