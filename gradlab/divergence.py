"""Symptoms of exploding gradients read off a real training record: spikes, NaN, oscillation,
weight growth.

Used in notebooks/03_exploding. gradlab.training records the run (loss, per-parameter gradient
norms, optionally weight norms); this module only reads those numbers and names what they show.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from gradlab.data import Split, load_digits_split
from gradlab.models import make_mlp
from gradlab.training import TrainingRecord, train_classifier

SPIKE_FACTOR = 10.0  # a spike: the loss exceeds 10 × its value at step 0 (≈ ln 10 for 10 classes)
JUMP_THRESHOLD = 0.5  # an oscillation: the loss rises by more than 0.5 nats in one step


def find_loss_spike(losses: Sequence[float], factor: float = SPIKE_FACTOR) -> int | None:
    """The first step whose loss exceeds `factor` × the first step's loss (or is not finite)."""
    losses = np.asarray(losses, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~(losses <= factor * losses[0])  # nan compares False, so it counts as a spike
    return int(np.argmax(bad)) if bad.any() else None


def count_loss_jumps(losses: Sequence[float], threshold: float = JUMP_THRESHOLD) -> int:
    """How many times the loss rose by more than `threshold` from one step to the next."""
    losses = np.asarray(losses, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return int(np.sum(np.diff(losses) > threshold))


def total_weight_norms(record: TrainingRecord) -> np.ndarray:
    """‖θ‖ over all parameters at the start of each step (needs record_weight_norms=True)."""
    if record.weight_norms is None:
        raise ValueError("record has no weight norms: train with record_weight_norms=True")
    with np.errstate(all="ignore"):
        return np.sqrt((record.weight_norms**2).sum(axis=1))


@dataclass(frozen=True)
class RunSymptoms:
    """What one run showed: when the loss spiked, when it went non-finite and where, how often
    it jumped up, and how much the weights grew (last step's norm / first step's)."""

    lr: float
    steps_run: int
    spike_step: int | None
    nonfinite_step: int | None
    nonfinite_parameter: str | None
    loss_jumps: int
    weight_growth: float
    last_loss: float


def diagnose_run(record: TrainingRecord, lr: float) -> RunSymptoms:
    """Read the four symptoms off a training record."""
    norms = total_weight_norms(record)
    return RunSymptoms(
        lr=lr,
        steps_run=len(record.losses),
        spike_step=find_loss_spike(record.losses),
        nonfinite_step=record.first_nonfinite_step,
        nonfinite_parameter=record.first_nonfinite_parameter,
        loss_jumps=count_loss_jumps(record.losses),
        weight_growth=float(norms[-1] / norms[0]),
        last_loss=float(record.losses[-1]),
    )


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread inside the block, restoring the previous count on exit.

    A diverging run amplifies rounding differences, and the order in which a multi-threaded
    matmul sums depends on the number of threads: one thread makes the run repeatable on any
    machine with the same CPU kernels (and costs nothing for a network this small).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_at_learning_rates(
    lrs: Sequence[float],
    *,
    depth: int = 4,
    width: int = 64,
    steps: int = 100,
    seed: int = 0,
    data: Split | None = None,
    stop_at_nonfinite: bool = True,
) -> dict[float, TrainingRecord]:
    """Train the same ReLU/Xavier MLP (same seed, same batches) on digits at each learning rate.

    Runs on a single thread (see single_thread) so the step where a run diverges is repeatable.
    """
    data = data if data is not None else load_digits_split(seed=seed)
    records = {}
    for lr in lrs:
        model = make_mlp(depth, width, "relu", "xavier", in_features=data.in_features, seed=seed)
        with single_thread():
            records[lr] = train_classifier(
                model,
                data,
                steps=steps,
                lr=lr,
                seed=seed,
                stop_at_nonfinite=stop_at_nonfinite,
                record_weight_norms=True,
            )
    return records


def _step(value: int | None) -> str:
    return "-" if value is None else str(value)


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}" if 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"


def format_symptoms(rows: Sequence[RunSymptoms]) -> str:
    """A table with one row per run."""
    lines = [
        "   lr | steps | spike at | non-finite at | first non-finite parameter | jumps > 0.5 | "
        "weight growth | last loss"
    ]
    for row in rows:
        lines.append(
            f"{row.lr:>5} | {row.steps_run:>5} | {_step(row.spike_step):>8} | "
            f"{_step(row.nonfinite_step):>13} | {row.nonfinite_parameter or '-':>26} | "
            f"{row.loss_jumps:>11} | {_number(row.weight_growth):>13} | {_number(row.last_loss)}"
        )
    return "\n".join(lines)


def format_training_log(record: TrainingRecord, start: int = 0, stop: int | None = None) -> str:
    """Steps start..stop-1 as log lines: loss, global gradient norm, total weight norm."""
    weights = total_weight_norms(record) if record.weight_norms is not None else None
    stop = len(record.losses) if stop is None else min(stop, len(record.losses))
    lines = []
    for step in range(max(start, 0), stop):
        line = (
            f"step {step:>3}: loss = {_number(record.losses[step]):>9}   "
            f"|grad| = {_number(record.global_grad_norms[step]):>9}"
        )
        if weights is not None:
            line += f"   |weights| = {_number(weights[step])}"
        lines.append(line)
    return "\n".join(lines)


def format_gradients_at(record: TrainingRecord, step: int) -> str:
    """Every parameter's gradient norm at one step, in backward order (nearest the loss first)."""
    if not 0 <= step < len(record.losses):
        raise ValueError(f"step must be in 0..{len(record.losses) - 1}; got {step!r}")
    lines = [f"gradient norms at step {step}, from the loss back to the input:"]
    for index in reversed(range(len(record.parameter_names))):
        value = float(record.grad_norms[step, index])
        mark = "  <- not finite" if not math.isfinite(value) else ""
        lines.append(f"  {record.parameter_names[index]:<24} {_number(value):>9}{mark}")
    return "\n".join(lines)
