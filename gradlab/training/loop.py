"""A small training loop that records the loss and every parameter's gradient norm at each step.

Used in notebooks/02_activations (comparing activations on digits) and 03_exploding (a run that
diverges: the first step and parameter where a gradient became non-finite).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gradlab.training.data import Split

OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class TrainingRecord:
    """What happened during training, one entry per step.

    grad_norms: (steps, parameters) ‖∂L/∂θ‖ per parameter, in `parameter_names` order (forward
    order). global_grad_norms: the norm over all parameters. Non-finite values are kept as is.
    weight_norms: (steps, parameters) ‖θ‖ at the start of each step (the weights that produced
    that step's loss), only when train_classifier was asked to record them, else None.
    """

    losses: np.ndarray
    grad_norms: np.ndarray
    global_grad_norms: np.ndarray
    parameter_names: tuple[str, ...]
    train_accuracy: float
    test_accuracy: float
    weight_norms: np.ndarray | None = None

    @property
    def first_nonfinite_step(self) -> int | None:
        """The first step whose loss or any gradient was inf/nan, or None."""
        bad = ~np.isfinite(self.losses) | ~np.isfinite(self.grad_norms).all(axis=1)
        return int(np.argmax(bad)) if bad.any() else None

    @property
    def first_nonfinite_parameter(self) -> str | None:
        """At that step, the first parameter in backward order (output → input) gone non-finite."""
        step = self.first_nonfinite_step
        if step is None:
            return None
        bad = ~np.isfinite(self.grad_norms[step])
        for index in reversed(range(len(bad))):
            if bad[index]:
                return self.parameter_names[index]
        return None  # only the loss was non-finite


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of correctly classified examples (nan outputs count as wrong)."""
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def train_classifier(
    model: nn.Module,
    data: Split,
    *,
    steps: int = 200,
    lr: float = 0.1,
    batch_size: int = 64,
    optimizer: str = "sgd",
    seed: int = 0,
    stop_at_nonfinite: bool = True,
    record_weight_norms: bool = False,
) -> TrainingRecord:
    """Train with cross-entropy on minibatches drawn with `seed`; record loss and gradient norms.

    With stop_at_nonfinite, training stops after the first step whose loss or gradient is
    inf/nan (the record then ends at that step), since every later step would only be nan.
    With record_weight_norms, also record every parameter's norm at the start of each step.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps!r}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite number > 0; got {lr!r}")
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    n = len(data.x_train)
    losses, norms, weight_norms = [], [], []
    for _ in range(steps):
        if record_weight_norms:
            with torch.no_grad():
                weight_norms.append(torch.stack(torch._foreach_norm(params)).tolist())
        index = torch.randint(0, n, (batch_size,), generator=generator)
        loss = F.cross_entropy(model(data.x_train[index]), data.y_train[index])
        opt.zero_grad(set_to_none=False)
        loss.backward()
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        # one fused kernel and one host transfer per step
        step_norms = torch.stack(torch._foreach_norm(grads)).tolist()
        losses.append(float(loss.detach()))
        norms.append(step_norms)
        finite = math.isfinite(losses[-1]) and all(math.isfinite(v) for v in step_norms)
        if stop_at_nonfinite and not finite:
            break
        opt.step()
    grad_norms = np.array(norms, dtype=np.float64)
    with np.errstate(all="ignore"):
        global_norms = np.sqrt((grad_norms**2).sum(axis=1))
    return TrainingRecord(
        losses=np.array(losses),
        grad_norms=grad_norms,
        global_grad_norms=global_norms,
        parameter_names=tuple(name for name, _ in named),
        train_accuracy=accuracy(model, data.x_train, data.y_train),
        test_accuracy=accuracy(model, data.x_test, data.y_test),
        weight_norms=np.array(weight_norms, dtype=np.float64) if record_weight_norms else None,
    )
