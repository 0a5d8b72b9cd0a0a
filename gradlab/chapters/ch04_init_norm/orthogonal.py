"""Orthogonal initialisation (Chapter 4, section 3): every singular value 1, measured.

Chapter 3's view of a weight matrix: σ_max bounds one backward step, the rms singular value is
the typical stretch. nn.init.orthogonal_ makes them equal (all singular values are the gain), so
a chain of linear layers keeps every gradient's norm exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gradlab.measure.spectral import MatrixSpectrum, describe_matrix

WEIGHT_INITS = ("orthogonal", "xavier")
TINY = 1e-12  # below this, σ_min of the chain's product is rounding noise (float64, σ_max ≈ 10)


def make_weight(init: str, width: int, seed: int = 0) -> torch.Tensor:
    """A width × width matrix from torch's nn.init.orthogonal_ or nn.init.xavier_normal_ (gain 1)."""
    generator = torch.Generator().manual_seed(seed)
    weight = torch.empty(width, width)
    if init == "orthogonal":
        return nn.init.orthogonal_(weight, generator=generator)
    if init == "xavier":
        return nn.init.xavier_normal_(weight, generator=generator)
    raise ValueError(f"init must be one of {', '.join(WEIGHT_INITS)}; got {init!r}")


@dataclass(frozen=True)
class OrthogonalCheck:
    """One matrix's singular values and what 50 such linear layers do to a gradient."""

    init: str
    smallest_singular_value: float
    spectrum: MatrixSpectrum  # σ_max, spectral radius, rms singular value (Chapter 3)
    chain_growth: float  # ‖∂L/∂x‖ through `depth` linear layers, ‖∂L/∂output‖ = 1
    chain_largest: float  # σ_max of the chain's Jacobian (the product of the `depth` matrices)
    chain_smallest: float  # σ_min of that product: the most a gradient direction can shrink
    depth: int


def check_init(init: str, width: int = 256, depth: int = 50, seed: int = 0) -> OrthogonalCheck:
    """Singular values of one matrix, and the gradient norm through a chain of `depth` of them."""
    weight = make_weight(init, width, seed)
    smallest = float(torch.linalg.svdvals(weight).min())
    weights = [make_weight(init, width, seed + 1 + layer) for layer in range(depth)]
    x = torch.randn(16, width, generator=torch.Generator().manual_seed(seed), requires_grad=True)
    h = x
    for w in weights:
        h = h @ w.T
    upstream = torch.randn(16, width, generator=torch.Generator().manual_seed(seed + 999))
    (h * (upstream / torch.linalg.vector_norm(upstream))).sum().backward()
    growth = float(torch.linalg.vector_norm(x.grad.double()))
    product = torch.eye(width, dtype=torch.float64)
    for w in weights:
        product = w.double() @ product
    chain = torch.linalg.svdvals(product)
    return OrthogonalCheck(
        init,
        smallest,
        describe_matrix(weight),
        growth,
        float(chain.max()),
        float(chain.min()),
        depth,
    )


def format_checks(checks: list[OrthogonalCheck]) -> str:
    """A small table: σ_min, σ_max, rms singular value, and the chain's gradient norm."""
    lines = [
        f"{'init':<11} {'σ_min':>6} {'σ_max':>6} {'rms σ':>6} | chain of {checks[0].depth}: "
        "σ_max, σ_min, ‖∂L/∂x‖ of one random gradient"
    ]
    for c in checks:
        s = c.spectrum
        lines.append(
            f"{c.init:<11} {c.smallest_singular_value:>6.2f} {s.largest_singular_value:>6.2f} "
            f"{s.rms_singular_value:>6.2f} | {c.chain_largest:.1f}, {_tiny(c.chain_smallest)}, "
            f"{c.chain_growth:.1f}"
        )
    return "\n".join(lines)


def _tiny(value: float) -> str:
    """σ_min of a product of 50 Gaussian matrices is below float64's resolution of it: say so."""
    return "below 1e-12" if value < TINY else f"{value:.2f}"


def singular_value_spread(init: str, width: int = 256, seed: int = 0) -> np.ndarray:
    """All singular values of one matrix (largest first)."""
    return torch.linalg.svdvals(make_weight(init, width, seed)).numpy()
