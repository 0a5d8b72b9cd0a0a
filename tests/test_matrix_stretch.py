"""gradlab.chapters.ch03_exploding.matrix_stretch: the unit circle's image against torch's singular values and eigenvalues."""

import numpy as np
import pytest
import torch

from gradlab.chapters.ch03_exploding.matrix_stretch import map_unit_circle


@pytest.mark.parametrize(
    "matrix",
    [[[1.2, 0.6], [0.3, 0.7]], [[2.0, 0.0], [0.0, 0.5]], [[0.0, -1.0], [1.0, 0.0]]],
    ids=["skewed", "diagonal", "rotation"],
)
def test_unit_circle_image_against_torch(matrix):
    result = map_unit_circle(np.array(matrix), points=2001)
    weight = torch.tensor(matrix, dtype=torch.float64)
    np.testing.assert_allclose(result.singular_values, torch.linalg.svdvals(weight), rtol=1e-12)
    lengths = np.linalg.norm(result.image, axis=0)  # the ellipse's half-axes bound every stretch
    assert lengths.max() == pytest.approx(result.singular_values[0], rel=1e-5)
    assert lengths.min() == pytest.approx(result.singular_values[1], rel=1e-5)
    stretched = np.linalg.norm(result.matrix @ result.stretched_directions, axis=0)
    np.testing.assert_allclose(stretched, result.singular_values, rtol=1e-12)
    eigenvalues = torch.linalg.eigvals(weight)
    assert result.spectral_radius == pytest.approx(float(eigenvalues.abs().max()), rel=1e-12)
    assert result.frobenius_norm == pytest.approx(float(torch.linalg.matrix_norm(weight)))
    assert result.rms_stretch == pytest.approx(np.sqrt(np.mean(result.singular_values**2)))
    if result.eigen_directions is None:
        assert float(eigenvalues.imag.abs().max()) > 0
    else:  # W only scales an eigen-direction: W e = λ e
        for value, direction in zip(result.eigenvalues, result.eigen_directions.T, strict=True):
            np.testing.assert_allclose(result.matrix @ direction, value * direction, atol=1e-12)


def test_unit_circle_rejects_bad_input():
    with pytest.raises(ValueError, match="matrix must be a finite 2 × 2 matrix"):
        map_unit_circle(np.eye(3))
    with pytest.raises(ValueError, match="points must be an integer >= 8"):
        map_unit_circle(np.eye(2), points=3)
