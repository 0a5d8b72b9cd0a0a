"""Gradient norms recorded over the early steps of two real setups, for choosing max_norm.

Used in notebooks/06_clipping. "max_norm = 1.0 because the typical norm is well below 1" holds for
some models and losses and not for others: the size of a gradient depends on the model, the loss
and its reduction. So record it. Each setup trains for EARLY_STEPS steps without clipping under a
gradlab GradientMonitor, which keeps the global gradient norm of every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gradlab.chapters.ch06_clipping.models import make_model
from gradlab.chapters.ch06_clipping.training import RunConfig, batch_generator
from gradlab.measure.divergence import single_thread
from gradlab.models.mlp import make_mlp
from gradlab.monitor.gradient_monitor import GradientMonitor
from gradlab.training.data import load_digits_split
from gradlab.training.sequence_tasks import adding_problem

EARLY_STEPS = 200
SETUPS: tuple[str, ...] = ("rnn-adding", "mlp-digits")
LABELS = {
    "rnn-adding": "RNN, adding problem, MSE (lr 0.1)",
    "mlp-digits": "6-layer ReLU MLP, digits, cross-entropy (lr 0.05)",
}
LEARNING_RATES = {"rnn-adding": 0.1, "mlp-digits": 0.05}


@dataclass(frozen=True)
class NormHistory:
    """The recorded global gradient norm of every early step of one setup."""

    setup: str
    lr: float
    norms: np.ndarray  # (EARLY_STEPS,)

    @property
    def label(self) -> str:
        """A readable name of the setup."""
        return LABELS[self.setup]

    @property
    def median(self) -> float:
        """The typical (median) norm."""
        return float(np.median(self.norms))


def record_norms(setup: str, *, steps: int = EARLY_STEPS, seed: int = 0) -> NormHistory:
    """Train one setup for `steps` plain-SGD steps without clipping; return the recorded norms."""
    if setup not in SETUPS:
        raise ValueError(f"setup must be one of {', '.join(SETUPS)}; got {setup!r}")
    lr = LEARNING_RATES[setup]
    generator = batch_generator(seed)
    if setup == "rnn-adding":
        config = RunConfig()
        model = make_model("rnn", seed=seed, recurrent_scale=config.recurrent_scale)
        loss_fn = nn.functional.mse_loss

        def batch() -> tuple[torch.Tensor, torch.Tensor]:
            return adding_problem(config.batch_size, config.length, generator=generator)
    else:
        data = load_digits_split(seed=seed)
        model = make_mlp(depth=6, width=64, activation="relu", init="he", seed=seed)
        loss_fn = nn.functional.cross_entropy

        def batch() -> tuple[torch.Tensor, torch.Tensor]:
            index = torch.randint(0, len(data.x_train), (64,), generator=generator)
            return data.x_train[index], data.y_train[index]

    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    monitor = GradientMonitor(
        model, activations=False, output_grads=False, updates=False, history_size=steps
    )
    with monitor, single_thread():
        for _ in range(steps):
            x, y = batch()
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return NormHistory(setup, lr, monitor.history.get("global_grad_norm")[:, 0])


def compare_setups(histories: list[NormHistory], tight: float = 0.01) -> str:
    """What the recorded norms say about max_norm = 1.0 and about a tight threshold, in words that
    hold on any machine (categories with margins, not the digits of one run)."""
    from gradlab.training.clipping import clipping_effect

    lines = []
    for history in histories:
        typical = "below 1" if history.median < 1 else "above 1"
        share = float(np.mean(history.norms > 1.0))
        if share < 0.25:
            clips = "fewer than a quarter of the steps"
        elif share > 0.5:
            clips = "more than half of the steps"
        else:
            clips = "between a quarter and half of the steps"
        lines.append(f"{history.label}: median norm {typical}; max_norm = 1.0 clips {clips}")
    effect = clipping_effect(histories[0].norms, threshold=tight, lr=histories[0].lr)
    if effect.fraction_clipped == 1 and 10 < 1 / effect.mean_scale < 100:
        lines.append(
            f"max_norm = {tight:g} on the first setup: fires on every step and divides the "
            "learning rate by a few tens (between 10 and 100)"
        )
    else:
        lines.append(f"max_norm = {tight:g} on the first setup: see the numbers above")
    return "\n".join(lines)
