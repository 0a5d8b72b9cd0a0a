"""diagnose(): one forward/backward on a batch, then the diagnosis table applied to what it measured.

    report = gradlab.diagnose(model, (x, y), loss_fn)
    print(report)              # a readable table
    report.findings            # Finding(kind, layer, severity, evidence, fix) for code

Used in notebooks/07_monitoring. The rules themselves live in gradlab.diagnosis.rules.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from gradlab.diagnosis.report import KINDS, Finding, Report, Thresholds
from gradlab.diagnosis.rules import find_problems
from gradlab.monitor.gradient_monitor import GradientMonitor

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
        thresholds: warning/error levels (gradlab.diagnosis.rules.Thresholds).

    Returns:
        A Report; report.findings lists Finding(kind, layer, severity, evidence, fix).
    """
    if isinstance(batch, (tuple, list)):
        if len(batch) != 2:
            raise ValueError(f"batch must be x or a pair (x, y), got a sequence of {len(batch)}")
        x, y = batch
    else:
        x, y = batch, None
    if lr is not None and lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    saved = [p.grad for p in params]
    for p in params:
        p.grad = None  # so that "no gradient" really means none from this batch
    try:
        monitor = GradientMonitor(model, every=1, history_size=1, updates=False)
        with torch.enable_grad(), monitor:
            output = model(x)
            loss = loss_fn(output) if y is None else loss_fn(output, y)
            loss.backward()
        recording = monitor.recording()
        estimate = None
        if lr is not None and len(recording.history):
            named = dict(model.named_parameters())
            watched = [named[name].detach() for name in recording.params]
            data = torch.stack(torch._foreach_norm(watched))
            data_norms = data.double().numpy() ** 2
            per_layer = np.bincount(
                recording.param_layers, data_norms, minlength=len(recording.layers)
            )
            grads = recording.history.get("layer_grad_norm")[-1]
            with np.errstate(divide="ignore", invalid="ignore"):
                estimate = lr * grads / np.sqrt(per_layer)
        return find_problems(
            recording,
            clip_threshold=clip_threshold,
            thresholds=thresholds,
            update_ratio=estimate,
            loss=float(loss.detach()),
        )
    finally:
        for p, grad in zip(params, saved, strict=True):
            p.grad = grad
