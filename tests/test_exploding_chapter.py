"""The numbers notebooks/03_exploding states in its prose, recomputed (a failing test means the
text needs updating)."""

import contextlib
import io
import math
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from gradlab import theory
from gradlab.chapters.ch03_exploding import matrix_stretch
from gradlab.formatting import format_number
from gradlab.measure import divergence, rnn, spectral
from gradlab.training.data import load_digits_split
from tests.helpers import notebook_cell as shared_notebook_cell

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
    assert linear.measured_growth <= linear.predicted_growth * (1 + 1e-5)  # linear: a bound
    tanh = spectral.measure_growth(20, 1.5, activation="tanh")
    assert tanh.slopes.mean() == pytest.approx(0.7, abs=0.01)
    relu = spectral.measure_growth(20, 1.5, activation="relu")
    assert relu.slopes.mean() == pytest.approx(math.sqrt(0.5), abs=0.01)
    for result in (tanh, relu):  # "a few tens of percent away"
        assert 0.6 < result.measured_growth / result.predicted_growth < 1.4
    # "an estimate, not a bound ... on either side (tanh measures more than estimated)"
    assert tanh.measured_growth > 1.1 * tanh.predicted_growth
    assert relu.measured_growth < 0.9 * relu.predicted_growth
    gaussian = spectral.measure_growth(20, 1.0, kind="gaussian", activation="relu")
    overshoot = gaussian.predicted_growth / gaussian.measured_growth
    assert 2**20 / 4 < overshoot < 2**20 * 4  # "overshoots by about 2^L"
    assert f"{theory.gradient_after_layers(1.5, 40):.2g}" == "1.1e+07"
    assert f"{theory.gradient_after_layers(1.1, 100):.2g}" == "1.4e+04"
    assert FLOAT32_MAX < 3.0**100 and spectral.measure_growth(100, 3.0).status == "exploded"


def test_float32_overflow_and_tanh_at_scale_three():
    assert f"{torch.finfo(torch.float32).max:.2g}" == "3.4e+38" and FLOAT32_MAX < 3.0**100
    linear = spectral.measure_growth(100, 3.0)
    assert math.isnan(linear.measured_growth)  # "the linear chain's gradient is nan"
    finite_layers = int(np.isfinite(linear.grad_norms).sum()) - 1
    assert 78 <= finite_layers <= 84  # "about 80 layers back its entries passed" float32's max
    tanh = spectral.measure_growth(100, 3.0, activation="tanh")  # chaotic: assert sizes only
    per_layer = tanh.measured_growth ** (1 / 100)
    assert 1.25 < per_layer < 1.35  # "about 1.3 instead of 3", printed as 1.3
    assert 1e11 < tanh.measured_growth < 1e13 < FLOAT32_MAX / 1e20  # "around 10^12", far below


def test_circle_primer_numbers():
    stretch = matrix_stretch.map_unit_circle(np.array([[1.2, 0.6], [0.3, 0.7]]))
    largest, smallest = stretch.singular_values
    assert (round(largest, 2), round(smallest, 2)) == (1.48, 0.45)
    assert round(stretch.spectral_radius, 2) == 1.44 < round(largest, 2)  # σ_max > ρ
    assert round(stretch.rms_stretch, 2) == 1.09 and smallest < stretch.rms_stretch < largest
    angle = 0.6
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    scaled = matrix_stretch.map_unit_circle(1.3 * rotation)
    assert scaled.eigen_directions is None
    np.testing.assert_allclose(
        [*scaled.singular_values, scaled.spectral_radius, scaled.rms_stretch], 1.3, rtol=1e-12
    )


@pytest.fixture(scope="module")
def sweep():
    data = load_digits_split(seed=0)
    records = divergence.train_over_seeds(divergence.LEARNING_RATES, divergence.SEEDS, data=data)
    crash = divergence.train_at_learning_rates([3.0], data=data, steps=16, stop_at_nonfinite=False)[
        3.0
    ]
    return records, divergence.measure_symptoms_over_seeds(records, divergence.SEEDS), crash


def test_the_chapter_rates_and_seeds(sweep):
    assert divergence.LEARNING_RATES == (0.05, 0.5, 3.0) and len(divergence.SEEDS) == 5


def test_every_diverging_run_warns_first(sweep):
    """Section 3.1: every lr = 3 run diverges within 20 steps (the slowest here at about 15),
    spikes at least two steps before the first non-finite value, and its gradient norm grows
    more than a thousand-fold before it."""
    _, symptoms, crash = sweep
    for row in symptoms[3.0]:
        assert row.nonfinite_step is not None and row.nonfinite_step < 20
        assert row.spike_step is not None and row.nonfinite_step - row.spike_step >= 2
        assert row.grad_growth > 1e3
    assert abs(crash.losses[0] - math.log(10)) < 0.1  # "starts near ln 10"
    assert math.isnan(crash.losses[-1])  # "and finally nan"
    summary = divergence.summarize_seeds(symptoms)
    assert "all 5 runs diverged, every one within the first 20 steps" in summary
    assert "at least 2 steps before" in summary and "more than 1000-fold" in summary


def test_oscillation_is_stated_robustly(sweep):
    _, symptoms, _ = sweep
    calm, bouncing = symptoms[0.05], symptoms[0.5]
    assert all(row.loss_jumps == 0 and row.largest_rise < 0.45 for row in calm)  # margin to 0.5
    assert all(row.nonfinite_step is None for row in calm + bouncing)
    assert sum(row.loss_jumps > 0 for row in bouncing) >= 3  # "most runs", with a seed to spare
    summary = divergence.summarize_seeds(symptoms).splitlines()
    assert summary[0].endswith("the loss never rose by more than 0.5 in one step")
    assert "in most runs the loss jumped up" in summary[1]


def test_weight_growth_is_stated_robustly(sweep):
    _, symptoms, _ = sweep
    for lr in (0.05, 0.5):
        assert all(row.weight_growth < 1.3 for row in symptoms[lr])  # "less than 30 % larger"
    assert all(row.weight_growth > 1e8 for row in symptoms[3.0])  # "a hundred million times"


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


# --- the lesson's own code, run from the notebook's twin ----------------------------------------


def notebook_cell(marker: str) -> str:
    """The source of the one code cell of notebooks/03_exploding that contains `marker`."""
    return shared_notebook_cell("03_exploding", marker)


def run_cell(marker: str, **namespace) -> dict:
    """Execute that cell in a namespace holding the notebook's imports (and `namespace`)."""
    scope = {"math": math, "np": np, "torch": torch, "nn": nn, "OrderedDict": OrderedDict}
    scope.update(divergence=divergence, format_number=format_number, **namespace)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(notebook_cell(marker), scope)
    scope["printed"] = out.getvalue()
    return scope


def test_section2_measurement_in_torch_matches_the_closed_form():
    """Section 2 shows the backward pass itself: twenty layers 1.5·Q give exactly 1.5^20."""
    scope = run_cell("loss = (h * upstream).sum()")
    assert torch.linalg.vector_norm(scope["x"].grad) == pytest.approx(1.5**20, rel=1e-4)
    assert "measured ‖∂L/∂x‖ = 3325\n" in scope["printed"]
    assert "= 1.5^20 = 3325\n" in scope["printed"]


def test_section3_loop_in_torch_is_the_sweeps_seed_0_run():
    """Section 3.1's written-out model and loop reproduce divergence's seed-0 run at lr = 3."""
    data = load_digits_split(seed=0)
    scope = run_cell("def make_model", data=data)
    reference = divergence.train_at_learning_rates(
        [3.0], data=data, steps=16, stop_at_nonfinite=False
    )[3.0]
    # the log the learner reads is the reference run's, loss for loss (the cell keeps no list)
    logged = re.findall(r"loss = +(\S+)", scope["printed"])
    assert logged == [format_number(loss) for loss in reference.losses]
    assert abs(reference.losses[0] - math.log(10)) < 0.1  # "starts near ln 10"
    assert logged[-1] == "nan"  # "and finally reads nan"
    names = [name for name, _ in scope["make_model"](0).named_parameters()]
    assert names[0] == "linear1.weight" and names[-1] == "head.bias"  # readable layer names
    # "the sweep builds the same network with its layers named layers.0.linear ... and head"
    swept = [
        f"layers.{int(name[6]) - 1}.linear.{name.split('.')[1]}" if name[0] == "l" else name
        for name in names
    ]
    assert list(reference.parameter_names) == swept


def test_knowledge_check_numbers_are_the_chapters():
    """The quiz's numbers are the ones the chapter prints (section 1.2's first row, 1.5^20)."""
    from gradlab.chapters.ch03_exploding import questions

    first_row = spectral.compare_spectra((0.6,))[0].spectrum
    sigma_question = questions.KNOWLEDGE_CHECK[2]
    assert f"σ_max = {first_row.largest_singular_value:.2f}" in sigma_question.prompt
    assert (
        "σ_max = 1.18" in sigma_question.prompt
        and "rms singular value 0.6" in sigma_question.prompt
    )
    chain = questions.KNOWLEDGE_CHECK[1]
    assert chain.choices[chain.answer] == "it is multiplied by about 3325"
    rnn_question = questions.KNOWLEDGE_CHECK[5]
    assert rnn_question.choices[rnn_question.answer] == f"about {0.9**49:.3f}"
    cell = notebook_cell("KNOWLEDGE_CHECK")
    assert cell.strip() == 'quiz.show(questions.KNOWLEDGE_CHECK, title="Chapter 3 knowledge check")'
