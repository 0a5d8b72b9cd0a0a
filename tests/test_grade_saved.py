"""The "Grade this notebook" cell: grades the saved file with the kernel's Python, never recursing."""

import shutil
from pathlib import Path

import nbformat
import pytest

from gradlab.grading.grade import grade_notebook
from gradlab.grading.grade_saved import GRADING_ENV, grade_saved_notebook

ROOT = Path(__file__).resolve().parents[1]
GRADE_CELL = (
    'from gradlab.grading.grade_saved import grade_saved_notebook\n\ngrade_saved_notebook("{name}")'
)


def _notebook_with_grade_cell(folder: Path, name: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from gradlab.grading.checks import check_close\n"
            'check_close(0.4**20, 0.4**20, exercise="1", points=2)'
        ),
        nbformat.v4.new_code_cell(GRADE_CELL.format(name=name)),
    ]
    path = folder / name
    nbformat.write(notebook, path)
    return path


def test_the_cell_grades_the_saved_file_and_prints_the_table(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(GRADING_ENV, raising=False)
    _notebook_with_grade_cell(tmp_path, "nb_exercises.ipynb")
    monkeypatch.chdir(tmp_path)
    assert grade_saved_notebook("nb_exercises.ipynb") is None
    out = capsys.readouterr().out
    assert "Grading nb_exercises.ipynb as saved at" in out
    assert "exercise    points  result" in out
    assert "  1              2/2  pass" in out and "total" in out


def test_while_the_grader_runs_the_notebook_the_cell_does_nothing(tmp_path):
    """Grading a notebook that holds the grade cell finishes (no grader inside the grader)."""
    path = _notebook_with_grade_cell(tmp_path, "nb_exercises.ipynb")
    grade = grade_notebook(path)
    assert grade.passed and grade.score == grade.max_score == 2 and not grade.error


def test_under_the_grader_the_cell_says_so(monkeypatch, capsys):
    monkeypatch.setenv(GRADING_ENV, "1")
    grade_saved_notebook("anything.ipynb")
    assert "this cell grades nothing" in capsys.readouterr().out


def test_a_wrong_name_lists_the_notebooks_here(tmp_path, monkeypatch):
    monkeypatch.delenv(GRADING_ENV, raising=False)
    shutil.copy(ROOT / "exercises" / "01_chain_rule_exercises.ipynb", tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ValueError,
        match=r"name must be a notebook.*'01_chain_rule\.ipynb'.*"
        r"notebooks here: 01_chain_rule_exercises\.ipynb",
    ):
        grade_saved_notebook("01_chain_rule.ipynb")


@pytest.mark.parametrize(
    "solution", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.name
)
def test_every_exercise_notebook_ends_with_a_cell_grading_its_own_file(solution):
    exercise = ROOT / "exercises" / solution.name.replace("_solutions", "_exercises")
    for path in (solution, exercise):
        cells = nbformat.read(path, as_version=4).cells
        last = cells[-1]
        assert last.cell_type == "code"
        assert f'grade_saved_notebook("{path.name}")' in last.source, path.name
        assert "nbval-skip" in last.metadata.get("tags", []), (
            "nbval would grade the solutions again"
        )
        assert "Save first" in cells[-2].source and "as saved" in cells[-2].source
