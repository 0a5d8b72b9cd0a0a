"""Small real data that ships offline: scikit-learn's 8x8 digits, normalised and split with a seed.

Used in notebooks/02_activations and 03_exploding for real training runs (no download needed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Split:
    """Train and test tensors: x is (n, 64) float32, y is (n,) int64 class labels 0-9."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def in_features(self) -> int:
        """Number of input features."""
        return int(self.x_train.shape[1])

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return int(torch.max(self.y_train).item()) + 1


def load_digits_split(test_fraction: float = 0.25, seed: int = 0) -> Split:
    """The 1,797 digits, shuffled with `seed`, split, and standardised with the train statistics."""
    if not 0 < test_fraction < 1:
        raise ValueError(
            f"test_fraction must be between 0 and 1 (exclusive); got {test_fraction!r}"
        )
    from sklearn.datasets import load_digits  # imported here: only the training chapters need it

    digits = load_digits()
    x = digits.data.astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(test_fraction * len(x))
    test, train = order[:n_test], order[n_test:]
    mean = x[train].mean(axis=0)
    std = x[train].std(axis=0) + 1e-6  # some border pixels are always 0
    x = (x - mean) / std
    return Split(
        torch.from_numpy(x[train]),
        torch.from_numpy(y[train]),
        torch.from_numpy(x[test]),
        torch.from_numpy(y[test]),
    )
