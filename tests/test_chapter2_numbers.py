"""The numbers notebooks/02_activations states in its prose, recomputed the way it computes them.

If a change in gradlab moves one of these, the chapter's text must be rewritten with it.
"""

import math

import numpy as np
import pytest
import torch

from gradlab.chapters.ch02_activations.dead_units import (
    RECOVERY_ACTIVATIONS,
    SEEDS,
    measure_dead_fraction_vs_bias,
    study_dead_unit_recovery,
)
from gradlab.chapters.ch02_activations.depth import compute_gradient_after_depth
from gradlab.chapters.ch02_activations.training_comparison import study_activation_training
from gradlab.measure.probe import make_batch
from gradlab.measure.spectral import largest_singular_value, rms_singular_value
from gradlab.models.activations import activation_derivative, max_derivative, saturation_zone
from gradlab.models.mlp import make_mlp
from gradlab.theory import sigmoid_bound
from gradlab.training.data import load_digits_split

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks, as the chapters run them


@pytest.fixture(scope="module")
def data():
    return load_digits_split(seed=0)


def test_sigmoid_bound():
    assert max_derivative("sigmoid") == pytest.approx(0.25)
    assert f"{sigmoid_bound(10):.2e}" == "9.54e-07"  # "about a millionth"
    assert f"{sigmoid_bound(20):.2e}" == "9.09e-13"  # "about a trillionth"


def test_saturation_zones_and_rules_of_thumb():
    assert saturation_zone("sigmoid", 0.05).describe() == "x < -2.89 or x > 2.89"
    assert saturation_zone("tanh", 0.1).describe() == "x < -1.82 or x > 1.82"
    assert float(activation_derivative("sigmoid", 3.0)) < 0.05  # the rule of thumb holds
    assert float(activation_derivative("tanh", 2.0)) < 0.1


def test_gradient_after_ten_layers():
    xavier = compute_gradient_after_depth(10, "xavier")
    he = compute_gradient_after_depth(10, "he")
    assert xavier.remaining_of("sigmoid") < 1e-6  # "below 0.01%": 4.6e-05 %
    assert 0.1 * 0.23**10 < xavier.remaining_of("sigmoid") < 10 * 0.23**10
    assert f"{xavier.remaining_of('sigmoid') ** (1 / 10):.2f}" == "0.23"  # "about 0.23 per layer"
    assert f"{0.5**5:.2%}" == "3.12%"  # the printed prediction (√½)^10 for ReLU with gain-1 weights
    for name in ("relu", "leaky_relu"):  # the seed's 2.8%: "a little short of" (√½)^10 = 1/32
        assert 0.8 * 0.5**5 < xavier.remaining_of(name) < 0.5**5
    assert xavier.remaining_of("tanh") > 8 * xavier.remaining_of("relu")  # "ten times more"
    assert 0.2 < xavier.remaining_of("tanh") < 0.35  # "roughly a quarter"
    assert xavier.remaining_of("gelu") < xavier.remaining_of("relu")
    assert xavier.remaining_of("silu") < xavier.remaining_of("relu")
    assert xavier.remaining_of("elu") > xavier.remaining_of("relu")
    for name in ("relu", "leaky_relu", "gelu", "tanh"):  # "roughly 100%" with He
        assert 0.8 < he.remaining_of(name) < 1.25
    assert he.remaining_of("sigmoid") < 1e-4


@pytest.fixture(scope="module")
def high_lr(data):
    return study_dead_unit_recovery(kill_lr=0.1, seeds=SEEDS, data=data)


@pytest.fixture(scope="module")
def bias_kill(data):
    return study_dead_unit_recovery(bias_shift=-4.0, seeds=SEEDS, data=data)


@pytest.fixture(scope="module")
def training(data):
    return study_activation_training(data=data)


def test_dead_units_vs_bias(data):
    assert len(data.x_train) == 1348  # "all the training digits", printed
    by_bias = measure_dead_fraction_vs_bias(data=data)
    assert by_bias[0.0].dead_fraction < 0.02
    assert by_bias[-4.0].dead_fraction == pytest.approx(0.55, abs=0.01)
    assert by_bias[-4.0].dead_fractions[0] == pytest.approx(0.17, abs=0.01)
    assert list(by_bias[-4.0].dead_fractions) == sorted(by_bias[-4.0].dead_fractions)  # deeper


def test_high_learning_rate_kill(high_lr):
    relu_killed = high_lr.fractions("relu", "after_kill")
    assert relu_killed.min() > 0.2  # "over a fifth ... in every seed"
    for name in ("leaky_relu", "gelu", "silu"):  # "the other activations lose fewer"
        assert (high_lr.fractions(name, "after_kill") < relu_killed).all()
    # "all of these dead units sit in the deeper layers: none in the first, in every seed"
    assert (high_lr.fractions("relu", "after_kill", layer=0) == 0).all()
    assert (high_lr.fractions("relu", "after_kill", layer=2) > 0.1).all()
    for name in RECOVERY_ACTIVATIONS:  # "high accuracy with its survivors in every seed"
        assert high_lr.test_accuracies(name).min() > 0.8


def test_recovery_from_negative_bias(bias_kill):
    start = bias_kill.fractions("relu", "after_kill")
    for name in RECOVERY_ACTIVATIONS:  # all start from the same never-positive units
        after_kill = bias_kill.fractions(name, "after_kill")
        assert ((after_kill > 0.3) & (after_kill < 0.6)).all()  # "a third to a half"
        assert bias_kill.fractions(name, "after_kill") == pytest.approx(start, abs=0.02)
    assert (bias_kill.fractions("relu", "after_kill", layer=0) > 0).all()  # not vacuous: 1+ dead
    assert bias_kill.first_layer_stayed_off("relu")  # "not one of them changes"
    leaky_left = bias_kill.fractions("leaky_relu", "after_recovery")
    assert leaky_left.max() < 0.1
    for name in ("relu", "gelu", "silu"):  # quiz: Leaky ReLU ends with the fewest, every seed
        assert (leaky_left < bias_kill.fractions(name, "after_recovery")).all()
    for name in ("relu", "gelu", "silu"):  # "turn positive again" / deeper ReLUs "do come back"
        after = bias_kill.fractions(name, "after_recovery")
        assert (after < bias_kill.fractions(name, "after_kill")).all()
    assert bias_kill.median_accuracy_verdict("leaky_relu") == "median above 80%"
    assert bias_kill.median_accuracy_verdict("silu") == "median above 80%"
    assert bias_kill.median_accuracy_verdict("relu") == "median below 50%"
    assert bias_kill.median_accuracy_verdict("gelu") == "median below 50%"
    assert bias_kill.separates(("leaky_relu", "silu"), ("relu", "gelu"))
    for name, slope in (("gelu", -5e-4), ("silu", -0.05)):
        assert float(activation_derivative(name, -4.0)) == pytest.approx(slope, rel=0.1)


def test_training_comparison(training):
    assert len(training.seeds) == 3
    sigmoid_losses = training.final_losses("sigmoid")
    assert (abs(sigmoid_losses - math.log(10)) < 0.02).all()  # "settles at ln 10"
    relu_seed0 = training.comparisons[0].records["relu"].losses
    # "Its final loss is the mean over the last 20 steps" (not the last minibatch's loss)
    assert training.final_losses("relu")[0] == pytest.approx(relu_seed0[-20:].mean())
    assert training.test_accuracies("sigmoid").max() < 0.15  # chance
    for name in ("tanh", "relu", "leaky_relu"):
        assert training.test_accuracies(name).min() > 0.9  # "above 90% in every seed"
    sigmoid, relu = training.layer_grad_norms("sigmoid"), training.layer_grad_norms("relu")
    assert training.layer_names()[-1] == "head" and len(training.layer_names()) == 5
    ratio = relu[:, 0] / sigmoid[:, 0]
    assert ((ratio > 30) & (ratio < 100)).all()  # "30 to 100 times less than ReLU's"
    assert (sigmoid[:, -1] > relu[:, -1]).all()  # "the output layer is not starved"
    assert (sigmoid[:, :-1] < sigmoid[:, 1:]).all()  # "each layer less than the one above"
    assert (relu.max(axis=1) < 2 * relu.min(axis=1)).all()  # ReLU: "about the same"


def test_shallow_sigmoid_learns(data, training):
    for depth in (1, 2):
        study = study_activation_training(("sigmoid",), depth=depth, data=data)
        assert study.test_accuracies("sigmoid").min() > 0.6
    assert training.test_accuracies("sigmoid").max() < 0.15


def test_sigmoid_weights_stretch_about_twice_their_rms():
    model = make_mlp(10, 64, "sigmoid", "xavier", seed=0)
    stretch = [largest_singular_value(layer.linear.weight) for layer in model.layers]
    rms = [rms_singular_value(layer.linear.weight) for layer in model.layers]
    assert all(0.95 < value < 1.05 for value in rms)  # unit gain
    assert all(1.8 < value < 2.1 for value in stretch)  # "about twice the rms"
    # the strict bound (0.25 σ_max)^L is "a thousand times more" than the typical 0.25^L
    strict = sigmoid_bound(10, largest_stretch=max(stretch))
    assert 500 * sigmoid_bound(10) < strict < 5000 * sigmoid_bound(10)
    assert strict >= math.prod(0.25 * value for value in stretch)


def test_relu_gradient_per_seed_is_the_init_not_luck():
    xavier = compute_gradient_after_depth(10, "xavier")
    he = compute_gradient_after_depth(10, "he")
    row = xavier.activations.index("relu")
    assert (xavier.per_seed[row] < 0.05).all()  # "a few percent with Xavier"
    assert ((he.per_seed[row] > 0.7) & (he.per_seed[row] < 1.3)).all()  # "near 100% with He"


def test_normal_init_overflows_relu_family_not_tanh():
    normal = compute_gradient_after_depth(50, "normal")
    assert f"{torch.finfo(torch.float32).max:.1e}" == "3.4e+38"  # "about 3.4 × 10^38"
    for name in ("relu", "leaky_relu", "elu", "gelu", "silu"):  # overflowed float32
        assert not np.isfinite(normal.remaining_of(name))
    tanh = normal.remaining_of("tanh")
    assert np.isfinite(tanh) and tanh > 1e12  # "more than 10^10-fold without overflowing"
    assert normal.remaining_of("sigmoid") < 0.01  # "below 1%": saturation tames the blow-up


def test_sigmoid_derivative_at_four():
    assert 0.017 < float(activation_derivative("sigmoid", 4.0)) < 0.02  # "under 0.02"


def test_gelu_silu_derivative_above_one_for_larger_inputs():
    """'rises a little above 1 for larger positive inputs ... settles back to 1 from above'."""
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    for name, peak in (("gelu", 1.129), ("silu", 1.100)):
        slope = activation_derivative(name, x)
        above = slope[1:] if name == "silu" else slope  # SiLU' passes 1 only at x = 1.28
        assert (above > 1).all() and (slope < peak + 1e-3).all()
        assert max_derivative(name) == pytest.approx(peak, abs=1e-3)
    assert float(activation_derivative("gelu", x)[-1]) < float(activation_derivative("gelu", x)[1])


def test_he_and_xavier_switch_off_the_same_relu_units():
    """Quiz: He init does not make units die less. Same seed, zero biases: He = c × Xavier per
    layer, and relu(c·z) = c·relu(z), so the on/off pattern is the same (up to rounding at z ≈ 0)."""
    for seed in range(3):
        x = make_batch(64, 64, seed)
        patterns = {}
        for init in ("xavier", "he"):
            model = make_mlp(10, 64, "relu", init, 1.0, seed=seed)
            h, on = x, []
            for layer in model.layers:
                z = layer.linear(h)
                on.append(z > 0)
                h = layer.activation(z)
            patterns[init] = torch.stack(on)
        agreement = (patterns["xavier"] == patterns["he"]).float().mean().item()
        assert agreement > 0.999
        off = 1 - patterns["he"].float().mean().item()
        assert 0.4 < off < 0.6  # about half the units are off for any one input


def test_notebook_shows_no_test_plumbing():
    # nbval's ignore-output marker is a cell tag, not a comment the learner reads
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "notebooks/02_activations.ipynb"
    cells = json.loads(path.read_text())["cells"]
    sources = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    assert not any("NBVAL" in source for source in sources)
    tagged = [cell for cell in cells if "nbval-ignore-output" in cell["metadata"].get("tags", [])]
    assert len(tagged) == 8  # two widgets and the six machine-dependent tables
