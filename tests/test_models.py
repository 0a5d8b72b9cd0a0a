"""gradlab.models.mlp: shapes, names, init statistics and argument errors."""

import math

import pytest
import torch

from gradlab.measure.activation_stats import classify_activation
from gradlab.models.activations import ACTIVATIONS, activation_function
from gradlab.models.mlp import INITS, activation_module, activation_name, init_std, make_mlp


def test_shapes_and_names():
    model = make_mlp(depth=3, width=16, activation="tanh", in_features=8, out_features=4)
    assert model(torch.randn(5, 8)).shape == (5, 4)
    names = {name for name, _ in model.named_modules()}
    assert {"layers.0", "layers.0.linear", "layers.2.activation", "head"} <= names


@pytest.mark.parametrize("init", INITS)
def test_weight_std_follows_init_and_scale(init):
    model = make_mlp(depth=4, width=256, init=init, weight_scale=0.5, seed=1)
    weight = model.layers[1].linear.weight.detach()
    assert float(weight.std()) == pytest.approx(init_std(init, 256, 256, 0.5), rel=0.02)
    assert float(model.layers[1].linear.bias.detach().abs().max()) == 0.0


def test_he_std_closed_form():
    assert init_std("he", 100, 7) == pytest.approx(math.sqrt(2 / 100))
    assert init_std("xavier", 100, 300) == pytest.approx(math.sqrt(2 / 400))


def test_seed_reproducible_and_distinct():
    a, b, c = make_mlp(seed=3), make_mlp(seed=3), make_mlp(seed=4)
    assert torch.equal(a.layers[0].linear.weight, b.layers[0].linear.weight)
    assert not torch.equal(a.layers[0].linear.weight, c.layers[0].linear.weight)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"depth": 0}, "depth must be an integer >= 1; got 0"),
        ({"width": -1}, "width must be an integer >= 1; got -1"),
        ({"init": "orthogonal"}, "init must be one of xavier, he, normal; got 'orthogonal'"),
        ({"weight_scale": 0}, "weight_scale must be a number > 0; got 0"),
        ({"weight_scale": -2.0}, "weight_scale must be a number > 0"),
        ({"activation": "softplus"}, "activation must be one of"),
    ],
    ids=["depth0", "width-1", "init", "scale0", "scale-neg", "activation"],
)
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_mlp(**kwargs)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_module_computes_the_named_function(name):
    x = torch.linspace(-6, 6, 241)
    torch.testing.assert_close(activation_module(name)(x), activation_function(name)(x))


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_model_activations_are_recognised_by_the_monitor(name):
    """Dead-unit and saturation statistics need torch's activation classes, not a wrapper."""
    model = make_mlp(depth=2, width=4, activation=name, init="he", seed=0)
    assert classify_activation(model.layers[0].activation) != ""


def test_activation_name_reads_torch_modules_back():
    assert activation_name(torch.nn.ReLU(inplace=True)) == "relu"
    assert activation_name(torch.nn.LeakyReLU()) == "leaky_relu"
    assert activation_name(torch.nn.GELU()) == "gelu"
    # another slope or approximation has another derivative: no closed form, no name
    assert activation_name(torch.nn.LeakyReLU(0.2)) is None
    assert activation_name(torch.nn.GELU(approximate="tanh")) is None
    assert activation_name(torch.nn.Linear(2, 2)) is None
    assert all(activation_name(activation_module(name)) == name for name in ACTIVATIONS)


def test_building_a_model_never_moves_the_global_random_state() -> None:
    """gradlab draws from its own seeded generators: a learner's torch.manual_seed stream is theirs."""
    torch.manual_seed(123)
    state = torch.get_rng_state().clone()
    first = make_mlp(depth=3, width=8, in_features=4, out_features=2, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    second = make_mlp(depth=3, width=8, in_features=4, out_features=2, seed=7)
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b) and torch.isfinite(a).all()
