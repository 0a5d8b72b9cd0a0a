"""Learning rate and warmup on digits, gauged by the update-to-data ratio (Chapter 4, section 5).

A six-layer ReLU network (He init) trained with Adam for 150 steps at a too-small, a good and a
too-large learning rate, and the too-large one again with linear warmup then cosine decay (torch's
LinearLR + CosineAnnealingLR joined by SequentialLR). gradlab.GradientMonitor records every
layer's update-to-data ratio ‖ΔW‖/‖W‖ at every step.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

from gradlab.monitor.gradient_monitor import GradientMonitor
from gradlab.training.data import Split
from gradlab.training.loop import accuracy

LEARNING_RATES = {"too small": 3e-4, "good": 3e-3, "too large": 3e-2}
STEPS = 150
WARMUP_STEPS = 50
END_WINDOW = 10  # the end loss is the mean over the last END_WINDOW steps


def make_model(seed: int = 0, depth: int = 6, width: int = 64) -> nn.Sequential:
    """linear1, relu1, …, linear{depth}, relu{depth}, head: He-normal weights, zero biases."""
    generator = torch.Generator().manual_seed(seed)
    layers, fan_in = OrderedDict(), 64
    for layer in range(1, depth + 1):
        layers[f"linear{layer}"] = skip_init(nn.Linear, fan_in, width)
        layers[f"relu{layer}"] = nn.ReLU()
        fan_in = width
    layers["head"] = skip_init(nn.Linear, width, 10)
    model = nn.Sequential(layers)
    with torch.no_grad():
        for name, linear in model.named_children():
            if isinstance(linear, nn.Linear):
                gain = 1.0 if name == "head" else math.sqrt(2.0)
                nn.init.normal_(
                    linear.weight, 0.0, gain / math.sqrt(linear.in_features), generator=generator
                )
                linear.bias.zero_()
    return model


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.SequentialLR:
    """lr rises linearly from lr/warmup_steps to lr over warmup_steps, then follows a cosine to 0."""
    rise = torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=1 / warmup_steps, total_iters=warmup_steps
    )
    fall = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps - warmup_steps)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [rise, fall], milestones=[warmup_steps])


@dataclass(frozen=True)
class LrRun:
    """One training run: loss, lr and every layer's update-to-data ratio per step."""

    label: str
    lr: float  # the peak (or constant) learning rate
    warmup: bool
    losses: np.ndarray  # (steps,)
    lrs: np.ndarray  # (steps,) the lr each step used
    update_ratios: np.ndarray  # (steps, layers) ‖ΔW‖/‖W‖ of each layer's weight
    layers: tuple[str, ...]
    test_accuracy: float

    @property
    def end_loss(self) -> float:
        """Mean training loss over the last END_WINDOW steps."""
        return float(np.mean(self.losses[-END_WINDOW:]))

    def median_ratio(self, step: int) -> float:
        """The median over layers of the update-to-data ratio at `step`."""
        return float(np.nanmedian(self.update_ratios[step]))


def train_with_lr(
    data: Split,
    lr: float,
    *,
    warmup: bool = False,
    label: str = "",
    steps: int = STEPS,
    warmup_steps: int = WARMUP_STEPS,
    seed: int = 0,
) -> LrRun:
    """Adam on batches of 64 digits for `steps` steps, under GradientMonitor (exact ratios)."""
    model = make_model(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = warmup_cosine(optimizer, warmup_steps, steps) if warmup else None
    generator = torch.Generator().manual_seed(seed)
    losses, lrs = [], []
    with GradientMonitor(model, update_sample=None, activations=False) as monitor:
        for _ in range(steps):
            index = torch.randint(0, len(data.x_train), (64,), generator=generator)
            loss = F.cross_entropy(model(data.x_train[index]), data.y_train[index])
            optimizer.zero_grad()
            loss.backward()
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            losses.append(loss.item())
    arrays = monitor.to_numpy()
    return LrRun(
        label=label or f"lr = {lr:g}" + (" with warmup" if warmup else ""),
        lr=lr,
        warmup=warmup,
        losses=np.array(losses),
        lrs=np.array(lrs),
        update_ratios=arrays["update_ratio"],
        layers=tuple(monitor.layers),
        test_accuracy=accuracy(model, data.x_test, data.y_test),
    )


def compare_learning_rates(data: Split, seed: int = 0) -> list[LrRun]:
    """The three constant learning rates, then the too-large one with warmup + cosine decay."""
    runs = [train_with_lr(data, lr, label=name, seed=seed) for name, lr in LEARNING_RATES.items()]
    too_large = LEARNING_RATES["too large"]
    runs.append(train_with_lr(data, too_large, warmup=True, label="too large + warmup", seed=seed))
    return runs


def format_runs(runs: list[LrRun], early: int = 0) -> str:
    """One line per run: lr, the median update ratio at step `early`, end loss, test accuracy."""
    lines = [
        f"{'run':<20} {'lr':>7} {'update ratio, step ' + str(early):>22} {'end loss':>9} {'test acc':>9}"
    ]
    for run in runs:
        lines.append(
            f"{run.label:<20} {run.lr:>7g} {run.median_ratio(early):>22.1e} "
            f"{run.end_loss:>9.2f} {run.test_accuracy:>9.0%}"
        )
    return "\n".join(lines)
