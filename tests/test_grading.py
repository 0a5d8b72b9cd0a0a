"""gradlab.grading.checks's checks and gradlab.grading.declarations' static scan, without a kernel."""

import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from gradlab import theory
from gradlab.grading.checks import (
    RESULT_MIME,
    CheckResult,
    check_close,
    compare_close,
    compare_equal,
    compare_shape,
    compare_type,
)
from gradlab.grading.declarations import (
    CheckDeclaration,
    exercise_points,
    find_check_calls,
    read_check_result,
)

REFERENCE = 0.4**20  # 1.0995e-08


@pytest.mark.parametrize(
    "received",
    [REFERENCE, REFERENCE * 1.009, np.float32(REFERENCE), torch.tensor(REFERENCE)],
    ids=["exact", "within-rtol", "numpy-float32", "torch-scalar"],
)
def test_close_passes_within_tolerance(received):
    result = compare_close(received, REFERENCE, exercise="1.1", points=2)
    assert result.passed and result.points == 2 and result.exercise == "1.1"
    assert "rtol=0.01" in result.message


@pytest.mark.parametrize(
    ("received", "fragment"),
    [
        (0.4 * 20, "too large"),
        (REFERENCE / 2, "too small"),
        (float("nan"), "non-finite"),
        ("1e-8", "expected a number"),
        (None, "expected a number"),
        (np.ones(3), "expected shape ()"),
    ],
    ids=["too-large", "too-small", "nan", "string", "none", "array-for-scalar"],
)
def test_close_fails_with_a_reason_and_never_the_answer(received, fragment):
    result = compare_close(received, REFERENCE, exercise="1.1", hint="count the layers")
    assert not result.passed
    assert fragment in result.message
    assert "1.1e-08" not in result.to_text() and "1.0995" not in result.to_text()
    assert "Hint: count the layers" in result.to_text()


def test_close_reveals_the_reference_only_when_asked():
    hidden = compare_close(2.0, 1.0, exercise="x")
    shown = compare_close(2.0, 1.0, exercise="x", reveal=True)
    assert "expected 1 " in shown.message and "received 2" in shown.message
    assert "expected 1" not in hidden.message


def test_close_on_arrays_names_the_worst_entry():
    expected = torch.tensor([1.0, 2.0, 3.0, 4.0])
    received = expected.clone().numpy()
    received[2] = 30.0
    received[3] = 4.1  # off by 2.5 %, also outside rtol=1e-2 but less so than index 2
    result = compare_close(received, expected, exercise="2", reveal=True)
    assert not result.passed
    assert "2 of 4 values differ" in result.message and "at index 2" in result.message
    assert compare_close(expected * 1.001, expected, exercise="2").passed


def test_close_uses_atol_for_zero_references():
    assert not compare_close(1e-9, 0.0, exercise="z").passed
    assert compare_close(1e-9, 0.0, exercise="z", atol=1e-8).passed


def test_shape_and_type_checks():
    assert compare_shape(torch.zeros(10, 3), (10, 3), exercise="s").passed
    wrong = compare_shape(np.zeros(10), (10, 3), exercise="s")
    assert not wrong.passed and "(10, 3)" in wrong.message and "(10,)" in wrong.message
    assert "expected an array" in compare_shape("abc", (1,), exercise="s").message
    assert compare_type(np.zeros(2), np.ndarray, exercise="t").passed
    wrong_type = compare_type([1, 2], (np.ndarray, torch.Tensor), exercise="t")
    assert "ndarray or Tensor" in wrong_type.message and "list" in wrong_type.message


@pytest.mark.parametrize(
    ("received", "passed"),
    [
        (3, True),
        (np.int64(3), True),
        (3.5, False),
        (True, False),
        ("3", False),
        (np.ones(2), False),
    ],
    ids=["int", "numpy-int", "other-number", "bool", "string", "array"],
)
def test_equal(received, passed):
    result = compare_equal(received, 3, exercise="q", hint="h")
    assert result.passed is passed
    assert ("Hint: h" in result.to_text()) is not passed  # a hint only when it failed


@pytest.mark.parametrize(
    ("exercise", "points"),
    [("", 1), (12, 1), ("1", -1), ("1", True), ("1", 1.5)],
    ids=["empty-id", "int-id", "negative", "bool", "float"],
)
def test_bad_declarations_raise_naming_the_argument(exercise, points):
    with pytest.raises(ValueError, match=r"exercise|points"):
        compare_close(1.0, 1.0, exercise=exercise, points=points)


def test_check_prints_text_outside_ipython(capsys):
    check_close(8.0, REFERENCE, exercise="1.1", points=2, hint="multiply")
    printed = capsys.readouterr().out
    assert printed.startswith("[FAIL] Exercise 1.1 (2 points): received 8")
    assert "Hint: multiply" in printed


def test_payload_round_trip():
    result = CheckResult("1.2", 3, False, "received 2", "look again")
    assert read_check_result({RESULT_MIME: result.to_payload()}) == result


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "not a dict",
        {"version": 99, "exercise": "1", "points": 1, "passed": True, "message": ""},
        {"version": 1, "exercise": "1", "points": "2", "passed": True, "message": ""},
        {"version": 1, "exercise": "1", "points": 1, "passed": "yes", "message": ""},
        {"version": 1, "exercise": 1, "points": 1, "passed": True, "message": ""},
        {"version": 1, "exercise": "1", "points": 1, "passed": True},
    ],
    ids=["none", "string", "version", "points-str", "passed-str", "exercise-int", "no-message"],
)
def test_malformed_payloads_are_ignored(payload):
    assert read_check_result({RESULT_MIME: payload}) is None


def _notebook(*sources):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell('check_close(x, 1, exercise="md")')]
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    return notebook


def test_declarations_are_read_from_literal_arguments_in_source_order():
    notebook = _notebook(
        "x = 1",
        'check_close(x, 1, exercise="1.2", points=3)\ncheck_equal(x, 1, exercise="1.1")',
        '%matplotlib inline\ngrading.check_shape(x, (1,), exercise="1.3", points=2)',
        'check_close(x, 1, exercise=name, points=2)\ncheck_close(x, 1, exercise="v", points=p)',
        'check_close(x, 1, exercise="1.4", points=2  # a learner broke the syntax',
        'print("check_close")',
    )
    assert find_check_calls(notebook) == [
        CheckDeclaration(2, "1.2", 3),
        CheckDeclaration(2, "1.1", 1),
        CheckDeclaration(3, "1.3", 2),
        CheckDeclaration(5, "1.4", 2),
    ]


def test_an_exercise_is_worth_its_largest_points_once():
    declarations = [
        CheckDeclaration(1, "a", 2),
        CheckDeclaration(2, "b", 1),
        CheckDeclaration(3, "a", 2),  # e.g. a hidden test of the same exercise
    ]
    assert exercise_points(declarations) == {"a": 2, "b": 1}
    assert list(exercise_points(declarations)) == ["a", "b"]


ONE_FACTOR_TOO_FEW = "That is 19 factors of 0.4; count the layers again."


@pytest.mark.parametrize(
    ("received", "hint"),
    [
        (0.4**19, ONE_FACTOR_TOO_FEW),
        (0.4**19 * 1.04, ONE_FACTOR_TOO_FEW),  # within the check's rtol of the wrong value
        (0.4**19 * 1.2, "generic"),  # wrong, but not this mistake
        (0.4**21, "generic"),
        (float("inf"), "generic"),
        (np.ones(2), "generic"),
    ],
    ids=["off-by-one", "off-by-one-within-rtol", "near-it", "other-wrong", "inf", "array"],
)
def test_a_listed_mistake_gets_its_own_hint(received, hint):
    result = compare_close(
        received,
        REFERENCE,
        exercise="1.1",
        rtol=0.05,
        hint="generic",
        mistakes=[(0.4**19, ONE_FACTOR_TOO_FEW)],
    )
    assert not result.passed and result.hint == hint
    assert f"Hint: {hint}" in result.to_text()
    assert "1.1e-08" not in result.to_text() and "1.0995" not in result.to_text()


def test_a_passing_answer_ignores_the_mistakes_and_arrays_match_element_wise():
    mistakes = [(0.4**19, ONE_FACTOR_TOO_FEW)]
    assert compare_close(REFERENCE, REFERENCE, exercise="1", mistakes=mistakes).passed
    expected = np.array([1.0, 2.0, 3.0])
    transposed = [(expected[::-1].copy(), "reversed")]
    result = compare_close(expected[::-1] * 1.001, expected, exercise="2", mistakes=transposed)
    assert not result.passed and result.hint == "reversed"
    result = compare_close(expected * 2, expected, exercise="2", hint="g", mistakes=transposed)
    assert result.hint == "g"


def test_check_equal_mistakes():
    off_by_one = [(4, "That is the step after it.")]
    assert compare_equal(4, 3, exercise="q", hint="g", mistakes=off_by_one).hint == off_by_one[0][1]
    assert compare_equal(5, 3, exercise="q", hint="g", mistakes=off_by_one).hint == "g"
    assert compare_equal(3, 3, exercise="q", mistakes=off_by_one).passed
    assert compare_equal(True, 1, exercise="q", mistakes=[(False, "no")]).hint == ""


@pytest.mark.parametrize(
    ("mistakes", "fragment"),
    [
        ({"19 factors": 0.4**19}, "mistakes must be a list of (wrong_value, hint) pairs"),
        ("0.4**19", "mistakes must be a list"),
        ([0.4**19], r"mistakes[0] must be a (wrong_value, hint) pair, got 2.7"),
        ([(0.4**19, "a", "b")], "mistakes[0] must be a (wrong_value, hint) pair"),
        ([(0.4**19, "")], "mistakes[0]'s hint must be a non-empty string, got ''"),
        ([(0.4**19, "h"), ("x", "h")], "mistakes[1]'s wrong value must be a number"),
        ([(np.ones(2), "h")], "mistakes[0]'s wrong value has shape (2,); expected has shape ()"),
        ([(float("nan"), "h")], "mistakes[0]'s wrong value must be finite"),
        ([(REFERENCE * 1.01, "h")], "mistakes[0]'s wrong value passes this check"),
    ],
    ids=[
        "dict",
        "string",
        "bare-value",
        "triple",
        "empty-hint",
        "string-value",
        "shape",
        "nan",
        "passes",
    ],
)
def test_malformed_mistakes_raise_naming_the_argument(mistakes, fragment):
    with pytest.raises(ValueError) as error:
        compare_close(1.0, REFERENCE, exercise="1.1", rtol=0.05, mistakes=mistakes)
    assert fragment in str(error.value)
    assert "1.0995" not in str(error.value)  # not even the author's error prints the reference
    with pytest.raises(ValueError, match=r"mistakes\[0\]'s wrong value passes this check"):
        compare_equal(2, 3, exercise="q", mistakes=[(3, "h")])


def test_long_messages_and_hints_wrap_whole():
    hint = " ".join(f"word{i}" for i in range(60))
    result = compare_close(2.0, 1.0, exercise="1.1", hint=hint)
    lines = result.to_text().splitlines()
    assert len(lines) > 2 and all(len(line) <= 100 for line in lines)
    assert " ".join(" ".join(lines).split()).endswith("Hint: " + hint)
    assert lines[2].startswith("        word")  # continuation indented under the hint


def test_a_long_value_is_marked_as_shortened_never_silently_cut():
    result = compare_equal("x" * 200, "y", exercise="q")
    assert result.message == f"'{'x' * 46}… (shortened) is not correct"
    payload = CheckResult("1", 1, False, "m" * 5000, "h").to_payload()
    assert read_check_result({RESULT_MIME: payload}).message.endswith("m… (shortened)")


def test_a_check_call_with_mistakes_is_declared_in_every_parse_path():
    call = (
        "check_close(x, theory.after(0.4, 20),\n"
        "    mistakes=[(theory.after(0.4, 19), 'count (the layers) again; points=9')],\n"
        '    exercise="1.1", points=2, hint="exercise=\'no\'")'
    )
    notebook = _notebook(
        call,
        call + "\nx = (",  # a syntax error: the text fallback must read the same declaration
        'print("check_close(x, 1, exercise=\'not a call\')")  # check_equal(x, exercise="no")\n('
        + 'check_equal(y, 2, exercise="1.2", points=4)',
    )
    assert find_check_calls(notebook) == [
        CheckDeclaration(1, "1.1", 2),
        CheckDeclaration(2, "1.1", 2),
        CheckDeclaration(3, "1.2", 4),
    ]


CHAPTER_1_EXERCISES = (
    Path(__file__).resolve().parents[1] / "exercises" / "01_chain_rule_exercises.ipynb"
)


def _run_check_cell(capsys, exercise: str, answers: dict) -> str:
    """Run the learner's check cell of ``exercise`` (as shipped in exercises/) on ``answers``."""
    notebook = nbformat.read(CHAPTER_1_EXERCISES, as_version=4)
    (source,) = [
        cell.source
        for cell in notebook.cells
        if cell.cell_type == "code"
        and cell.source.startswith("check_")
        and f'exercise="{exercise}"' in cell.source
    ]
    exec(source, {"check_close": check_close, "theory": theory, **answers})
    return " ".join(capsys.readouterr().out.split())  # the words, whatever the wrapping


@pytest.mark.parametrize(
    ("exercise", "answers", "words"),
    [
        ("1.1", {"first_layer_gradient": 0.4**19}, "Hint: That is 19 factors of 0.4, one too few"),
        ("1.1", {"first_layer_gradient": 0.4**21}, "Hint: That is 21 factors of 0.4, one too many"),
        ("1.1", {"first_layer_gradient": 0.4 * 20}, "they do not add up"),
        ("1.1", {"first_layer_gradient": 1e-3}, "Hint: On its way from the loss"),
        ("1.2", {"quick_check_gradient": 0.3**14}, "Hint: That is 14 factors of 0.3, one too few"),
        ("1.2", {"quick_check_gradient": 0.3 * 15}, "they do not add up"),
    ],
    ids=["0.4**19", "0.4**21", "0.4*20", "other-wrong", "0.3**14", "0.3*15"],
)
def test_chapter_1_checks_name_the_common_wrong_answers(capsys, exercise, answers, words):
    printed = _run_check_cell(capsys, exercise, answers)
    assert printed.startswith(f"[FAIL] Exercise {exercise}") and words in printed
    assert "it does not add them" not in printed  # the old hint, wrong for an off-by-one
    for answer in (0.4**20, 0.3**15):
        assert f"{answer:.4g}" not in printed and f"{answer:.2e}" not in printed


@pytest.mark.parametrize(
    ("received", "fragment"),
    [
        (float("nan"), "received nan (non-finite)"),
        (float("inf"), "received inf (non-finite)"),
        (float("-inf"), "received -inf (non-finite)"),
        (np.array([1.0, float("nan"), float("inf")]), "(2 of 3; at index 1: nan)"),
    ],
    ids=["nan", "inf", "-inf", "array"],
)
def test_non_finite_answers_are_named_in_the_library_words(received, fragment) -> None:
    """The grader stands alone but says 'nan' / 'inf' / '-inf' exactly as gradlab.formatting does."""
    from gradlab.formatting import format_number

    assert {format_number(v) for v in (math.nan, math.inf, -math.inf)} == {"nan", "inf", "-inf"}
    expected = REFERENCE if np.ndim(received) == 0 else np.ones(3)
    result = compare_close(received, expected, exercise="1.1", hint="h")
    assert not result.passed
    assert fragment in result.message, result.message
    assert "exploded" not in result.message and "vanished" not in result.message
