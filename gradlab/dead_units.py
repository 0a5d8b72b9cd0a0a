"""Dead units: hidden units whose pre-activation is never positive over a whole batch.

Used in notebooks/02_activations. For a ReLU such a unit outputs 0 and passes no gradient to its
weights, so gradient descent cannot move it; Leaky ReLU, GELU and SiLU still pass a (small)
gradient. The experiments here kill units the two ways the chapter shows — a large negative bias
and a few steps at a too-high learning rate — then keep training sanely and measure again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gradlab.data import Split, load_digits_split
from gradlab.models import make_mlp
from gradlab.training import train_classifier

RECOVERY_ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu", "gelu", "silu")


@dataclass(frozen=True)
class DeadUnitReport:
    """Fraction of dead units per layer (index 0 = first hidden layer) and overall."""

    layer_names: tuple[str, ...]
    units: tuple[int, ...]
    dead_fractions: np.ndarray

    @property
    def dead_fraction(self) -> float:
        """Dead units over all hidden units."""
        return float(np.dot(self.dead_fractions, self.units) / sum(self.units))

    def describe(self) -> str:
        """e.g. '55% dead (layers: 17%, 55%, 92%)'."""
        layers = ", ".join(f"{100 * f:.0f}%" for f in self.dead_fractions)
        return f"{100 * self.dead_fraction:.0f}% dead (layers: {layers})"


def measure_dead_units(
    model: nn.Module, x: torch.Tensor, *, layers: Sequence[nn.Module] | None = None
) -> DeadUnitReport:
    """Run `x` through the model and count, per layer, units with no positive pre-activation.

    Args:
        model: a model whose `.layers` each have a `.linear` (gradlab's DeepMLP), or pass `layers`.
        x: a batch (n, in_features); a unit is dead when z <= 0 (or nan) for all n examples.
    """
    layers = list(model.layers if layers is None else layers)
    linears = [getattr(layer, "linear", layer) for layer in layers]
    if not linears or not all(isinstance(linear, nn.Linear) for linear in linears):
        raise ValueError("layers must be nn.Linear modules or modules with a `.linear`")
    alive: dict[int, torch.Tensor] = {}

    def store(index: int):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            alive[index] = (output.detach() > 0).flatten(0, -2).any(dim=0)

        return hook

    handles = [linear.register_forward_hook(store(i)) for i, linear in enumerate(linears)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    names = {id(module): name for name, module in model.named_modules()}
    return DeadUnitReport(
        layer_names=tuple(names.get(id(layer), f"layer{i}") for i, layer in enumerate(layers)),
        units=tuple(int(alive[i].numel()) for i in range(len(linears))),
        dead_fractions=np.array([float((~alive[i]).float().mean()) for i in range(len(linears))]),
    )


@torch.no_grad()
def shift_biases_(model: nn.Module, shift: float) -> nn.Module:
    """Add `shift` to every hidden layer's bias, in place (a negative shift kills ReLUs)."""
    for layer in model.layers:
        layer.linear.bias.add_(shift)
    return model


@dataclass(frozen=True)
class DeadUnitExperiment:
    """Dead units at the start, after the kill, and after sane training; accuracy at the end."""

    activation: str
    start: DeadUnitReport
    after_kill: DeadUnitReport
    after_recovery: DeadUnitReport
    test_accuracy: float


def run_dead_unit_experiment(
    activation: str,
    *,
    bias_shift: float = 0.0,
    kill_lr: float | None = None,
    kill_steps: int = 10,
    recover_steps: int = 300,
    recover_lr: float = 0.01,
    depth: int = 3,
    width: int = 64,
    seed: int = 0,
    data: Split | None = None,
) -> DeadUnitExperiment:
    """Kill units in a digits MLP, then train sanely (Adam, recover_lr) and measure again.

    The kill is a bias shift (applied at init) and/or `kill_steps` Adam steps at `kill_lr`.
    Dead fractions are measured over the whole training set.
    """
    data = load_digits_split(seed=seed) if data is None else data
    model = make_mlp(depth, width, activation, "he", in_features=data.in_features, seed=seed)
    start = measure_dead_units(model, data.x_train)
    shift_biases_(model, bias_shift)
    if kill_lr is not None:
        train_classifier(model, data, steps=kill_steps, lr=kill_lr, optimizer="adam", seed=seed)
    after_kill = measure_dead_units(model, data.x_train)
    record = train_classifier(
        model, data, steps=recover_steps, lr=recover_lr, optimizer="adam", seed=seed + 1
    )
    return DeadUnitExperiment(
        activation=activation,
        start=start,
        after_kill=after_kill,
        after_recovery=measure_dead_units(model, data.x_train),
        test_accuracy=record.test_accuracy,
    )


def compare_dead_unit_recovery(
    activations: Sequence[str] = RECOVERY_ACTIVATIONS,
    *,
    bias_shift: float = 0.0,
    kill_lr: float | None = None,
    recover_steps: int = 300,
    seed: int = 0,
    data: Split | None = None,
) -> tuple[DeadUnitExperiment, ...]:
    """The same experiment (same kill, data and seed) for each activation."""
    data = load_digits_split(seed=seed) if data is None else data
    return tuple(
        run_dead_unit_experiment(
            name,
            bias_shift=bias_shift,
            kill_lr=kill_lr,
            recover_steps=recover_steps,
            seed=seed,
            data=data,
        )
        for name in activations
    )


def format_dead_unit_table(experiments: Sequence[DeadUnitExperiment]) -> str:
    """One row per activation: dead % at start, after the kill, after recovery; test accuracy."""
    lines = ["activation | start | after kill | after recovery | test accuracy"]
    for e in experiments:
        lines.append(
            f"{e.activation:>10} | {100 * e.start.dead_fraction:>4.0f}% | "
            f"{100 * e.after_kill.dead_fraction:>9.0f}% | "
            f"{100 * e.after_recovery.dead_fraction:>13.0f}% | {e.test_accuracy:>12.1%}"
        )
    return "\n".join(lines)


def format_dead_unit_layers(experiments: Sequence[DeadUnitExperiment]) -> str:
    """Per activation, the dead fraction of every layer after the kill and after recovery."""
    return "\n".join(
        f"{e.activation:>10}: after kill {e.after_kill.describe()}\n"
        f"{'':>10}  after recovery {e.after_recovery.describe()}"
        for e in experiments
    )


def measure_dead_fraction_vs_bias(
    shifts: Sequence[float] = (0.0, -1.0, -2.0, -3.0, -4.0),
    activation: str = "relu",
    *,
    depth: int = 3,
    width: int = 64,
    seed: int = 0,
    data: Split | None = None,
) -> dict[float, DeadUnitReport]:
    """Dead units in a freshly initialised digits MLP whose biases are shifted by each amount."""
    data = load_digits_split(seed=seed) if data is None else data
    reports = {}
    for shift in shifts:
        model = make_mlp(depth, width, activation, "he", in_features=data.in_features, seed=seed)
        reports[float(shift)] = measure_dead_units(shift_biases_(model, shift), data.x_train)
    return reports
