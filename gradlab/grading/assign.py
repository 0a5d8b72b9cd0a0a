"""Generate exercises/ from solutions/: ``python -m gradlab.assign [--check]``.

Used for every chapter's exercises (first exercises/01_chain_rule). The solution notebooks are the one
source of truth, marked the way nbgrader marks them, so instructors can also use nbgrader:

- ``### BEGIN SOLUTION`` / ``### END SOLUTION`` (each alone on its line): in a code cell the region
  must contain a ``# PROMPT: <one line>`` comment; it becomes
  ``raise NotImplementedError("<one line>")`` at the region's indentation. In a markdown cell the
  region becomes "*Your answer here.*" (or the prompt, if given).
- ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``: removed, and a cell left empty is dropped.

Names: ``solutions/NN_name_solutions.ipynb`` becomes ``exercises/NN_name_exercises.ipynb`` (two tabs
never share a title), and every mention of the solution's file name in its cells becomes the
exercise's (e.g. the grading cell's file name). Each exercise is written with outputs cleared,
with its jupytext py:percent twin in ``paired/exercises/`` (twins live in ``paired/``, out of the
learner's folders). ``--check`` writes nothing and exits 1 when a generated file is missing or out of
date.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import jupytext
import nbformat
from jupytext.config import load_jupytext_config

import gradlab  # the package root only, for __version__ (it loads nothing else)
from gradlab.grading.declarations import exercise_points, find_check_calls

SOLUTION = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_TESTS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
PROMPT_PREFIX = "# PROMPT:"
MARKDOWN_PLACEHOLDER = "*Your answer here.*"
KEPT_NOTEBOOK_METADATA = ("kernelspec", "jupytext")
SOLUTION_SUFFIX = "_solutions"
EXERCISE_SUFFIX = "_exercises"
PAIRED_FOLDER = "paired"


class AssignError(ValueError):
    """A solution notebook whose markers cannot be turned into an exercise."""


def _regions(lines: list[str], markers: tuple[str, str], where: str) -> list[tuple[int, int]]:
    """(begin, end) line numbers of each marked region; raises AssignError if unbalanced."""
    regions, begin = [], None
    for number, line in enumerate(lines):
        text = line.strip()
        if text == markers[0]:
            if begin is not None:
                raise AssignError(f"{where}, line {number + 1}: '{markers[0]}' inside another one")
            begin = number
        elif text == markers[1]:
            if begin is None:
                raise AssignError(f"{where}, line {number + 1}: '{markers[1]}' without a BEGIN")
            regions.append((begin, number))
            begin = None
    if begin is not None:
        raise AssignError(f"{where}, line {begin + 1}: '{markers[0]}' is never closed")
    return regions


def _prompt(region: list[str], where: str, required: bool) -> str:
    for line in region:
        if line.strip().startswith(PROMPT_PREFIX):
            return line.strip()[len(PROMPT_PREFIX) :].strip()
    if required:
        raise AssignError(
            f"{where}: a solution region needs a '{PROMPT_PREFIX} <one line>' comment"
        )
    return ""


def strip_source(source: str, cell_type: str, where: str) -> str:
    """A cell's exercise source: hidden tests removed, each solution region replaced by a stub."""
    lines = source.split("\n")
    hidden = _regions(lines, HIDDEN_TESTS, where)
    for begin, end in reversed(hidden):
        del lines[begin : end + 1]
    for begin, end in reversed(_regions(lines, SOLUTION, where)):
        region = lines[begin + 1 : end]
        prompt = _prompt(region, where, required=cell_type == "code")
        if cell_type == "code":
            indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
            stub = [f"{indent}raise NotImplementedError({prompt!r})"]
        else:
            stub = [prompt or MARKDOWN_PLACEHOLDER]
        lines[begin : end + 1] = stub
    text = "\n".join(lines)
    return text.strip("\n") if hidden else text  # removed tests may leave blank edges


def paired_formats(folder: str) -> str:
    """The jupytext formats of a notebook in ``folder``: its .py twin lives in ``paired/<folder>/``."""
    return f"{folder}///ipynb,{PAIRED_FOLDER}/{folder}///py:percent"


def paired_script(notebook: Path) -> Path:
    """Where a notebook's py:percent twin lives: ``<root>/paired/<folder>/<name>.py``."""
    return notebook.parent.parent / PAIRED_FOLDER / notebook.parent.name / f"{notebook.stem}.py"


def exercise_name(solution_path: Path) -> str:
    """``NN_name_solutions.ipynb`` → ``NN_name_exercises.ipynb``; other names are refused."""
    stem = solution_path.stem
    if solution_path.suffix != ".ipynb" or not stem.endswith(SOLUTION_SUFFIX):
        raise AssignError(
            f"{solution_path}: a solution notebook's name must end in "
            f"'{SOLUTION_SUFFIX}.ipynb' (e.g. 01_chain_rule{SOLUTION_SUFFIX}.ipynb)"
        )
    return stem.removesuffix(SOLUTION_SUFFIX) + EXERCISE_SUFFIX + ".ipynb"


def make_exercise(
    solution: Any,
    name: str = "notebook",
    renames: dict[str, str] | None = None,
    folder: str = "exercises",
) -> Any:
    """The exercise notebook for a solution notebook (a new object; the input is not changed).

    ``renames`` maps text to replace in every cell (the solution's file name to the exercise's);
    ``folder`` is the exercises folder's name, for the jupytext pairing in the metadata.
    """
    exercise = copy.deepcopy(solution)
    cells = []
    for number, cell in enumerate(exercise.cells, start=1):
        source = strip_source(cell.source, cell.cell_type, f"{name}, cell {number}")
        for old, new in (renames or {}).items():
            source = source.replace(old, new)
        if not source.strip() and cell.source.strip():
            continue  # the cell held only hidden tests
        cell.source = source
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    exercise.cells = cells
    metadata = exercise.metadata
    exercise.metadata = nbformat.NotebookNode(
        {key: metadata[key] for key in KEPT_NOTEBOOK_METADATA if key in metadata}
    )
    exercise.metadata.setdefault("jupytext", nbformat.NotebookNode())
    exercise.metadata.jupytext["formats"] = paired_formats(folder)
    solution_points = exercise_points(find_check_calls(solution))
    exercise_ids = exercise_points(find_check_calls(exercise))
    unseen = [exercise_id for exercise_id in solution_points if exercise_id not in exercise_ids]
    if unseen:
        raise AssignError(f"{name}: exercises {unseen} are checked only by hidden tests")
    return exercise


def render_pair(exercise: Any, ipynb_path: Path) -> dict[Path, str]:
    """The text of the exercise's .ipynb and of its py:percent pair, keyed by path."""
    config = load_jupytext_config(str(ipynb_path))
    return {
        ipynb_path: jupytext.writes(exercise, fmt="ipynb", config=config),
        paired_script(ipynb_path): jupytext.writes(exercise, fmt="py:percent", config=config),
    }


def expected_exercise_files(solutions: Path, exercises: Path) -> dict[Path, str]:
    """Every exercise file (notebook and paired twin), generated in memory from solutions/*.ipynb."""
    files: dict[Path, str] = {}
    for solution_path in sorted(solutions.glob("*.ipynb")):
        solution = nbformat.read(solution_path, as_version=4)
        target = exercise_name(solution_path)
        exercise = make_exercise(
            solution,
            name=str(solution_path),
            renames={solution_path.name: target},
            folder=exercises.name,
        )
        files.update(render_pair(exercise, exercises / target))
    return files


def stale_files(files: dict[Path, str]) -> list[Path]:
    """The paths among ``files`` that are missing on disk or whose text differs."""
    return [path for path, text in files.items() if not path.exists() or path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m gradlab.assign", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s (gradlab {gradlab.__version__})"
    )
    parser.add_argument("--solutions", type=Path, default=Path("solutions"))
    parser.add_argument("--exercises", type=Path, default=Path("exercises"))
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if out of date")
    arguments = parser.parse_args(argv)
    if not arguments.solutions.is_dir():
        parser.error(f"--solutions {arguments.solutions} is not a folder")
    try:
        files = expected_exercise_files(arguments.solutions, arguments.exercises)
    except AssignError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    stale = stale_files(files)
    if arguments.check:
        for path in stale:
            print(f"out of date: {path} (run python -m gradlab.assign)")
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path])
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
