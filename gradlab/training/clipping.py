"""Gradient clipping written out to be read: by norm, by value, and the numbers that say whether a
threshold fits a run (a threshold from recorded norms, how often it fires, the learning rate it
leaves). Used in notebooks/06_clipping and by the diagnosis rule clipping_too_aggressive.

`clip_grad_norm_` and `clip_grad_value_` do what `torch.nn.utils.clip_grad_norm_` and
`clip_grad_value_` do, with the same arguments and results (tests/test_clipping.py compares them):

    norm clipping    g <- g * min(1, max_norm / (||g|| + 1e-6)),  ||g|| over ALL parameters at once
    value clipping   g_i <- clamp(g_i, -clip_value, clip_value),   element by element

Norm clipping multiplies every gradient by one number, so the step keeps its direction and only gets
shorter. Value clipping cuts each element on its own, so large elements lose more than small ones and
the direction changes (`cosine_similarity` measures by how much).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

# Devices with torch's fused multi-tensor ("foreach") kernels, as torch.nn.utils.clip_grad decides.
FOREACH_DEVICES = ("cpu", "cuda", "xpu")

# torch adds this to the norm before dividing, so a zero gradient does not divide by zero.
NORM_EPS = 1e-6


def clip_grad_norm_(
    parameters: torch.Tensor | Iterable[torch.Tensor] | torch.nn.Module,
    max_norm: float,
    norm_type: float | str = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> torch.Tensor:
    """Rescale all gradients together so their total norm is at most max_norm; in place.

    The total norm treats every parameter's gradient as one long vector:
    ||g|| = ||(||g_1||, ||g_2||, ...)||_p. If it exceeds max_norm, every gradient is multiplied by
    the same factor max_norm / (||g|| + 1e-6), so the update keeps its direction. Parameters whose
    .grad is None (frozen, or unused this step) are skipped.

    Args:
        parameters: a module, a tensor, or an iterable of tensors (e.g. model.parameters()).
        max_norm: the largest total norm allowed (>= 0).
        norm_type: p of the p-norm, > 0; float("inf") or "inf" for the largest |element|.
        error_if_nonfinite: raise if the total norm is inf or NaN instead of scaling by it
            (scaling by an infinite norm sets finite gradients to 0 and inf ones to NaN).
        foreach: use torch's multi-tensor kernels (one call per dtype instead of one per
            tensor). None: where the device has them; True: required; False: one tensor at a time.

    Returns:
        The total norm BEFORE clipping, a 0-dim tensor: record it to choose a threshold.
    """
    parameters = _as_list(parameters)
    max_norm = _check_number("max_norm", max_norm, "a number >= 0 (the largest norm allowed)")
    norm_type = _check_norm_type(norm_type)
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)

    with torch.no_grad():
        norms = []  # one norm per gradient tensor ...
        for group in _by_device_and_dtype(grads):
            if _use_foreach(foreach, group):
                norms.extend(torch._foreach_norm(group, norm_type))
            else:
                norms.extend(torch.linalg.vector_norm(g, norm_type) for g in group)
        # ... and the norm of those norms is the norm of all gradients as one vector.
        first_device = grads[0].device
        total_norm = torch.linalg.vector_norm(
            torch.stack([n.to(first_device) for n in norms]), norm_type
        )
        if error_if_nonfinite and not torch.isfinite(total_norm):
            raise RuntimeError(
                f"the total gradient norm (norm_type={norm_type:g}) is {total_norm.item()}, so it "
                "cannot be clipped: a gradient holds inf or NaN. Find where it starts (Chapter 7's "
                "GradientMonitor reports the first non-finite layer), or pass "
                "error_if_nonfinite=False to scale by it anyway."
            )
        # min(1, ...): clipping only ever shrinks. Multiplying by 1 below the threshold is a no-op,
        # and it avoids an `if` that would move the norm from a GPU to the CPU every step.
        scale = torch.clamp(max_norm / (total_norm + NORM_EPS), max=1.0)
        for group in _by_device_and_dtype(grads):
            device_scale = scale.to(group[0].device)
            if _use_foreach(foreach, group):
                torch._foreach_mul_(group, device_scale)
            else:
                for g in group:
                    g.mul_(device_scale)
    return total_norm


def clip_grad_value_(
    parameters: torch.Tensor | Iterable[torch.Tensor] | torch.nn.Module,
    clip_value: float,
    foreach: bool | None = None,
) -> None:
    """Clamp every gradient element into [-clip_value, clip_value]; in place.

    Each element is cut on its own, so the gradient's direction changes: the large elements lose
    more than the small ones. Parameters whose .grad is None are skipped.

    Args:
        parameters: a module, a tensor, or an iterable of tensors (e.g. model.parameters()).
        clip_value: the largest |element| allowed (>= 0).
        foreach: as in clip_grad_norm_.
    """
    parameters = _as_list(parameters)
    clip_value = _check_number("clip_value", clip_value, "a number >= 0 (the largest |element|)")
    grads = [p.grad for p in parameters if p.grad is not None]
    with torch.no_grad():
        for group in _by_device_and_dtype(grads):
            if _use_foreach(foreach, group):
                torch._foreach_clamp_min_(group, -clip_value)
                torch._foreach_clamp_max_(group, clip_value)
            else:
                for g in group:
                    g.clamp_(min=-clip_value, max=clip_value)


def threshold_from_history(
    norms: Sequence[float] | np.ndarray | torch.Tensor,
    percentile: float = 99.0,
    *,
    method: str = "linear",
) -> float:
    """A max_norm chosen from evidence: the given percentile of recorded unclipped gradient norms.

    At the 99th percentile, clipping fires on about 1 step in 100 of a run like the recorded one:
    it catches spikes and leaves ordinary steps alone. Record the norms from the early steps of a
    healthy run, e.g. `monitor.history.get("global_grad_norm")[:, 0]` of a GradientMonitor, or the
    values clip_grad_norm_ returns.

    Args:
        norms: the recorded total gradient norms (1-D, finite, >= 0).
        percentile: in (0, 100].
        method: numpy.percentile's interpolation method ("linear", its default).

    Returns:
        The threshold, a float.
    """
    values = _check_norms(norms)
    if not isinstance(percentile, (int, float)) or not 0 < percentile <= 100:
        raise ValueError(f"percentile must be a number in (0, 100], got {percentile!r}")
    return float(np.percentile(values, percentile, method=method))


@dataclass(frozen=True)
class ClippingEffect:
    """What norm clipping at a threshold does to a run with the given unclipped norms."""

    threshold: float  # max_norm
    lr: float  # the learning rate given to the optimizer
    steps: int  # how many recorded norms
    median_norm: float  # the median unclipped norm
    fraction_clipped: float  # fraction of steps with norm > threshold (clipping changes them)
    mean_scale: float  # mean over steps of min(1, threshold / norm), the factor each step gets
    # lr x mean_scale: for SGD the step is -lr * min(1, c/||g||) * g, so this is the learning rate
    # the steps were taken with on average. mean_scale = 0.02 means clipping divides lr by 50.
    effective_lr: float


def clipping_effect(
    norms: Sequence[float] | np.ndarray | torch.Tensor, threshold: float, lr: float
) -> ClippingEffect:
    """How often a norm-clipping threshold fires and the learning rate it leaves.

    Step t multiplies its gradient by s_t = min(1, c / ||g_t||) (torch adds 1e-6 to ||g_t||, which
    only matters for norms near 1e-6). For SGD the update is -lr * s_t * g_t: the run effectively
    used lr * s_t at step t, and effective_lr = lr * mean(s_t). A threshold far below the typical
    norm fires every step and quietly divides the learning rate (c = 0.01 with norms near 0.5:
    lr / 50). Adaptive optimizers (Adam) divide by a running gradient size, so there a steady
    scale largely cancels; effective_lr is the SGD reading.

    Args:
        norms: recorded unclipped total gradient norms (1-D, finite, >= 0).
        threshold: max_norm, > 0.
        lr: the learning rate, >= 0.
    """
    values = _check_norms(norms)
    threshold = _check_number("threshold", threshold, "a number > 0 (the max_norm)")
    if threshold == 0:
        raise ValueError("threshold must be a number > 0 (the max_norm), got 0")
    lr = _check_number("lr", lr, "a number >= 0 (the learning rate)")
    # A zero norm is not scaled: min(1, c / 0) = 1.
    scales = np.minimum(1.0, threshold / np.maximum(values, np.finfo(float).tiny))
    mean_scale = float(np.mean(scales))
    return ClippingEffect(
        threshold=threshold,
        lr=lr,
        steps=len(values),
        median_norm=float(np.median(values)),
        fraction_clipped=float(np.mean(values > threshold)),
        mean_scale=mean_scale,
        effective_lr=lr * mean_scale,
    )


def cosine_similarity(
    a: torch.Tensor | Sequence[torch.Tensor], b: torch.Tensor | Sequence[torch.Tensor]
) -> float:
    """Cosine of the angle between two gradients, each a tensor or a list of tensors (flattened).

    1 means the same direction (norm clipping: always 1), less than 1 a turned direction (value
    clipping). Computed in float64 so a cosine of 1 reads as 1 to about 1e-12.
    """
    u, v = _flatten("a", a), _flatten("b", b)
    if u.numel() != v.numel():
        raise ValueError(
            f"a and b must hold the same number of elements, got {u.numel()} and {v.numel()}"
        )
    norm_u, norm_v = torch.linalg.vector_norm(u), torch.linalg.vector_norm(v)
    if norm_u == 0 or norm_v == 0 or not (torch.isfinite(norm_u) and torch.isfinite(norm_v)):
        raise ValueError(
            f"cosine_similarity needs two finite, non-zero gradients; got norms "
            f"{norm_u.item():g} (a) and {norm_v.item():g} (b)"
        )
    return float(torch.dot(u, v) / (norm_u * norm_v))


# ---------------------------------------------------------------- helpers


def _as_list(parameters: object) -> list[torch.Tensor]:
    """A module's parameters, a single tensor or an iterable of tensors, as a list (like torch)."""
    if isinstance(parameters, torch.nn.Module):
        parameters = parameters.parameters()
    if isinstance(parameters, torch.Tensor):
        return [parameters]
    try:
        items = list(parameters)  # a generator can be read only once
    except TypeError:
        raise TypeError(
            "parameters must be a module, a tensor or an iterable of tensors "
            f"(e.g. model.parameters()), got {type(parameters).__name__}"
        ) from None
    for index, item in enumerate(items):
        if not isinstance(item, torch.Tensor):
            raise TypeError(
                f"parameters must hold tensors, but item {index} is {type(item).__name__}"
            )
    return items


def _check_number(name: str, value: object, allowed: str) -> float:
    """value as a float if it is a real number >= 0 (inf allowed), else an error that names it."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return float(value)


def _check_norm_type(norm_type: object) -> float:
    if isinstance(norm_type, str) and norm_type.lower() == "inf":
        return math.inf
    if isinstance(norm_type, (int, float)) and not isinstance(norm_type, bool) and norm_type > 0:
        return float(norm_type)
    raise ValueError(
        f"norm_type must be a number > 0 (2.0 for the Euclidean norm) or 'inf', got {norm_type!r}"
    )


def _check_norms(norms: object) -> np.ndarray:
    """Recorded norms as a 1-D float array; empty, negative or non-finite values are errors."""
    if isinstance(norms, torch.Tensor):
        norms = norms.detach().cpu().double().numpy()
    values = np.asarray(norms, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"norms must be 1-D (one norm per step), got shape {values.shape}")
    if not len(values):
        raise ValueError("norms is empty: record some steps' gradient norms first")
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise ValueError(
            f"norms holds {len(bad)} non-finite value(s) (first {values[bad[0]]} at index "
            f"{bad[0]}): use the steps before the run diverged, norms[np.isfinite(norms)]"
        )
    if (values < 0).any():
        raise ValueError(f"norms must be >= 0, got {values.min()!r}")
    return values


def _by_device_and_dtype(tensors: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """Group tensors by (device, dtype): a foreach kernel takes one device and dtype per call."""
    groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for tensor in tensors:
        groups.setdefault((tensor.device, tensor.dtype), []).append(tensor)
    return list(groups.values())


def _use_foreach(foreach: bool | None, group: list[torch.Tensor]) -> bool:
    """Whether to use the multi-tensor kernels for this group (as torch decides)."""
    device = group[0].device
    supported = device.type in FOREACH_DEVICES and hasattr(torch, "_foreach_norm")
    if foreach and not supported:
        raise RuntimeError(
            f"foreach=True was passed, but the foreach kernels do not run on {device.type} "
            "tensors; pass foreach=None to fall back to one tensor at a time"
        )
    # With foreach=None, sparse gradients (nn.Embedding(sparse=True)) take the per-tensor path.
    supported = supported and all(t.layout == torch.strided for t in group)
    return supported if foreach is None else foreach


def _flatten(name: str, gradient: object) -> torch.Tensor:
    if isinstance(gradient, torch.Tensor):
        gradient = [gradient]
    tensors = list(gradient)
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError(f"{name} must be a tensor or a non-empty list of tensors")
    return torch.cat([t.detach().reshape(-1).cpu().double() for t in tensors])
