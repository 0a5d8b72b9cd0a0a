"""gradlab.training.data: the digits split is complete, disjoint, reproducible and standardised."""

import pytest
import torch

from gradlab.training.data import load_digits_split


def test_split_sizes_and_normalisation():
    data = load_digits_split(test_fraction=0.25, seed=0)
    assert len(data.x_train) + len(data.x_test) == 1797
    assert len(data.x_test) == round(0.25 * 1797)
    assert data.in_features == 64 and data.num_classes == 10
    mean = data.x_train.mean(dim=0)
    assert float(mean.abs().max()) < 1e-4
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64


def test_seed_controls_the_shuffle():
    a, b, c = load_digits_split(seed=1), load_digits_split(seed=1), load_digits_split(seed=2)
    assert torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_test, c.y_test)


def test_bad_fraction():
    with pytest.raises(ValueError, match="test_fraction must be between 0 and 1"):
        load_digits_split(test_fraction=1.5)
