"""The numbers notebooks/03_exploding states in its prose, recomputed (a failing test means the
text needs updating)."""

import math

import numpy as np
import pytest

from gradlab import divergence, rnn, spectral, theory
from gradlab.data import load_digits_split

FLOAT32_MAX = float(np.finfo(np.float32).max)


def test_three_sizes_of_a_matrix():
    rows = spectral.compare_spectra((0.6, 1.0, 1.5, 2.0))
    for row in rows:
        s = row.spectrum
        assert s.largest_singular_value == pytest.approx(2 * s.rms_singular_value, rel=0.05)
        assert s.spectral_radius == pytest.approx(row.weight_scale, rel=0.1)
        assert row.repeated_growth == pytest.approx(s.spectral_radius, rel=0.02)
    first = rows[0].spectrum
    assert first.largest_singular_value > 1.0 and round(first.largest_singular_value, 2) == 1.18
    shrinking = spectral.measure_growth(20, 0.6, kind="gaussian")
    assert shrinking.measured_growth < 1e-3 and np.all(shrinking.largest_singular_values > 1)


def test_predicted_and_measured_growth():
    assert spectral.measure_growth(20, 0.5).measured_growth == pytest.approx(0.5**20, rel=1e-4)
    linear = spectral.measure_growth(20, 1.5)
    assert round(linear.measured_growth) == round(linear.predicted_growth) == 3325
    tanh = spectral.measure_growth(20, 1.5, activation="tanh")
    assert tanh.slopes.mean() == pytest.approx(0.7, abs=0.01)
    relu = spectral.measure_growth(20, 1.5, activation="relu")
    assert relu.slopes.mean() == pytest.approx(math.sqrt(0.5), abs=0.01)
    for result in (tanh, relu):  # "a few tens of percent away"
        assert 0.6 < result.measured_growth / result.predicted_growth < 1.4
    gaussian = spectral.measure_growth(20, 1.0, kind="gaussian", activation="relu")
    overshoot = gaussian.predicted_growth / gaussian.measured_growth
    assert 2**20 / 4 < overshoot < 2**20 * 4  # "overshoots by about 2^L"
    assert f"{theory.gradient_after_layers(1.5, 40):.2g}" == "1.1e+07"
    assert f"{theory.gradient_after_layers(1.1, 100):.2g}" == "1.4e+04"
    assert FLOAT32_MAX < 3.0**100 and spectral.measure_growth(100, 3.0).status == "exploded"


@pytest.fixture(scope="module")
def runs():
    data = load_digits_split(seed=0)
    runs = divergence.train_at_learning_rates([0.05, 0.5, 1.0], data=data, steps=100)
    crash = divergence.train_at_learning_rates([1.0], data=data, steps=42, stop_at_nonfinite=False)
    return runs, crash[1.0]


def test_the_diverging_run(runs):
    runs, crash = runs
    assert abs(crash.losses[0] - math.log(10)) < 0.1  # "starts near ln 10"
    assert np.all(crash.losses[30:35] < 1) and crash.losses[36] > 100  # below 1, then hundreds
    assert 1e10 < crash.losses[38] < 1e11 and 1e24 < crash.losses[39] < 1e25
    assert math.isnan(crash.losses[40])
    assert np.all(crash.global_grad_norms[30:35] < 5) and crash.global_grad_norms[36] > 100
    assert math.isinf(divergence.total_weight_norms(crash)[40])
    wild = runs[1.0]
    assert wild.first_nonfinite_step == 39
    assert wild.first_nonfinite_parameter == "layers.3.linear.weight"  # last hidden layer
    assert math.isfinite(wild.losses[39])  # the loss itself was still finite
    assert divergence.find_loss_spike(wild.losses) == 36


def test_oscillation_and_weight_growth(runs):
    runs, _ = runs
    assert [divergence.count_loss_jumps(runs[lr].losses) for lr in (0.05, 0.5)] == [0, 3]
    bouncing = runs[0.5].losses
    assert bouncing[18] == pytest.approx(2 * bouncing[0], rel=0.05)  # "about twice"
    assert runs[0.5].first_nonfinite_step is None
    growth = {lr: divergence.diagnose_run(r, lr).weight_growth for lr, r in runs.items()}
    assert growth[0.05] < 1.05 and growth[0.5] < 1.2 and growth[1.0] > 1e8


def test_gradients_through_time():
    stepper = rnn.compute_time_gradients("linear", 0.5, 6)
    assert stepper.grad_norms[::-1].tolist() == [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125]
    tanh_stepper = rnn.compute_time_gradients("tanh", 0.5, 6)
    assert np.all(tanh_stepper.grad_norms <= stepper.grad_norms)
    at = {s: rnn.compute_time_gradients("tanh", s, 50) for s in (1.1, 2.0)}
    assert rnn.compute_time_gradients("linear", 0.9, 50).first_step < 0.01
    assert f"{2.0**49:.2g}" == "5.6e+14"
    assert at[1.1].regime == "vanishing"
    assert 1e3 < at[2.0].first_step < 1e4  # "a few thousand"
    linear, tanh = (rnn.compute_time_gradients(case, 3.0, 100) for case in rnn.RNN_CASES)
    finite_steps = int(np.isfinite(linear.grad_norms).sum())
    assert 78 <= finite_steps <= 82  # "overflows after about 80 steps back"
    assert math.isfinite(tanh.first_step) and tanh.first_step > 1e4
