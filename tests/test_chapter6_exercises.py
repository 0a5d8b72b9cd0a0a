"""Chapter 6's exercises: the solutions pass, the shipped exercises fail unanswered, every check
fails (with its hint) for the named wrong answers, the numbers the text states hold with margin,
and the knowledge check's numbers are computed.

The check cells are run as shipped in exercises/06_clipping_exercises.ipynb, with each answer cell
replaced by the worked solution (same cell id in solutions/) or by a wrong answer. The grader's
own runs (`python -m gradlab.grade`) are covered by tests/test_grade.py for every notebook.
"""

from __future__ import annotations

import math

import helpers
import numpy as np
import pytest
import torch
from helpers import ROOT
from test_quiz_positions import assert_spread
from torch import nn

from gradlab.chapters.ch06_clipping import exercise_questions
from gradlab.grading.grade import grade_notebook
from gradlab.grading.kernel_runner import RunLimits
from gradlab.training.clipping import clipping_effect, threshold_from_history

pytestmark = pytest.mark.usefixtures("one_thread")

EXERCISES = ROOT / "exercises" / "06_clipping_exercises.ipynb"
SOLUTIONS = ROOT / "solutions" / "06_clipping_solutions.ipynb"
NOT_RUN = ("quiz.show(", "grade_saved_notebook(")  # widgets and the grade cell need a notebook
POINTS = {"6.1": 3, "6.2": 2, "6.3": 3, "6.4": 2}


def run_exercises(answers: dict | None = None, until: str | None = None):
    """This chapter's exercises run by tests/helpers.run_exercises."""
    return helpers.run_exercises(EXERCISES, SOLUTIONS, answers, until, NOT_RUN)


@pytest.fixture(scope="module")
def solved():
    """The exercises run with every worked solution: (namespace, printed words)."""
    return run_exercises()


results = helpers.check_results


# --- the notebooks as shipped ----------------------------------------------------------------------


def test_every_check_passes_with_the_worked_solutions(solved):
    """Run as the shipped exercises (hidden tests removed): the visible checks all pass."""
    _, printed = solved
    visible = {"6.1": 3, "6.2": 2, "6.3": 4, "6.4": 1}
    for exercise, checks in visible.items():
        shown = results(printed, exercise)
        assert len(shown) == checks, (exercise, shown)
        assert all(result.startswith("[PASS]") for result in shown), shown


COURSE_LIMITS = RunLimits(cell_timeout=120.0, total_timeout=300.0)


@pytest.fixture(scope="module")
def graded():
    return {
        "solutions": grade_notebook(SOLUTIONS, limits=COURSE_LIMITS),
        "exercises": grade_notebook(EXERCISES, limits=COURSE_LIMITS),
    }


def test_the_grader_gives_the_solutions_full_marks_with_hidden_tests(graded):
    grade = graded["solutions"]
    assert not grade.error and not grade.notes
    assert [row.exercise for row in grade.exercises] == list(POINTS)
    assert grade.score == grade.max_score == sum(POINTS.values()), grade.exercises


def test_the_unanswered_exercises_score_zero_each_for_its_stub(graded):
    grade = graded["exercises"]
    assert not grade.error and grade.max_score == sum(POINTS.values()) and grade.score == 0
    assert [row.exercise for row in grade.exercises] == list(POINTS)
    for row in grade.exercises:
        assert not row.passed and "not done yet (NotImplementedError:" in row.message, row


# --- each check fails for the named wrong answers ---------------------------------------------------

CLIP = "def clip_by_norm(parameters, max_norm):\n{}\n"
PER_TENSOR = (
    "    total = 0.0\n"
    "    for p in parameters:\n"
    "        if p.grad is not None:\n"
    "            total += float(p.grad.norm()) ** 2\n"
    "            torch.nn.utils.clip_grad_norm_([p], max_norm)\n"
    "    return total ** 0.5"
)
BY_VALUE = (
    "    grads = [p.grad for p in parameters if p.grad is not None]\n"
    "    total = float(torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads])))\n"
    "    for g in grads:\n"
    "        g.clamp_(-max_norm, max_norm)\n"
    "    return total"
)
ALWAYS_SCALES = (
    "    grads = [p.grad for p in parameters if p.grad is not None]\n"
    "    total = float(torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads])))\n"
    "    for g in grads:\n"
    "        g.mul_(max_norm / (total + 1e-6))\n"
    "    return total"
)
RETURNS_AFTER = (
    "    torch.nn.utils.clip_grad_norm_(parameters, max_norm)\n"
    "    grads = [p.grad for p in parameters if p.grad is not None]\n"
    "    return float(torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads])))"
)
NOT_IN_PLACE = (
    "    grads = [p.grad for p in parameters if p.grad is not None]\n"
    "    total = float(torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads])))\n"
    "    grads = [g * min(1.0, max_norm / (total + 1e-6)) for g in grads]\n"
    "    return total"
)
THRESHOLD = "threshold = {}\nfraction_above = {}\n"
RIGHT_FRACTION = "float(np.mean(norms > threshold))"
SUMMARY = "def clipping_summary(norms, max_norm, lr):\n    norms = np.asarray(norms)\n{}\n"
AGGRESSIVE = "def too_aggressive(norms, max_norm, lr):\n    return {}\n"


@pytest.mark.parametrize(
    ("exercise", "marker", "source", "expected"),
    [
        (
            "6.1",
            "def clip_by_norm",
            CLIP.format(PER_TENSOR),
            ["PASS", "FAIL Each tensor was clipped with its own norm", "PASS"],
        ),
        (
            "6.1",
            "def clip_by_norm",
            CLIP.format(BY_VALUE),
            ["PASS", "FAIL That clamps each element", "PASS"],
        ),
        (
            "6.1",
            "def clip_by_norm",
            CLIP.format(ALWAYS_SCALES),
            ["PASS", "PASS", "FAIL The gradients were scaled UP"],
        ),
        (
            "6.1",
            "def clip_by_norm",
            CLIP.format(RETURNS_AFTER),
            ["FAIL That is the norm after clipping", "PASS", "PASS"],
        ),
        (
            "6.1",
            "def clip_by_norm",
            CLIP.format(NOT_IN_PLACE),
            ["PASS", "FAIL The gradients did not change", "PASS"],
        ),
        (
            "6.2",
            "set threshold",
            THRESHOLD.format("float(np.percentile(norms, 0.99))", RIGHT_FRACTION),
            ["FAIL np.percentile takes a percentage", "FAIL"],
        ),
        (
            "6.2",
            "set threshold",
            THRESHOLD.format("float(norms.max())", RIGHT_FRACTION),
            ["FAIL That is the largest recorded norm", "FAIL"],
        ),
        (
            "6.2",
            "set threshold",
            THRESHOLD.format("float(np.percentile(norms, 95))", RIGHT_FRACTION),
            ["FAIL That is the 95th percentile", "FAIL"],
        ),
        (
            "6.2",
            "set threshold",
            THRESHOLD.format(
                "float(np.percentile(norms, 99))", "float(np.mean(norms <= threshold))"
            ),
            ["PASS", "FAIL That is the fraction at or below"],
        ),
        (
            "6.3",
            "def clipping_summary",
            SUMMARY.format(
                "    return float(np.mean(norms > max_norm)), lr * float(np.mean(norms)) / max_norm"
            ),
            ["PASS", "FAIL That multiplies lr by norm / max_norm", "PASS", "FAIL"],
        ),
        (
            "6.3",
            "def clipping_summary",
            SUMMARY.format(
                "    return float(np.mean(norms > max_norm)), lr * float(np.mean(max_norm / norms))"
            ),
            ["PASS", "PASS", "PASS", "FAIL Steps below max_norm were scaled up"],
        ),
        (
            "6.3",
            "def clipping_summary",
            SUMMARY.format(
                "    return float(np.mean(norms > max_norm)), lr * max_norm / float(np.median(norms))"
            ),
            ["PASS", "FAIL That scales lr by max_norm over the median norm", "PASS", "FAIL"],
        ),
        (
            "6.3",
            "def clipping_summary",
            SUMMARY.format(
                "    return float(np.mean(norms <= max_norm)), "
                "lr * float(np.mean(np.minimum(1, max_norm / norms)))"
            ),
            ["FAIL That is the fraction of steps NOT clipped", "PASS", "FAIL", "PASS"],
        ),
        (
            "6.4",
            "def too_aggressive",
            AGGRESSIVE.format("True"),
            ["FAIL Only a threshold that rescales (nearly) every step"],
        ),
    ],
    ids=[
        "6.1-each-tensor-separately",
        "6.1-value-clipping",
        "6.1-no-op-forgotten",
        "6.1-returns-norm-after",
        "6.1-not-in-place",
        "6.2-percentile-0.99",
        "6.2-max",
        "6.2-95th",
        "6.2-fraction-below",
        "6.3-seed-formula",
        "6.3-no-min-1",
        "6.3-median-step",
        "6.3-fraction-not-clipped",
        "6.4-always-true",
    ],
)
def test_a_wrong_answer_fails_with_its_hint(exercise, marker, source, expected):
    _, printed = run_exercises({marker: source}, until=exercise)
    shown = results(printed, exercise)
    assert len(shown) == len(expected), shown
    for result, want in zip(shown, expected, strict=True):
        status, _, hint = want.partition(" ")
        assert result.startswith(f"[{status}]"), (want, result)
        assert hint in result, (hint, result)


@pytest.mark.parametrize(
    "source",
    [
        "clipping_summary(norms, max_norm, lr)[0] > 0.5",
        "max_norm < float(np.median(norms))",
    ],
    ids=["clips-most-steps", "below-median"],
)
def test_hidden_tests_catch_what_the_visible_verdicts_miss(source):
    """A threshold that clips every step but only halves lr is not too aggressive by 6.4's rule:
    the hidden test (norms all 0.5, max_norm 0.2) tells the rules apart."""
    namespace, _ = run_exercises(until="6.4")
    exec(AGGRESSIVE.format(source), namespace)
    verdicts = [namespace["too_aggressive"](np.full(10, 0.5), c, 0.1) for c in (0.01, 0.2, 1.0)]
    assert verdicts != [True, False, False]


# --- what the text states, with margin --------------------------------------------------------------


def test_the_run_gives_the_stated_numbers_with_margin(solved):
    namespace, printed = solved
    norms, lr = namespace["norms"], namespace["LR"]
    assert len(norms) == 200 and np.isfinite(norms).all()
    # "exactly 2 of the 200 steps lie above the 99th percentile" (distinct norms, linear method)
    threshold = threshold_from_history(norms, 99)
    assert int(np.sum(norms > threshold)) == 2 and len(np.unique(norms)) == 200
    # the copied max_norm=0.01 divides lr by more than 10: with margin (16 on the stored machine)
    tight = clipping_effect(norms, 0.01, lr)
    assert tight.fraction_clipped == 1.0 and tight.effective_lr < lr / 12
    # the 99th percentile keeps above 99% of lr (the quiz says so), max_norm=1.0 almost all of it
    assert clipping_effect(norms, threshold, lr).effective_lr > 0.99 * lr
    loose = clipping_effect(norms, 1.0, lr)
    assert loose.fraction_clipped <= 0.1 and loose.effective_lr > 0.9 * lr
    assert "{'copied max_norm=0.01': True, '99th percentile': False, 'max_norm=1.0': False}" in (
        printed
    )
    for name, reported in [("copied max_norm=0.01", True), ("99th percentile", False)]:
        assert f"{name} clipping_too_aggressive reported: {reported}" in printed
    assert "max_norm=1.0 clipping_too_aggressive reported: False" in printed
    # the median norm sits far from both 0.01 and 1.0 (the monitor's verdicts need it)
    assert 0.1 < np.median(norms) < 0.5


def test_the_first_cells_norms_are_far_from_a_rounding_edge(solved):
    """The first cell prints per-tensor gradient norms at 2 decimals (nbval compares them)."""
    namespace, _ = solved
    model = namespace["model_with_gradients"]()
    for parameter in model.parameters():
        hundredths = float(parameter.grad.norm()) * 100
        assert abs(hundredths - round(hundredths)) < 0.45


# --- the knowledge check ----------------------------------------------------------------------------


def test_the_knowledge_check_has_six_questions_and_spread_answers():
    questions = exercise_questions.EXERCISE_CHECK
    assert len(questions) >= 6
    assert_spread(questions)


def test_the_knowledge_checks_numbers_are_computed():
    """Each number a question states, against torch's own clipping or the closed form."""
    norm_vs_value, summed, _, seed_formula, alternating, *_ = exercise_questions.EXERCISE_CHECK
    # 1. (3, 0.5) at 0.5: torch's clip_grad_norm_ / clip_grad_value_, and the angle by atan2
    by = {}
    for name, clip in [
        ("norm", torch.nn.utils.clip_grad_norm_),
        ("value", torch.nn.utils.clip_grad_value_),
    ]:
        parameter = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        parameter.grad = torch.tensor([3.0, 0.5], dtype=torch.float64)
        clip([parameter], 0.5)
        by[name] = "({:.2f}, {:.2f})".format(*parameter.grad.tolist())
    assert (by["norm"], by["value"]) == ("(0.49, 0.08)", "(0.50, 0.50)")
    right = norm_vs_value.choices[norm_vs_value.answer]
    assert right.startswith(f"{by['norm']} is by norm") and f"{by['value']} is by value" in right
    turn = 45 - math.degrees(math.atan2(0.5, 3.0))  # (0.5, 0.5) is at 45 degrees
    assert f"turns by {turn:.0f} degrees" in right
    # 2. a summed MSE over 512 examples has 512 times the averaged one's gradient
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(3, 1, generator=generator, requires_grad=True)
    x, y = torch.randn(512, 3, generator=generator), torch.randn(512, 1, generator=generator)
    (mean,) = torch.autograd.grad(nn.functional.mse_loss(x @ weight, y), weight)
    (total,) = torch.autograd.grad(nn.functional.mse_loss(x @ weight, y, reduction="sum"), weight)
    torch.testing.assert_close(total, 512 * mean)
    assert "512 times larger" in summed.choices[summed.answer]
    # 4. the seed text's formula on norm 0.5, threshold 0.01, lr 0.1: 5 instead of 0.002
    assert clipping_effect([0.5], 0.01, 0.1).effective_lr == pytest.approx(0.002)
    assert "it gives 5, 50 times larger" in seed_formula.choices[seed_formula.answer]
    assert "= 0.002" in seed_formula.choices[seed_formula.answer]
    # 5. norms alternating 0.1 and 1 at max_norm 0.01: factors 0.1 and 0.01, lr 0.1 x 0.055
    assert alternating.choices[alternating.answer].startswith("0.0055:")
    assert alternating.choices[0].startswith(f"{0.1 * 0.01 / 0.55:.2g}:")
    prompts = " ".join(q.prompt for q in exercise_questions.EXERCISE_CHECK).lower()
    assert "clipping by norm and clipping by value" in prompts and "threshold" in prompts
