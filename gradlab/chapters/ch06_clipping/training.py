"""The chapter's training runs on the adding problem: one run under a clipping threshold, the sweep
over thresholds and seeds, and the RNN-vs-LSTM comparison. Used in notebooks/06_clipping.

A run is the loop the notebook shows (forward, MSE loss, zero_grad, backward, clip the global
gradient norm, step) with the batches drawn from a seeded generator. It records the loss and the
pre-clip gradient norm of every step and stops at the first non-finite loss; the held-out MSE is
measured on TEST_SEQUENCES fresh sequences.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gradlab.chapters.ch06_clipping.models import make_model
from gradlab.measure.divergence import single_thread
from gradlab.training.sequence_tasks import BASELINE_MSE, adding_problem

THRESHOLDS: tuple[float | None, ...] = (None, 10.0, 1.0, 0.1, 0.01)  # None: no clipping
TEST_SEQUENCES = 1000
TEST_SEED = 12345
LATE = 100  # conclusions() judges an unstable run by its mean loss over the last 100 steps
LEARNED = 0.5 * BASELINE_MSE  # held-out MSE below half the baseline: the run learnt the task


@dataclass(frozen=True)
class RunConfig:
    """One training run's settings (the sweep's defaults)."""

    kind: str = "rnn"
    length: int = 10  # T, steps per sequence
    hidden_size: int = 32
    batch_size: int = 64
    steps: int = 800
    lr: float = 0.25
    optimizer: str = "sgd"  # or "adam"
    recurrent_scale: float | None = 1.0  # W_hh = s · Q for the RNN (None: PyTorch's init)


@dataclass(frozen=True)
class RunRecord:
    """What one run recorded."""

    threshold: float | None  # max_norm given to clip_grad_norm_, None: no clipping
    seed: int
    losses: np.ndarray  # training loss per step (the last one non-finite if it diverged)
    grad_norms: np.ndarray  # pre-clip global gradient norm per step
    test_mse: float  # held-out MSE after training (nan if it diverged)

    @property
    def diverged(self) -> bool:
        """True if the loss became inf or nan."""
        return not bool(np.all(np.isfinite(self.losses)))

    @property
    def outcome(self) -> str:
        """'diverged', 'worse than the baseline', 'learned' (< half the baseline) or 'barely'."""
        if self.diverged or not math.isfinite(self.test_mse):
            return "diverged"
        if self.test_mse > BASELINE_MSE:
            return "worse than the baseline"
        return "learned" if self.test_mse < LEARNED else "barely"

    @property
    def clipped_fraction(self) -> float:
        """Fraction of steps on which clipping fired (norm above the threshold)."""
        if self.threshold is None:
            return 0.0
        return float(np.mean(self.grad_norms > self.threshold))


def make_optimizer(model: nn.Module, config: RunConfig) -> torch.optim.Optimizer:
    """Plain SGD (the step is exactly lr × gradient) or Adam, at config.lr."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr)
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr)
    raise ValueError(f"optimizer must be 'sgd' or 'adam'; got {config.optimizer!r}")


def batch_generator(seed: int) -> torch.Generator:
    """The generator a run draws its batches from (seed 1000 + seed, apart from the model's)."""
    return torch.Generator().manual_seed(1000 + seed)


def held_out_mse(model: nn.Module, length: int) -> float:
    """MSE on TEST_SEQUENCES fresh sequences (the same ones for every run of that length)."""
    x, y = adding_problem(
        TEST_SEQUENCES, length, generator=torch.Generator().manual_seed(TEST_SEED)
    )
    with torch.no_grad():
        return float(nn.functional.mse_loss(model(x), y))


def train(
    threshold: float | None, *, seed: int = 0, config: RunConfig = RunConfig()
) -> tuple[nn.Module, RunRecord]:
    """Train one model on the adding problem, clipping the global norm at `threshold`.

    Runs on one thread: the same rounding on any thread count, and for a model this small a
    second thread only adds waiting (several times slower on a busy machine).
    """
    if threshold is not None and not threshold > 0:
        raise ValueError(f"threshold must be None or a number > 0; got {threshold!r}")
    with single_thread():
        return _train(threshold, seed, config)


def _train(threshold: float | None, seed: int, config: RunConfig) -> tuple[nn.Module, RunRecord]:
    scale = config.recurrent_scale if config.kind == "rnn" else None
    model = make_model(
        config.kind, hidden_size=config.hidden_size, seed=seed, recurrent_scale=scale
    )
    optimizer = make_optimizer(model, config)
    batches = batch_generator(seed)
    losses, norms = [], []
    for _ in range(config.steps):
        x, y = adding_problem(config.batch_size, config.length, generator=batches)
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        if threshold is None:
            norm = torch.nn.utils.get_total_norm(grads)
        else:
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=threshold)
        losses.append(loss.item())
        norms.append(norm.item())
        if not math.isfinite(losses[-1]):
            break
        optimizer.step()
    record = RunRecord(
        threshold=threshold,
        seed=seed,
        losses=np.array(losses),
        grad_norms=np.array(norms),
        test_mse=float("nan")
        if not math.isfinite(losses[-1])
        else held_out_mse(model, config.length),
    )
    return model, record


@dataclass(frozen=True)
class Sweep:
    """Runs keyed by (threshold, seed), and how long the sweep took."""

    runs: dict[tuple[float | None, int], RunRecord]
    thresholds: tuple[float | None, ...]
    seeds: tuple[int, ...]
    seconds: float

    def outcomes(self, threshold: float | None) -> list[str]:
        """The outcome of every seed at one threshold."""
        return [self.runs[threshold, seed].outcome for seed in self.seeds]

    def table(self) -> str:
        """One line per threshold: the outcome in every seed and the range of held-out MSEs."""
        lines = [f"max_norm | outcome in {len(self.seeds)} seeds | held-out MSE (baseline 0.167)"]
        for threshold in self.thresholds:
            outcomes = sorted(set(self.outcomes(threshold)))
            mses = [self.runs[threshold, seed].test_mse for seed in self.seeds]
            finite = [m for m in mses if math.isfinite(m)]
            spread = f"{min(finite):.2g} to {max(finite):.2g}" if finite else "—"
            name = "none" if threshold is None else f"{threshold:g}"
            lines.append(f"{name:>8} | {' / '.join(outcomes):<26} | {spread}")
        return "\n".join(lines)


def sweep(
    thresholds: tuple[float | None, ...] = THRESHOLDS,
    seeds: tuple[int, ...] = (0, 1),
    *,
    config: RunConfig = RunConfig(),
) -> Sweep:
    """Train every (threshold, seed) pair and time the whole sweep."""
    start = time.perf_counter()
    runs = {
        (threshold, seed): train(threshold, seed=seed, config=config)[1]
        for threshold in thresholds
        for seed in seeds
    }
    return Sweep(runs, tuple(thresholds), tuple(seeds), time.perf_counter() - start)


# RNN vs LSTM: the adding problem over 30 steps, Adam, both clipped at 1.0, PyTorch's default init.
KIND_COMPARISON = RunConfig(length=30, optimizer="adam", lr=0.01, steps=600, recurrent_scale=None)


def compare_kinds(
    seeds: tuple[int, ...] = (0, 1), *, config: RunConfig = KIND_COMPARISON, threshold: float = 1.0
) -> dict[str, list[tuple[nn.Module, RunRecord]]]:
    """Train an nn.RNN and an nn.LSTM of the same hidden size on the same batches, per seed."""
    return {
        kind: [
            train(threshold, seed=seed, config=RunConfig(**{**config.__dict__, "kind": kind}))
            for seed in seeds
        ]
        for kind in ("rnn", "lstm")
    }


def conclusions(sweep: Sweep, *, early: int = 30) -> str:
    """What the sweep shows, in words that hold on any machine (categories, not digits)."""
    count = len(sweep.seeds)
    every = "in every seed" if count > 1 else "in the one seed"
    lines = []
    for threshold in sweep.thresholds:
        records = [sweep.runs[threshold, seed] for seed in sweep.seeds]
        name = "no clipping" if threshold is None else f"max_norm = {threshold:g}"
        if all(r.diverged for r in records):
            latest = max(len(r.losses) for r in records)
            when = f", within the first {early} steps" if latest <= early else ""
            lines.append(f"{name}: the loss became inf/nan {every}{when}")
            continue
        if any(r.diverged for r in records):
            lines.append(f"{name}: diverged in {sum(r.diverged for r in records)} of {count} seeds")
            continue
        worst = max(r.test_mse for r in records)
        # a run that bounces between huge losses can end on a low one by chance: judge it by
        # its training loss over the last LATE steps, not by where the last step landed
        late = min(float(np.mean(r.losses[-LATE:])) for r in records)
        if late > 10 * BASELINE_MSE:
            verdict = (
                f"finite, but the training loss over the last {LATE} steps averaged more than "
                "10 times the baseline"
            )
        elif worst < BASELINE_MSE:
            verdict = "finite, and ended below the baseline"
        else:
            lines.append(f"{name}: ended near or above the baseline in some seed")
            continue
        fractions = [r.clipped_fraction for r in records]
        if min(fractions) > 0.95:
            fired = "clipping fired on more than 95% of the steps"
        elif max(fractions) < 0.5:
            fired = "clipping fired on fewer than half of the steps"
        else:
            fired = "clipping fired on some of the steps"
        lines.append(f"{name}: {verdict} {every}; {fired}")
    return "\n".join(lines)


def compare_tight(sweep: Sweep, tight: float = 0.01, reference: float = 1.0) -> str:
    """One line: did the tight threshold end with a higher held-out MSE than the reference?"""
    pairs = [
        (sweep.runs[tight, s].test_mse, sweep.runs[reference, s].test_mse) for s in sweep.seeds
    ]
    higher = sum(a > b for a, b in pairs)
    which = "every seed" if higher == len(pairs) else f"{higher} of {len(pairs)} seeds"
    return (
        f"max_norm = {tight:g} ended with a higher held-out MSE than max_norm = {reference:g} "
        f"in {which}"
    )


def kind_conclusions(
    runs: dict[str, list[tuple[nn.Module, RunRecord]]], highway: dict[str, np.ndarray]
) -> str:
    """RNN vs LSTM in words that hold on any machine: who learned, and how much gradient reached
    the first step after training (`highway[kind]`: per seed, the fraction reaching h_1)."""
    lines = []
    for kind, name in (("rnn", "nn.RNN"), ("lstm", "nn.LSTM")):
        mses = [record.test_mse for _, record in runs[kind]]
        every = "in every seed" if len(mses) > 1 else "in the one seed"
        if max(mses) < 0.05 * BASELINE_MSE:
            verdict = "held-out MSE below 5% of the baseline"
        elif min(mses) > 0.5 * BASELINE_MSE:
            verdict = "held-out MSE above half the baseline (it barely learned)"
        else:
            verdict = "held-out MSE between 5% and 50% of the baseline in some seed"
        reach = highway[kind]
        if min(reach) > 0.02:
            flow = "more than 2% of the last step's gradient reaches the first step"
        elif max(reach) < 0.02:
            flow = "less than 2% of the last step's gradient reaches the first step"
        else:
            flow = "the gradient reaching the first step is on both sides of 2%"
        lines.append(f"{name}: {verdict} {every}; after training {flow}")
    return "\n".join(lines)
