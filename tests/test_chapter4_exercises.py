"""Chapter 4's exercises (solutions/04_init_norm_solutions): every check passes the worked solution,
fails the named wrong answers with their hints, and every number the text states holds.

The checks are run as written: the solution's cells are executed from its py:percent twin, with an
answer cell swapped for a wrong one where a test says so, and the CheckResults collected. (That the
generated exercise notebook scores 0 unanswered and the solutions full marks is tested for every
chapter by tests/test_grade.py.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import jupytext
import numpy as np
import pytest
from test_quiz_positions import assert_spread

import gradlab.grading.checks as checks
from gradlab.chapters.ch04_init_norm import exercise_questions

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "paired" / "solutions" / "04_init_norm_solutions.py"


def code_cells() -> list[str]:
    """The solution notebook's code cells, in order (quiz and grade cells left out)."""
    notebook = jupytext.read(SOLUTIONS)
    return [
        cell.source
        for cell in notebook.cells
        if cell.cell_type == "code"
        and "quiz.show" not in cell.source
        and "grade_saved_notebook" not in cell.source
    ]


def cell_with(marker: str) -> str:
    found = [source for source in code_cells() if marker in source]
    assert len(found) == 1, (marker, len(found))
    return found[0]


def run(
    sources: list[str], monkeypatch: pytest.MonkeyPatch, namespace: dict | None = None
) -> tuple[dict, list[checks.CheckResult]]:
    """Execute cells in one namespace; return it and the CheckResults the checks displayed."""
    results: list[checks.CheckResult] = []
    monkeypatch.setattr(checks, "display_result", results.append)
    namespace = {} if namespace is None else namespace
    for source in sources:
        exec(compile(source, str(SOLUTIONS), "exec"), namespace)
    return namespace, results


# --- Part A: init_std ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def part_a() -> dict:
    """The namespace after the imports and Part A's setup cells (build_network, gradient_ratios)."""
    namespace: dict = {}
    for marker in ("import math", "def build_network", "std_one_ratios = gradient_ratios"):
        exec(compile(cell_with(marker), str(SOLUTIONS), "exec"), namespace)
    return namespace


def test_the_solution_passes_both_checks_of_4_1(part_a, monkeypatch):
    namespace = dict(part_a)
    _, results = run(
        [cell_with("def init_std"), cell_with("tanh_ratios = gradient_ratios")],
        monkeypatch,
        namespace,
    )
    assert [(r.exercise, r.passed) for r in results] == [("4.1", True), ("4.1", True)]


WRONG_INITS = {
    "std 1": ("return 1.0", "Far too large", None),
    "std 0.01": ("return 0.01", None, None),
    "variance, not std": (
        "return 2.0 / (fan_in + fan_out) if activation == 'tanh' else 2.0 / fan_in",
        "variance returned as the std",
        "variance returned as the std",
    ),
    "Xavier for both": ("return math.sqrt(2.0 / (fan_in + fan_out))", None, "zeroes half"),
    "Xavier × tanh gain, He": (
        "return (5 / 3) * math.sqrt(2.0 / (fan_in + fan_out)) if activation == 'tanh' "
        "else math.sqrt(2.0 / fan_in)",
        "torch's gain for tanh",
        None,
    ),
}


@pytest.mark.parametrize("name", list(WRONG_INITS))
def test_4_1_fails_the_classic_wrong_inits_with_their_hints(part_a, monkeypatch, name):
    body, tanh_hint, relu_hint = WRONG_INITS[name]
    wrong = f"def init_std(fan_in, fan_out, activation):\n    {body}\n"
    _, results = run([wrong, cell_with("tanh_ratios = gradient_ratios")], monkeypatch, dict(part_a))
    tanh, relu = results
    expected_tanh_pass = name == "Xavier for both"  # Xavier is the tanh answer
    expected_relu_pass = name == "Xavier × tanh gain, He"
    assert tanh.passed is expected_tanh_pass and relu.passed is expected_relu_pass
    for result, hint in ((tanh, tanh_hint), (relu, relu_hint)):
        if hint is not None:
            assert hint in result.hint, result
    if name == "std 0.01":  # no mistake listed: the generic hint and the measured log ratio
        assert "received -" in tanh.message and "received -" in relu.message


def ratios(part_a: dict, std: Callable, activation: str, seeds=(0, 1, 2, 3, 4)) -> np.ndarray:
    return part_a["gradient_ratios"](std, activation, seeds)


def xavier(fan_in, fan_out, activation):
    return math.sqrt(2.0 / (fan_in + fan_out))


def test_the_texts_claims_about_part_a_hold_on_more_seeds_than_the_check_uses(part_a):
    """Xavier passes for tanh, He for ReLU, Xavier × 5/3 fails for tanh in every seed, with margins
    far beyond rounding (these networks do not amplify rounding errors); σ = 1 gives a growth of
    around 10^9 (that network does: its exact ratios change with the numeric settings)."""
    log = np.log10
    tanh_xavier = log(ratios(part_a, xavier, "tanh"))
    assert np.all(np.abs(tanh_xavier) < 0.85), tanh_xavier  # within 10×, margin ≥ 0.15 in log10
    he = log(ratios(part_a, lambda i, o, a: math.sqrt(2.0 / i), "relu"))
    assert np.all(np.abs(he) < 0.5), he
    gain = log(ratios(part_a, lambda i, o, a: 5 / 3 * xavier(i, o, a), "tanh"))
    assert np.all(gain > 1.05), gain  # every ratio above 10 ("Every ratio is above 10")
    std_one = ratios(part_a, lambda i, o, a: 1.0, "tanh", seeds=(0, 1, 2))
    # "around 10^9": chaotic (9.7e8 to 3.6e9 over the seeds and numeric settings measured)
    assert np.all((std_one > 1e8) & (std_one < 1e11)), std_one


def test_per_block_factors_the_text_states(part_a):
    """σ = 1 for tanh: about 2 per block; Xavier for ReLU: about 1/√2 per block (quiz, 4.1's
    hint); Xavier for tanh: every ratio between 0.1 and 1; Xavier × 5/3: a bit more than 1."""
    per_block = lambda ratios: ratios ** (1 / 29)  # noqa: E731 - 29 blocks between first and last
    std_one = per_block(ratios(part_a, lambda i, o, a: 1.0, "tanh", seeds=(0, 1, 2)))
    assert np.all((std_one > 1.8) & (std_one < 2.4)), std_one
    relu_xavier = per_block(ratios(part_a, xavier, "relu", seeds=(0, 1, 2)))
    assert np.all(np.abs(relu_xavier - 1 / math.sqrt(2)) < 0.05), relu_xavier
    tanh_xavier = ratios(part_a, xavier, "tanh", seeds=(0, 1, 2))
    assert np.all((tanh_xavier > 0.1) & (tanh_xavier < 1)), tanh_xavier
    gain = per_block(ratios(part_a, lambda i, o, a: 5 / 3 * xavier(i, o, a), "tanh", (0, 1, 2)))
    assert np.all((gain > 1.05) & (gain < 1.2)), gain


def test_with_xavier_the_tanh_activations_slowly_shrink(part_a):
    import torch

    for seed in (0, 1, 2):
        model = part_a["build_network"]("tanh", xavier, seed)
        stds, h = [], part_a["x"]
        with torch.no_grad():
            for module in list(model)[:-1]:
                h = module(h)
                if isinstance(module, torch.nn.Tanh):
                    stds.append(float(h.std()))
        assert stds[-1] < 0.5 * stds[0] and stds[-1] > 0.05, stds  # shrinking, not vanished
        assert stds[0] > stds[9] > stds[19] > stds[29], stds  # and steadily, ten blocks at a time


def test_the_check_uses_the_learners_std_for_every_linear_layer(part_a):
    seen = []

    def spy(fan_in, fan_out, activation):
        seen.append((fan_in, fan_out, activation))
        return 0.1

    part_a["build_network"]("relu", spy, 0)
    assert seen == [(64, 64, "relu")] * 30 + [(64, 10, "relu")]


# --- Part B: layer_norm -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def part_b() -> dict:
    namespace: dict = {}
    exec(compile(cell_with("import math"), str(SOLUTIONS), "exec"), namespace)
    return namespace


def test_the_solution_passes_every_check_of_4_2_including_the_hidden_one(part_b, monkeypatch):
    _, results = run(
        [cell_with("def layer_norm(x"), cell_with("def layer_norm_case")], monkeypatch, dict(part_b)
    )
    assert len(results) == 4 and all(r.passed and r.exercise == "4.2" for r in results), results


WRONG_LAYER_NORMS = {
    "unbiased variance": (
        "mean = x.mean(-1, keepdim=True)\n"
        "    return (x - mean) / torch.sqrt(x.var(-1, keepdim=True) + eps) * weight + bias",
        "divides by d, not d - 1",
    ),
    "eps outside the square root": (
        "mean = x.mean(-1, keepdim=True)\n"
        "    std = x.var(-1, keepdim=True, unbiased=False).sqrt()\n"
        "    return (x - mean) / (std + eps) * weight + bias",
        "eps belongs inside",
    ),
    "no affine": (
        "mean = x.mean(-1, keepdim=True)\n"
        "    return (x - mean) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + eps)",
        "apply weight and bias",
    ),
    "over the batch": (
        "mean = x.mean(0, keepdim=True)\n"
        "    variance = x.var(0, keepdim=True, unbiased=False)\n"
        "    return (x - mean) / torch.sqrt(variance + eps) * weight + bias",
        "BatchNorm's axis",
    ),
    "eps ignored": (
        "mean = x.mean(-1, keepdim=True)\n"
        "    variance = x.var(-1, keepdim=True, unbiased=False)\n"
        "    return (x - mean) / torch.sqrt(variance + 1e-5) * weight + bias",
        None,
    ),
}


@pytest.mark.parametrize("name", list(WRONG_LAYER_NORMS))
def test_4_2_fails_the_common_wrong_layer_norms_with_their_hints(part_b, monkeypatch, name):
    body, hint = WRONG_LAYER_NORMS[name]
    wrong = f"def layer_norm(x, weight, bias, eps=1e-5):\n    {body}\n"
    _, results = run([wrong, cell_with("def layer_norm_case")], monkeypatch, dict(part_b))
    if hint is None:  # only the hidden test (eps = 1e-2) catches an eps that is not passed on
        assert [r.passed for r in results] == [True, True, True, False], results
        return
    failed = [r for r in results if not r.passed]
    assert len(failed) >= 3, results
    assert all(hint in r.hint for r in failed[:3]), failed


# --- Part C: warmup ------------------------------------------------------------------------------

ACCEPTED, REJECTED = (100, 200), (0, 10)  # the text: the lengths that pass and those that fail


@pytest.fixture(scope="module")
def part_c() -> dict:
    """The namespace after the imports and Part C's setup cell (make_warmup_model, train)."""
    namespace: dict = {}
    for marker in ("import math", "def make_warmup_model"):
        exec(compile(cell_with(marker), str(SOLUTIONS), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def final_losses(part_c) -> dict[tuple[int, int], float]:
    """final_loss of the run for every warmup choice and seeds 0-1 (0 is the one the check runs)."""
    return {
        (warmup, seed): part_c["final_loss"](part_c["train"](warmup, seed))
        for warmup in part_c["WARMUP_CHOICES"]
        for seed in (0, 1)
    }


def test_the_menu_is_the_accepted_and_rejected_lengths_the_tests_know(part_c):
    assert sorted(part_c["WARMUP_CHOICES"]) == sorted(ACCEPTED + REJECTED)


@pytest.mark.parametrize("warmup", ACCEPTED + REJECTED)
def test_each_warmup_choice_passes_or_fails_with_a_wide_margin(part_c, final_losses, warmup):
    """Accepted: final loss < 0.01 (the bound is 0.05); rejected: nan or > 0.5, in every seed.

    Measured on 12 seeds under the six numeric settings: the accepted ones end at 0.00 and the
    rejected ones at nan or near ln 10. (25 steps is not on the menu: seed 0 ends there at a
    finite 1.6, a run that survived its start and might, on another machine, go on to learn.)"""
    bound = part_c["LOSS_BOUND"]
    assert bound == 0.05
    for seed in (0, 1):
        loss = final_losses[(warmup, seed)]
        if warmup in ACCEPTED:
            assert loss < bound / 5, (warmup, seed, loss)
        else:
            assert not loss < 10 * bound, (warmup, seed, loss)  # nan or far above the bound


def test_without_warmup_the_run_overflows_early_or_freezes_at_chance(part_c):
    """The text: nan within the first 20 steps, or a loss frozen at ln 10, in every seed."""
    for seed in range(6):
        losses = part_c["train"](0, seed)
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            assert bad[0] < 20, (seed, bad[0])
        else:
            assert np.all(np.abs(losses[-50:] - math.log(10)) < 0.02), (seed, losses[-50:])


def test_the_loss_starts_high(part_c):
    import torch.nn.functional as F

    data = part_c["data"]
    for seed in range(4):
        logits = part_c["make_warmup_model"](seed)(data.x_train)
        loss = F.cross_entropy(logits, data.y_train).item()
        assert loss > 2 * math.log(10), (seed, loss)  # about 5.5 for seed 0: over twice chance


@pytest.mark.parametrize(
    ("answer", "passed", "hint"),
    [
        ("warmup_steps = 100", [True, True], None),
        ("warmup_steps = 10", [True, False], "warm up for longer"),
        ("warmup_steps = 50", [False, False], "Pick one of WARMUP_CHOICES"),
    ],
)
def test_the_check_of_4_3_runs_the_learners_choice(part_c, monkeypatch, answer, passed, hint):
    _, results = run([answer, cell_with("losses = train(warmup_steps)")], monkeypatch, dict(part_c))
    assert [r.passed for r in results] == passed and {r.exercise for r in results} == {"4.3"}
    if hint is not None:
        failed = next(r for r in results if not r.passed)
        assert hint.lower() in failed.hint.lower()


# --- Quizzes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["LAYER_NORM_CHECK + EXERCISE_CHECK", "EXERCISE_CHECK"], ids=["all", "knowledge"]
)
def test_quiz_answers_are_spread(name):
    sets = {
        "LAYER_NORM_CHECK + EXERCISE_CHECK": exercise_questions.LAYER_NORM_CHECK
        + exercise_questions.EXERCISE_CHECK,
        "EXERCISE_CHECK": exercise_questions.EXERCISE_CHECK,
    }
    questions = sets[name]
    assert_spread(questions)
    assert len({question.answer for question in questions}) >= 3


def test_knowledge_check_has_six_questions_and_the_seeds_batchnorm_question():
    questions = exercise_questions.EXERCISE_CHECK
    assert len(questions) >= 6
    seed_question = [q for q in questions if "even though it adds more parameters" in q.prompt]
    assert len(seed_question) == 1
    (question,) = seed_question
    assert "Santurkar" in question.explanations[2]  # the covariate-shift claim is corrected


def test_quiz_numbers_are_the_ones_gradlab_computes():
    from gradlab.models.mlp import init_std

    question = exercise_questions.EXERCISE_CHECK[1]
    assert question.choices[question.answer] == f"{init_std('xavier', 64, 64):.3f}" == "0.125"
    assert f"{2 / 128:.4f}" in question.choices  # the variance, the classic mistake
    tanh_squared = exercise_questions._mean_tanh_squared()
    rng = np.random.default_rng(0)
    sample = float(np.mean(np.tanh(rng.standard_normal(1_000_000)) ** 2))
    assert abs(tanh_squared - sample) < 3e-3 and f"{tanh_squared:.2f}" == "0.39"
    assert f"{1 / math.sqrt(tanh_squared):.1f}" == "1.6"  # the note after Exercise 4.1


def test_batchnorm_question_states_what_torch_does_at_batch_size_one():
    import torch
    from torch import nn

    norm = nn.BatchNorm1d(64)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        norm(torch.ones(1, 64))
    norm.eval()
    assert norm(torch.ones(1, 64)).shape == (1, 64)
