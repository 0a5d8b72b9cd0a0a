"""Norm vs value clipping of one real gradient: its length and its direction after each.

Used in notebooks/06_clipping (the widget and the text beside it). The gradient is the sweep's RNN
(seed 0, W_hh = 1.0 · Q) on its first batch of the adding problem: 1,185 numbers in five tensors.
Both clippings run through gradlab.training.clipping on copies of it, as they would on p.grad.

The 2-D picture is exact, not a sketch: the original gradient g, the norm-clipped one (a multiple
of g) and the value-clipped one v all lie in the plane spanned by g and v, so drawing them in that
plane (x along g) keeps every length and every angle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from gradlab.chapters.ch06_clipping.models import make_model
from gradlab.chapters.ch06_clipping.training import RunConfig, batch_generator
from gradlab.training.clipping import clip_grad_norm_, clip_grad_value_, cosine_similarity
from gradlab.training.sequence_tasks import adding_problem

# The widget's threshold positions: the same number c is given to both kinds of clipping.
THRESHOLDS: tuple[float, ...] = (
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
    10.0,
)


@lru_cache(maxsize=1)
def real_gradient() -> tuple[torch.Tensor, ...]:
    """The gradient of every parameter of the sweep's seed-0 RNN on its first batch (cached)."""
    config = RunConfig()
    model = make_model("rnn", hidden_size=config.hidden_size, seed=0, recurrent_scale=1.0)
    x, y = adding_problem(config.batch_size, config.length, generator=batch_generator(0))
    nn.functional.mse_loss(model(x), y).backward()
    return tuple(p.grad.detach().clone() for p in model.parameters())


@dataclass(frozen=True)
class ClippingView:
    """One threshold c applied to the gradient both ways."""

    threshold: float
    size: int  # number of gradient entries
    norm: float  # ‖g‖ before clipping
    norm_clipped_norm: float  # ‖g · min(1, c/‖g‖)‖
    value_clipped_norm: float  # ‖clamp(g, −c, c)‖
    norm_cosine: float  # cos(g, norm-clipped g): 1 (up to rounding)
    value_cosine: float  # cos(g, value-clipped g)
    clamped_fraction: float  # fraction of entries value clipping changed (|g_i| > c)
    plane: np.ndarray  # (3, 2): g, norm-clipped, value-clipped in the plane of g and v

    @property
    def norm_angle_degrees(self) -> float:
        """The angle between g and the norm-clipped gradient (0 up to rounding)."""
        return _degrees(self.norm_cosine)

    @property
    def value_angle_degrees(self) -> float:
        """The angle between g and the value-clipped gradient."""
        return _degrees(self.value_cosine)

    def summary(self) -> str:
        """The readout: both clippings' length and direction for this threshold."""
        return (
            f"threshold c = {self.threshold:g}, gradient of {self.size} entries, "
            f"‖g‖ = {self.norm:.3f}\n"
            f"norm clipping : ‖g'‖ = {self.norm_clipped_norm:.3g}, cosine to g "
            f"{self.norm_cosine:.6f} (angle {self.norm_angle_degrees:.1f}°)\n"
            f"value clipping: ‖g'‖ = {self.value_clipped_norm:.3g}, cosine to g "
            f"{self.value_cosine:.3f} (angle {self.value_angle_degrees:.1f}°), "
            f"{100 * self.clamped_fraction:.1f}% of the entries cut to ±c"
        )


def _degrees(cosine: float) -> float:
    return math.degrees(math.acos(min(1.0, max(-1.0, cosine))))


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors]).double()


def compute_clipping_view(
    threshold: float, gradient: tuple[torch.Tensor, ...] | None = None
) -> ClippingView:
    """Clip copies of `gradient` (default: real_gradient()) by norm and by value at `threshold`."""
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a finite number > 0; got {threshold!r}")
    original = list(real_gradient() if gradient is None else gradient)
    by_norm = [nn.Parameter(torch.zeros_like(g)) for g in original]
    by_value = [nn.Parameter(torch.zeros_like(g)) for g in original]
    for parameters in (by_norm, by_value):
        for parameter, g in zip(parameters, original, strict=True):
            parameter.grad = g.clone()
    norm = float(clip_grad_norm_(by_norm, max_norm=threshold))
    clip_grad_value_(by_value, clip_value=threshold)
    g = _flat(original)
    n = _flat([p.grad for p in by_norm])
    v = _flat([p.grad for p in by_value])
    along = g / torch.linalg.vector_norm(g)
    across = v - torch.dot(v, along) * along
    across_norm = torch.linalg.vector_norm(across)
    # when v is a multiple of g (nothing cut) `across` is rounding noise: there is no second axis
    turned = across_norm > 1e-9 * torch.linalg.vector_norm(v)
    across = across / across_norm if turned else torch.zeros_like(across)
    plane = np.array([[float(torch.dot(w, along)), float(torch.dot(w, across))] for w in (g, n, v)])
    return ClippingView(
        threshold=float(threshold),
        size=g.numel(),
        norm=norm,
        norm_clipped_norm=float(torch.linalg.vector_norm(n)),
        value_clipped_norm=float(torch.linalg.vector_norm(v)),
        norm_cosine=cosine_similarity(original, [p.grad for p in by_norm]),
        value_cosine=cosine_similarity(original, [p.grad for p in by_value]),
        clamped_fraction=float(torch.mean((g.abs() > threshold).double())),
        plane=plane,
    )
