"""A monitored training run of one diagnosis scenario: the numbers behind the live dashboard.

compute_dashboard() builds a scenario's broken (or fixed) model, trains it for real with plain SGD
on minibatches of the scikit-learn digits under a GradientMonitor, and returns what the dashboard
draws: the loss, per-layer gradient norms and update-to-data ratios over steps, per-layer gradient
histograms of the last step, and the monitor's report. Pure and seeded: the same arguments give
the same numbers. Used in notebooks/07_monitoring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gradlab.chapters.ch07_monitoring.scenarios import build, get_scenario
from gradlab.diagnosis.report import Report
from gradlab.formatting import format_number
from gradlab.monitor.gradient_monitor import GradientMonitor
from gradlab.training.data import Split, load_digits_split

BATCH_SIZE = 64
HISTOGRAM_EDGES = np.arange(-12.0, 4.01, 0.5)  # log10 |gradient element|; outside: end bins


@cache
def _digits(seed: int) -> Split:
    return load_digits_split(seed=seed)


@dataclass(frozen=True)
class GradientHistograms:
    """Per layer, how many gradient elements fall in each log10|g| bin (plus the exact zeros).

    counts: (layers, bins), with bins between consecutive `edges`; values below the first edge
    count in the first bin, above the last in the last. zeros: exact zeros per layer (a dead unit's
    weights get exactly 0; log10 0 is -inf). non_finite: inf/nan elements per layer. missing: the
    layers whose parameters have no gradient at all (None).
    """

    layers: list[str]
    edges: np.ndarray
    counts: np.ndarray
    zeros: np.ndarray
    non_finite: np.ndarray
    missing: list[str] = field(default_factory=list)

    def zero_fraction(self) -> np.ndarray:
        """Per layer, the share of gradient elements that are exactly 0 (NaN without a gradient)."""
        total = self.counts.sum(axis=1) + self.zeros + self.non_finite
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, self.zeros / np.maximum(total, 1), np.nan)

    def median_log10(self) -> np.ndarray:
        """Per layer, the bin centre holding the median nonzero |g| (log10); NaN if none."""
        centers = (self.edges[:-1] + self.edges[1:]) / 2
        medians = np.full(len(self.layers), np.nan)
        for i, counts in enumerate(self.counts):
            if counts.sum():
                medians[i] = centers[np.searchsorted(np.cumsum(counts), counts.sum() / 2)]
        return medians


def compute_gradient_histograms(model: nn.Module, layers: list[str]) -> GradientHistograms:
    """Histogram the current .grad of each layer's parameters (layer names as in named_modules)."""
    modules = dict(model.named_modules())
    bins = len(HISTOGRAM_EDGES) - 1
    counts = np.zeros((len(layers), bins), dtype=np.int64)
    zeros = np.zeros(len(layers), dtype=np.int64)
    non_finite = np.zeros(len(layers), dtype=np.int64)
    missing = []
    for i, layer in enumerate(layers):
        grads = [p.grad for p in modules[layer].parameters(recurse=False) if p.grad is not None]
        if not grads:
            missing.append(layer)
            continue
        values = torch.cat([g.detach().reshape(-1).cpu() for g in grads]).double().abs().numpy()
        finite = np.isfinite(values)
        non_finite[i] = int((~finite).sum())
        values = values[finite]
        zeros[i] = int((values == 0).sum())
        logs = np.log10(values[values > 0])
        clipped = np.clip(logs, HISTOGRAM_EDGES[0], HISTOGRAM_EDGES[-1] - 1e-9)
        counts[i] = np.histogram(clipped, HISTOGRAM_EDGES)[0]
    return GradientHistograms(
        list(layers), HISTOGRAM_EDGES.copy(), counts, zeros, non_finite, missing
    )


@dataclass(frozen=True)
class DashboardRun:
    """What one monitored training run measured.

    losses: (steps run,) training loss per step; the run stops after the first non-finite loss.
    layer_grad_norms, update_ratios: (steps run, layers) from the monitor's history; NaN where a
    layer had no gradient or took no update (the step that stopped the run takes none).
    fraction_dead: (steps run, layers) the share of the outputs after each layer (units x
    examples of the batch) where the activation's derivative is (nearly) zero: |f'(x)| < 0.01,
    for ReLU inputs <= 0 (NaN for layers not followed by a ReLU-family activation).
    """

    scenario: str
    fixed: bool
    lr: float
    steps: int  # requested
    losses: np.ndarray
    recorded_steps: np.ndarray
    layers: list[str]
    layer_grad_norms: np.ndarray
    update_ratios: np.ndarray
    fraction_dead: np.ndarray
    histograms: GradientHistograms
    report: Report

    @property
    def stopped_at(self) -> int | None:
        """The step whose loss was non-finite (the run stopped there), or None."""
        bad = ~np.isfinite(self.losses)
        return int(np.argmax(bad)) if bad.any() else None

    def summary(self) -> str:
        """Plain-text readout: the setting, the loss, then the monitor's report."""
        scenario = get_scenario(self.scenario)
        state = f"fixed ({scenario.fix})" if self.fixed else f"broken: {scenario.cause}"
        if scenario.name == "healthy":
            state = scenario.cause
        # a loss is not a gradient: plain 'nan'/'inf' (formatting's rule for numbers)
        first, last = (format_number(v) for v in (self.losses[0], self.losses[-1]))
        line = f"loss {first} at step 0 -> {last} at step {len(self.losses) - 1}"
        if self.stopped_at is not None:
            line += f" (non-finite at step {self.stopped_at}: training stopped)"
        return "\n".join(
            [
                f"scenario '{self.scenario}', {state}; SGD lr = {self.lr:g}, {self.steps} steps",
                line,
                str(self.report),
            ]
        )


def compute_dashboard(
    scenario: str,
    *,
    fixed: bool = False,
    steps: int = 100,
    lr: float | None = None,
    seed: int = 0,
) -> DashboardRun:
    """Train the scenario's model for `steps` SGD steps under a GradientMonitor; seeded.

    Args:
        scenario: a name in gradlab.chapters.ch07_monitoring.scenarios.SCENARIOS.
        fixed: use the scenario's fixed set-up instead of the broken one.
        steps: minibatch steps (batch of 64 digits); stops early at a non-finite loss.
        lr: the SGD learning rate (None: the scenario's).
        seed: data split, minibatch order (the model's own seed is fixed by the scenario).
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if lr is not None and not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be None or a finite number > 0, got {lr!r}")
    data = _digits(seed)
    model, setup = build(
        scenario, fixed=fixed, in_features=data.in_features, num_classes=data.num_classes
    )
    lr = setup.lr if lr is None else lr
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    with GradientMonitor(model, every=1, history_size=steps) as monitor:
        for _ in range(steps):
            index = torch.randint(0, len(data.x_train), (BATCH_SIZE,), generator=generator)
            x = setup.prepare_inputs(data.x_train[index])
            loss = F.cross_entropy(model(x), data.y_train[index])
            optimizer.zero_grad()
            loss.backward()
            losses.append(float(loss.detach()))
            if not math.isfinite(losses[-1]):
                break  # every later step would be nan: stop, as a training script should
            optimizer.step()
    arrays = monitor.to_numpy()
    return DashboardRun(
        scenario=scenario,
        fixed=fixed,
        lr=lr,
        steps=steps,
        losses=np.asarray(losses),
        recorded_steps=arrays["steps"],
        layers=list(monitor.layers),
        layer_grad_norms=arrays["layer_grad_norm"],
        update_ratios=arrays["update_ratio"],
        fraction_dead=arrays["fraction_dead"],
        histograms=compute_gradient_histograms(model, monitor.layers),
        report=monitor.report(),
    )
