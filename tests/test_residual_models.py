"""gradlab.models.residual: names, init, the block's forward against a hand-written one, errors."""

import math

import pytest
import torch

from gradlab.models.residual import (
    BRANCH_INITS,
    NORMS,
    ORDERS,
    SHORTCUTS,
    make_residual_mlp,
)


def test_shapes_and_readable_names():
    model = make_residual_mlp(depth=3, width=16, in_features=8, out_features=4)
    assert model(torch.randn(5, 8)).shape == (5, 4)
    names = {name for name, _ in model.named_modules()}
    assert {"stem", "blocks.2", "blocks.2.linear1", "blocks.2.linear2", "head"} <= names
    assert model.layers is model.blocks


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("shortcut", ["identity", "none"])
def test_block_matches_the_formula(order, shortcut):
    model = make_residual_mlp(depth=2, width=8, order=order, shortcut=shortcut, seed=3)
    block = model.blocks[1]
    x = torch.randn(4, 8)
    w1, b1 = block.linear1.weight, block.linear1.bias
    w2, b2 = block.linear2.weight, block.linear2.bias
    if order == "pre":
        branch = torch.relu(torch.relu(x) @ w1.T + b1) @ w2.T + b2
        expected = branch + (x if shortcut == "identity" else 0)
    else:
        branch = torch.relu(x @ w1.T + b1) @ w2.T + b2
        expected = torch.relu(branch + (x if shortcut == "identity" else 0))
    torch.testing.assert_close(block(x), expected)


def test_plain_and_residual_share_weights():
    plain = make_residual_mlp(depth=4, width=8, shortcut="none", seed=2)
    residual = make_residual_mlp(depth=4, width=8, seed=2)
    for a, b in zip(plain.parameters(), residual.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("branch_init", BRANCH_INITS)
def test_branch_init_sets_the_last_layer(branch_init):
    depth, width = 16, 256
    model = make_residual_mlp(depth=depth, width=width, branch_init=branch_init, seed=1)
    he = math.sqrt(2 / width)
    first = model.blocks[3].linear1.weight.std().item()
    last = model.blocks[3].linear2.weight.std().item()
    assert first == pytest.approx(he, rel=0.03)
    expected = {"standard": he, "zero": 0.0, "scaled": he / math.sqrt(depth)}[branch_init]
    assert last == pytest.approx(expected, rel=0.03, abs=1e-12)


def test_zero_init_blocks_are_the_identity():
    model = make_residual_mlp(depth=5, width=8, branch_init="zero")
    x = torch.randn(3, 8)
    for block in model.blocks:
        assert torch.equal(block(x), x)


@pytest.mark.parametrize("shortcut", SHORTCUTS)
@pytest.mark.parametrize("norm", NORMS)
def test_every_option_builds_and_runs(shortcut, norm):
    model = make_residual_mlp(depth=3, width=8, shortcut=shortcut, norm=norm, order="post")
    out = model(torch.randn(6, 8))
    assert out.shape == (6, 10) and bool(torch.isfinite(out).all())
    assert (model.blocks[0].shortcut is None) == (shortcut == "none")


def test_building_does_not_move_the_global_rng():
    state = torch.get_rng_state()
    make_residual_mlp(depth=3, width=8, shortcut="linear", norm="batch")
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"depth": 0}, "depth"),
        ({"shortcut": "skip"}, "shortcut must be one of"),
        ({"order": "middle"}, "order must be one of"),
        ({"branch_init": "tiny"}, "branch_init"),
        ({"norm": "group"}, "norm"),
        ({"weight_scale": -1.0}, "weight_scale"),
        ({"activation": "swish"}, "activation"),
    ],
)
def test_errors_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_residual_mlp(**kwargs)
