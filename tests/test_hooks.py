"""gradlab.measure.hooks: gradient hooks that survive in-place ops, and handles that clean up."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gradlab.measure.hooks import HookHandles, first_tensor, register_gradient_hook
from gradlab.measure.probe import probe_gradients


def test_first_tensor_finds_the_first_tensor_in_nested_outputs() -> None:
    a, b = torch.ones(1), torch.zeros(1)
    assert first_tensor(a) is a
    assert first_tensor((None, [3, {"h": a}], b)) is a
    assert first_tensor({"x": 1, "y": (b, a)}) is b
    assert first_tensor((1, "text", None)) is None


@pytest.mark.parametrize("inplace", [False, True], ids=["relu", "relu-inplace"])
def test_gradient_hook_sees_the_gradient_before_an_in_place_op(inplace: bool) -> None:
    torch.manual_seed(0)
    linear, x = nn.Linear(6, 6), torch.randn(4, 6)
    caught = {}
    z = linear(x)
    output_nr = z.output_nr

    def hook(grads: tuple) -> None:
        caught["z"] = grads[output_nr]

    register_gradient_hook(z, hook)
    h = nn.ReLU(inplace=inplace)(z)  # in place: z itself now holds relu(z)
    (h.sin().sum()).backward()
    # oracle: the same computation without in-place ops, ∂L/∂z by retain_grad
    reference = linear(x)
    reference.retain_grad()
    torch.relu(reference).sin().sum().backward()
    torch.testing.assert_close(caught["z"], reference.grad)


def test_gradient_hook_on_a_leaf_tensor() -> None:
    x = torch.randn(3, requires_grad=True)
    caught = []
    register_gradient_hook(x, lambda grads: caught.append(grads[0]))
    (x * x).sum().backward()
    torch.testing.assert_close(caught[0], 2 * x.detach())


def test_handles_are_removed_on_exit_and_on_error() -> None:
    module = nn.Linear(2, 2)
    calls = []
    with HookHandles() as handles:
        handles.append(module.register_forward_hook(lambda *args: calls.append("hook")))
        module(torch.ones(1, 2))
    assert len(handles) == 0 and not module._forward_hooks
    with pytest.raises(RuntimeError, match="boom"), HookHandles() as handles:
        handles.append(module.register_forward_hook(lambda *args: calls.append("hook")))
        handles.extend([module.register_forward_pre_hook(lambda *args: None)])
        raise RuntimeError("boom")
    assert not module._forward_hooks and not module._forward_pre_hooks
    module(torch.ones(1, 2))
    assert calls == ["hook"]  # only the call inside the first block
    handles.remove_all()  # a second removal is harmless


def test_probe_removes_every_hook_when_the_loss_fails() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True), nn.Linear(4, 3))
    modules = list(model.modules())

    def broken_loss(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("loss failed")

    with pytest.raises(RuntimeError, match="loss failed"):
        probe_gradients(model, torch.randn(5, 4), loss_fn=broken_loss, layers=[model[0], model[2]])
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in modules)
    # and a later probe of the same model still measures (no stale hook writes into it)
    probe = probe_gradients(model, torch.randn(5, 4), layers=[model[0], model[2]])
    assert probe.depth == 2 and probe.grad_norms.shape == (3,)
