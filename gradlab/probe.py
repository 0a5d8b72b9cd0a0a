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

from gradlab.activations import activation_derivative
from gradlab.formatting import format_magnitude
from gradlab.models import activation_name, make_mlp
from gradlab.monitor import register_gradient_hook

# Status of a layer from its gradient relative to the last layer's (the one nearest the loss).
# Lower bounds, checked from the top; anything below the last bound has vanished.
STATUS_BOUNDS: tuple[tuple[str, float], ...] = (
    ("exploded", 1e4),
    ("large", 10.0),
    ("healthy", 0.1),
    ("small", 1e-3),
    ("very small", 1e-6),
)
STATUSES: tuple[str, ...] = (*(name for name, _ in STATUS_BOUNDS), "vanished")


def classify_gradient(relative: float) -> str:
    """Label a gradient norm relative to the last layer's: healthy, small, ..., exploded."""
    if not math.isfinite(relative):
        return "exploded"
    for name, bound in STATUS_BOUNDS:
        if relative >= bound:
            return name
    return "vanished"


@dataclass(frozen=True)
class GradientProbe:
    """Per-layer gradient measurements from one backward pass (index 0 = first layer).

    activation_grad_norms: ‖∂L/∂h_l‖ (Frobenius over the batch), the gradient reaching layer l's
    output. input_grad_norm: ‖∂L/∂(first probed layer's input)‖. weight_grad_norms: ‖∂L/∂W_l‖ of
    `.linear.weight` for gradlab blocks, else of all the layer's parameters together (nan when it
    has none, see has_parameters). measured_factors: ‖∂L/∂h_(l-1)‖ / ‖∂L/∂h_l‖, with h_(-1) the
    first probed layer's input. When the probed layers form a chain (each one's output is the next
    one's input) that is what layer l does to the gradient; otherwise it is what everything between
    the two probed outputs does. predicted_factors: rms f'(z_l) × gain(W_l), nan (printed n/a) when
    undefined: no `.linear` and `.activation`, or a forward pass that overflowed. Non-finite
    measured values stay inf/nan and are labelled 'exploded'.
    """

    layer_names: tuple[str, ...]
    activation_grad_norms: np.ndarray
    input_grad_norm: float
    weight_grad_norms: np.ndarray
    measured_factors: np.ndarray
    activation_slopes: np.ndarray
    weight_gains: np.ndarray
    predicted_factors: np.ndarray
    relative_grad_norms: np.ndarray
    statuses: tuple[str, ...]
    loss: float
    has_parameters: tuple[bool, ...] = ()

    @property
    def depth(self) -> int:
        """Number of probed layers."""
        return len(self.layer_names)

    @property
    def total_measured(self) -> float:
        """‖∂L/∂(first input)‖ / ‖∂L/∂h_L‖: what the whole stack did to the gradient (product of factors)."""
        with np.errstate(all="ignore"):
            return float(self.input_grad_norm / self.activation_grad_norms[-1])

    @property
    def total_predicted(self) -> float:
        """The product of the predicted per-layer factors."""
        with np.errstate(all="ignore"):
            return float(np.prod(self.predicted_factors))

    @property
    def typical_factor(self) -> float:
        """The geometric mean of the measured factors: what one layer does, on average."""
        with np.errstate(all="ignore"):
            return float(self.total_measured ** (1.0 / self.depth))

    @property
    def predicted_grad_norms(self) -> np.ndarray:
        """‖∂L/∂h_l‖ predicted from the last layer's gradient times the predicted factors above l."""
        with np.errstate(all="ignore"):
            above = np.cumprod(self.predicted_factors[:0:-1])[::-1]  # product over layers l+1..L
            return self.activation_grad_norms[-1] * np.append(above, 1.0)

    def summary(self) -> str:
        """Three lines a learner reads: first-layer gradient, per-layer factor, total over depth."""
        slope = _geometric_mean(self.activation_slopes)
        gain = _geometric_mean(self.weight_gains)
        return (
            f"Gradient at the first layer's output: {format_magnitude(self.relative_grad_norms[0])}"
            f" of the last layer's ({self.statuses[0]})\n"
            f"Each layer multiplies by ~{format_magnitude(self.typical_factor)} "
            f"(predicted f'(z) × gain(W) = {_predicted(slope)} × {_predicted(gain)}"
            f" = {_predicted(slope * gain)})\n"
            f"Through {self.depth} layer{'s' if self.depth > 1 else ''} (last output → input): "
            f"measured ×{format_magnitude(self.total_measured)}, "
            f"predicted {_predicted(self.total_predicted, '×')}"
        )

    def table(self) -> str:
        """A readable per-layer table, first layer at the top."""
        header = "   layer |    |dL/dh| |    |dL/dW| |   factor | predicted | status"
        lines = [header]
        for i in range(self.depth):
            lines.append(
                f"{self.layer_names[i]:>8} | {_sci(self.activation_grad_norms[i])} | "
                f"{_sci(self.weight_grad_norms[i], missing=self._weight_missing(i))} | "
                f"{_fixed(self.measured_factors[i])} | "
                f"{_fixed(self.predicted_factors[i], 9, missing='n/a')} | {self.statuses[i]}"
            )
        lines.append(
            f"total over {self.depth} layers: measured {format_magnitude(self.total_measured)}, "
            f"predicted {_predicted(self.total_predicted)}"
        )
        return "\n".join(lines)

    def _weight_missing(self, index: int) -> str:
        """How a nan |dL/dW| prints: 'n/a' for a layer without parameters, else 'nan'."""
        return "n/a" if self.has_parameters and not self.has_parameters[index] else "nan"


def _predicted(value: float, prefix: str = "") -> str:
    """A prediction for printing: 'n/a' when it is undefined (nan), never 'exploded'."""
    return "n/a" if math.isnan(value) else prefix + format_magnitude(value)


def _geometric_mean(values: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        return float(np.exp(np.mean(np.log(values))))


def _sci(value: float, width: int = 10, missing: str = "nan") -> str:
    return (
        f"{value:>{width}.2e}"
        if math.isfinite(value)
        else f"{'inf' if value > 0 else missing:>{width}}"
    )


def _fixed(value: float, width: int = 8, missing: str = "-") -> str:
    return (
        f"{value:>{width}.3f}"
        if math.isfinite(value)
        else f"{missing if math.isnan(value) else 'inf':>{width}}"
    )


def _norm(tensor: torch.Tensor | None) -> float:
    if tensor is None:
        return 0.0
    return float(torch.linalg.vector_norm(tensor.detach().double()))


def _slope_and_gain(layer: nn.Module, pre_activation: torch.Tensor | None) -> tuple[float, float]:
    """rms f'(z) over the batch and std(W)·√fan_in, or nan when the layer is not linear→activation."""
    linear = getattr(layer, "linear", None)
    activation = getattr(layer, "activation", None)
    name = activation_name(activation)
    if pre_activation is None or not isinstance(linear, nn.Linear) or name is None:
        return math.nan, math.nan
    weight = linear.weight.detach().double()
    gain = float(weight.std() * math.sqrt(weight.shape[1]))
    if not bool(torch.isfinite(pre_activation).all()):
        return math.nan, gain  # the forward pass overflowed: f'(z) is meaningless
    slope = activation_derivative(name, pre_activation.detach().double())
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
    if layers is None:
        if not hasattr(model, "layers"):
            raise ValueError("layers must be given for a model without a `.layers` attribute")
        layers = list(model.layers)
    layers = list(layers)
    if not layers:
        raise ValueError("layers must contain at least one module")
    names = {id(module): name for name, module in model.named_modules()}
    count = len(layers)
    # Index -1 is the first probed layer's input; 0..count-1 are the probed layers' outputs.
    grads: dict[int, torch.Tensor | None] = {}
    pre_activations: dict[int, torch.Tensor] = {}
    forward_handles, gradient_handles = [], []
    forward_handles.append(
        layers[0].register_forward_pre_hook(_catch_input(grads, gradient_handles))
    )
    for index, layer in enumerate(layers):
        forward_handles.append(layer.register_forward_hook(_catch(grads, gradient_handles, index)))
        if isinstance(getattr(layer, "linear", None), nn.Linear):
            forward_handles.append(
                layer.linear.register_forward_hook(_store(pre_activations, index))
            )
    weights = [_own_parameters(layer) for layer in layers]
    flat_weights = [w for group in weights for w in group]
    try:
        x = x.detach().clone().requires_grad_(True)
        output = model(x)
        for handle in forward_handles:
            handle.remove()
        if len(grads) != count + 1:
            raise ValueError("every module in layers must run in the model's forward pass")
        if loss_fn is None:
            loss_fn = F.cross_entropy
        if y is None:
            generator = torch.Generator().manual_seed(seed)
            y = torch.randint(0, output.shape[-1], (output.shape[0],), generator=generator)
        loss = loss_fn(output, y)
        # Asking for ∂L/∂x runs every node between the loss and the input, so each hook fires.
        _, *weight_grads = torch.autograd.grad(loss, [x, *flat_weights], allow_unused=True)
    finally:
        for handle in forward_handles + gradient_handles:
            handle.remove()

    activation_norms = np.array([_norm(grads[i]) for i in range(count)])
    input_norm = _norm(grads[-1])
    grad_norms = iter(_norm(g) for g in weight_grads)
    weight_norms = np.array(
        [math.hypot(*(next(grad_norms) for _ in group)) if group else math.nan for group in weights]
    )
    below = np.concatenate([[input_norm], activation_norms[:-1]])
    slopes, gains = zip(
        *(_slope_and_gain(layer, pre_activations.get(i)) for i, layer in enumerate(layers)),
        strict=True,
    )
    with np.errstate(all="ignore"):
        measured = below / activation_norms
        relative = activation_norms / activation_norms[-1]
        predicted = np.array(slopes) * np.array(gains)
    if activation_norms[-1] == 0:
        relative = np.where(activation_norms == 0, 0.0, np.inf)
    return GradientProbe(
        layer_names=tuple(names.get(id(layer), f"layer{i}") for i, layer in enumerate(layers)),
        activation_grad_norms=activation_norms,
        input_grad_norm=input_norm,
        weight_grad_norms=weight_norms,
        measured_factors=measured,
        activation_slopes=np.array(slopes),
        weight_gains=np.array(gains),
        predicted_factors=predicted,
        relative_grad_norms=relative,
        statuses=tuple(classify_gradient(r) for r in relative),
        loss=float(loss.detach()),
        has_parameters=tuple(bool(group) for group in weights),
    )


def _own_parameters(layer: nn.Module) -> list[torch.Tensor]:
    """W in the per-layer formula: `.linear.weight` of a gradlab block, else every parameter."""
    linear = getattr(layer, "linear", None)
    if isinstance(linear, nn.Linear):
        return [linear.weight]
    return [p for p in layer.parameters() if p.requires_grad]


def _catch_gradient(grads: dict, handles: list, index: int, tensor: torch.Tensor) -> None:
    """Store ∂L/∂tensor in grads[index] during backward, as the tensor is now (in-place safe)."""
    output_nr = tensor.output_nr  # read now: an in-place op later changes it

    def hook(grad_outputs: tuple) -> None:
        grads[index] = grad_outputs[output_nr]

    grads.setdefault(index, None)
    if tensor.requires_grad:
        handles.append(register_gradient_hook(tensor, hook))


def _catch_input(grads: dict, handles: list):
    def pre_hook(module: nn.Module, inputs: tuple) -> None:
        _catch_gradient(grads, handles, -1, inputs[0])

    return pre_hook


def _catch(grads: dict, handles: list, index: int):
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
