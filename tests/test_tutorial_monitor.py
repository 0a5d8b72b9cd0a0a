"""The tutorial monitor (TutorialGradientMonitor): its numbers match autograd on a plain MLP; in-place ops break it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gradlab
from gradlab.chapters.ch07_monitoring.tutorial_monitor import (
    InplaceResidualMLP,
    TutorialGradientMonitor,
    output_gradient_norms,
    run_tutorial_monitor,
)

LOSS = nn.CrossEntropyLoss()
INPLACE_MESSAGE = "a view and is being modified inplace"


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(16, 12, generator=generator), torch.randint(0, 4, (16,), generator=generator)


def plain_mlp(activation: type[nn.Module] = nn.Sigmoid) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(12, 8), activation(), nn.Linear(8, 8), activation(), nn.Linear(8, 4)
    )


@pytest.mark.parametrize("activation", [nn.Sigmoid, nn.ReLU, nn.Tanh], ids=lambda a: a.__name__)
def test_seed_numbers_match_autograd_output_gradients(activation: type[nn.Module]) -> None:
    model = plain_mlp(activation)
    x, y = batch()
    run = run_tutorial_monitor(model, x, y, LOSS, steps=2)
    assert run.ok and run.error == ""
    oracle = output_gradient_norms(model, x, y, LOSS)
    assert set(run.history) == set(oracle) == {"0", "2", "4"}
    for name, value in oracle.items():
        assert run.history[name] == pytest.approx([value, value], rel=1e-5)
        assert run.stats[name]["mean"] == pytest.approx(value, rel=1e-5)
        assert run.stats[name]["max"] == pytest.approx(value, rel=1e-5)


def test_seed_numbers_match_gradlab_monitor_output_gradients() -> None:
    model = plain_mlp()
    x, y = batch()
    run = run_tutorial_monitor(model, x, y, LOSS)
    with gradlab.GradientMonitor(model) as monitor:
        LOSS(model(x), y).backward()
    recorded = monitor.to_numpy()["output_grad_norm"][0]
    for name, value in zip(monitor.layers, recorded, strict=True):
        assert run.history[name][0] == pytest.approx(value, rel=1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda: InplaceResidualMLP(12, 4),
        lambda: nn.Sequential(nn.Linear(12, 8), nn.ReLU(inplace=True), nn.Linear(8, 4)),
    ],
    ids=["residual_add_inplace", "relu_inplace"],
)
def test_inplace_ops_fail_with_the_view_message_and_hooks_are_removed(make) -> None:
    model = make()
    run = run_tutorial_monitor(model, *batch(), LOSS)
    assert not run.ok and INPLACE_MESSAGE in run.error and "\n" not in run.error
    assert all(not m._backward_hooks for m in model.modules())
    LOSS(model(batch()[0]), batch()[1]).backward()  # the model itself is fine without the hooks


def test_gradlab_monitor_works_on_the_inplace_model() -> None:
    model = InplaceResidualMLP(12, 4)
    with gradlab.GradientMonitor(model) as monitor:
        LOSS(model(batch()[0]), batch()[1]).backward()
    assert monitor.layers == ["stem", "block", "head"]
    assert monitor.report().ok


def test_no_warnings_escape(recwarn) -> None:
    run_tutorial_monitor(plain_mlp(), *batch(), LOSS, steps=1)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_remove_takes_every_hook_off() -> None:
    model = plain_mlp()
    monitor = TutorialGradientMonitor(model)
    assert len(monitor.handles) == 3
    monitor.remove()
    assert all(not m._backward_hooks for m in model.modules())
