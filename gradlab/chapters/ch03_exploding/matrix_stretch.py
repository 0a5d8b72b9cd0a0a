"""What a 2 × 2 matrix does to the unit circle: every size of a matrix in one picture.

Used in notebooks/03_exploding (the primer before singular values and spectral radius): W maps the
unit circle to an ellipse whose longest semi-axis is σ_max and shortest σ_min; eigenvectors are the
directions W only scales, and ‖W‖_F/√2 is the typical (rms) stretch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class CircleImage:
    """Where a 2 × 2 matrix W sends the unit circle: an ellipse, with every size of W marked.

    circle and image have shape (2, points): the unit vectors v and W v. The ellipse's longest
    semi-axis is σ_max (along W v_max), its shortest σ_min; eigen_directions (columns, unit length,
    None when the eigenvalues are complex, as for a rotation) are the directions W only scales,
    by the matching eigenvalue.
    """

    matrix: np.ndarray
    circle: np.ndarray
    image: np.ndarray
    singular_values: np.ndarray  # (σ_max, σ_min)
    stretched_directions: np.ndarray  # columns: the unit inputs v_max, v_min stretched most/least
    eigenvalues: np.ndarray  # complex for a rotation
    eigen_directions: np.ndarray | None
    rms_stretch: float  # ‖W‖_F / √2 = √((σ_max² + σ_min²)/2): the typical stretch
    frobenius_norm: float  # √(sum of squared entries) = √(σ_max² + σ_min²)

    @property
    def spectral_radius(self) -> float:
        """ρ(W) = max |eigenvalue|."""
        return float(np.abs(self.eigenvalues).max())

    def summary(self) -> str:
        """The sizes of W in one block of text."""
        largest, smallest = self.singular_values
        if self.eigen_directions is None:
            eigen = "complex (no direction is only scaled: W turns every vector)"
        else:
            eigen = ", ".join(f"{value.real:.2f}" for value in self.eigenvalues)
        rows = ", ".join("[" + ", ".join(f"{v:.2f}" for v in row) + "]" for row in self.matrix)
        return (
            f"W = [{rows}]\n"
            f"longest stretch σ_max = {largest:.2f}, shortest stretch σ_min = {smallest:.2f}\n"
            f"eigenvalues: {eigen}; spectral radius ρ = {self.spectral_radius:.2f}\n"
            f"Frobenius norm ‖W‖_F = {self.frobenius_norm:.2f}; "
            f"rms singular value ‖W‖_F/√2 = {self.rms_stretch:.2f}"
        )


def map_unit_circle(matrix: np.ndarray | torch.Tensor, points: int = 200) -> CircleImage:
    """Apply a real 2 × 2 matrix to `points` unit vectors and measure every size of it."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (2, 2) or not np.all(np.isfinite(matrix)):
        raise ValueError(f"matrix must be a finite 2 × 2 matrix; got {matrix!r}")
    if isinstance(points, bool) or not isinstance(points, int) or points < 8:
        raise ValueError(f"points must be an integer >= 8; got {points!r}")
    angles = np.linspace(0.0, 2 * np.pi, points)
    circle = np.stack([np.cos(angles), np.sin(angles)])
    _, singular_values, right = np.linalg.svd(matrix)
    eigenvalues, eigenvectors = np.linalg.eig(matrix)
    real = bool(np.all(np.abs(eigenvalues.imag) < 1e-12))
    frobenius = float(np.linalg.norm(matrix))
    return CircleImage(
        matrix=matrix,
        circle=circle,
        image=matrix @ circle,
        singular_values=singular_values,
        stretched_directions=right.T,
        eigenvalues=eigenvalues.real if real else eigenvalues,
        eigen_directions=eigenvectors.real if real else None,
        rms_stretch=frobenius / math.sqrt(2),
        frobenius_norm=frobenius,
    )
