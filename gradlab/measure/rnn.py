"""Gradients through time: ‖∂L/∂h_t‖ for every step of a real nn.RNN unrolled over T steps.

Used in notebooks/03_exploding. Backpropagation through time multiplies by one step's Jacobian
∂h_t/∂h_(t-1) = diag(f'(a_t)) W_h per step, with the *same* W_h every time. With W_h = s · Q (a
scale s times an orthogonal Q, so every singular value and the spectral radius equal s), after
T − t steps the gradient has been scaled by about (s × slope)^(T−t). Two cases sit side by side:

- "linear": one hidden unit, ReLU, W_ih = 1, positive inputs, no bias. Every h_t > 0 so the ReLU
  passes everything through: with recurrent weight w = s, ∂L/∂h_t = s^(T−t) exactly (the
  closed form).
- "tanh": 32 hidden units, W_h = s · Q for a random orthogonal Q, so tanh' ≤ 1 can only shrink
  the closed form further.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gradlab.formatting import format_magnitude
from gradlab.measure.probe import classify_gradient
from gradlab.measure.spectral import make_weights

RNN_CASES: tuple[str, ...] = ("linear", "tanh")
# Small input weights keep tanh near its linear part unless the recurrence itself drives it out.
INPUT_SCALE = 0.1


def make_rnn(case: str, recurrent_scale: float, *, hidden_size: int = 32, seed: int = 0) -> nn.RNN:
    """A one-layer nn.RNN for a case of RNN_CASES with W_h = recurrent_scale · Q (no biases)."""
    if case not in RNN_CASES:
        raise ValueError(f"case must be one of {', '.join(RNN_CASES)}; got {case!r}")
    if not (recurrent_scale > 0 and math.isfinite(recurrent_scale)):
        raise ValueError(f"recurrent_scale must be a finite number > 0; got {recurrent_scale!r}")
    generator = torch.Generator().manual_seed(seed)
    if case == "linear":
        rnn = nn.RNN(1, 1, nonlinearity="relu", bias=False)
        with torch.no_grad():
            rnn.weight_ih_l0.fill_(1.0)
            rnn.weight_hh_l0.fill_(recurrent_scale)
        return rnn
    rnn = nn.RNN(1, hidden_size, nonlinearity="tanh", bias=False)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(INPUT_SCALE * torch.randn(hidden_size, 1, generator=generator))
        rnn.weight_hh_l0.copy_(
            make_weights(1, hidden_size, recurrent_scale, "orthogonal", generator=generator)[0]
        )
    return rnn


def make_inputs(case: str, steps: int, *, seed: int = 0) -> torch.Tensor:
    """Inputs of shape (steps, 1, 1): all ones for 'linear' (keeps h_t > 0), N(0, 1) for 'tanh'."""
    if case == "linear":
        return torch.ones(steps, 1, 1)
    return torch.randn(steps, 1, 1, generator=torch.Generator().manual_seed(seed))


@dataclass(frozen=True)
class TimeGradients:
    """‖∂L/∂h_t‖ for t = 1..T (index t − 1), with the loss L = ⟨v, h_T⟩ and ‖v‖ = 1.

    closed_form[t − 1] = s^(T−t) (s = recurrent_scale): exact for the 'linear' case, an upper
    bound for 'tanh'.
    """

    case: str
    recurrent_scale: float
    grad_norms: np.ndarray
    closed_form: np.ndarray

    @property
    def steps(self) -> int:
        """T, the number of unrolled steps."""
        return len(self.grad_norms)

    @property
    def first_step(self) -> float:
        """‖∂L/∂h_1‖: how much the loss at step T still hears from the first step."""
        return float(self.grad_norms[0])

    @property
    def statuses(self) -> tuple[str, ...]:
        """A status label per step, relative to ‖∂L/∂h_T‖ = 1."""
        return tuple(classify_gradient(float(g)) for g in self.grad_norms)

    @property
    def regime(self) -> str:
        """'vanishing', 'exploding' or 'preserved', from what reaches the first step."""
        first = self.first_step
        if not math.isfinite(first) or first > 1.5:
            return "exploding"
        return "vanishing" if first < 0.5 else "preserved"

    def stepper(self, shown: int = 6) -> str:
        """The last `shown` steps as a chain, e.g. 't=6: 1.000 → t=5: 0.500 → …'."""
        last = [
            f"t={t}: {_value(self.grad_norms[t - 1])}"
            for t in range(self.steps, max(self.steps - shown, 0), -1)
        ]
        if self.steps > shown:
            last.append(f"… t=1: {_value(self.first_step)}")
        return " → ".join(last)

    def summary(self) -> str:
        """Two lines: the chain of gradients and the regime beside the closed form."""
        return (
            f"{self.case} RNN, scale s = {self.recurrent_scale:.2f}, T = {self.steps}: "
            f"{self.stepper()}\n"
            f"gradient reaching the first step: {_value(self.first_step)} "
            f"(closed form s^(T-1): {_value(self.closed_form[0])}) → {self.regime}"
        )


def _value(value: float) -> str:
    value = float(value)
    return (
        f"{value:.4g}" if math.isfinite(value) and 1e-3 <= value < 1e4 else format_magnitude(value)
    )


def measure_time_gradients(rnn: nn.RNN, inputs: torch.Tensor, *, seed: int = 0) -> TimeGradients:
    """Unroll `rnn` one step at a time over inputs (T, batch, features) and take ∂L/∂h_t for all t.

    Each step calls the same nn.RNN module, so h_t is a tensor of the graph and autograd gives the
    total gradient through every later step. Overflow stays inf/nan; it is never raised.
    """
    steps = inputs.shape[0]
    if steps < 1:
        raise ValueError(f"inputs must hold at least one step; got shape {tuple(inputs.shape)}")
    hidden = torch.zeros(1, inputs.shape[1], rnn.hidden_size)
    states = []
    for t in range(steps):
        _, hidden = rnn(inputs[t : t + 1], hidden)
        states.append(hidden)
    direction = torch.randn(hidden.shape, generator=torch.Generator().manual_seed(seed)).abs()
    direction = direction / torch.linalg.vector_norm(direction)  # positive: keeps ReLU h_T > 0
    loss = (states[-1] * direction).sum()
    grads = torch.autograd.grad(loss, states)
    scale = float(torch.linalg.matrix_norm(rnn.weight_hh_l0.detach().cpu().double(), ord=2))
    with np.errstate(all="ignore"):
        closed_form = scale ** np.arange(steps - 1, -1, -1, dtype=np.float64)
    case = "linear" if rnn.nonlinearity == "relu" and rnn.hidden_size == 1 else rnn.nonlinearity
    return TimeGradients(
        case=case,
        recurrent_scale=scale,
        grad_norms=np.array([float(torch.linalg.vector_norm(g.cpu().double())) for g in grads]),
        closed_form=closed_form,
    )


def compute_time_gradients(
    case: str, recurrent_scale: float, steps: int, *, hidden_size: int = 32, seed: int = 0
) -> TimeGradients:
    """Build the case's RNN and inputs (seeded) and measure ‖∂L/∂h_t‖ for t = 1..steps."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1; got {steps!r}")
    rnn = make_rnn(case, recurrent_scale, hidden_size=hidden_size, seed=seed)
    return measure_time_gradients(rnn, make_inputs(case, steps, seed=seed), seed=seed)


def _two_figures(value: float) -> str:
    """Two significant figures: a strongly scaled tanh RNN is chaotic, so its third digit
    depends on the CPU's rounding; zero, inf and nan print as the wording rule says."""
    value = float(value)
    return format_magnitude(float(f"{value:.2g}") if math.isfinite(value) else value)


def format_regimes(scales: tuple[float, ...], steps: int) -> str:
    """A table: for each scale s of W_h, what reaches step 1 after `steps` steps, linear and tanh
    (two significant figures)."""
    lines = [
        f"    s | closed form s^{steps - 1} |  linear nn.RNN | tanh nn.RNN | tanh regime",
    ]
    for scale in scales:
        linear, tanh = (compute_time_gradients(case, scale, steps) for case in RNN_CASES)
        lines.append(
            f"{scale:>5.2f} | {_two_figures(linear.closed_form[0]):>16} | "
            f"{_two_figures(linear.first_step):>14} | {_two_figures(tanh.first_step):>11} | "
            f"{tanh.regime}"
        )
    return "\n".join(lines)
