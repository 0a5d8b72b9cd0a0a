"""gradlab.grading.grade on pathological notebooks: graded cleanly, quickly, leaving nothing behind.

The notebooks are in tests/fixtures/grading (rebuilt by its build.py). Limits are short so the whole
module runs in well under a minute on two cores.
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from jupyter_core.paths import jupyter_runtime_dir

import gradlab.grading.grade
from gradlab.grading.assign import expected_exercise_files
from gradlab.grading.grade import (
    ExerciseGrade,
    NotebookGrade,
    format_table,
    grade_notebook,
    main,
    to_report,
)
from gradlab.grading.kernel_runner import RunLimits, run_notebook

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "grading"
SYNTHETIC = ROOT / "tests" / "fixtures" / "assign" / "solutions"
FAST = RunLimits(cell_timeout=3.0, interrupt_grace=2.0, total_timeout=30.0)
# printing megabytes takes a few seconds on a busy machine; the point there is truncation, not time
PATIENT = RunLimits(cell_timeout=15.0, interrupt_grace=2.0, total_timeout=30.0)

# fixture → (A passed, B passed, words the A message must contain, seconds the grading may take)
EXPECTED = {
    "passing": (True, True, "within rtol", 8),
    "wrong_answer": (False, True, "too large", 8),
    "raises": (False, True, "ValueError: the learner's bug", 8),
    "infinite_loop": (False, True, "timed out after 3 s", 12),
    "stubborn_loop": (False, True, "ignored the interrupt; kernel killed", 15),
    "huge_output": (True, True, "within rtol", 10),
    "os_exit": (False, True, "the kernel died", 10),
    "system_exit": (False, True, "SystemExit", 8),
    "deletes_names": (False, True, "name 'check_close' is not defined", 8),
    "common_mistake": (False, True, "received 2.749e-08, which is too large", 8),
}


def _live_processes_in_group(process_group):
    live = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == process_group and process.status() != "zombie":
                live.append(process.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return live


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade every fixture once, with a private temp folder, recording the files' bytes and mtimes."""
    temp = tmp_path_factory.mktemp("grader-temp")
    runtime_before = (
        set(os.listdir(jupyter_runtime_dir())) if os.path.isdir(jupyter_runtime_dir()) else set()
    )
    names = [*EXPECTED, "invalid_json"]
    before = {name: _fingerprint(FIXTURES / f"{name}.ipynb") for name in names}
    runs = {}

    def recording_run_notebook(notebook, limits):
        runs[name] = run_notebook(notebook, limits)
        return runs[name]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(temp))
        patch.setenv("TMPDIR", str(temp))
        patch.setattr(gradlab.grading.grade, "run_notebook", recording_run_notebook)
        grades = {}
        for name in names:
            limits = PATIENT if name == "huge_output" else FAST
            grades[name] = grade_notebook(FIXTURES / f"{name}.ipynb", limits=limits)
    after = {name: _fingerprint(FIXTURES / f"{name}.ipynb") for name in names}
    runtime_after = (
        set(os.listdir(jupyter_runtime_dir())) if os.path.isdir(jupyter_runtime_dir()) else set()
    )
    return {
        "grades": grades,
        "runs": runs,
        "before": before,
        "after": after,
        "temp_left": sorted(os.listdir(temp)),
        "runtime_new": sorted(runtime_after - runtime_before),
    }


def _fingerprint(path):
    return path.read_bytes(), path.stat().st_mtime_ns


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_pathological_notebook_is_graded_as_described(graded, name):
    a_passed, b_passed, fragment, seconds = EXPECTED[name]
    grade = graded["grades"][name]
    rows = {row.exercise: row for row in grade.exercises}
    assert next(iter(rows)) == "A" and [*rows][-1] == "B"
    assert (rows["A"].passed, rows["B"].passed) == (a_passed, b_passed)
    assert fragment in rows["A"].message
    assert rows["A"].score == (2 if a_passed else 0) and rows["B"].score == 1
    assert grade.max_score == sum(row.points for row in grade.exercises)
    assert grade.score == sum(row.score for row in grade.exercises)
    assert grade.passed is all(row.passed for row in grade.exercises)
    assert not grade.error
    assert grade.seconds < seconds


def test_raises_reports_the_unfinished_stub_before_the_name_error(graded):
    rows = {row.exercise: row for row in graded["grades"]["raises"].exercises}
    assert not rows["C"].passed
    assert rows["C"].message.startswith("cell 6 is not done yet (NotImplementedError")
    assert "then cell 7 raised NameError: name 'total' is not defined" in rows["C"].message


def test_a_faked_result_outside_the_check_cell_is_ignored(graded):
    row = graded["grades"]["wrong_answer"].exercises[0]
    assert not row.passed and "fake" not in row.message
    assert "1.1e-08" not in row.message  # the failure does not give the answer away


def test_a_listed_mistake_replaces_the_generic_hint_in_the_report(graded):
    grade = graded["grades"]["common_mistake"]
    assert grade.exercises[0].hint == "that is 19 factors (one too few): count the layers again"
    table = format_table(grade, width=100)
    assert (
        "\n" + " " * 30 + "Hint: that is 19 factors (one too few): count the layers again\n"
        in table
    )
    assert "one factor per layer" not in table and "1.1e-08" not in table
    assert graded["grades"]["wrong_answer"].exercises[0].hint == "one factor per layer"


LONG_MESSAGE = (
    "cell 7 is not done yet (NotImplementedError: set quick_check_gradient to what is left after "
    "15 layers that each multiply it by 0.3); then cell 8 raised NameError: name "
    "'quick_check_gradient' is not defined"
)


@pytest.mark.parametrize("width", [60, 80, 100])
def test_the_table_wraps_long_messages_whole_under_their_column(width):
    hint = "the gradient is multiplied once per layer, " * 3 + "so count the layers between them"
    rows = [
        ExerciseGrade("1.2", 1, 0, False, LONG_MESSAGE, hint),
        ExerciseGrade("1.3", 2, 2, True, "6.8e-07 is within rtol=0.05"),
    ]
    grade = NotebookGrade(
        "exercises/01_chain_rule_exercises.ipynb", rows, 2, 3, notes=[LONG_MESSAGE]
    )
    lines = format_table(grade, width=width).splitlines()
    assert all(len(line) <= width for line in lines), lines
    column = lines[1].index("message")
    first = next(i for i, line in enumerate(lines) if line.startswith("  1.2 "))
    hint_line = next(i for i, line in enumerate(lines) if line[column:].startswith("Hint: "))
    after = next(i for i, line in enumerate(lines) if line.startswith("  1.3 "))
    assert lines[first].index("cell 7") == column
    assert all(line[:column].isspace() for line in lines[first + 1 : after])
    message = " ".join(line[column:] for line in lines[first:hint_line])
    assert message == LONG_MESSAGE  # every word, in order, none cut
    assert all(line[: column + 6].isspace() for line in lines[hint_line + 1 : after])
    assert " ".join(line.strip() for line in lines[hint_line:after]) == f"Hint: {hint}"
    notes = " ".join(line.strip() for line in lines if not line.startswith("  total"))
    assert f"note: {LONG_MESSAGE}" in notes
    assert "..." not in "\n".join(lines) and "…" not in "\n".join(lines)


def test_invalid_json_is_a_clean_failure(graded):
    grade = graded["grades"]["invalid_json"]
    assert not grade.passed and grade.exercises == [] and grade.max_score == 0
    assert grade.error.startswith("not a valid notebook: NotJSONError")


def test_the_learners_files_are_never_written(graded):
    assert graded["after"] == graded["before"]


def test_no_temp_or_runtime_files_are_left(graded):
    assert graded["temp_left"] == []
    assert graded["runtime_new"] == []


def test_no_kernel_or_child_process_outlives_grading(graded):
    children = [p for p in psutil.Process().children(recursive=True) if p.status() != "zombie"]
    assert children == []


def test_every_kernel_process_group_is_gone(graded):
    # stubborn_loop also starts `sleep 300`, which lives in its kernel's process group
    runs = graded["runs"]
    assert (
        runs["stubborn_loop"].restarts == 1
        and len(runs["stubborn_loop"].kernel_process_groups) == 2
    )
    for name, run in runs.items():
        for process_group in run.kernel_process_groups:
            assert _live_processes_in_group(process_group) == [], name


def test_the_total_time_limit_stops_a_notebook_that_the_cell_timeout_would_not(tmp_path):
    limits = RunLimits(cell_timeout=60.0, interrupt_grace=60.0, total_timeout=5.0)
    started = time.monotonic()
    grade = grade_notebook(FIXTURES / "stubborn_loop.ipynb", limits=limits)
    assert time.monotonic() - started < 10
    assert "total time limit" in grade.error
    assert [row.score for row in grade.exercises] == [0, 0]
    assert "total time limit" in grade.exercises[1].message


def test_huge_output_is_cut_and_noted(graded):
    grade = graded["grades"]["huge_output"]
    assert grade.notes == [f"cell 4: output cut after {FAST.max_output_chars} characters"]
    assert len(json.dumps(to_report([grade]))) < 5_000  # megabytes printed, a small report kept


def test_restarts_are_noted(graded):
    assert graded["grades"]["os_exit"].notes == [
        "the kernel was restarted 1 time(s); earlier cells were re-run"
    ]


def test_synthetic_solutions_score_full_and_generated_exercises_score_zero(tmp_path):
    solution = grade_notebook(SYNTHETIC / "90_synthetic_solutions.ipynb", limits=FAST)
    assert solution.passed and solution.score == solution.max_score == 3 and not solution.error
    for path, text in expected_exercise_files(SYNTHETIC, tmp_path / "exercises").items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    exercise = grade_notebook(tmp_path / "exercises" / "90_synthetic_exercises.ipynb", limits=FAST)
    assert exercise.score == 0 and exercise.max_score == 3 and not exercise.error
    assert all("not done yet (NotImplementedError" in row.message for row in exercise.exercises)


def test_command_line_several_notebooks_json_and_exit_code(tmp_path, capsys):
    report = tmp_path / "reports" / "grades.json"
    notebooks = [str(FIXTURES / name) for name in ("passing.ipynb", "invalid_json.ipynb")]
    code = main([*notebooks, "--json", str(report), "--cell-timeout", "5", "--total-timeout", "20"])
    assert code == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("PASS    3/3") and lines[0].endswith(")")
    assert lines[1].startswith("FAIL    0/0") and "not a valid notebook" in lines[1]
    assert lines[2] == "1 of 2 notebooks passed"
    data = json.loads(report.read_text())
    assert data["passed"] is False and len(data["notebooks"]) == 2
    assert data["notebooks"][0]["exercises"][0] == {
        "exercise": "A",
        "points": 2,
        "score": 2,
        "passed": True,
        "message": "1.1e-08 is within rtol=0.01",
        "hint": "",
    }


def test_command_line_refuses_to_write_the_report_over_a_notebook(tmp_path):
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        main([str(notebook), "--json", str(notebook)])
    assert exit_info.value.code == 2 and notebook.read_text() == "{}"


@pytest.mark.skipif(importlib.util.find_spec("gradlab") is None, reason="gradlab not installed")
def test_python_dash_m_prints_the_table_and_exits_zero_on_a_pass():
    completed = subprocess.run(
        [sys.executable, "-m", "gradlab.grading.grade", str(FIXTURES / "passing.ipynb")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "  A              2/2  pass" in completed.stdout
    assert "  total          3/3" in completed.stdout
    assert completed.stderr == ""


def test_fixtures_match_their_builder():
    spec = importlib.util.spec_from_file_location("fixture_builder", FIXTURES / "build.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    for file_name, text in builder.build().items():
        assert (FIXTURES / file_name).read_text() == text, f"rebuild {file_name} with build.py"


COURSE_LIMITS = RunLimits(cell_timeout=120.0, total_timeout=300.0)


@pytest.mark.parametrize(
    "notebook", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda path: path.name
)
def test_every_solutions_notebook_scores_full_marks(notebook):
    grade = grade_notebook(notebook, limits=COURSE_LIMITS)
    assert not grade.error and not grade.notes
    assert grade.max_score > 0 and grade.score == grade.max_score, grade.exercises


@pytest.mark.parametrize(
    "notebook", sorted((ROOT / "exercises").glob("*.ipynb")), ids=lambda path: path.name
)
def test_every_unmodified_exercises_notebook_scores_zero_with_reasons(notebook):
    grade = grade_notebook(notebook, limits=COURSE_LIMITS)
    assert not grade.error and grade.max_score > 0 and grade.score == 0
    for row in grade.exercises:
        assert "not done yet (NotImplementedError:" in row.message, row
