"""How much a weight matrix can stretch a gradient: singular values, spectral radius, growth.

Used in notebooks/03_exploding. Backwards through one layer, g_(l-1) = W_lᵀ (f'(z_l) ⊙ g_l), and
‖Wᵀ v‖ ≤ σ_max(W) ‖v‖, so over L layers the gradient grows by about ∏ σ_max(W_l) · slope_l,
where slope_l is the rms of f'(z_l) over the batch: an estimate, not a bound, since the gradient
can lean towards units whose slope is above the rms. With linear layers (slope 1) it is a bound,
reached when every singular value of W is equal (a scaled orthogonal matrix); a random Gaussian W
has σ_max about twice its typical (rms) singular value, so there the estimate overshoots. A matrix
applied again and again (an RNN's W_h) grows a vector like ρ(W)^T in the long run, where ρ is the
spectral radius.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from gradlab.formatting import format_factor, format_magnitude
from gradlab.measure.chain import GradientChain, geometric_mean, grad_norm_curve
from gradlab.models.activations import activation_derivative, activation_function

WEIGHT_KINDS: tuple[str, ...] = ("orthogonal", "gaussian")
CHAIN_ACTIVATIONS: tuple[str, ...] = ("linear", "tanh", "relu")


def _as_array(weight: torch.Tensor) -> np.ndarray:
    return weight.detach().cpu().to(torch.float64).numpy()


def largest_singular_value(weight: torch.Tensor) -> float:
    """σ_max(W): the most W (or Wᵀ) can stretch any vector, ‖Wv‖ ≤ σ_max ‖v‖."""
    return float(np.linalg.norm(_as_array(weight), ord=2))


def spectral_radius(weight: torch.Tensor) -> float:
    """ρ(W) = max |eigenvalue| of a square W: the long-run growth per application of W."""
    if weight.ndim != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"weight must be a square matrix; got shape {tuple(weight.shape)}")
    return float(np.abs(np.linalg.eigvals(_as_array(weight))).max())


def rms_singular_value(weight: torch.Tensor) -> float:
    """‖W‖_F / √min(shape): the typical stretch of a random direction (std(W)·√fan_in)."""
    return float(np.linalg.norm(_as_array(weight)) / math.sqrt(min(weight.shape)))


@dataclass(frozen=True)
class MatrixSpectrum:
    """Three sizes of one square matrix: worst-case stretch, long-run growth, typical stretch."""

    largest_singular_value: float
    spectral_radius: float
    rms_singular_value: float


def describe_matrix(weight: torch.Tensor) -> MatrixSpectrum:
    """σ_max, ρ and the rms singular value of a square matrix."""
    return MatrixSpectrum(
        largest_singular_value(weight), spectral_radius(weight), rms_singular_value(weight)
    )


def make_weights(
    depth: int,
    width: int,
    weight_scale: float,
    kind: str = "orthogonal",
    *,
    generator: torch.Generator,
) -> torch.Tensor:
    """`depth` float32 width × width matrices, shape (depth, width, width): weight_scale × Q.

    Q is a random orthogonal matrix (every singular value of the result equals weight_scale), or
    a Gaussian with std 1/√width (rms singular value ≈ scale, σ_max ≈ 2 × scale, ρ ≈ scale).
    """
    if kind not in WEIGHT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(WEIGHT_KINDS)}; got {kind!r}")
    if not (weight_scale > 0 and math.isfinite(weight_scale)):
        raise ValueError(f"weight_scale must be a finite number > 0; got {weight_scale!r}")
    gaussian = torch.randn(depth, width, width, generator=generator, dtype=torch.float64)
    if kind == "gaussian":
        return (weight_scale / math.sqrt(width) * gaussian).float()
    q, r = np.linalg.qr(
        gaussian.cpu().numpy()
    )  # numpy's batched QR is much faster than torch's here
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]  # makes Q uniform (Haar)
    return torch.from_numpy(weight_scale * q).float()


@dataclass(frozen=True, kw_only=True)
class GrowthMeasurement(GradientChain):
    """One backward pass through h_l = f(W_l h_(l-1)), predicted beside measured.

    A GradientChain: grad_norms[l] = ‖∂L/∂h_l‖ for l = 0..depth (0 = input, depth = output, where
    it is 1); predicted_factors = σ_max(W_l) × slope_l, the estimate of what layer l multiplies
    the gradient by. Per layer (index 0 = first): largest_singular_values σ_max(W_l),
    rms_singular_values (the typical stretch), slopes = rms f'(z_l) over the batch.
    """

    weight_scale: float  # every W_l is weight_scale × a random orthogonal or Gaussian matrix
    kind: str  # 'orthogonal' or 'gaussian' (WEIGHT_KINDS)
    activation: str  # f: 'linear', 'tanh' or 'relu' (CHAIN_ACTIVATIONS)
    largest_singular_values: np.ndarray  # σ_max(W_l) per layer
    rms_singular_values: np.ndarray  # ‖W_l‖_F / √width per layer
    slopes: np.ndarray  # rms f'(z_l) over the batch per layer (1 for linear)

    @property
    def typical_factors(self) -> np.ndarray:
        """rms singular value × slope_l: what layer l does to a gradient in a random direction."""
        return self.rms_singular_values * self.slopes

    @property
    def predicted_growth(self) -> float:
        """∏ σ_max × slope: the predicted gradient at the input (the output's is 1)."""
        return self.total_predicted

    @property
    def typical_growth(self) -> float:
        """∏ rms singular value × slope."""
        with np.errstate(all="ignore"):
            return float(np.prod(self.typical_factors))

    @property
    def measured_growth(self) -> float:
        """‖∂L/∂h_0‖ / ‖∂L/∂h_L‖ from the real backward pass."""
        return self.total_measured

    @property
    def typical_grad_norms(self) -> np.ndarray:
        """‖∂L/∂h_l‖ from the typical factors, for l = 0..depth."""
        return grad_norm_curve(self.typical_factors, self.grad_norms[-1])

    def summary(self) -> str:
        """Three lines: the matrices, the per-layer factor, and the growth over depth."""
        sigma = geometric_mean(self.largest_singular_values)
        rms = geometric_mean(self.rms_singular_values)
        slope = geometric_mean(self.slopes)
        with np.errstate(all="ignore"):
            per_layer = self.measured_growth ** (1.0 / self.depth)
        layers = "layer" if self.depth == 1 else "layers"
        inactive = int(np.sum(self.slopes == 0))  # relu: no unit had a positive pre-activation
        silent = (
            f" (in {inactive} of {self.depth} {layers} no unit is active: {self.activation}′ = 0, "
            "nothing flows back)"
            if inactive
            else ""
        )
        return (
            f"{self.kind} W × {self.weight_scale:.2f}, {self.activation}: "
            f"σ_max = {_size(sigma)}, rms singular value = {_size(rms)}, slope = {_size(slope)}"
            f"{silent}\n"
            f"per layer: estimate σ_max × slope: {format_factor(sigma * slope)}, "
            f"typical rms × slope: {format_factor(rms * slope)}, "
            f"measured: {_growth(per_layer)}\n"
            f"over {self.depth} {layers}: estimate {format_factor(self.predicted_growth)}, "
            f"measured {_growth(self.measured_growth)}"
            + (f" ({self.status})" if _is_positive(self.measured_growth) else "")
        )


def _is_positive(value: float) -> bool:
    """Finite and > 0: a value that prints as a number (0, inf, nan print as a phrase)."""
    return math.isfinite(value) and value > 0


def _growth(value: float) -> str:
    """A measured growth: the output's gradient is 1, so nan here means the gradient overflowed."""
    return format_magnitude(value) if math.isnan(value) else format_factor(value)


def _size(value: float) -> str:
    """A σ or slope with two decimals; nan (the forward pass overflowed) as 'undefined (nan)'."""
    return f"{value:.2f}" if math.isfinite(value) else format_factor(value)


def _slope(activation: str, pre_activation: torch.Tensor) -> float:
    if activation == "linear":
        return 1.0
    finite = pre_activation[torch.isfinite(pre_activation)]
    if finite.numel() == 0:
        return math.nan  # the forward pass overflowed everywhere
    slope = activation_derivative(activation, finite.cpu().double())
    return float(torch.sqrt(torch.mean(slope * slope)))


def measure_growth(
    depth: int,
    weight_scale: float,
    *,
    kind: str = "orthogonal",
    activation: str = "linear",
    width: int = 32,
    batch_size: int = 32,
    seed: int = 0,
) -> GrowthMeasurement:
    """Build depth matrices, run one real float32 forward + backward pass, measure and predict.

    The loss is ⟨v, h_L⟩ with a random v of norm 1, so ‖∂L/∂h_L‖ = 1 and ‖∂L/∂h_0‖ is the growth.
    Overflow is kept as inf/nan (labelled 'exploded'), never raised.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be an integer >= 1; got {depth!r}")
    if activation not in CHAIN_ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {', '.join(CHAIN_ACTIVATIONS)}; got {activation!r}"
        )
    generator = torch.Generator().manual_seed(seed)
    weights = make_weights(depth, width, weight_scale, kind, generator=generator)
    x = torch.randn(batch_size, width, generator=generator)
    upstream = torch.randn(batch_size, width, generator=generator)
    upstream = upstream / torch.linalg.vector_norm(upstream)
    f = (lambda z: z) if activation == "linear" else activation_function(activation)
    hidden = [x.requires_grad_(True)]
    pre_activations = []
    for weight in weights:
        pre_activations.append(hidden[-1] @ weight.T)
        hidden.append(f(pre_activations[-1]))
    loss = (hidden[-1] * upstream).sum()
    grads = torch.autograd.grad(loss, hidden)
    stack = weights.cpu().double().numpy()
    largest = np.linalg.svd(stack, compute_uv=False)[:, 0]
    slopes = np.array([_slope(activation, z.detach()) for z in pre_activations])
    return GrowthMeasurement(
        layer_names=tuple(f"layer{layer}" for layer in range(1, depth + 1)),
        grad_norms=np.array([float(torch.linalg.vector_norm(g.cpu().double())) for g in grads]),
        predicted_factors=largest * slopes,
        weight_scale=float(weight_scale),
        kind=kind,
        activation=activation,
        largest_singular_values=largest,
        rms_singular_values=np.linalg.norm(stack, axis=(1, 2)) / math.sqrt(width),
        slopes=slopes,
    )


def repeated_growth_rate(weight: torch.Tensor, steps: int = 200, *, seed: int = 0) -> float:
    """Per-step growth of ‖(Wᵀ)^k v‖ over the last half of `steps` applications (→ ρ(W))."""
    generator = torch.Generator().manual_seed(seed)
    matrix = weight.detach().cpu().double()
    v = torch.randn(matrix.shape[0], generator=generator, dtype=torch.float64)
    log_norms = []
    for _ in range(steps):
        v = matrix.T @ v
        norm = torch.linalg.vector_norm(v)
        log_norms.append(float(torch.log(norm)) if norm > 0 else -math.inf)
        v = v / norm  # renormalise so the power iteration never overflows; the log keeps score
    half = steps // 2
    return math.exp(sum(log_norms[half:]) / (steps - half))


@dataclass(frozen=True)
class SpectrumRow:
    """One weight scale: the three sizes of a Gaussian W, and its measured repeated growth."""

    weight_scale: float
    spectrum: MatrixSpectrum
    repeated_growth: float


def compare_spectra(
    scales: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0), *, width: int = 64, seed: int = 0
) -> list[SpectrumRow]:
    """For Gaussian W of each scale: σ_max, ρ, rms singular value, and growth per repeated step."""
    rows = []
    for scale in scales:
        generator = torch.Generator().manual_seed(seed)
        weight = make_weights(1, width, scale, "gaussian", generator=generator)[0]
        rows.append(SpectrumRow(scale, describe_matrix(weight), repeated_growth_rate(weight)))
    return rows


def format_spectra(rows: list[SpectrumRow]) -> str:
    """The rows of compare_spectra as a text table."""
    lines = ["scale | σ_max (worst case) | ρ (eigenvalue) | rms singular value | growth per W^T"]
    for row in rows:
        s = row.spectrum
        lines.append(
            f"{row.weight_scale:>5.2f} | {s.largest_singular_value:>18.3f} | "
            f"{s.spectral_radius:>14.3f} | {s.rms_singular_value:>18.3f} | "
            f"{row.repeated_growth:>14.3f}"
        )
    return "\n".join(lines)
