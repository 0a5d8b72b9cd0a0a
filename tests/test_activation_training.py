"""gradlab.chapters.ch02_activations.training_comparison: every activation gets identical settings and a full record."""

import numpy as np
import pytest

from gradlab.chapters.ch02_activations.training_comparison import (
    compare_activation_training,
    study_activation_training,
)
from gradlab.models.mlp import make_mlp
from gradlab.training.data import load_digits_split
from gradlab.training.loop import train_classifier

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


def test_study_repeats_the_comparison_per_seed():
    data = load_digits_split(seed=0)
    study = study_activation_training(
        ("sigmoid", "relu"), seeds=(0, 2), depth=2, steps=15, data=data
    )
    by_hand = compare_activation_training(("sigmoid", "relu"), depth=2, steps=15, seed=2, data=data)
    assert study.comparisons[1].seed == 2
    assert study.test_accuracies("relu")[1] == by_hand.records["relu"].test_accuracy
    assert study.final_losses("sigmoid")[1] == pytest.approx(by_hand.final_loss("sigmoid"))
    assert study.layer_names() == ("layers.0", "layers.1", "head")
    record = by_hand.records["sigmoid"]
    columns = [record.parameter_names.index(f"{n}.weight") for n in ("layers.0.linear", "head")]
    expected = np.median(record.grad_norms[:, columns], axis=0)
    np.testing.assert_allclose(study.layer_grad_norms("sigmoid")[1][[0, 2]], expected)
    assert study.table().count("\n") == 3 and study.layer_table().count("\n") == 3
    with pytest.raises(ValueError, match="seeds"):
        study_activation_training(seeds=(), data=data)


def test_train_classifier_is_the_plain_loop_chapter_2_shows():
    # notebooks/02_activations shows this loop and says gradlab runs "this same loop"
    import torch
    import torch.nn.functional as F

    data = load_digits_split(seed=0)
    model = make_mlp(4, 64, "sigmoid", "xavier", in_features=64, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(30):
        index = torch.randint(0, len(data.x_train), (64,), generator=generator)
        loss = F.cross_entropy(model(data.x_train[index]), data.y_train[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    record = train_classifier(
        make_mlp(4, 64, "sigmoid", "xavier", in_features=64, seed=0), data, steps=30, seed=0
    )
    assert record.losses.tolist() == losses
