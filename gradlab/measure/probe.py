"""One real forward + backward pass that measures how much gradient reaches every layer.

Used in notebooks/01_chain_rule (measured beside the factor table, and behind the gradient-flow
widget). For layer l with output h_l = f(z_l), z_l = W_l h_(l-1) + b_l, the chain rule gives
∂L/∂h_(l-1) = W_lᵀ (f'(z_l) ⊙ ∂L/∂h_l), so each layer scales the gradient by about
rms(f'(z_l)) × gain(W_l), where gain(W) = std(W) · √fan_in. That product is the *predicted*
per-layer factor printed beside the measured one.

Works on any model: pass `layers=[...]` in forward order. The gradients are caught on the autograd
nodes that made each layer's input and output, so a later in-place op (ReLU(inplace=True)) cannot
overwrite them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gradlab.formatting import format_factor, format_magnitude, format_number
from gradlab.measure.chain import (
    STATUS_BOUNDS,
    STATUSES,
    GradientChain,
    classify_gradient,
    geometric_mean,
)
from gradlab.measure.hooks import HookHandles, register_gradient_hook
from gradlab.models.activations import activation_derivative
from gradlab.models.mlp import activation_name, make_mlp

# The status names and rule live in measure.chain; chapters and tests import them from here too.
__all__ = [
    "STATUSES",
    "STATUS_BOUNDS",
    "GradientProbe",
    "classify_gradient",
    "make_batch",
    "measure_gradient_flow",
    "probe_gradients",
]


@dataclass(frozen=True, kw_only=True)
class GradientProbe(GradientChain):
    """Per-layer gradient measurements from one backward pass (index 0 = first layer).

    A GradientChain whose grad_norms are ‖∂L/∂(first probed layer's input)‖ followed by
    activation_grad_norms, ‖∂L/∂h_l‖ (Frobenius over the batch), the gradient reaching layer l's
    output. measured_factors: ‖∂L/∂h_(l-1)‖ / ‖∂L/∂h_l‖, with h_(-1) the first probed layer's
    input. When the probed layers form a chain (each one's output is the next one's input) that is
    what layer l does to the gradient; otherwise it is what everything between the two probed
    outputs does. predicted_factors: rms f'(z_l) × gain(W_l), nan (printed n/a) when undefined: no
    `.linear` and `.activation`, or a forward pass that overflowed. Non-finite measured values stay
    inf/nan and are labelled 'exploded'.
    """

    # ‖∂L/∂W_l‖ of `.linear.weight` for gradlab blocks, else of all the layer's parameters together
    # (nan when it has none, see has_parameters)
    weight_grad_norms: np.ndarray
    activation_slopes: np.ndarray  # rms f'(z_l) over the batch (nan when undefined)
    weight_gains: np.ndarray  # gain(W_l) = std(W_l)·√fan_in (nan when the layer has no .linear)
    loss: float  # the loss of the probed batch
    has_parameters: tuple[bool, ...] = ()  # per layer: owns trainable parameters

    @property
    def activation_grad_norms(self) -> np.ndarray:
        """‖∂L/∂h_l‖ per probed layer: the gradient reaching its output (output_grad_norms)."""
        return self.output_grad_norms

    def summary(self) -> str:
        """Three lines a learner reads: the whole stack's factor, one layer's, and the prediction.

        One number for the whole stack: the gradient reaching the network's input over the one
        leaving the last layer (total_measured, the product of all `depth` factors).
        """
        layers = f"{self.depth} layer{'s' if self.depth > 1 else ''}"
        total = self.total_measured
        if math.isfinite(total) and total != 0:
            total_text = f"{format_factor(total)} ({classify_gradient(total)})"
        elif math.isnan(total):  # 0/0 or inf/inf: say what the input's gradient itself is
            input_text = format_magnitude(self.input_grad_norm)
            total_text = f"{format_factor(total)}, the input's gradient is {input_text}"
        else:
            total_text = format_factor(total)
        usable = self.usable_factors.size
        mean, note = "", ""
        if usable == self.depth:
            mean = f" (geometric mean of {usable} factor{'s' if usable > 1 else ''})"
        elif usable:
            mean = f" (geometric mean of the {usable} factors where no gradient is 0, inf or nan)"
        else:
            note = "; each layer's factor involves a gradient that is 0, inf or nan"
        slope = geometric_mean(self.activation_slopes)
        gain = geometric_mean(self.weight_gains)
        parts = (
            f"rms f'(z) {format_number(slope)} × gain(W) {format_number(gain)}"
            " (geometric means over the layers)"
            if math.isfinite(slope * gain)
            else "n/a (needs each layer's .linear and .activation, and a finite forward pass)"
        )
        return (
            f"Through {layers}, last layer's output → network input: measured {total_text}, "
            f"predicted {_predicted(self.total_predicted)}\n"
            f"Per layer: measured {format_factor(self.typical_factor)}{mean}, "
            f"predicted {_predicted(slope * gain)}{note}\n"
            f"Predicted per layer = {parts}"
        )

    def table(self) -> str:
        """A readable per-layer table, first layer at the top (the one wording rule for 0/inf/nan)."""
        rows = [("layer", "|dL/dh|", "|dL/dW|", "factor", "predicted", "status")]
        for i in range(self.depth):
            weight_norm = self.weight_grad_norms[i]
            rows.append(
                (
                    self.layer_names[i],
                    format_magnitude(self.activation_grad_norms[i]),
                    "n/a"
                    if math.isnan(weight_norm) and self._weight_missing(i)
                    else format_magnitude(weight_norm),
                    format_factor(self.measured_factors[i]),
                    _predicted(self.predicted_factors[i]),
                    self.statuses[i],
                )
            )
        widths = [max(len(row[column]) for row in rows) for column in range(5)]
        lines = [
            " | ".join(cell.rjust(width) for cell, width in zip(row[:5], widths, strict=True))
            + f" | {row[5]}"
            for row in rows
        ]
        lines.append(
            f"total over {self.depth} layer{'s' if self.depth > 1 else ''}: measured {format_factor(self.total_measured)}, "
            f"predicted {_predicted(self.total_predicted)}"
        )
        return "\n".join(lines)

    def _weight_missing(self, index: int) -> bool:
        """True when layer `index` has no parameters (its |dL/dW| prints 'n/a', not a value)."""
        return bool(self.has_parameters) and not self.has_parameters[index]


def _predicted(value: float) -> str:
    """A predicted factor for printing: 'n/a' when it is undefined (nan), never 'exploded'."""
    return "n/a" if math.isnan(value) else format_factor(value)


def _norm(tensor: torch.Tensor | None) -> float:
    if tensor is None:
        return 0.0
    return float(torch.linalg.vector_norm(tensor.detach().cpu().double()))


def _slope_and_gain(layer: nn.Module, pre_activation: torch.Tensor | None) -> tuple[float, float]:
    """rms f'(z) over the batch and std(W)·√fan_in, or nan when the layer is not linear→activation."""
    linear = getattr(layer, "linear", None)
    activation = getattr(layer, "activation", None)
    name = activation_name(activation)
    if pre_activation is None or not isinstance(linear, nn.Linear) or name is None:
        return math.nan, math.nan
    weight = linear.weight.detach().cpu().double()
    gain = float(weight.std() * math.sqrt(weight.shape[1]))
    if not bool(torch.isfinite(pre_activation).all()):
        return math.nan, gain  # the forward pass overflowed: f'(z) is meaningless
    slope = activation_derivative(name, pre_activation.detach().cpu().double())
    rms_slope = float(torch.sqrt(torch.mean(slope * slope)))
    return rms_slope, gain


def probe_gradients(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    *,
    layers: Sequence[nn.Module] | None = None,
    seed: int = 0,
) -> GradientProbe:
    """Run one forward and backward pass and measure the gradient at every layer.

    Args:
        model: any module; by default its `.layers` are probed (gradlab models have them).
        x: input batch. y: targets (default: random class labels drawn with `seed`).
        loss_fn: loss(output, y) (default: cross-entropy).
        layers: the modules to probe, in forward order, if the model has no `.layers`. Any subset
            works; factors are per layer when consecutive probed layers form a chain (see
            GradientProbe). The model's parameters' `.grad` are left untouched.
    """
    layers = _layers_to_probe(model, layers)
    weights = [_own_parameters(layer) for layer in layers]
    caught = _hooked_backward(
        model, x, y, loss_fn, layers, [w for group in weights for w in group], seed
    )
    grad_norms = np.array([_norm(caught.grads[i]) for i in range(-1, len(layers))])
    weight_norms = iter(_norm(grad) for grad in caught.weight_grads)
    slopes, gains = zip(
        *(_slope_and_gain(layer, caught.pre_activations.get(i)) for i, layer in enumerate(layers)),
        strict=True,
    )
    with np.errstate(all="ignore"):
        predicted = np.array(slopes) * np.array(gains)
    names = {id(module): name for name, module in model.named_modules()}
    return GradientProbe(
        layer_names=tuple(names.get(id(layer), f"layer{i}") for i, layer in enumerate(layers)),
        grad_norms=grad_norms,
        predicted_factors=predicted,
        weight_grad_norms=np.array(
            [
                math.hypot(*(next(weight_norms) for _ in group)) if group else math.nan
                for group in weights
            ]
        ),
        activation_slopes=np.array(slopes),
        weight_gains=np.array(gains),
        loss=caught.loss,
        has_parameters=tuple(bool(group) for group in weights),
    )


def _layers_to_probe(model: nn.Module, layers: Sequence[nn.Module] | None) -> list[nn.Module]:
    """The given layers as a list, or the model's `.layers`; at least one."""
    if layers is None:
        if not hasattr(model, "layers"):
            raise ValueError("layers must be given for a model without a `.layers` attribute")
        layers = list(model.layers)
    layers = list(layers)
    if not layers:
        raise ValueError("layers must contain at least one module")
    return layers


@dataclass(frozen=True)
class _CaughtGradients:
    """What the hooks of one probed backward pass caught."""

    grads: dict[int, torch.Tensor | None]  # -1: the first layer's input; 0..: each layer's output
    pre_activations: dict[int, torch.Tensor]  # z_l of layers with a `.linear`
    weight_grads: list[torch.Tensor | None]  # ∂L/∂w for the weights passed in, in order
    loss: float


def _hooked_backward(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None,
    layers: list[nn.Module],
    weights: list[torch.Tensor],
    seed: int,
) -> _CaughtGradients:
    """One forward and backward pass with hooks on `layers`; every hook is removed afterwards."""
    grads: dict[int, torch.Tensor | None] = {}
    pre_activations: dict[int, torch.Tensor] = {}
    with HookHandles() as gradient_hooks:
        x = x.detach().clone().requires_grad_(True)
        # Forward hooks only register the gradient hooks, so they go as soon as the forward ends.
        with HookHandles() as forward_hooks:
            forward_hooks.append(
                layers[0].register_forward_pre_hook(_catch_input(grads, gradient_hooks))
            )
            for index, layer in enumerate(layers):
                forward_hooks.append(
                    layer.register_forward_hook(_catch(grads, gradient_hooks, index))
                )
                if isinstance(getattr(layer, "linear", None), nn.Linear):
                    forward_hooks.append(
                        layer.linear.register_forward_hook(_store(pre_activations, index))
                    )
            output = model(x)
        if len(grads) != len(layers) + 1:
            raise ValueError("every module in layers must run in the model's forward pass")
        if loss_fn is None:
            loss_fn = F.cross_entropy
        if y is None:
            generator = torch.Generator().manual_seed(seed)
            y = torch.randint(0, output.shape[-1], (output.shape[0],), generator=generator)
        loss = loss_fn(output, y)
        # Asking for ∂L/∂x runs every node between the loss and the input, so each hook fires.
        _, *weight_grads = torch.autograd.grad(loss, [x, *weights], allow_unused=True)
    return _CaughtGradients(grads, pre_activations, weight_grads, float(loss.detach()))


def _own_parameters(layer: nn.Module) -> list[torch.Tensor]:
    """W in the per-layer formula: `.linear.weight` of a gradlab block, else every parameter."""
    linear = getattr(layer, "linear", None)
    if isinstance(linear, nn.Linear):
        return [linear.weight]
    return [p for p in layer.parameters() if p.requires_grad]


def _catch_gradient(grads: dict, handles: HookHandles, index: int, tensor: torch.Tensor) -> None:
    """Store ∂L/∂tensor in grads[index] during backward, as the tensor is now (in-place safe)."""
    output_nr = tensor.output_nr  # read now: an in-place op later changes it

    def hook(grad_outputs: tuple) -> None:
        grads[index] = grad_outputs[output_nr]

    grads.setdefault(index, None)
    if tensor.requires_grad:
        handles.append(register_gradient_hook(tensor, hook))


def _catch_input(grads: dict, handles: HookHandles):
    def pre_hook(module: nn.Module, inputs: tuple) -> None:
        _catch_gradient(grads, handles, -1, inputs[0])

    return pre_hook


def _catch(grads: dict, handles: HookHandles, index: int):
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        _catch_gradient(grads, handles, index, output)

    return hook


def _store(into: dict[int, torch.Tensor], index: int):
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        into[index] = output

    return hook


def make_batch(in_features: int, batch_size: int = 64, seed: int = 0) -> torch.Tensor:
    """A standard-normal input batch, reproducible from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch_size, in_features, generator=generator)


def measure_gradient_flow(
    depth: int,
    activation: str = "relu",
    weight_scale: float = 1.0,
    init: str = "he",
    *,
    width: int = 64,
    batch_size: int = 64,
    seed: int = 0,
) -> GradientProbe:
    """Build a fresh DeepMLP with these settings and probe it on a random batch (all seeded)."""
    model = make_mlp(depth, width, activation, init, weight_scale, seed=seed)
    return probe_gradients(model, make_batch(width, batch_size, seed), seed=seed)
