"""Synthetic long-range sequence tasks, generated in code: the adding problem.

Used in notebooks/06_clipping. The adding problem (Hochreiter & Schmidhuber 1997): each sequence
has `length` steps with two input channels, a random value in [0, 1) and a marker that is 1 at
exactly two steps (one in the first half, one in the second) and 0 elsewhere. The target is the
sum of the two marked values. To answer, a network must carry the first marked value across up
to `length` steps. Predicting the mean 1.0 for every sequence scores the mean squared error
BASELINE_MSE = Var(u1 + u2) = 2 × 1/12 = 1/6: a model that does better has learnt something.

Every draw comes from an explicit torch.Generator (no global random state).
"""

from __future__ import annotations

import torch

BASELINE_MSE = 1.0 / 6.0  # MSE of always predicting 1.0, the mean of the sum of two U(0, 1)


def adding_problem(
    batch_size: int, length: int, *, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of the adding problem.

    Returns:
        x: (batch_size, length, 2) float32, channel 0 the values, channel 1 the two markers.
        y: (batch_size, 1) float32, the sum of the two marked values.
    """
    if isinstance(length, bool) or not isinstance(length, int) or length < 2:
        raise ValueError(f"length must be an integer >= 2; got {length!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}")
    values = torch.rand(batch_size, length, generator=generator)
    half = length // 2
    first = torch.randint(0, half, (batch_size,), generator=generator)
    second = torch.randint(half, length, (batch_size,), generator=generator)
    markers = torch.zeros(batch_size, length)
    rows = torch.arange(batch_size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=-1)
    y = (values * markers).sum(dim=1, keepdim=True)
    return x, y
