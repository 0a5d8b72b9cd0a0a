"""The same MLP trained on digits with different activations: loss curves and accuracies.

Used in notebooks/02_activations (the seed's "compare activations on MNIST" exercise, done on
scikit-learn's digits, which ship offline). Everything but the activation is shared: depth,
width, init, seed, minibatch order, optimizer and learning rate. A TrainingStudy repeats the
comparison over several seeds, so the chapter states what holds in every seed, not one run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gradlab.formatting import format_number
from gradlab.models.activations import check_activation
from gradlab.models.mlp import make_mlp
from gradlab.training.data import Split, load_digits_split
from gradlab.training.loop import TrainingRecord, train_classifier

COMPARED_ACTIVATIONS: tuple[str, ...] = ("sigmoid", "tanh", "relu", "leaky_relu")
FIRST_LAYER_WEIGHT = "layers.0.linear.weight"
SEEDS: tuple[int, ...] = (0, 1, 2)


@dataclass(frozen=True)
class TrainingComparison:
    """One TrainingRecord per activation, all from the same settings."""

    depth: int
    width: int
    init: str
    steps: int
    lr: float
    records: dict[str, TrainingRecord]
    seed: int = 0

    def final_loss(self, activation: str, last: int = 20) -> float:
        """Mean training loss over the last `last` steps (smooths minibatch noise)."""
        return float(np.mean(self.records[activation].losses[-last:]))

    def first_layer_grad_norm(self, activation: str) -> float:
        """Median ‖∂L/∂W_1‖ over training: how much gradient the first layer received."""
        record = self.records[activation]
        column = record.parameter_names.index(FIRST_LAYER_WEIGHT)
        return float(np.median(record.grad_norms[:, column]))

    def layer_grad_norms(self, activation: str) -> dict[str, float]:
        """Median ‖∂L/∂W‖ over training for every weight matrix, input layer first, output last."""
        record = self.records[activation]
        return {
            name.removesuffix(".weight").removesuffix(".linear"): float(
                np.median(record.grad_norms[:, column])
            )
            for column, name in enumerate(record.parameter_names)
            if name.endswith("weight")
        }

    def table(self) -> str:
        """One row per activation: final loss, train/test accuracy, first-layer gradient."""
        lines = [
            f"{self.depth} hidden layers x {self.width}, init {self.init}, "
            f"SGD lr {self.lr:g}, {self.steps} steps, seed {self.seed}",
            "activation | final loss | train acc | test acc | median |dL/dW1|",
        ]
        for name, record in self.records.items():
            lines.append(
                f"{name:>10} | {format_number(self.final_loss(name)):>10} | "
                f"{record.train_accuracy:>9.1%} | {record.test_accuracy:>8.1%} | "
                f"{format_number(self.first_layer_grad_norm(name)):>15}"
            )
        return "\n".join(lines)


def compare_activation_training(
    activations: Sequence[str] = COMPARED_ACTIVATIONS,
    *,
    depth: int = 4,
    width: int = 64,
    init: str = "xavier",
    steps: int = 300,
    lr: float = 0.1,
    seed: int = 0,
    data: Split | None = None,
) -> TrainingComparison:
    """Train one freshly built MLP per activation with identical settings (plain SGD)."""
    data = load_digits_split(seed=seed) if data is None else data
    records = {}
    for name in activations:
        model = make_mlp(
            depth,
            width,
            check_activation(name),
            init,
            in_features=data.in_features,
            out_features=data.num_classes,
            seed=seed,
        )
        records[name] = train_classifier(model, data, steps=steps, lr=lr, seed=seed)
    return TrainingComparison(depth, width, init, steps, float(lr), records, seed)


@dataclass(frozen=True)
class TrainingStudy:
    """The same comparison repeated with several seeds (init and minibatch order)."""

    seeds: tuple[int, ...]
    comparisons: tuple[TrainingComparison, ...]

    @property
    def activations(self) -> tuple[str, ...]:
        """The compared activations, in order."""
        return tuple(self.comparisons[0].records)

    def test_accuracies(self, activation: str) -> np.ndarray:
        """Test accuracy per seed."""
        return np.array([c.records[activation].test_accuracy for c in self.comparisons])

    def final_losses(self, activation: str) -> np.ndarray:
        """Mean training loss over the last 20 steps, per seed."""
        return np.array([c.final_loss(activation) for c in self.comparisons])

    def layer_grad_norms(self, activation: str) -> np.ndarray:
        """(seeds, weight matrices): each layer's median ‖∂L/∂W‖ over training, per seed."""
        return np.array([list(c.layer_grad_norms(activation).values()) for c in self.comparisons])

    def layer_names(self) -> tuple[str, ...]:
        """The weight matrices' names, input layer first."""
        return tuple(self.comparisons[0].layer_grad_norms(self.activations[0]))

    def table(self) -> str:
        """Per activation: final loss and test accuracy, lowest–highest over the seeds."""

        def spread(values: np.ndarray, fmt) -> str:
            return f"{fmt(values.min())}–{fmt(values.max())}"

        lines = [
            f"lowest–highest over {len(self.seeds)} seeds",
            "activation |  final loss   | test accuracy",
        ]
        for name in self.activations:
            lines.append(
                f"{name:>10} | {spread(self.final_losses(name), format_number):>13} | "
                f"{spread(self.test_accuracies(name), '{:.1%}'.format)}"
            )
        return "\n".join(lines)

    def layer_table(self) -> str:
        """Median ‖∂L/∂W‖ per layer (median over training steps, then over seeds)."""
        names = self.layer_names()
        lines = [
            "median ‖∂L/∂W‖ during training, per weight matrix (input layer first)",
            "activation | " + " | ".join(f"{name:>8}" for name in names),
        ]
        for activation in self.activations:
            medians = np.median(self.layer_grad_norms(activation), axis=0)
            lines.append(
                f"{activation:>10} | " + " | ".join(f"{format_number(v):>8}" for v in medians)
            )
        return "\n".join(lines)


def study_activation_training(
    activations: Sequence[str] = COMPARED_ACTIVATIONS,
    *,
    seeds: Sequence[int] = SEEDS,
    depth: int = 4,
    data: Split | None = None,
    **settings,
) -> TrainingStudy:
    """compare_activation_training once per seed; `settings` go to it unchanged."""
    seeds = tuple(int(seed) for seed in seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed; got none")
    data = load_digits_split(seed=0) if data is None else data
    return TrainingStudy(
        seeds,
        tuple(
            compare_activation_training(activations, depth=depth, seed=seed, data=data, **settings)
            for seed in seeds
        ),
    )
