"""The same MLP trained on digits with different activations: loss curves and accuracies.

Used in notebooks/02_activations (the seed's "compare activations on MNIST" exercise, done on
scikit-learn's digits, which ship offline). Everything but the activation is shared: depth,
width, init, seed, minibatch order, optimizer and learning rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gradlab.activations import check_activation
from gradlab.data import Split, load_digits_split
from gradlab.models import make_mlp
from gradlab.training import TrainingRecord, train_classifier

COMPARED_ACTIVATIONS: tuple[str, ...] = ("sigmoid", "tanh", "relu", "leaky_relu")
FIRST_LAYER_WEIGHT = "layers.0.linear.weight"


@dataclass(frozen=True)
class TrainingComparison:
    """One TrainingRecord per activation, all from the same settings."""

    depth: int
    width: int
    init: str
    steps: int
    lr: float
    records: dict[str, TrainingRecord]

    def final_loss(self, activation: str, last: int = 20) -> float:
        """Mean training loss over the last `last` steps (smooths minibatch noise)."""
        return float(np.mean(self.records[activation].losses[-last:]))

    def first_layer_grad_norm(self, activation: str) -> float:
        """Median ‖∂L/∂W_1‖ over training: how much gradient the first layer received."""
        record = self.records[activation]
        column = record.parameter_names.index(FIRST_LAYER_WEIGHT)
        return float(np.median(record.grad_norms[:, column]))

    def table(self) -> str:
        """One row per activation: final loss, train/test accuracy, first-layer gradient."""
        lines = [
            f"{self.depth} hidden layers x {self.width}, init {self.init}, "
            f"SGD lr {self.lr:g}, {self.steps} steps",
            "activation | final loss | train acc | test acc | median |dL/dW1|",
        ]
        for name, record in self.records.items():
            lines.append(
                f"{name:>10} | {self.final_loss(name):>10.3f} | {record.train_accuracy:>9.1%} | "
                f"{record.test_accuracy:>8.1%} | {self.first_layer_grad_norm(name):>15.1e}"
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
    return TrainingComparison(depth, width, init, steps, float(lr), records)
