"""The numbers notebooks/02_activations states in its prose, recomputed the way it computes them.

If a change in gradlab moves one of these, the chapter's text must be rewritten with it.
"""

import math

import pytest

from gradlab.activation_depth import compute_gradient_after_depth
from gradlab.activation_training import compare_activation_training
from gradlab.activations import activation_derivative, max_derivative, saturation_zone
from gradlab.data import load_digits_split
from gradlab.dead_units import compare_dead_unit_recovery, measure_dead_fraction_vs_bias
from gradlab.theory import sigmoid_bound

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


def test_dead_units(data):
    by_bias = measure_dead_fraction_vs_bias(data=data)
    assert by_bias[0.0].dead_fraction < 0.02
    assert by_bias[-4.0].dead_fraction == pytest.approx(0.55, abs=0.01)
    assert by_bias[-4.0].dead_fractions[0] == pytest.approx(0.17, abs=0.01)

    relu, leaky, gelu, silu = compare_dead_unit_recovery(kill_lr=0.1, data=data)
    assert relu.after_kill.dead_fraction > 0.4  # "over 40%", "43%"
    assert relu.after_recovery.dead_fraction >= relu.after_kill.dead_fraction  # none back
    for other in (leaky, gelu, silu):  # "lose fewer units"
        assert other.after_kill.dead_fraction < relu.after_kill.dead_fraction
    for revived in (leaky, silu):
        assert revived.after_recovery.dead_fraction < 0.6 * revived.after_kill.dead_fraction
    assert relu.test_accuracy > 0.9


def test_recovery_from_negative_bias(data):
    relu, leaky, gelu, silu = compare_dead_unit_recovery(bias_shift=-4.0, data=data)
    for e in (relu, leaky, gelu, silu):  # all start from the same 55%
        assert e.after_kill.dead_fraction == pytest.approx(0.55, abs=0.01)
    first = relu.after_kill.dead_fractions[0]
    assert relu.after_recovery.dead_fractions[0] == first  # "17% stays 17%"
    assert relu.after_recovery.dead_fraction < relu.after_kill.dead_fraction  # deeper revive
    assert leaky.after_recovery.dead_fraction == 0.0
    assert silu.after_recovery.dead_fraction < 0.2
    assert gelu.after_recovery.dead_fraction < gelu.after_kill.dead_fraction  # "some come back"
    assert gelu.test_accuracy < 0.4 and relu.test_accuracy < 0.4  # "27% against 28%"
    assert abs(gelu.test_accuracy - relu.test_accuracy) < 0.05
    assert leaky.test_accuracy > 0.9 and silu.test_accuracy > 0.9  # "over 90%"
    for name, slope in (("gelu", -5e-4), ("silu", -0.05)):
        assert float(activation_derivative(name, -4.0)) == pytest.approx(slope, rel=0.1)


def test_training_comparison(data):
    comparison = compare_activation_training(data=data)
    sigmoid = comparison.records["sigmoid"]
    assert comparison.final_loss("sigmoid") == pytest.approx(math.log(10), abs=0.01)
    assert sigmoid.test_accuracy < 0.15  # chance
    for name in ("tanh", "relu", "leaky_relu"):
        assert comparison.records[name].test_accuracy > 0.95
        ratio = comparison.first_layer_grad_norm(name) / comparison.first_layer_grad_norm("sigmoid")
        assert 30 < ratio < 80  # "about fifty times smaller"


def test_shallow_sigmoid_learns(data):
    accuracies = [
        compare_activation_training(("sigmoid",), depth=depth, data=data)
        .records["sigmoid"]
        .test_accuracy
        for depth in (1, 2, 4)
    ]
    assert accuracies[0] > 0.85 and accuracies[1] > 0.6 and accuracies[2] < 0.15
