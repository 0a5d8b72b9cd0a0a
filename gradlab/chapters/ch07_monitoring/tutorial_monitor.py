"""A common tutorial monitor (TutorialGradientMonitor), kept as written, and the in-place failure
it runs into.

The tutorial monitor registers `register_full_backward_hook` on every module with parameters and
records `grad_output[0].norm().item()`: the norm of the gradient reaching the module's *output*,
one float per backward pass. Two things we changed, neither in what it measures: the hook handles
are kept so that `remove()` can take them off again (hooks own their cleanup), and plotting lives
in gradlab.chapters.ch07_monitoring.plots (drawing apart from state).

Full backward hooks wrap a module's output in a view; an in-place op on that output
(`nn.ReLU(inplace=True)`, `x += shortcut`) is then refused by autograd — already in the forward
pass. run_tutorial_monitor() catches that RuntimeError and returns its message, so a notebook can
print it. gradlab.GradientMonitor hooks the autograd node that made each layer's output instead
(registered before any in-place op, it sees that value's gradient) and works on such models.
Used in notebooks/07_monitoring.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from gradlab.chapters.ch07_monitoring.scenarios import seeded_linear


class TutorialGradientMonitor:
    """Monitor gradient statistics during training (the tutorial monitor, as written)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.gradient_history: dict[str, list[float]] = {}
        self.handles: list[RemovableHandle] = []
        self._register_hooks()

    def _register_hooks(self) -> None:
        """Register backward hooks on all layers with parameters."""
        for name, module in self.model.named_modules():
            if len(list(module.parameters(recurse=False))) > 0:
                # Initialize storage for this layer
                self.gradient_history[name] = []
                # Register hook to capture gradients
                self.handles.append(module.register_full_backward_hook(self._make_hook(name)))

    def _make_hook(self, name: str) -> Callable:
        """Create a hook function for a specific layer."""

        def hook(module: nn.Module, grad_input: tuple, grad_output: tuple) -> None:
            # Compute gradient norm
            if grad_output[0] is not None:
                grad_norm = grad_output[0].norm().item()  # one host sync per layer per step
                self.gradient_history[name].append(grad_norm)

        return hook

    def get_gradient_stats(self) -> dict[str, dict[str, float]]:
        """Compute statistics for each layer's gradients."""
        stats = {}
        for name, grads in self.gradient_history.items():
            if len(grads) > 0:
                grads_tensor = torch.tensor(grads)
                stats[name] = {
                    "mean": grads_tensor.mean().item(),
                    "std": grads_tensor.std().item(),
                    "max": grads_tensor.max().item(),
                    "min": grads_tensor.min().item(),
                }
        return stats

    def remove(self) -> None:
        """Take every hook off the model (not in the tutorial, which leaves them on for good)."""
        for handle in self.handles:
            handle.remove()
        self.handles = []


@dataclass
class TutorialRun:
    """What happened when the tutorial monitor watched one training step.

    ok is False when the step raised a RuntimeError; `error` is then its first line.
    """

    ok: bool
    history: dict[str, list[float]] = field(default_factory=dict)
    stats: dict[str, dict[str, float]] = field(default_factory=dict)
    error: str = ""


def run_tutorial_monitor(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    steps: int = 1,
) -> TutorialRun:
    """Watch `steps` forward/backward passes with TutorialGradientMonitor; never raises RuntimeError.

    The hooks are removed afterwards, also when the pass failed. Two warnings the tutorial's code
    triggers are silenced: the first layer's hook "firing ... since no inputs require gradients"
    (the batch x never requires grad) and std() of a single step.
    """
    monitor = TutorialGradientMonitor(model)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Full backward hook is firing", UserWarning)
        warnings.filterwarnings("ignore", r"std\(\): degrees of freedom", UserWarning)
        try:
            for _ in range(steps):
                model.zero_grad()
                loss_fn(model(x), y).backward()
        except RuntimeError as error:
            return TutorialRun(False, monitor.gradient_history, error=str(error).split("\n")[0])
        finally:
            monitor.remove()
        return TutorialRun(True, monitor.gradient_history, monitor.get_gradient_stats())


class InplaceResidualMLP(nn.Module):
    """A small residual MLP written the way torchvision writes ResNets: ReLU(inplace=True) and
    `out += x`. Both in-place ops are fine for autograd, and both break full backward hooks."""

    def __init__(self, in_features: int, num_classes: int, width: int = 32, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.stem = seeded_linear(in_features, width, generator)
        self.block = seeded_linear(width, width, generator)
        self.head = seeded_linear(width, num_classes, generator)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.stem(x))
        out = self.block(x)
        out += x  # the in-place shortcut
        return self.head(self.relu(out))


def output_gradient_norms(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> dict[str, float]:
    """||dL/d output|| of every module with parameters, by plain autograd (the oracle).

    The outputs are captured with forward hooks and differentiated with torch.autograd.grad.
    Only for models without in-place ops: an output modified in place afterwards (ReLU(inplace))
    would be differentiated as its modified value.
    """
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        module.register_forward_hook(lambda m, args, out, name=name: outputs.update({name: out}))
        for name, module in model.named_modules()
        if len(list(module.parameters(recurse=False))) > 0
    ]
    try:
        loss = loss_fn(model(x), y)
    finally:
        for handle in handles:
            handle.remove()
    grads = torch.autograd.grad(loss, list(outputs.values()))
    return {name: float(g.norm()) for name, g in zip(outputs, grads, strict=True)}
