"""∂L/∂h_t for every step of an nn.RNN and an nn.LSTM of the same size: is there a gradient highway?

Used in notebooks/06_clipping. Like gradlab.measure.rnn (Chapter 3) the recurrent module is called
one time step at a time, so every hidden state h_t is a tensor of the graph and autograd returns the
total gradient reaching it through all later steps. Here the loss is the adding problem's real MSE
at the last step, and each norm is divided by ‖∂L/∂h_T‖ (the last step's is 1). An LSTM's hidden
state is h_t = o_t ⊙ tanh(c_t); the cell state c_t = f_t ⊙ c_(t−1) + i_t ⊙ g_t is the highway:
along it the gradient is multiplied by the forget gate f_t per step, with no weight matrix and no
squashing slope in between.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gradlab.chapters.ch06_clipping.models import SequenceRegressor, make_model
from gradlab.training.sequence_tasks import adding_problem


def measure_time_gradients(
    model: SequenceRegressor, x: torch.Tensor, y: torch.Tensor
) -> np.ndarray:
    """‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ for t = 1..T, shape (T,), for the MSE of the model on (x, y)."""
    steps = x.shape[1]
    state = None
    hidden_states = []
    for t in range(steps):
        _, state = model.recurrent(x[:, t : t + 1], state)
        hidden_states.append(state[0] if isinstance(state, tuple) else state)
    loss = nn.functional.mse_loss(model.head(hidden_states[-1][0]), y)
    grads = torch.autograd.grad(loss, hidden_states)
    norms = np.array([float(torch.linalg.vector_norm(g.double())) for g in grads])
    return norms / norms[-1]


@dataclass(frozen=True)
class TimeProfile:
    """‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ per step for one kind of model, over several seeds."""

    label: str
    per_seed: np.ndarray  # (seeds, T)

    @property
    def typical(self) -> np.ndarray:
        """Geometric mean over the seeds, per step (the ratios span many decades)."""
        with np.errstate(divide="ignore"):
            return np.exp(np.mean(np.log(self.per_seed), axis=0))

    @property
    def first_step(self) -> float:
        """The typical fraction of the last step's gradient that reaches h_1."""
        return float(self.typical[0])

    def per_step_factor(self) -> float:
        """Geometric-mean factor per step back: first_step^(1/(T−1))."""
        return self.first_step ** (1.0 / (self.per_seed.shape[1] - 1))


def profile(
    label: str,
    kind: str,
    *,
    steps: int = 50,
    seeds: tuple[int, ...] = (0, 1, 2),
    forget_bias: float | None = None,
    hidden_size: int = 32,
    batch_size: int = 64,
) -> TimeProfile:
    """Measure freshly initialised models of one kind (each seed its own weights and batch)."""
    rows = []
    for seed in seeds:
        model = make_model(kind, hidden_size=hidden_size, seed=seed, forget_bias=forget_bias)
        x, y = adding_problem(batch_size, steps, generator=torch.Generator().manual_seed(seed))
        rows.append(measure_time_gradients(model, x, y))
    return TimeProfile(label, np.array(rows))


def profile_models(
    label: str, models: list[SequenceRegressor], *, steps: int = 50, batch_size: int = 64
) -> TimeProfile:
    """Measure given (e.g. trained) models, model i on the batch of seed i."""
    rows = []
    for seed, model in enumerate(models):
        x, y = adding_problem(batch_size, steps, generator=torch.Generator().manual_seed(seed))
        rows.append(measure_time_gradients(model, x, y))
    return TimeProfile(label, np.array(rows))
