"""Cheap statistics of activation modules: the fraction of dead units, the fraction saturated.

Dead means no gradient: a unit is dead when the activation's local derivative |f'(x)| is below
DEAD_DERIVATIVE_THRESHOLD at its input x, so almost nothing of the gradient reaching its output
flows back through it. For ReLU that is x <= 0 (f' = 0); for ReLU6 and Hardtanh also the flat
top; for ELU, SELU and CELU the far negative side, where f' = alpha * exp(x) is small; for GELU,
SiLU, Mish and Hardswish the far negative side and a narrow band around the zero of f' (their
minimum). A LeakyReLU whose slope is at least the threshold is never dead. The dead input
intervals of each activation are computed once (cached), so a count is a few comparison kernels.
Saturation (sigmoid, tanh): the derivative fell below its own threshold.

Each function returns a 0-d tensor without a host sync, so a monitor can collect many of them and
move them to the host in one transfer. Used by gradlab.monitor.gradient_monitor
(notebooks/07_monitoring).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from gradlab.measure.host import to_numpy

# Saturation: the derivative fell below a threshold (the seeds' zones: sigmoid |x| > 3 gives
# f' < 0.05, tanh |x| > 2 gives f' < 0.1). Both derivatives are functions of the output, so the
# output alone tells whether a unit is saturated:
#   sigmoid: s (1 - s) < 0.05  <=>  |s - 1/2| > sqrt(1/4 - 0.05)
#   tanh:    1 - t^2 < 0.1     <=>  |t| > sqrt(1 - 0.1)
SIGMOID_DERIVATIVE_THRESHOLD = 0.05
TANH_DERIVATIVE_THRESHOLD = 0.1
SIGMOID_EDGE = math.sqrt(0.25 - SIGMOID_DERIVATIVE_THRESHOLD)
TANH_EDGE = math.sqrt(1.0 - TANH_DERIVATIVE_THRESHOLD)

# Dead: |f'(x)| below this. 1/100: a unit passes back less than 1 % of the gradient it receives
# (a default LeakyReLU, slope 0.01, passes exactly 1 % and is never dead).
DEAD_DERIVATIVE_THRESHOLD = 1e-2

# Kinds, most specific class first (ReLU6 is a Hardtanh). 'relu' has the monitor's fast path.
DEAD_KINDS: tuple[tuple[type[nn.Module], str], ...] = (
    (nn.ReLU, "relu"),
    (nn.ReLU6, "relu6"),
    (nn.Hardtanh, "hardtanh"),
    (nn.LeakyReLU, "leaky_relu"),
    (nn.ELU, "elu"),
    (nn.SELU, "selu"),
    (nn.CELU, "celu"),
    (nn.GELU, "gelu"),
    (nn.SiLU, "silu"),
    (nn.Mish, "mish"),
    (nn.Hardswish, "hardswish"),
)
SATURATING: dict[type[nn.Module], str] = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}
# How a finding names each kind: the torch class.
ACTIVATION_NAMES = {kind: cls.__name__ for cls, kind in DEAD_KINDS} | {
    kind: cls.__name__ for cls, kind in SATURATING.items()
}

# A region of x (or y) where |f'| < threshold: (operator, bound) or ("band", low, high), the
# open interval low < x < high. Regions of one activation do not overlap.
Region = tuple
SELU_SCALE, SELU_ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717


def classify_activation(module: nn.Module) -> str:
    """The module's kind ('relu', 'gelu', ..., 'sigmoid', 'tanh'), or '' for other modules."""
    for cls, kind in DEAD_KINDS:
        if isinstance(module, cls):
            return kind
    for cls, kind in SATURATING.items():
        if isinstance(module, cls):
            return kind
    return ""


def _parameters(module: nn.Module | None, kind: str) -> tuple:
    """The module's settings that move its dead regions (defaults when the module is unknown)."""
    reference = module  # None: getattr gives the class defaults below
    if kind == "leaky_relu":
        return (float(getattr(reference, "negative_slope", 0.01)),)
    if kind in ("elu", "celu"):
        return (float(getattr(reference, "alpha", 1.0)),)
    if kind in ("hardtanh", "relu6"):
        low, high = (0.0, 6.0) if kind == "relu6" else (-1.0, 1.0)
        return (
            float(getattr(reference, "min_val", low)),
            float(getattr(reference, "max_val", high)),
        )
    if kind == "gelu":
        return (str(getattr(reference, "approximate", "none")),)
    return ()


@lru_cache(maxsize=64)
def dead_regions(kind: str, parameters: tuple, threshold: float) -> tuple[tuple, tuple | None]:
    """(input regions, output regions or None): where |f'(x)| < threshold, in x and in y = f(x).

    The output regions say the same in terms of the output, for a module that ran in place;
    None where the output does not tell (GELU, SiLU, Mish, Hardswish are not one-to-one there).
    """
    if kind == "relu":
        return (("le", 0.0),), (("le", 0.0),)
    if kind in ("relu6", "hardtanh"):  # f' = 0 outside (min_val, max_val)
        low, high = parameters
        regions = (("le", low), ("ge", high))
        return regions, regions
    if kind == "leaky_relu":  # f' = slope for x <= 0
        (slope,) = parameters
        if abs(slope) >= threshold:
            return (), ()
        return (("le", 0.0),), ((("le", 0.0),) if slope >= 0 else None)
    if kind in ("elu", "celu", "selu"):  # x <= 0: f' = gain exp(x / scale), y = scale (f' - gain)
        if kind == "selu":
            gain, scale = SELU_SCALE * SELU_ALPHA, 1.0
        else:
            (alpha,) = parameters
            gain, scale = (alpha, 1.0) if kind == "elu" else (1.0, alpha)
        if gain <= 0 or scale <= 0:
            return _numeric_regions(kind, parameters, threshold), None
        edge = scale * math.log(threshold / gain)
        if edge >= 0:  # gain below the threshold: all of x <= 0
            return (("le", 0.0),), (("le", 0.0),)
        return (("lt", edge),), (("lt", scale * (threshold - gain)),)
    if kind == "hardswish":  # f' = 0 for x <= -3 (torch's backward), x/3 + 1/2 up to 3
        half = 3.0 * threshold
        return (("le", -3.0), ("band", -1.5 - half, -1.5 + half)), None
    return _numeric_regions(kind, parameters, threshold), None


_SMOOTH: dict[str, Callable[..., torch.Tensor]] = {
    "gelu": lambda x, approximate: F.gelu(x, approximate=approximate),
    "silu": F.silu,
    "mish": F.mish,
    "elu": lambda x, alpha: F.elu(x, alpha),
    "celu": lambda x, alpha: F.celu(x, alpha),
}
_GRID_LIMIT, _GRID_POINTS = 40.0, 160_001  # |x| <= 40, spacing 5e-4


def _numeric_regions(kind: str, parameters: tuple, threshold: float) -> tuple:
    """Where |f'(x)| < threshold for a smooth f, from f' on a float64 grid, edges bisected.

    A region touching the grid's ends extends to -inf or +inf (every f here is linear or flat
    beyond |x| = 40 to float64 precision).
    """
    function = _SMOOTH[kind]

    def slope(x: torch.Tensor) -> torch.Tensor:
        x = x.detach().requires_grad_()
        (grad,) = torch.autograd.grad(function(x, *parameters).sum(), x)
        return grad.abs() < threshold

    with torch.enable_grad(), torch.autocast("cpu", enabled=False):
        grid = torch.linspace(-_GRID_LIMIT, _GRID_LIMIT, _GRID_POINTS, dtype=torch.float64)
        inside = slope(grid)
        changes = torch.nonzero(inside[1:] != inside[:-1]).flatten()
        low, high = grid[changes], grid[changes + 1]  # an edge lies between each pair
        starts_inside = inside[changes]  # True: a region ends here, False: one starts
        for _ in range(60):  # bisection: 5e-4 / 2^60, below float64 resolution
            middle = (low + high) / 2
            same = slope(middle) == starts_inside
            low, high = torch.where(same, middle, low), torch.where(same, high, middle)
    edges = [float(e) for e in to_numpy((low + high) / 2)]
    bounds = ([-math.inf] if bool(inside[0]) else []) + edges
    bounds += [math.inf] if bool(inside[-1]) else []
    regions = []
    for start, end in zip(bounds[::2], bounds[1::2], strict=True):
        if start == -math.inf:
            regions.append(("lt", end))
        elif end == math.inf:
            regions.append(("gt", start))
        else:
            regions.append(("band", start, end))
    return tuple(regions)


_COMPARE = {"le": torch.le, "lt": torch.lt, "ge": torch.ge, "gt": torch.gt}


def _count(values: torch.Tensor, regions: tuple) -> torch.Tensor:
    """How many values fall in the regions, a 0-d int64 tensor (no host sync).

    The masks are or-ed and summed once: the bool-to-int64 sum is the slow kernel (measured
    ~125 µs for GELU's two regions on 65,536 floats, one thread, against ~190 µs summing each).
    """
    if not regions:
        return torch.zeros((), dtype=torch.int64, device=values.device)
    mask = None
    for region in regions:
        if region[0] == "band":  # low < x < high as |x - middle| < half width: 3 kernels
            low, high = region[1], region[2]
            inside = (values - (low + high) / 2).abs() < (high - low) / 2
        else:
            inside = _COMPARE[region[0]](values, region[1])
        mask = inside if mask is None else mask.logical_or_(inside)
    return mask.sum()


def count_flagged(
    output: torch.Tensor,
    kind: str,
    *,
    module_input: torch.Tensor | None = None,
    module: nn.Module | None = None,
    threshold: float = DEAD_DERIVATIVE_THRESHOLD,
) -> torch.Tensor:
    """Count dead units (|f'(x)| < threshold) or saturated ones (sigmoid, tanh); a 0-d tensor.

    For kind 'relu' the count is of the *live* outputs (one kernel): dead = numel - live.
    When the input is gone (the module ran in place) the count comes from the output where the
    output tells; where it does not (an in-place SiLU, Mish or Hardswish) it is NaN, so the
    fraction is NaN (not measured) rather than a guess.

    Args:
        output: the activation module's output, any shape.
        kind: a name returned by classify_activation.
        module_input: the module's input, same number of elements as output, when known
            (None when the module ran in place or the output was sampled non-contiguously).
        module: the activation module itself (its slope, alpha or limits), when known; else
            the class defaults of `kind`.
        threshold: the derivative below which a unit counts as dead.
    """
    output = output.detach()
    # Sums of signs or of booleans, not count_nonzero: its branchy kernel mispredicts on the
    # random zero pattern of activations and is ~10x slower here.
    if kind == "relu":
        # ReLU outputs are >= 0, so sign() is 1 where alive (x > 0) and 0 where dead (x <= 0).
        return output.sign().sum()
    if kind == "sigmoid":
        return ((output - 0.5).abs() > SIGMOID_EDGE).sum()
    if kind == "tanh":
        return (output.abs() > TANH_EDGE).sum()
    if kind not in ACTIVATION_NAMES:
        raise ValueError(f"kind must be one of {', '.join(sorted(ACTIVATION_NAMES))}, got {kind!r}")
    on_input, on_output = dead_regions(kind, _parameters(module, kind), threshold)
    if module_input is not None:
        return _count(module_input.detach(), on_input)
    if on_output is None:
        return torch.full((), math.nan, device=output.device)
    return _count(output, on_output)
