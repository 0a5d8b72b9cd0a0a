"""Chapter 5 (notebooks/05_residual): every number the text states, asserted with a margin, and
the chapter's measurements checked against plain autograd. Robust under other CPUs' rounding:
claims hold in every seed, with room to spare."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_quiz_positions import assert_spread
from torch import nn

from gradlab.chapters.ch05_residual import experiments, questions, transformers
from gradlab.chapters.ch05_residual.block_gradients import (
    NETWORKS,
    measure_block_gradients,
    predict_block_gradients,
)
from gradlab.measure.probe import make_batch
from gradlab.models.residual import make_residual_mlp
from gradlab.training.data import load_digits_split
from tests.helpers import notebook_cell

# --- quiz ----------------------------------------------------------------------------------------


def test_answers_are_spread():
    assert len(questions.KNOWLEDGE_CHECK) >= 6
    assert_spread(questions.KNOWLEDGE_CHECK)
    assert_spread(questions.QUICK_CHECK)


def test_quiz_numbers_are_the_chapters():
    prompts = " ".join(q.prompt + " ".join(q.choices) for q in questions.KNOWLEDGE_CHECK)
    assert "1e-20" in prompts  # section 2's constructed case, (1 - 0.9)^20
    assert "1024" in prompts  # √2^20, section 2's typical growth
    assert "1,048,576" in " ".join(questions.QUICK_CHECK[1].choices)


def test_interview_question_on_the_plus_one_and_its_limits():
    prompts = [q.prompt for q in questions.KNOWLEDGE_CHECK]
    assert any("+1" in prompt for prompt in prompts)
    assert any("not enough" in prompt for prompt in prompts)


# --- section 1: plain vs residual, measured beside the prediction ---------------------------------


def _autograd_block_gradients(model, x, seed=0):
    """‖∂L/∂(block input)‖ for every block and ‖∂L/∂(last output)‖, by retain_grad."""
    inputs, h = [], model.stem(x)
    for block in model.blocks:
        h.retain_grad()
        inputs.append(h)
        h = block(h)
    h.retain_grad()
    y = torch.randint(0, 10, (x.shape[0],), generator=torch.Generator().manual_seed(seed))
    F.cross_entropy(model.head(h), y).backward()
    return np.array([t.grad.norm().item() for t in inputs] + [h.grad.norm().item()])


@pytest.mark.parametrize("network", NETWORKS)
def test_measurement_matches_plain_autograd(network):
    result = measure_block_gradients(6, "tanh", 0.8, network, seed=2)
    options = {
        "plain": {"shortcut": "none"},
        "residual": {},
        "residual, zero-init branches": {"branch_init": "zero"},
    }[network]
    model = make_residual_mlp(6, 64, "tanh", "he", 0.8, seed=2, **options)
    norms = _autograd_block_gradients(model, make_batch(64, 64, 2).requires_grad_(), seed=2)
    np.testing.assert_allclose(result.grad_norms, norms / norms[-1], rtol=1e-4)


def test_prediction_closed_forms():
    factors = np.array([0.5, 2.0, 0.0])
    np.testing.assert_allclose(predict_block_gradients(factors, False), [0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(
        predict_block_gradients(factors, True), [math.sqrt(1.25 * 5), math.sqrt(5), 1.0, 1.0]
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_section1_plain_vanishes_residual_does_not_prediction_within_two(seed):
    plain = measure_block_gradients(20, "relu", 0.7, "plain", seed=seed)
    residual = measure_block_gradients(20, "relu", 0.7, "residual", seed=seed)
    # the text's "more than a million times smaller" is about seed 0, the one shown
    assert plain.first_block < (1e-6 if seed == 0 else 1e-5)
    assert residual.first_block > 1.0  # "larger than at the top"
    for result in (plain, residual):
        ratio = result.first_block / result.predicted_first_block
        bound = 2.0 if seed == 0 else 3.0  # "within a factor of two (three in other seeds)"
        assert 1 / bound < ratio < bound


def test_section1_printed_summaries():
    plain = measure_block_gradients(20, "relu", 0.7, "plain")
    residual = measure_block_gradients(20, "relu", 0.7, "residual")
    assert "per block ×0.49" in plain.summary()
    assert "per block ×1.12" in residual.summary()


def test_widget_hints():
    """What to try: sigmoid at scale 1 shrinks the plain gradient about tenfold per block."""
    for seed in range(3):
        plain = measure_block_gradients(20, "sigmoid", 1.0, "plain", seed=seed)
        residual = measure_block_gradients(20, "sigmoid", 1.0, "residual", seed=seed)
        assert 0.05 < plain.first_block ** (1 / 20) < 0.2
        assert 0.5 < residual.first_block < 2.0


def test_zero_init_is_exactly_one_everywhere():
    for activation in ("relu", "tanh", "sigmoid"):
        result = measure_block_gradients(30, activation, 1.7, "residual, zero-init branches")
        np.testing.assert_allclose(result.grad_norms, 1.0, rtol=1e-6)
        np.testing.assert_allclose(result.predicted, 1.0)


def _run_cell(marker, **namespace):
    scope = {"math": math, "np": np, "torch": torch, "nn": nn, **namespace}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(notebook_cell("05_residual", marker), scope)
    scope["printed"] = out.getvalue()
    return scope


def _lesson_code():
    return _run_cell("class ResidualBlock")


def test_lesson_code_section1():
    """The notebook's own block: plain at block 1 < 1/1000, residual grows ~1.2 per block."""
    scope = _lesson_code()
    plain, residual = scope["plain_grads"], scope["residual_grads"]
    assert plain[0] < 1e-3 and plain[0] > 1e-5
    per_block = residual[0] ** (1 / 19) / residual[-1] ** (1 / 19)
    assert 1.1 < per_block < 1.3
    assert all(r > 1 for r in residual)


def test_lesson_code_constructed_cancellation():
    """Section 2: F(x) = -0.9 x exactly, so 0.1 per block and 1e-20 through 20 blocks."""
    scope = _lesson_code()
    scope = _run_cell("cancelling = [", **scope)
    grads = scope["grads"]
    assert grads[-1] == pytest.approx(0.1, rel=1e-5)
    assert grads[0] == pytest.approx(1e-20, rel=1e-4)
    assert "one block multiplies the gradient by 0.10\n" in scope["printed"]
    assert "through 20 blocks: 1e-20  (closed form (1 - a)^20 = 1e-20)" in scope["printed"]


# --- section 2-6 ---------------------------------------------------------------------------------


def test_typical_blocks_never_shrink():
    shrinking, measured, smallest = experiments.count_shrinking_blocks()
    assert (shrinking, measured) == (0, 100)
    assert smallest > 1.15  # printed ×1.27


def test_standard_branches_grow_about_sqrt2_per_block():
    growth = measure_block_gradients(20, "relu", 1.0, "residual").first_block
    assert 2**10 / 3 < growth < 2**10 * 3  # "√2^20 ≈ 1000"


@pytest.mark.parametrize("branch_init", ["scaled", "standard"])
def test_identity_path_pre_vs_post(branch_init):
    pre = experiments.measure_identity_path("pre", branch_init=branch_init)
    post = experiments.measure_identity_path("post", branch_init=branch_init)
    assert pre.open_per_block == pre.open_end_to_end == 1.0
    assert 0.6 < post.open_per_block < 0.85  # "a fifth to a third cut per block"
    assert post.open_end_to_end < 0.25  # "only about a fifth ... or almost none ... unbroken"
    if branch_init == "standard":
        assert post.open_end_to_end < 0.01  # "almost none (standard branches)"


def test_scaled_init_grows_about_sqrt_e():
    for seed in range(3):
        path = experiments.measure_identity_path("pre", branch_init="scaled", seed=seed)
        assert 1.2 < path.first_block_gradient < 2.2  # "≈ √e ≈ 1.6"
        if seed == 0:
            assert f"{path.first_block_gradient:.1f}" == "1.6"  # section 4 prints it


def test_zero_init_start():
    start = experiments.measure_zero_init_start()
    assert start.blocks_output_change == 0.0
    assert start.first_block_gradient == pytest.approx(1.0, abs=1e-6)
    assert start.first_layer_grad_norm == 0.0
    assert start.last_layer_grad_norm > 1.0
    # printed with two decimals: exactly the identity, whatever the rounding
    assert f"{start.first_block_gradient:.2f}" == "1.00"


def test_shortcut_bugs():
    results = experiments.compare_shortcuts()
    assert (results["identity"] > 1.0).all()
    for bug in ("relu", "batch_norm", "layer_norm"):
        assert (results[bug] < 0.85).all() and (results[bug] > 0.5).all()  # printed 0.65-0.78
        assert (results[bug] < 0.8 * results["identity"]).all()  # "about 60 % of the clean skip's"
        assert (results[bug] > 0.5 * results["identity"]).all()  # "at least a half"
    spread = results["linear"]
    assert spread.max() / spread.min() > 1.3  # "differs from seed to seed"
    assert (results["none"] < 1e-15).all()


def test_dense_connections():
    results = experiments.compare_dense()
    assert (results["plain"] < 1e-8).all() and (results["plain"] > 1e-12).all()  # "about 1e-10"
    for name in ("residual", "dense"):
        assert ((results[name] > 0.1) & (results[name] < 10)).all()


def test_dense_block_connects_within_a_block_only():
    model = experiments.DenseMLP(2, 3, growth=4, seed=0)
    fan_ins = [layer.linear.in_features for layer in model.blocks[1].layers]
    assert fan_ins == [64, 68, 72]  # the block's input (the transition's output) + earlier layers
    assert model.transitions[0].in_features == 64 + 3 * 4


# --- section 7: transformers ---------------------------------------------------------------------


def test_transformer_stack_is_torchs_layer_and_leaves_the_global_rng():
    state = torch.get_rng_state()
    model = transformers.TransformerStack(norm_first=True, depth=12)
    assert torch.equal(state, torch.get_rng_state())
    assert all(isinstance(layer, nn.TransformerEncoderLayer) for layer in model.layers)
    assert len(model.layers) == 12 and model.layers[0].norm_first
    again = transformers.TransformerStack(norm_first=True, depth=12)
    for a, b in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)


def test_transformer_layer_gradients_at_init_within_two():
    for norm_first in (False, True):
        norms = transformers.layer_gradient_norms(norm_first)
        assert norms.max() / norms.min() < 2.0


def test_post_norm_without_warmup_stalls_pre_norm_learns():
    for seed in (0, 1, 2):
        post = transformers.train_transformer(False, seed=seed)
        pre = transformers.train_transformer(True, seed=seed)
        assert post.final_loss > 1.5, (seed, post.final_loss)
        assert pre.final_loss < 0.1, (seed, pre.final_loss)


# --- section 8: training on digits ---------------------------------------------------------------


def test_plain_stalls_residual_learns_standard_explodes():
    records = experiments.train_plain_and_residual(load_digits_split(), seeds=(0, 1, 2))
    for record in records["plain"]:
        assert record.test_accuracy < 0.2
        assert abs(record.losses[-20:].mean() - math.log(10)) < 0.1
    for record in records["residual, scaled branches"]:
        assert record.test_accuracy > 0.9
    for record in records["residual, standard branches"]:
        assert record.first_nonfinite_step is not None and record.first_nonfinite_step < 20
