"""gradlab.chapters.ch02_activations.depth against gradlab.measure.probe and plain autograd."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gradlab.chapters.ch02_activations.depth import compute_gradient_after_depth
from gradlab.measure.probe import make_batch
from gradlab.models.mlp import make_mlp

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks, as the chapters run them


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_matches_plain_autograd(activation):
    comparison = compute_gradient_after_depth(5, "xavier", activations=[activation], seeds=1)
    model = make_mlp(5, 64, activation, "xavier", seed=0)
    x = make_batch(64, 64, seed=0).requires_grad_(True)
    hidden = []
    handle = model.layers[-1].register_forward_hook(lambda m, i, o: hidden.append(o))
    output = model(x)
    handle.remove()
    y = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(0))
    grad_x, grad_h = torch.autograd.grad(F.cross_entropy(output, y), [x, hidden[0]])
    expected = float(grad_x.norm() / grad_h.norm())
    assert comparison.remaining_of(activation) == pytest.approx(expected, rel=1e-5)


def test_seeds_combine_by_geometric_mean():
    comparison = compute_gradient_after_depth(4, "he", activations=["tanh"], seeds=3)
    assert comparison.per_seed.shape == (1, 3)
    expected = float(np.prod(comparison.per_seed[0]) ** (1 / 3))
    assert comparison.remaining[0] == pytest.approx(expected)


def test_ranking_and_table():
    comparison = compute_gradient_after_depth(6, "xavier", activations=["sigmoid", "tanh"])
    assert comparison.ranking() == ("tanh", "sigmoid")
    assert comparison.table().count("\n") == 3


@pytest.mark.parametrize("seeds", [0, 1.5, True])
def test_bad_seeds(seeds):
    with pytest.raises(ValueError, match="seeds"):
        compute_gradient_after_depth(3, seeds=seeds)


def test_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        compute_gradient_after_depth(3, activations=["swish"])
