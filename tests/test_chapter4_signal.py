"""gradlab.measure.signal (Chapter 4's library measurement) against plain autograd, and Chapter
4's propagation numbers: every ratio the notebook's section 2 states, over several seeds."""

import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from gradlab.chapters.ch04_init_norm import propagation
from gradlab.measure.signal import measure_signal, unit_direction_loss


def small_model():
    generator = torch.Generator().manual_seed(3)
    model = nn.Sequential(
        OrderedDict(
            linear1=nn.Linear(5, 7),
            act1=nn.Tanh(),
            linear2=nn.Linear(7, 4),
            act2=nn.ReLU(),
            head=nn.Linear(4, 3),
        )
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
    return model, torch.randn(6, 5, generator=generator)


def test_measure_signal_matches_plain_autograd():
    model, x = small_model()
    profile = measure_signal(model, x)
    assert profile.names == ("linear1", "linear2", "head")
    # the oracle: the same forward pass written out, gradients by torch.autograd.grad
    z1 = model.linear1(x)
    z2 = model.linear2(torch.tanh(z1))
    out = model.head(torch.relu(z2))
    loss = unit_direction_loss(0)(out)
    grads = torch.autograd.grad(loss, [z1, z2, out, model.linear1.weight, model.head.weight])
    for i, z in enumerate((z1, z2, out)):
        assert profile.activation_std[i] == pytest.approx(z.detach().std().item(), rel=1e-6)
        assert profile.grad_norm[i] == pytest.approx(grads[i].norm().item(), rel=1e-5)
    assert profile.weight_grad_norm[0] == pytest.approx(grads[3].norm().item(), rel=1e-5)
    assert profile.weight_grad_norm[2] == pytest.approx(grads[4].norm().item(), rel=1e-5)
    assert profile.loss == pytest.approx(loss.item(), rel=1e-6)
    assert profile.grad_norm[-1] == pytest.approx(1.0, rel=1e-6)  # unit direction at the output


def test_measure_signal_watches_named_modules_and_removes_its_hooks():
    model, x = small_model()
    profile = measure_signal(model, x, modules={"act1": model.act1}, loss_fn=lambda o: o.sum())
    assert profile.names == ("act1",) and math.isnan(profile.weight_grad_norm[0])
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(ValueError, match="modules"):
        measure_signal(model, x, modules={})


def test_building_the_networks_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    propagation.measure_propagation("relu", "orthogonal", 5, 16)
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize(
    ("init", "torch_init"),
    [
        ("xavier", lambda w, g: nn.init.xavier_normal_(w, generator=g)),
        ("he", lambda w, g: nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g)),
        (
            "xavier, tanh gain",
            lambda w, g: nn.init.xavier_normal_(
                w, gain=nn.init.calculate_gain("tanh"), generator=g
            ),
        ),
    ],
    ids=["xavier", "he", "tanh-gain"],
)
def test_weight_std_is_torchs_own(init, torch_init):
    weight = torch.empty(512, 256)
    torch_init(weight, torch.Generator().manual_seed(0))
    assert propagation.weight_std(init, 256, 512) == pytest.approx(weight.std().item(), rel=0.01)


def test_predicted_ratios_are_the_closed_form():
    assert propagation.predicted_ratio("relu", "he", 256) == pytest.approx(1.0)
    assert propagation.predicted_ratio("relu", "xavier", 256) == pytest.approx(math.sqrt(0.5))
    assert propagation.predicted_ratio("tanh", "xavier", 256) == pytest.approx(1.0)
    assert propagation.predicted_ratio("tanh", "xavier, tanh gain", 256) == pytest.approx(5 / 3)
    assert propagation.predicted_ratio("relu", "orthogonal", 64) == pytest.approx(1.0)
    assert propagation.predicted_ratio("tanh", "too small", 64) == pytest.approx(0.5)
    assert propagation.predicted_ratio("relu", "too large", 64) == pytest.approx(math.sqrt(2))


SEEDS = range(8)


@pytest.fixture(scope="module")
def runs():
    return {
        (activation, init): [
            propagation.measure_propagation(activation, init, 50, 256, seed=s) for s in SEEDS
        ]
        for activation in propagation.ACTIVATIONS
        for init in propagation.INITS
    }


@pytest.mark.parametrize("init", propagation.INITS)
def test_relu_follows_the_prediction_within_3_percent_in_every_seed(runs, init):
    for run in runs[("relu", init)]:
        assert run.forward_ratio == pytest.approx(run.predicted, rel=0.03)
        assert run.backward_ratio == pytest.approx(run.predicted, rel=0.03)


def test_he_relu_keeps_both_signals_within_a_factor_3_over_50_layers(runs):
    for run in runs[("relu", "he")]:
        stds = run.profile.activation_std / run.profile.activation_std[0]
        norms = run.profile.grad_norm / run.profile.grad_norm[-1]
        for values in (stds, norms):
            assert values.min() > 1 / 3 and values.max() < 3


def test_relu_xavier_and_too_large_over_50_layers(runs):
    # the text: 0.71^49 ≈ 4e-8 and 1.41^49 ≈ 2e7; each seed within a factor 4 of it, both ways
    assert math.sqrt(0.5) ** 49 == pytest.approx(4.2e-8, rel=0.01)
    assert math.sqrt(2) ** 49 == pytest.approx(2.37e7, rel=0.01)
    for init in ("xavier", "too large"):
        for run in runs[("relu", init)]:
            forward = run.profile.activation_std[-1] / run.profile.activation_std[0]
            backward = run.profile.grad_norm[0] / run.profile.grad_norm[-1]
            for total in (forward, backward):
                assert 1 / 4 < total / run.predicted**49 < 4


def test_tanh_follows_the_prediction_only_while_the_signal_is_small(runs):
    for run in runs[("tanh", "too small")]:
        assert run.forward_ratio == pytest.approx(0.5, abs=0.005)
        assert run.backward_ratio == pytest.approx(0.5, abs=0.005)
    for run in runs[("tanh", "xavier")]:  # 0.95-0.96 per layer, about 10x less over 50 layers
        assert 0.945 < run.forward_ratio < 0.965 and 0.945 < run.backward_ratio < 0.965
        total = run.profile.activation_std[-1] / run.profile.activation_std[0]
        back = run.profile.grad_norm[0] / run.profile.grad_norm[-1]
        assert 0.05 < total < 0.2 and 0.05 < back < 0.2
    for init in ("xavier, tanh gain", "he", "too large"):  # forward settles, backward grows
        for run in runs[("tanh", init)]:
            assert 0.98 < run.forward_ratio < 1.0 < run.backward_ratio
    for run in runs[("tanh", "xavier, tanh gain")]:  # x1.09 per layer, roughly 100x
        assert 1.085 < run.backward_ratio < 1.10
        assert 50 < run.profile.grad_norm[0] / run.profile.grad_norm[-1] < 200


def test_no_tanh_init_keeps_the_gradient_within_a_factor_2(runs):
    for init in propagation.INITS:
        for run in runs[("tanh", init)]:
            norms = run.profile.grad_norm
            assert norms.max() / norms.min() > 2


def test_the_table_is_the_geometric_mean_of_three_seeds(runs):
    rows = propagation.compare_inits(depth=50, width=256, seeds=(0, 1, 2), inits=("he",))
    relu = next(row for row in rows if row.activation == "relu")
    expected = np.exp(np.mean(np.log([r.forward_ratio for r in runs[("relu", "he")][:3]])))
    assert relu.forward_ratio == pytest.approx(expected, rel=1e-9)
    text = propagation.format_init_table(rows)
    assert "relu  he" in text and text.count("\n") == 2


def test_orthogonal_behaves_like_he_for_relu_and_like_the_tanh_gain_for_tanh(runs):
    """Section 3: the widget's orthogonal rows behave like He (relu) and the tanh gain (tanh)."""
    for like, activation in (("he", "relu"), ("xavier, tanh gain", "tanh")):
        for ortho, gauss in zip(
            runs[(activation, "orthogonal")], runs[(activation, like)], strict=True
        ):
            assert ortho.forward_ratio == pytest.approx(gauss.forward_ratio, rel=0.03)
            assert ortho.backward_ratio == pytest.approx(gauss.backward_ratio, rel=0.03)
