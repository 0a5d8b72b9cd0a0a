"""gradlab.grading.assign: solutions/ → exercises/, and exercises/ is never out of date."""

import os
from pathlib import Path

import jupytext
import nbformat
import pytest

from gradlab.grading.assign import (
    AssignError,
    exercise_name,
    expected_exercise_files,
    main,
    make_exercise,
    paired_script,
    render_pair,
    stale_files,
    strip_source,
)
from gradlab.grading.checks import RESULT_MIME

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "tests" / "fixtures" / "assign" / "solutions"


def test_repository_exercises_are_up_to_date_with_solutions():
    files = expected_exercise_files(ROOT / "solutions", ROOT / "exercises")
    stale = stale_files(files)
    assert not stale, f"regenerate with `python -m gradlab.assign`: {[str(p) for p in stale]}"
    generated = set(files)
    on_disk = [*(ROOT / "exercises").glob("*.ipynb"), *(ROOT / "paired" / "exercises").glob("*")]
    orphans = [p.name for p in on_disk if p not in generated]
    assert not orphans, f"exercises without a solution in solutions/: {orphans}"


def test_exercise_and_solution_names_differ_from_each_other_and_from_the_chapter():
    assert exercise_name(Path("solutions/01_chain_rule_solutions.ipynb")) == (
        "01_chain_rule_exercises.ipynb"
    )
    with pytest.raises(AssignError, match=r"must end in '_solutions\.ipynb'"):
        exercise_name(Path("solutions/01_chain_rule.ipynb"))
    chapters = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    for folder, suffix in (("exercises", "_exercises"), ("solutions", "_solutions")):
        for notebook in (ROOT / folder).glob("*.ipynb"):
            assert notebook.stem.endswith(suffix), f"{folder}/{notebook.name} lacks '{suffix}'"
            assert notebook.stem.removesuffix(suffix) in chapters, f"no chapter for {notebook.name}"


def test_twins_live_under_paired_not_beside_the_notebooks():
    assert paired_script(ROOT / "exercises" / "01_x_exercises.ipynb") == (
        ROOT / "paired" / "exercises" / "01_x_exercises.py"
    )
    for folder in ("notebooks", "exercises", "solutions"):
        assert not list((ROOT / folder).glob("*.py")), f"a .py twin is back in {folder}/"


def test_the_solution_file_name_in_a_cell_becomes_the_exercise_file_name(tmp_path):
    solution = nbformat.v4.new_notebook()
    solution.cells = [nbformat.v4.new_code_cell('grade_saved_notebook("90_x_solutions.ipynb")')]
    nbformat.write(solution, tmp_path / "90_x_solutions.ipynb")
    files = expected_exercise_files(tmp_path, tmp_path / "exercises")
    text = files[tmp_path / "exercises" / "90_x_exercises.ipynb"]
    assert "90_x_exercises.ipynb" in text and "90_x_solutions" not in text
    assert '"formats": "exercises///ipynb,paired/exercises///py:percent"' in text


def test_a_code_region_becomes_a_stub_with_its_prompt_at_its_indentation():
    source = (
        "def f(x):\n"
        "    ### BEGIN SOLUTION\n"
        "    # PROMPT: return x doubled\n"
        "    return 2 * x\n"
        "    ### END SOLUTION\n"
        "\n"
        "y = 1"
    )
    stripped = strip_source(source, "code", "nb, cell 1")
    assert stripped == "def f(x):\n    raise NotImplementedError('return x doubled')\n\ny = 1"
    namespace: dict = {}
    exec(stripped, namespace)  # the stub is valid Python that raises with the prompt
    with pytest.raises(NotImplementedError, match="return x doubled"):
        namespace["f"](1)


def test_hidden_tests_are_removed_and_markdown_regions_get_a_placeholder():
    code = "check(a)\n### BEGIN HIDDEN TESTS\ncheck(secret)\n### END HIDDEN TESTS\n"
    assert strip_source(code, "code", "w") == "check(a)"
    markdown = "Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"
    assert strip_source(markdown, "markdown", "w") == "Why?\n\n*Your answer here.*"


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("### BEGIN SOLUTION\n# PROMPT: p\nx = 1", "line 1: '### BEGIN SOLUTION' is never closed"),
        ("x = 1\n### END SOLUTION", "line 2: '### END SOLUTION' without a BEGIN"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n", "line 2: '### BEGIN SOLUTION' inside"),
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "needs a '# PROMPT: <one line>'"),
        ("### BEGIN HIDDEN TESTS\ncheck(x)", "'### BEGIN HIDDEN TESTS' is never closed"),
    ],
    ids=["unclosed", "end-without-begin", "nested", "no-prompt", "unclosed-hidden"],
)
def test_bad_markers_are_reported_with_their_place(source, fragment):
    with pytest.raises(AssignError, match=r"nb\.ipynb, cell 3") as error:
        strip_source(source, "code", "nb.ipynb, cell 3")
    assert fragment in str(error.value)


@pytest.fixture(scope="module")
def synthetic():
    solution = nbformat.read(SYNTHETIC / "90_synthetic_solutions.ipynb", as_version=4)
    before = nbformat.writes(solution)
    exercise = make_exercise(solution, name="90_synthetic")
    assert nbformat.writes(solution) == before, "make_exercise changed its input"
    return solution, exercise


def test_exercise_keeps_no_solution_and_no_hidden_test(synthetic):
    solution, exercise = synthetic
    text = "\n".join(cell.source for cell in exercise.cells)
    for secret in ("first_layer_gradient = 0.4**20", "return depth", "count_layers(7)", "BEGIN"):
        assert secret not in text
    assert "Every layer multiplies" not in text
    assert len(exercise.cells) == len(solution.cells) - 1  # the hidden-tests-only cell is gone
    assert 'check_equal(count_layers(5), 5, exercise="9.2", points=1)' in text


def test_exercise_has_no_outputs_and_only_stable_metadata(synthetic):
    _, exercise = synthetic
    for cell in exercise.cells:
        assert "execution" not in cell.metadata
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert set(exercise.metadata) <= {"kernelspec", "jupytext"}
    nbformat.validate(exercise)


def test_exercise_keeps_cell_ids_so_regenerating_changes_nothing(synthetic):
    solution, exercise = synthetic
    solution_ids = [cell.id for cell in solution.cells]
    assert all(cell.id in solution_ids for cell in exercise.cells)


def test_rendered_pair_says_the_same_thing_in_both_files(synthetic, tmp_path):
    _, exercise = synthetic
    notebook = tmp_path / "exercises" / "90_synthetic_exercises.ipynb"
    files = render_pair(exercise, notebook)
    ipynb_text, py_text = (
        files[notebook],
        files[tmp_path / "paired" / "exercises" / "90_synthetic_exercises.py"],
    )
    from_ipynb = jupytext.reads(ipynb_text, fmt="ipynb")
    from_py = jupytext.reads(py_text, fmt="py:percent")
    assert [c.source for c in from_ipynb.cells] == [c.source for c in from_py.cells]
    assert RESULT_MIME not in ipynb_text  # no outputs were carried over


def test_an_exercise_checked_only_by_hidden_tests_is_refused():
    solution = nbformat.v4.new_notebook()
    solution.cells = [
        nbformat.v4.new_code_cell(
            '### BEGIN HIDDEN TESTS\ncheck_close(x, 1, exercise="7", points=1)\n### END HIDDEN TESTS'
        )
    ]
    with pytest.raises(AssignError, match=r"\['7'\] are checked only by hidden tests"):
        make_exercise(solution, name="nb")


def test_command_writes_then_check_passes_then_detects_a_stale_file(tmp_path, capsys):
    exercises = tmp_path / "exercises"
    arguments = ["--solutions", str(SYNTHETIC), "--exercises", str(exercises)]
    assert main(arguments) == 0
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == [
        "exercises/90_synthetic_exercises.ipynb",
        "paired/exercises/90_synthetic_exercises.py",
    ]
    assert main([*arguments, "--check"]) == 0

    script = tmp_path / "paired" / "exercises" / "90_synthetic_exercises.py"
    script.write_text(script.read_text() + "\n# a hand edit\n")
    os.utime(script, (1_000_000, 1_000_000))
    capsys.readouterr()
    assert main([*arguments, "--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert script.stat().st_mtime == 1_000_000, "--check must not write"
    assert main(arguments) == 0
    assert main([*arguments, "--check"]) == 0
