"""Forward and backward signal of a network, layer by layer, from one forward and backward pass.

For every watched module: the standard deviation of its output (the forward signal) and the norm
of the loss's gradient with respect to that output (the backward signal), plus the norm of the
gradient of its own weight when it has one. Used in notebooks/04_init_norm (initialisation and
normalisation); works on any nn.Module whose submodules have readable names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gradlab.measure.hooks import HookHandles


@dataclass(frozen=True)
class SignalProfile:
    """Per watched module, in forward order (all arrays have shape (modules,))."""

    names: tuple[str, ...]  # the modules' names as model.named_modules() gives them
    activation_std: np.ndarray  # std of the module's output over the batch and features
    grad_norm: np.ndarray  # ‖∂L/∂output‖ over the batch (the backward signal)
    weight_grad_norm: np.ndarray  # ‖∂L/∂weight‖ of the module's own weight (nan: no weight)
    loss: float  # the loss the backward pass started from


def unit_direction_loss(seed: int = 0) -> Callable[[torch.Tensor], torch.Tensor]:
    """A loss whose gradient at the output is a fixed random direction of norm 1: (output · u).sum().

    Using it, the backward signal starts at exactly 1, so every layer's gradient norm reads
    directly as what is left of it.
    """

    def loss_fn(output: torch.Tensor) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        direction = torch.randn(output.shape, generator=generator, dtype=output.dtype)
        direction = direction / torch.linalg.vector_norm(direction)
        return (output * direction).sum()

    return loss_fn


def measure_signal(
    model: nn.Module,
    x: torch.Tensor,
    *,
    modules: Mapping[str, nn.Module] | None = None,
    loss_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> SignalProfile:
    """Run model(x) forward and loss_fn(output) backward once; record the signal at every module.

    Args:
        model: any nn.Module; its parameters' .grad are overwritten (set to this pass's gradient).
        x: a batch of inputs.
        modules: name → module to watch; default every nn.Linear of the model.
        loss_fn: output → scalar loss; default unit_direction_loss(0) (gradient norm 1 at the
            output).
    Returns:
        SignalProfile, modules in the order their forward ran.
    """
    if modules is None:
        modules = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    if not modules:
        raise ValueError("modules is empty: pass name → module for the layers to watch")
    loss_fn = loss_fn or unit_direction_loss(0)
    order: list[str] = []
    stds: dict[str, float] = {}
    outputs: dict[str, torch.Tensor] = {}
    with HookHandles() as handles:
        for name, module in modules.items():

            def record(_module, _inputs, output, name=name):
                order.append(name)
                stds[name] = output.detach().cpu().double().std().item()
                if output.requires_grad:
                    output.retain_grad()
                    outputs[name] = output

            handles.append(module.register_forward_hook(record))
        for param in model.parameters():
            param.grad = None
        loss = loss_fn(model(x))
        loss.backward()
    grad_norms, weight_norms = [], []
    for name in order:
        grad = outputs[name].grad if name in outputs else None
        grad_norms.append(
            np.nan if grad is None else torch.linalg.vector_norm(grad.cpu().double()).item()
        )
        weight = getattr(modules[name], "weight", None)
        has_grad = isinstance(weight, torch.Tensor) and weight.grad is not None
        weight_norms.append(
            torch.linalg.vector_norm(weight.grad.cpu().double()).item() if has_grad else np.nan
        )
    return SignalProfile(
        names=tuple(order),
        activation_std=np.array([stds[name] for name in order]),
        grad_norm=np.array(grad_norms),
        weight_grad_norm=np.array(weight_norms),
        loss=float(loss.detach()),
    )
