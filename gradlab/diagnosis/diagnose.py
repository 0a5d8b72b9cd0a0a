"""diagnose(): one forward/backward on a batch, then the diagnosis table applied to what it measured.

    report = gradlab.diagnose(model, (x, y), loss_fn)
    print(report)              # a readable table
    report.findings            # Finding(kind, layer, severity, evidence, fix) for code

Used in notebooks/07_monitoring. The rules themselves live in gradlab.diagnosis.rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from gradlab.diagnosis.report import KINDS, Finding, Report, Thresholds
from gradlab.diagnosis.rules import find_problems
from gradlab.monitor.gradient_monitor import GradientMonitor
from gradlab.monitor.history import Recording

__all__ = ["KINDS", "Finding", "Report", "Thresholds", "diagnose"]


def diagnose(
    model: nn.Module,
    batch: torch.Tensor | tuple,
    loss_fn: Callable[..., torch.Tensor],
    *,
    lr: float | None = None,
    clip_threshold: float | None = None,
    thresholds: Thresholds | None = None,
) -> Report:
    """Run one forward/backward pass on `batch` and report gradient-flow problems.

    The parameters' .grad are restored afterwards; the model is not updated.

    Args:
        model: any nn.Module (train/eval mode is left as it is).
        batch: `(x, y)` to compute `loss_fn(model(x), y)`, or `x` alone for `loss_fn(model(x))`.
        loss_fn: e.g. nn.CrossEntropyLoss().
        lr: if given, also check the update-to-data ratio a plain SGD step would make,
            lr * ||grad|| / ||theta|| per layer.
        clip_threshold: the max_norm you pass to clip_grad_norm_, if any.
        thresholds: warning/error levels (gradlab.Thresholds).

    Returns:
        A Report; report.findings lists Finding(kind, layer, severity, evidence, fix).
    """
    x, y = _split_batch(batch)
    if lr is not None and lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    with _gradients_set_aside(model):
        monitor = GradientMonitor(model, every=1, history_size=1, updates=False)
        with torch.enable_grad(), monitor:
            output = model(x)
            loss = loss_fn(output) if y is None else loss_fn(output, y)
            loss.backward()
        recording = monitor.recording()
        update_ratio = None
        if lr is not None and len(recording.history):
            update_ratio = _sgd_update_ratios(model, recording, lr)
        return find_problems(
            recording,
            clip_threshold=clip_threshold,
            thresholds=thresholds,
            update_ratio=update_ratio,
            loss=float(loss.detach()),
        )


def _split_batch(batch: torch.Tensor | tuple) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(x, y) from a pair, or (x, None) from x alone; the error names the length received."""
    if isinstance(batch, (tuple, list)):
        if len(batch) != 2:
            raise ValueError(f"batch must be x or a pair (x, y), got a sequence of {len(batch)}")
        return batch[0], batch[1]
    return batch, None


@contextmanager
def _gradients_set_aside(model: nn.Module) -> Iterator[None]:
    """Clear every trainable parameter's .grad for the block and put the old ones back after.

    Cleared so that "no gradient" means none from this batch; restored also on error, so a
    diagnosis in the middle of training leaves the learner's accumulated gradients as they were.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    saved = [p.grad for p in params]
    for p in params:
        p.grad = None
    try:
        yield
    finally:
        for p, grad in zip(params, saved, strict=True):
            p.grad = grad


def _sgd_update_ratios(model: nn.Module, recording: Recording, lr: float) -> np.ndarray:
    """Per layer, lr * ||grad|| / ||theta||: the update-to-data ratio one plain SGD step would make.

    ||theta|| of a layer is the root of the sum of its parameters' squared norms (as the
    recording's layer_grad_norm is for the gradients); a layer of zero norm gives inf or nan.
    """
    squared_norms = recording.param_norms**2
    per_layer = np.bincount(recording.param_layers, squared_norms, minlength=len(recording.layers))
    grads = recording.history.get("layer_grad_norm")[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return lr * grads / np.sqrt(per_layer)
