"""diagnose(): one forward/backward on a batch, then the diagnosis table applied to what it measured.

    report = gradlab.diagnose(model, (x, y), loss_fn)
    print(report)              # a readable table
    report.findings            # Finding(kind, layer, severity, evidence, fix) for code
    gradlab.diagnose(model, {"input_ids": ids, "labels": labels})   # Hugging Face style: output.loss

Used in notebooks/07_monitoring. The rules themselves live in gradlab.diagnosis.rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
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
    batch: torch.Tensor | tuple | Mapping[str, object],
    loss_fn: Callable[..., torch.Tensor] | None = None,
    *,
    lr: float | None = None,
    clip_threshold: float | None = None,
    thresholds: Thresholds | None = None,
) -> Report:
    """Run one forward/backward pass on `batch` and report gradient-flow problems.

    The parameters' .grad are restored afterwards; the model is not updated.

    Args:
        model: any nn.Module (train/eval mode is left as it is), also wrapped (DataParallel,
            DDP) or Hugging Face-style (keyword arguments, outputs with .loss and .logits).
        batch: `(x, y)` to compute `loss_fn(model(x), y)`, or `x` alone for `loss_fn(model(x))`;
            a dict is passed as keyword arguments, `model(**batch)`, and its loss is
            `loss_fn(output, batch)`.
        loss_fn: e.g. nn.CrossEntropyLoss(). None: the model computes its own loss (as Hugging
            Face models do when the batch has labels): `model(**batch)` for a dict,
            `model(*batch)` for a tuple, `model(batch)` for a tensor, and the loss is
            `output.loss` (or `output["loss"]`, or the output itself when it is a scalar).
        lr: if given, also check the update-to-data ratio a plain SGD step would make,
            lr * ||grad|| / ||theta|| per layer.
        clip_threshold: the max_norm you pass to clip_grad_norm_, if any.
        thresholds: warning/error levels (gradlab.Thresholds).

    Returns:
        A Report; report.findings lists Finding(kind, layer, severity, evidence, fix).
    """
    if lr is not None and lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    forward = _forward_and_loss(batch, loss_fn)
    with _gradients_set_aside(model):
        monitor = GradientMonitor(model, every=1, history_size=1, updates=False, all_ranks=True)
        with torch.enable_grad(), monitor:
            loss = forward(model)
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


def _forward_and_loss(
    batch: object, loss_fn: Callable[..., torch.Tensor] | None
) -> Callable[[nn.Module], torch.Tensor]:
    """How to run the model on `batch` and get its loss (see diagnose's Args)."""
    if loss_fn is None:
        if isinstance(batch, Mapping):
            return lambda model: model_loss(model(**batch))
        if isinstance(batch, (tuple, list)):
            return lambda model: model_loss(model(*batch))
        return lambda model: model_loss(model(batch))
    if isinstance(batch, Mapping):
        return lambda model: loss_fn(model(**batch), batch)
    if isinstance(batch, (tuple, list)):
        if len(batch) != 2:
            raise ValueError(
                f"batch must be x, a pair (x, y) or a dict of keyword arguments, got a sequence "
                f"of {len(batch)} (pass loss_fn=None if the model computes its own loss)"
            )
        x, y = batch
        return lambda model: loss_fn(model(x), y)
    return lambda model: loss_fn(model(batch))


def model_loss(output: object) -> torch.Tensor:
    """The loss a model returned: output.loss, output["loss"], or a scalar output itself."""
    loss = getattr(output, "loss", None)
    if loss is None and isinstance(output, Mapping):
        loss = output.get("loss")
    if loss is None and isinstance(output, torch.Tensor) and output.dim() == 0:
        loss = output
    if not isinstance(loss, torch.Tensor):
        raise ValueError(
            "loss_fn is None, so the model must return its loss (output.loss, output['loss'] or "
            f"a scalar tensor), but it returned {type(output).__name__} without one: pass the "
            "labels in the batch (e.g. batch['labels']) or give a loss_fn"
        )
    return loss


@contextmanager
def _gradients_set_aside(model: nn.Module) -> Iterator[None]:
    """Clear every trainable parameter's .grad for the block and put the old ones back after,
    with the model's buffers (BatchNorm running statistics) as they were.

    Cleared so that "no gradient" means none from this batch; restored also on error, so a
    diagnosis in the middle of training leaves the learner's accumulated gradients and the
    model's eval-mode behaviour as they were.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    saved = [p.grad for p in params]
    # The forward pass in train mode moves BatchNorm running statistics: put them back too.
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    for p in params:
        p.grad = None
    try:
        yield
    finally:
        for p, grad in zip(params, saved, strict=True):
            p.grad = grad
        with torch.no_grad():
            for buffer, copy in buffers:
                buffer.copy_(copy)


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
