"""Symptoms of exploding gradients read off a real training record: spikes, NaN, oscillation,
weight growth.

Used in notebooks/03_exploding. gradlab.training.loop records the run (loss, per-parameter gradient
norms, optionally weight norms); this module only reads those numbers and names what they show.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from gradlab.formatting import format_factor, format_number
from gradlab.models.mlp import make_mlp
from gradlab.training.data import Split, load_digits_split
from gradlab.training.loop import TrainingRecord, train_classifier

SPIKE_FACTOR = 10.0  # a spike: the loss exceeds 10 × its value at step 0 (≈ ln 10 for 10 classes)
JUMP_THRESHOLD = 0.5  # an oscillation: the loss rises by more than 0.5 nats in one step
# The chapter's learning rates: calm, oscillating, and one that diverges in every seed within a
# few steps, on any CPU. (Near the edge, at lr = 1.0, whether a run diverges is decided by the last
# bits of rounding: the same seed diverged at step 39 on one machine and not at all on another.)
GRADIENT_WARNING = 1000.0  # the gradient norm the step before non-finite, relative to step 0
LEARNING_RATES: tuple[float, ...] = (0.05, 0.5, 3.0)
SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)


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


def largest_loss_rise(losses: Sequence[float]) -> float:
    """The largest rise of the loss from one step to the next among finite losses (0 if none)."""
    losses = np.asarray(losses, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        rises = np.diff(losses)
    rises = rises[np.isfinite(rises)]
    return float(max(rises.max(), 0.0)) if rises.size else 0.0


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
    spike_step: int | None  # first step with loss > SPIKE_FACTOR × the first step's
    nonfinite_step: int | None  # first step with a non-finite loss or gradient
    nonfinite_parameter: str | None  # at that step, the first non-finite one in backward order
    loss_jumps: int  # steps where the loss rose by more than JUMP_THRESHOLD
    weight_growth: float
    last_loss: float
    seed: int = 0
    nonfinite_in_loss: bool = False  # the loss itself overflowed: then every gradient is nan
    largest_rise: float = 0.0  # the largest one-step rise of the (finite) loss
    grad_growth: float = math.nan  # global gradient norm the step before non-finite / at step 0

    @property
    def first_nonfinite(self) -> str:
        """Where the first non-finite number appeared: 'loss', a parameter name, or '-'."""
        if self.nonfinite_step is None:
            return "-"
        return "loss" if self.nonfinite_in_loss else str(self.nonfinite_parameter)


def measure_symptoms(record: TrainingRecord, lr: float, seed: int = 0) -> RunSymptoms:
    """Read the four symptoms off a training record."""
    norms = total_weight_norms(record)
    step = record.first_nonfinite_step
    grad_growth = math.nan
    if step is not None and step >= 1:
        grad_growth = float(record.global_grad_norms[step - 1] / record.global_grad_norms[0])
    return RunSymptoms(
        lr=lr,
        steps_run=len(record.losses),
        spike_step=find_loss_spike(record.losses),
        nonfinite_step=record.first_nonfinite_step,
        nonfinite_parameter=record.first_nonfinite_parameter,
        loss_jumps=count_loss_jumps(record.losses),
        weight_growth=float(norms[-1] / norms[0]),
        last_loss=float(record.losses[-1]),
        seed=seed,
        nonfinite_in_loss=step is not None and not math.isfinite(record.losses[step]),
        largest_rise=largest_loss_rise(record.losses),
        grad_growth=grad_growth,
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


def train_over_seeds(
    lrs: Sequence[float] = LEARNING_RATES,
    seeds: Sequence[int] = SEEDS,
    *,
    steps: int = 100,
    data: Split | None = None,
) -> dict[float, list[TrainingRecord]]:
    """train_at_learning_rates for each seed: records[lr][i] is the run with seeds[i]."""
    data = data if data is not None else load_digits_split(seed=0)
    records: dict[float, list[TrainingRecord]] = {lr: [] for lr in lrs}
    for seed in seeds:
        for lr, record in train_at_learning_rates(lrs, data=data, steps=steps, seed=seed).items():
            records[lr].append(record)
    return records


def measure_symptoms_over_seeds(
    records: Mapping[float, Sequence[TrainingRecord]], seeds: Sequence[int] = SEEDS
) -> dict[float, list[RunSymptoms]]:
    """measure_symptoms for every run of train_over_seeds."""
    for lr, runs in records.items():
        if len(runs) != len(seeds):
            raise ValueError(f"records[{lr}] holds {len(runs)} runs but {len(seeds)} seeds given")
    return {
        lr: [measure_symptoms(record, lr, seed) for record, seed in zip(runs, seeds, strict=True)]
        for lr, runs in records.items()
    }


def _runs(count: int, total: int) -> str:
    if count == total:
        return f"all {total} runs" if total > 1 else "the run"
    return "no run" if count == 0 else f"{count} of {total} runs"


def summarize_seeds(
    symptoms: Mapping[float, Sequence[RunSymptoms]], *, within: int = 20, warning: int = 2
) -> str:
    """What holds across seeds, one line per learning rate, in words that survive any rounding.

    Counts are stated only as 'all' / 'no' / 'most' (more than half), never as one machine's
    count: a diverging run 'diverged within `within` steps' and 'spiked at least `warning` steps
    before the first non-finite value' only if that holds for every run.
    """
    lines = []
    for lr, rows in symptoms.items():
        total = len(rows)
        diverged = [row for row in rows if row.nonfinite_step is not None]
        jumped = sum(row.loss_jumps > 0 for row in rows)
        if not diverged:
            if jumped == 0:
                what = f"the loss never rose by more than {JUMP_THRESHOLD} in one step"
            elif jumped > total / 2:
                what = f"in most runs the loss jumped up by more than {JUMP_THRESHOLD} in one step"
            else:
                what = f"in some runs the loss jumped up by more than {JUMP_THRESHOLD} in one step"
            lines.append(f"lr = {lr}: {_runs(0, total)} diverged; {what}")
            continue
        line = f"lr = {lr}: {_runs(len(diverged), total)} diverged"
        if len(diverged) == total and all(row.nonfinite_step < within for row in rows):
            line += f", every one within the first {within} steps"
        early = all(
            row.spike_step is not None and row.nonfinite_step - row.spike_step >= warning
            for row in diverged
        )
        if early:
            line += (
                f";\n  in every one the loss spiked (> {SPIKE_FACTOR:g} × its start) at least "
                f"{warning} steps before the first non-finite value"
            )
        if all(row.grad_growth > GRADIENT_WARNING for row in diverged):
            line += (
                f";\n  in every one the gradient norm grew more than {GRADIENT_WARNING:g}-fold "
                "before the first non-finite value"
            )
        lines.append(line)
    return "\n".join(lines)


def _step(value: int | None) -> str:
    return "-" if value is None else str(value)


def format_symptoms(rows: Sequence[RunSymptoms]) -> str:
    """A table with one row per run ('loss' as first non-finite: the forward pass overflowed).

    The last loss is a logged value, so it prints as the training log prints it (format_number:
    'nan', not 'exploded (nan)'); the weight growth is a factor (format_factor).
    """
    lines = [
        "   lr | seed | steps | spike at | non-finite at |     first non-finite | "
        f"jumps > {JUMP_THRESHOLD} | largest rise | weight growth | last loss"
    ]
    for row in rows:
        lines.append(
            f"{row.lr:>5} | {row.seed:>4} | {row.steps_run:>5} | {_step(row.spike_step):>8} | "
            f"{_step(row.nonfinite_step):>13} | {row.first_nonfinite:>20} | "
            f"{row.loss_jumps:>10} | {format_number(row.largest_rise):>12} | "
            f"{format_factor(row.weight_growth):>13} | {format_number(row.last_loss)}"
        )
    return "\n".join(lines)


def format_training_log(record: TrainingRecord, start: int = 0, stop: int | None = None) -> str:
    """Steps start..stop-1 as log lines: loss, global gradient norm, total weight norm."""
    weights = total_weight_norms(record) if record.weight_norms is not None else None
    stop = len(record.losses) if stop is None else min(stop, len(record.losses))
    lines = []
    for step in range(max(start, 0), stop):
        line = (
            f"step {step:>3}: loss = {format_number(record.losses[step]):>9}   "
            f"|grad| = {format_number(record.global_grad_norms[step]):>9}"
        )
        if weights is not None:
            line += f"   |weights| = {format_number(weights[step])}"
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
        lines.append(f"  {record.parameter_names[index]:<24} {format_number(value):>9}{mark}")
    return "\n".join(lines)
