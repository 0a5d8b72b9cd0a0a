"""gradlab.activation_training: every activation gets identical settings and a full record."""

import pytest

from gradlab.activation_training import compare_activation_training
from gradlab.data import load_digits_split
from gradlab.models import make_mlp
from gradlab.training import train_classifier

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks, as the chapters run them


def test_same_as_training_by_hand():
    data = load_digits_split(seed=0)
    comparison = compare_activation_training(("tanh", "relu"), depth=2, steps=20, data=data)
    model = make_mlp(2, 64, "relu", "xavier", in_features=64, seed=0)
    by_hand = train_classifier(model, data, steps=20, lr=0.1, seed=0)
    assert comparison.records["relu"].losses.tolist() == by_hand.losses.tolist()
    assert list(comparison.records) == ["tanh", "relu"]
    assert comparison.final_loss("relu", last=5) == pytest.approx(by_hand.losses[-5:].mean())
    assert comparison.first_layer_grad_norm("relu") > 0
    assert comparison.table().count("\n") == 3


def test_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        compare_activation_training(("swish",), steps=1)
