"""Chapter 5's exercises: the solutions pass, the shipped exercises fail unanswered, every check
fails (with its hint) for the named wrong answers, the numbers the text states hold with margin,
and the knowledge check's claims are measured.

The check cells are run as shipped in exercises/05_residual_exercises.ipynb, with each answer cell
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

import gradlab
from gradlab.chapters.ch05_residual import exercise_questions
from gradlab.diagnosis.flow import depth_profile, relative_gradients
from gradlab.diagnosis.report import Thresholds
from gradlab.grading.grade import grade_notebook
from gradlab.grading.kernel_runner import RunLimits
from gradlab.models.residual import make_residual_mlp
from gradlab.theory import gradient_after_layers

pytestmark = pytest.mark.usefixtures("one_thread")

EXERCISES = ROOT / "exercises" / "05_residual_exercises.ipynb"
SOLUTIONS = ROOT / "solutions" / "05_residual_solutions.ipynb"
NOT_RUN = ("quiz.show(", "grade_saved_notebook(")  # widgets and the grade cell need a notebook


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
    _, printed = solved
    for exercise, checks in {"5.1": 2, "5.2": 2, "5.3": 3, "5.4": 1, "5.5": 2}.items():
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
    assert [row.exercise for row in grade.exercises] == ["5.1", "5.2", "5.3", "5.4", "5.5"]
    assert grade.score == grade.max_score == 12, grade.exercises


def test_the_unanswered_exercises_score_zero_each_for_its_stub(graded):
    grade = graded["exercises"]
    assert not grade.error and grade.max_score == 12 and grade.score == 0
    for row in grade.exercises:
        assert not row.passed and "not done yet (NotImplementedError:" in row.message, row


# --- each check fails for the named wrong answers ---------------------------------------------------

RESIDUAL = "class ResidualBlock(nn.Module):\n    def __init__(self, width):\n        super().__init__()\n        self.branch = make_branch(width)\n\n    def forward(self, x):\n        return {}\n"
MEASURE = (
    "def first_block_gradient_norm(model, x, y):\n{}\n\n"
    "residual_net = build_network(ResidualBlock)\nplain_net = build_network(PlainBlock)\n{}\n"
)
ACCUMULATES = (
    "    loss_fn(model(x), y).backward()\n"
    "    grads = [p.grad.flatten() for p in model.blocks[0].parameters()]\n"
    "    return float(torch.linalg.vector_norm(torch.cat(grads)))"
)
FIRST_WEIGHT_ONLY = (
    "    model.zero_grad()\n    loss_fn(model(x), y).backward()\n"
    "    return float(model.blocks[0].branch.linear1.weight.grad.norm())"
)
RIGHT_MEASURE = (
    "    model.zero_grad()\n    loss_fn(model(x), y).backward()\n"
    "    grads = [p.grad.flatten() for p in model.blocks[0].parameters()]\n"
    "    return float(torch.linalg.vector_norm(torch.cat(grads)))"
)
RATIO = "ratio = first_block_gradient_norm({}, x, y) / first_block_gradient_norm({}, x, y)"


def fill_stub(body: str):
    """The shipped cell with its one NotImplementedError stub replaced by `body` (re-indented)."""

    def fill(source: str) -> str:
        lines = source.split("\n")
        (index,) = [i for i, line in enumerate(lines) if "raise NotImplementedError(" in line]
        indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
        lines[index : index + 1] = [indent + line for line in body.split("\n")]
        return "\n".join(lines)

    return fill


@pytest.mark.parametrize(
    ("exercise", "marker", "source", "expected"),
    [
        (
            "5.1",
            "class ResidualBlock",
            RESIDUAL.format("self.branch(x)"),
            ["FAIL That is the branch alone", "FAIL"],
        ),
        (
            "5.1",
            "class ResidualBlock",
            "class ResidualBlock(PlainBlock):\n    pass\n",
            ["FAIL That is relu(F(x)), PlainBlock's output", "FAIL In every seed"],
        ),
        (
            "5.1",
            "class ResidualBlock",
            RESIDUAL.format("torch.relu(x + self.branch(x))"),
            ["FAIL That is relu(x + F(x))", "PASS"],
        ),
        (
            "5.2",
            "def first_block_gradient_norm",
            MEASURE.format(ACCUMULATES, RATIO.format("residual_net", "plain_net")),
            ["FAIL Twice the gradient", "PASS"],
        ),
        (
            "5.2",
            "def first_block_gradient_norm",
            MEASURE.format(FIRST_WEIGHT_ONLY, RATIO.format("residual_net", "plain_net")),
            ["FAIL That is only the first Linear's weight", "FAIL"],
        ),
        (
            "5.2",
            "def first_block_gradient_norm",
            MEASURE.format(RIGHT_MEASURE, RATIO.format("plain_net", "residual_net")),
            ["PASS", "FAIL That is plain / residual, upside down"],
        ),
        (
            "5.3",
            "class PreActivationBlock",
            fill_stub(
                "return torch.relu(x + self.norm2(self.linear2(torch.relu(self.norm1(self.linear1(x))))))"
            ),
            ["FAIL That is relu(x)", "FAIL The gradient is cut wherever x < 0", "FAIL"],
        ),
        (
            "5.3",
            "class PreActivationBlock",
            fill_stub(
                "out = self.linear1(self.norm1(torch.relu(x)))\n"
                "return x + self.linear2(self.norm2(torch.relu(out)))"
            ),
            ["PASS", "PASS", "FAIL That is ReLU → BN → weight, the reversed order"],
        ),
        (
            "5.3",
            "class PreActivationBlock",
            fill_stub(
                "out = torch.relu(self.norm1(self.linear1(x)))\n"
                "return x + self.norm2(self.linear2(out))"
            ),
            ["PASS", "PASS", "FAIL That is the post-activation branch"],
        ),
        (
            "5.3",
            "class PreActivationBlock",
            fill_stub(
                "out = self.linear1(torch.relu(self.norm1(x)))\n"
                "return self.linear2(torch.relu(self.norm2(out)))"
            ),
            ["FAIL The output is 0", "FAIL", "FAIL"],
        ),
        (
            "5.4",
            "buggy_block",
            'buggy_block = "blocks.0"',
            ["FAIL blocks.0 is where the damage shows"],
        ),
        ("5.4", "buggy_block", 'buggy_block = "blocks.3"', ["FAIL blocks.3's in-place ReLU"]),
        ("5.4", "buggy_block", 'buggy_block = "blocks.8"', ["FAIL Read the factor column"]),
        (
            "5.5",
            "fixed_model",
            "colleague_model.blocks[7].branch.relu1 = nn.ReLU()\nfixed_model = colleague_model",
            ["PASS", "FAIL colleague_model itself is repaired"],
        ),
        (
            "5.5",
            "fixed_model",
            "fixed_model = copy.deepcopy(colleague_model)\n"
            "fixed_model.blocks[3].branch.relu2 = nn.ReLU()",
            ["FAIL That is still the broken model's gradient", "PASS"],
        ),
    ],
    ids=[
        "5.1-branch-alone",
        "5.1-plain-block",
        "5.1-post-activation",
        "5.2-grad-accumulates",
        "5.2-first-weight-only",
        "5.2-ratio-upside-down",
        "5.3-post-activation",
        "5.3-reversed-order",
        "5.3-post-branch-order",
        "5.3-no-skip",
        "5.4-victim",
        "5.4-harmless-inplace",
        "5.4-neighbour",
        "5.5-fixed-in-place",
        "5.5-wrong-block",
    ],
)
def test_each_check_fails_for_the_named_wrong_answers(exercise, marker, source, expected):
    _, printed = run_exercises({marker: source}, until=exercise)
    shown = results(printed, exercise)
    assert len(shown) == len(expected), shown
    for result, want in zip(shown, expected, strict=True):
        verdict, *words = want.split(" ", 1)
        assert result.startswith(f"[{verdict}]"), (want, result)
        if words:
            assert f"Hint: {words[0]}" in result, (want, result)


def test_the_hints_never_state_the_answer():
    sources = " ".join(cell.source for cell in helpers.code_cells(EXERCISES))
    # 5.4's answer is only in check_equal's expected value, which the grader never prints
    assert sources.count('"blocks.7"') == 1
    _, printed = run_exercises({"buggy_block": 'buggy_block = "blocks.0"'}, until="5.4")
    assert "blocks.7" not in printed.split("[FAIL] Exercise 5.4")[1]


# --- the numbers the text states, with margin -------------------------------------------------------


def test_the_residual_network_beats_the_plain_one_far_above_the_threshold(solved):
    namespace, _ = solved
    ratios = namespace["first_block_ratios"](namespace["ResidualBlock"], seeds=range(5))
    assert min(ratios) > 1e5, ratios  # 100 times the check's 1e3
    assert namespace["first_block_ratios"](namespace["PlainBlock"], seeds=(0,)) == [1.0]
    post = namespace["first_block_ratios"](
        lambda width: _PostResidual(namespace["make_branch"](width)), seeds=(0, 1)
    )
    assert min(post) > 1e5  # a post-activation block also clears it: only 5.1's formula check fails


class _PostResidual(nn.Module):
    def __init__(self, branch):
        super().__init__()
        self.branch = branch

    def forward(self, x):
        return torch.relu(x + self.branch(x))


def test_the_plain_block_passes_back_a_fraction_of_the_gradient(solved):
    """'each plain block passes back only a fraction of the gradient it receives'."""
    namespace, _ = solved
    model = namespace["build_network"](namespace["PlainBlock"])
    probe = gradlab.probe_gradients(
        model, namespace["x"], namespace["y"], namespace["loss_fn"], layers=list(model.blocks)
    )
    assert np.all(probe.measured_factors < 0.5), probe.measured_factors


def test_the_post_activation_input_is_about_half_negative(solved):
    namespace, _ = solved
    assert 0.4 < float((namespace["h"] < 0).float().mean()) < 0.6


def test_the_colleague_model_has_one_leaky_block_and_diagnose_finds_nothing(solved):
    namespace, _ = solved
    model, x, y, loss_fn = (namespace[k] for k in ("original_model", "x", "y", "loss_fn"))
    probe = gradlab.probe_gradients(model, x, y, loss_fn, layers=list(model.blocks))
    factors = dict(zip(probe.layer_names, probe.measured_factors, strict=True))
    assert factors.pop("blocks.7") < 0.85, probe.table()
    assert all(0.95 < value < 1.2 for value in factors.values()), probe.table()
    report = gradlab.diagnose(model, (x, y), loss_fn)
    assert report.findings == [], str(report)
    # 'one leaky block is far from that': no block's relative gradient is below 1/10 of a later
    # block's, ten times the rule's 1/100
    with gradlab.GradientMonitor(model) as monitor:
        loss_fn(model(x), y).backward()
    model.zero_grad()
    recording = monitor.recording()
    values = [g.value for g in depth_profile(recording, relative_gradients(recording))]
    lowest = min(values[i] / max(values[i + 1 : -1]) for i in range(len(values) - 2))
    assert lowest > 10 * Thresholds().vanishing_warning, values
    fixed = namespace["reference_fix"]
    first = namespace["probed_first_block"]
    assert first(fixed) > 1.2 * first(model)
    # 'every block below the broken one gets less gradient than it would' (5.4's hint)
    repaired = gradlab.probe_gradients(fixed, x, y, loss_fn, layers=list(fixed.blocks))
    assert np.all(probe.weight_grad_norms[:7] < 0.9 * repaired.weight_grad_norms[:7])


def test_the_two_other_inplace_relus_are_harmless(solved):
    """Only blocks.7's in-place ReLU changes anything: the others give the clean model's gradient."""
    namespace, _ = solved
    clean = namespace["build_network"](namespace["PreActBlock"], depth=12)
    harmless = namespace["build_network"](namespace["PreActBlock"], depth=12)
    harmless.blocks[3].branch.relu2 = nn.ReLU(inplace=True)
    harmless.blocks[10].branch.relu2 = nn.ReLU(inplace=True)
    first = namespace["probed_first_block"]
    assert first(harmless) == pytest.approx(first(clean), rel=1e-6)
    assert first(namespace["reference_fix"]) == pytest.approx(first(clean), rel=1e-6)


# --- the knowledge check ---------------------------------------------------------------------------


def test_the_knowledge_check_has_six_or_more_questions_spread_over_positions():
    questions = exercise_questions.EXERCISE_CHECK
    assert len(questions) >= 6
    assert_spread(questions)
    assert len({question.answer for question in questions}) == 3
    prompts = " ".join(question.prompt for question in questions)
    assert "'+1'" in prompts and "not enough" in prompts  # the seeds' interview question


def _identity_minus_half_stack(depth: int, width: int = 8) -> float:
    """‖∂L/∂x‖ / ‖∂L/∂y‖ through `depth` blocks y = x + F(x) with ∂F/∂x = -0.5·I, by autograd."""
    x = torch.randn(4, width, generator=torch.Generator().manual_seed(0), requires_grad=True)
    h = x
    for _ in range(depth):
        h = h + (-0.5 * h)
    upstream = torch.randn(4, width, generator=torch.Generator().manual_seed(1))
    (grad,) = torch.autograd.grad((h * upstream).sum(), x)
    return float(grad.norm() / upstream.norm())


def test_the_cancelling_branch_in_the_plus_one_question_is_measured():
    question = exercise_questions.EXERCISE_CHECK[0]
    measured = _identity_minus_half_stack(20)
    assert measured == pytest.approx(gradient_after_layers(0.5, 20), rel=1e-5)
    assert f"{measured:.2g}" in question.explanations[0]  # 9.5e-07


def test_the_diagnose_threshold_in_the_question_is_gradlabs():
    question = exercise_questions.EXERCISE_CHECK[5]
    assert Thresholds().vanishing_warning == 1e-2
    assert "below 0.01 of the largest later one" in question.choices[question.answer]


def test_the_paths_question_counts_two_to_the_depth():
    question = exercise_questions.EXERCISE_CHECK[2]
    assert question.choices[question.answer] == str(2**10) == "1024"


def test_zero_initialised_branches_start_as_the_identity_as_the_last_question_says():
    model = make_residual_mlp(depth=6, width=16, in_features=16, branch_init="zero", seed=0)
    x = torch.randn(32, 16, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(1))
    probe = gradlab.probe_gradients(model, x, y)
    assert np.allclose(probe.measured_factors, 1.0, rtol=1e-6)  # every block passes it unchanged
    loss = nn.functional.cross_entropy(model(x), y)
    grads = dict(
        zip(
            [n for n, _ in model.named_parameters()],
            torch.autograd.grad(loss, list(model.parameters())),
            strict=True,
        )
    )
    for i in range(6):
        assert float(grads[f"blocks.{i}.linear1.weight"].abs().max()) == 0.0
        assert float(grads[f"blocks.{i}.linear2.weight"].norm()) > 0.0
    assert math.isfinite(loss.item())


def test_the_exercise_notebook_shows_the_quiz_only_through_quiz_show():
    sources = [cell.source for cell in helpers.code_cells(EXERCISES)]
    quiz_cells = [source for source in sources if "quiz." in source]
    assert quiz_cells == [
        'quiz.show(exercise_questions.EXERCISE_CHECK, title="Chapter 5 exercises: knowledge check")'
    ]
    assert not any("Question(" in source or "answer=" in source for source in sources)
