"""gradlab.training.loop: recorded gradient norms match autograd; divergence is located."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gradlab.models.mlp import make_mlp
from gradlab.training.data import load_digits_split
from gradlab.training.loop import train_classifier


@pytest.fixture(scope="module")
def data():
    return load_digits_split(seed=0)


def test_first_step_norms_match_autograd(data):
    model = make_mlp(3, 32, "tanh", "xavier", in_features=64, seed=1)
    reference = make_mlp(3, 32, "tanh", "xavier", in_features=64, seed=1)
    record = train_classifier(model, data, steps=1, lr=0.1, batch_size=16, seed=4)
    index = torch.randint(0, len(data.x_train), (16,), generator=torch.Generator().manual_seed(4))
    loss = F.cross_entropy(reference(data.x_train[index]), data.y_train[index])
    loss.backward()
    expected = [float(p.grad.norm()) for p in reference.parameters()]
    np.testing.assert_allclose(record.grad_norms[0], expected, rtol=1e-5)
    assert record.losses[0] == pytest.approx(float(loss.detach()), rel=1e-6)
    assert record.global_grad_norms[0] == pytest.approx(np.sqrt(np.sum(np.square(expected))))


def test_training_learns_digits(data):
    model = make_mlp(3, 64, "relu", "he", in_features=64, seed=0)
    record = train_classifier(model, data, steps=200, lr=0.1)
    assert record.losses[-20:].mean() < record.losses[:5].mean() / 4
    assert record.test_accuracy > 0.85
    assert record.first_nonfinite_step is None and record.first_nonfinite_parameter is None


def test_divergent_run_is_located(data):
    model = make_mlp(6, 64, "relu", "he", in_features=64, seed=0)
    record = train_classifier(model, data, steps=50, lr=5.0)
    step = record.first_nonfinite_step
    assert step is not None and step == len(record.losses) - 1  # stopped right there
    assert np.all(np.isfinite(record.losses[:step]))
    assert record.first_nonfinite_parameter in record.parameter_names


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"optimizer": "rmsprop"}, "optimizer must be one of sgd, adam"), ({"lr": 0}, "lr must")],
)
def test_bad_arguments(data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_classifier(make_mlp(1, 4, in_features=64), data, **kwargs)
