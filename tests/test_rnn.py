"""gradlab.measure.rnn: ∂L/∂h_t from the unrolled nn.RNN against autograd and the closed form s^(T−t)."""

import math

import numpy as np
import pytest
import torch

from gradlab.measure.rnn import (
    compute_time_gradients,
    format_regimes,
    make_inputs,
    make_rnn,
    measure_time_gradients,
)


@pytest.mark.parametrize("case", ["linear", "tanh"])
def test_step_by_step_unroll_equals_the_full_sequence_call(case):
    rnn = make_rnn(case, 0.9, hidden_size=8, seed=2)
    inputs = make_inputs(case, 12, seed=2)
    full, last = rnn(inputs)
    hidden = torch.zeros(1, 1, rnn.hidden_size)
    for t in range(12):
        out, hidden = rnn(inputs[t : t + 1], hidden)
        torch.testing.assert_close(out[0], full[t])
    torch.testing.assert_close(hidden, last)


@pytest.mark.parametrize("scale", [0.5, 1.0, 1.7])
def test_tanh_gradients_match_a_hand_unrolled_rnn_with_retain_grad(scale):
    rnn = make_rnn("tanh", scale, hidden_size=8, seed=3)
    inputs = make_inputs("tanh", 15, seed=3)
    result = measure_time_gradients(rnn, inputs, seed=3)
    w_ih, w_hh = rnn.weight_ih_l0.detach(), rnn.weight_hh_l0.detach()
    h = torch.zeros(1, 8, requires_grad=True)
    states = []
    for t in range(15):
        h = torch.tanh(inputs[t] @ w_ih.T + h @ w_hh.T)
        h.retain_grad()
        states.append(h)
    direction = torch.randn((1, 1, 8), generator=torch.Generator().manual_seed(3)).abs()
    direction = (direction / direction.norm()).reshape(1, 8)
    (states[-1] * direction).sum().backward()
    expected = [float(s.grad.double().norm()) for s in states]
    np.testing.assert_allclose(result.grad_norms, expected, rtol=1e-5)


@pytest.mark.parametrize("scale", [0.5, 0.9, 1.0, 1.1, 1.5])
def test_linear_case_matches_the_closed_form_exactly(scale):
    result = compute_time_gradients("linear", scale, 30)
    t = np.arange(1, 31)
    np.testing.assert_allclose(result.grad_norms, scale ** (30 - t), rtol=1e-5)
    np.testing.assert_allclose(result.closed_form, scale ** (30 - t), rtol=1e-6)


def test_seed_stepper_half_per_step():
    result = compute_time_gradients("linear", 0.5, 6)
    assert result.grad_norms.tolist() == [0.03125, 0.0625, 0.125, 0.25, 0.5, 1.0]
    assert result.regime == "vanishing"
    assert "t=6: 1 → t=5: 0.5 → t=4: 0.25" in result.stepper()


def test_tanh_never_exceeds_the_closed_form_bound():
    for scale in (0.5, 1.0, 2.0):
        result = compute_time_gradients("tanh", scale, 40)
        assert np.all(result.grad_norms <= result.closed_form * (1 + 1e-5))


def test_overflow_is_inf_and_labelled():
    result = compute_time_gradients("linear", 3.0, 100)
    assert math.isinf(result.first_step)
    assert result.statuses[0] == "exploded"
    assert result.regime == "exploding"
    assert "exploded (inf)" in result.summary()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: make_rnn("lstm", 1.0), "case must be one of linear, tanh"),
        (lambda: make_rnn("tanh", 0.0), "recurrent_scale must be a finite number > 0"),
        (lambda: compute_time_gradients("tanh", 1.0, 0), "steps must be an integer >= 1"),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_regime_table_rounds_to_two_figures_and_words_overflow():
    table = format_regimes((0.9, 3.0), 100).splitlines()
    assert table[0].startswith("    s | closed form s^99")
    assert "|          3e-05 |" in table[1]  # 0.9^99 = 2.95e-05, to two figures
    assert "exploded (inf)" in table[2] and "×" not in table[2]
    summary = compute_time_gradients("linear", 3.0, 100).summary()
    assert "gradient reaching the first step: exploded (inf)" in summary
