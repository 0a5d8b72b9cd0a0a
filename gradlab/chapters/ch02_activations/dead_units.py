"""Never-positive units: hidden units whose pre-activation is ≤ 0 for every input of a batch.

Used in notebooks/02_activations. For a ReLU such a unit is *dead*: it outputs 0 and passes no
gradient to its weights, so gradient descent cannot move it. Leaky ReLU, GELU and SiLU units that
are never positive still pass a (small) gradient, so for them the count means "switched off over
this batch", not dead. The experiments here switch units off the two ways the chapter shows — a
large negative bias and a few steps at a too-high learning rate — then keep training sanely and
measure again, over several seeds: one run is a coin flip on another CPU's rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gradlab.models.mlp import make_mlp
from gradlab.training.data import Split, load_digits_split
from gradlab.training.loop import train_classifier

RECOVERY_ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu", "gelu", "silu")
SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
STAGES: tuple[str, ...] = ("start", "after_kill", "after_recovery")


@dataclass(frozen=True)
class DeadUnitReport:
    """Fraction of never-positive units per layer (index 0 = first hidden layer) and overall.

    For ReLU these units are dead (zero gradient); the name dead_fraction is kept for that case.
    """

    layer_names: tuple[str, ...]
    units: tuple[int, ...]
    dead_fractions: np.ndarray
    # per layer, a boolean array: True for each unit that is never positive (empty if not kept)
    never_positive: tuple[np.ndarray, ...] = ()

    @property
    def dead_fraction(self) -> float:
        """Dead units over all hidden units."""
        return float(np.dot(self.dead_fractions, self.units) / sum(self.units))

    def describe(self) -> str:
        """e.g. '55% never positive (layers: 17%, 55%, 92%)'."""
        layers = ", ".join(f"{100 * f:.0f}%" for f in self.dead_fractions)
        return f"{100 * self.dead_fraction:.0f}% never positive (layers: {layers})"


def measure_dead_units(
    model: nn.Module, x: torch.Tensor, *, layers: Sequence[nn.Module] | None = None
) -> DeadUnitReport:
    """Run `x` through the model and count, per layer, units whose pre-activation is never > 0.

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
        never_positive=tuple((~alive[i]).numpy() for i in range(len(linears))),
    )


@torch.no_grad()
def shift_biases_(model: nn.Module, shift: float) -> nn.Module:
    """Add `shift` to every hidden layer's bias, in place (a negative shift kills ReLUs)."""
    for layer in model.layers:
        layer.linear.bias.add_(shift)
    return model


@dataclass(frozen=True)
class DeadUnitExperiment:
    """Never-positive units at the start, after the kill, and after sane training; accuracy."""

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


@dataclass(frozen=True)
class RecoveryStudy:
    """One kill-and-recover experiment per activation and seed (same kill for all).

    experiments[activation][i] is the run with seeds[i]. Summaries are over seeds: a single run's
    accuracy after a hard kill can move by tens of points with the CPU's rounding, the spread over
    seeds is what a learner on any machine sees.
    """

    seeds: tuple[int, ...]
    experiments: dict[str, tuple[DeadUnitExperiment, ...]]

    def fractions(self, activation: str, stage: str, layer: int | None = None) -> np.ndarray:
        """Never-positive fraction per seed at `stage` (overall, or of one layer)."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}; got {stage!r}")
        reports = [getattr(e, stage) for e in self.experiments[activation]]
        if layer is None:
            return np.array([report.dead_fraction for report in reports])
        return np.array([report.dead_fractions[layer] for report in reports])

    def test_accuracies(self, activation: str) -> np.ndarray:
        """Test accuracy per seed."""
        return np.array([e.test_accuracy for e in self.experiments[activation]])

    def first_layer_stayed_off(self, activation: str) -> bool:
        """True when, in every seed, each first-layer unit never positive after the kill still is
        after recovery (for ReLU: no dead first-layer unit came back)."""
        return all(
            bool(np.all(e.after_recovery.never_positive[0][e.after_kill.never_positive[0]]))
            for e in self.experiments[activation]
        )

    def median_accuracy_verdict(
        self, activation: str, *, above: float = 0.8, below: float = 0.5
    ) -> str:
        """'median above 80%', 'median below 50%', or the median itself when in between.

        The median over seeds, not each run: after a hard kill a single run's accuracy can move
        by tens of points with the CPU's rounding, the median much less.
        """
        median = float(np.median(self.test_accuracies(activation)))
        if median > above:
            return f"median above {above:.0%}"
        if median < below:
            return f"median below {below:.0%}"
        return f"median between {below:.0%} and {above:.0%}"

    def separates(self, winners: Sequence[str], losers: Sequence[str]) -> bool:
        """True when every run of every `winners` activation beats every run of every `losers`."""
        best_loser = max(self.test_accuracies(name).max() for name in losers)
        worst_winner = min(self.test_accuracies(name).min() for name in winners)
        return bool(worst_winner > best_loser)

    def table(self) -> str:
        """Per activation: median and range over seeds of each stage and of test accuracy."""

        def spread(values: np.ndarray) -> str:
            low, mid, high = np.quantile(values, [0, 0.5, 1])
            return f"{mid:.0%} ({low:.0%}–{high:.0%})"

        lines = [
            f"median (lowest–highest) over {len(self.seeds)} seeds",
            "activation | never positive after kill | after recovery  | test accuracy",
        ]
        for name in self.experiments:
            lines.append(
                f"{name:>10} | {spread(self.fractions(name, 'after_kill')):>24} | "
                f"{spread(self.fractions(name, 'after_recovery')):>15} | "
                f"{spread(self.test_accuracies(name))}"
            )
        return "\n".join(lines)


def study_dead_unit_recovery(
    activations: Sequence[str] = RECOVERY_ACTIVATIONS,
    *,
    seeds: Sequence[int] = SEEDS,
    bias_shift: float = 0.0,
    kill_lr: float | None = None,
    recover_steps: int = 300,
    data: Split | None = None,
) -> RecoveryStudy:
    """compare_dead_unit_recovery for each seed (the network's init and minibatch order)."""
    seeds = tuple(int(seed) for seed in seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed; got none")
    data = load_digits_split(seed=0) if data is None else data
    runs = [
        compare_dead_unit_recovery(
            activations,
            bias_shift=bias_shift,
            kill_lr=kill_lr,
            recover_steps=recover_steps,
            seed=seed,
            data=data,
        )
        for seed in seeds
    ]
    return RecoveryStudy(
        seeds, {name: tuple(run[i] for run in runs) for i, name in enumerate(activations)}
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
