"""Grade exercise notebooks: ``python -m gradlab.grade NB.ipynb [NB2 ...] [--json PATH]``.

Used for exercises/ and solutions/ (see the README, "Doing the exercises"). For each notebook:
1. read the file's bytes once (the learner's file is never written) and parse a private copy;
2. find every exercise and its points statically, from the check calls' literal ``exercise=`` and
   ``points=`` arguments (gradlab.grading.declarations), so unreached exercises still appear with 0;
3. execute the copy in a fresh kernel under time and output limits (gradlab.grading.kernel_runner);
4. score each exercise from the check results its own check cells emitted: full points when every
   one of its checks ran and passed, otherwise 0 with the reason (the failed check's message, or
   what happened to its cell and to the cells above it).

One notebook prints a per-exercise table and the total; several print one summary line each.
Exit code: 0 when every notebook reaches the pass mark, 1 otherwise, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

import gradlab  # the package root only, for __version__ (it loads nothing else)
from gradlab.grading.checks import shorten
from gradlab.grading.declarations import CheckDeclaration, exercise_points, find_check_calls
from gradlab.grading.kernel_runner import CellRun, NotebookRun, RunLimits, run_notebook

REPORT_VERSION = 1


@dataclass
class ExerciseGrade:
    """One row of the report."""

    exercise: str
    points: int
    score: int
    passed: bool
    message: str
    hint: str = ""  # the failed check's hint (for a listed mistake, that mistake's own)


@dataclass
class NotebookGrade:
    """A notebook's report: its exercises, total, and any notebook-level error."""

    path: str
    exercises: list[ExerciseGrade] = field(default_factory=list)
    score: int = 0
    max_score: int = 0
    passed: bool = False
    error: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _describe_cell(index: int, cell_run: CellRun) -> str:
    where = f"cell {index + 1}"
    if cell_run.status == "error":
        if cell_run.detail.startswith("NotImplementedError"):
            return f"{where} is not done yet ({cell_run.detail})"
        return f"{where} raised {cell_run.detail}"
    if cell_run.status == "not_run":
        return f"{where} did not run" + (f": {cell_run.detail}" if cell_run.detail else "")
    return f"{where}: {cell_run.detail}"


def _first_problem(run: NotebookRun, start: int, stop: int) -> str:
    """The likeliest cause among cells [start, stop) that did not finish cleanly; '' if none.

    An unfinished stub (NotImplementedError) wins: errors in cells that merely use the earlier
    exercises' results are consequences, not causes.
    """
    troubled = [
        index
        for index in sorted(run.cells)
        if start <= index < stop and run.cells[index].status in ("error", "timeout", "died")
    ]
    stubs = [i for i in troubled if run.cells[i].detail.startswith("NotImplementedError")]
    return (
        _describe_cell((stubs or troubled)[0], run.cells[(stubs or troubled)[0]])
        if troubled
        else ""
    )


def score_exercises(declarations: list[CheckDeclaration], run: NotebookRun) -> list[ExerciseGrade]:
    """Score each declared exercise from its own check cells' results (all-or-nothing)."""
    grades = []
    previous_check_cell = -1
    for exercise, points in exercise_points(declarations).items():
        own = [d for d in declarations if d.exercise == exercise]
        check_cells = sorted({d.cell_index for d in own})
        results = [
            result
            for index in check_cells
            for result in run.cells.get(index, CellRun(index)).results
            if result.exercise == exercise  # results for other ids in this cell are not trusted
        ]
        failed = [result for result in results if not result.passed]
        problems = [
            _describe_cell(index, run.cells[index])
            for index in check_cells
            if index in run.cells and run.cells[index].status != "ok"
        ]
        if failed:
            grades.append(
                ExerciseGrade(exercise, points, 0, False, failed[0].message, failed[0].hint)
            )
        elif results and len(results) >= len(own) and not problems:
            message = (
                results[0].message if len(results) == 1 else f"all {len(results)} checks passed"
            )
            grades.append(ExerciseGrade(exercise, points, points, True, message))
        else:
            reasons = problems or [f"only {len(results)} of {len(own)} checks reported a result"]
            upstream = _first_problem(run, previous_check_cell + 1, check_cells[0])
            message = "; ".join(reasons)
            if upstream:  # the cause first: usually the unfinished exercise cell above the check
                message = f"{upstream}; then {message}"
            grades.append(ExerciseGrade(exercise, points, 0, False, message))
        previous_check_cell = max(previous_check_cell, check_cells[-1])
    return grades


def _notes(run: NotebookRun, limits: RunLimits) -> list[str]:
    """What the grader had to do that an instructor may want to know."""
    notes = [
        f"cell {index + 1}: output cut after {limits.max_output_chars} characters"
        for index, cell_run in sorted(run.cells.items())
        if cell_run.truncated
    ]
    if run.restarts:
        notes.append(f"the kernel was restarted {run.restarts} time(s); earlier cells were re-run")
    return notes


def _read_notebook(path: Path) -> Any:
    data = path.read_bytes()  # read once, never opened for writing
    return nbformat.reads(data.decode("utf-8"), as_version=4)


def grade_notebook(
    path: str | Path, *, limits: RunLimits | None = None, pass_mark: float = 1.0
) -> NotebookGrade:
    """Grade one notebook file; never raises, never writes the file.

    Args:
        path: the notebook to grade (read only).
        limits: per-cell and total time limits, output cap (default: ``RunLimits()``).
        pass_mark: fraction of the maximum score needed to pass (1.0 = every exercise).
    """
    started = time.monotonic()
    limits = limits or RunLimits()
    grade = NotebookGrade(path=str(path))
    try:
        notebook = _read_notebook(Path(path))
        declarations = find_check_calls(notebook)
        grade.max_score = sum(exercise_points(declarations).values())
        if not declarations:
            grade.error = "no exercises found (no check call with exercise= and points=)"
        else:
            run = run_notebook(notebook, limits)
            grade.exercises = score_exercises(declarations, run)
            grade.score = sum(exercise.score for exercise in grade.exercises)
            grade.error = run.error
            grade.notes = _notes(run, limits)
    except (OSError, UnicodeDecodeError) as error:
        grade.error = f"could not read the notebook: {type(error).__name__}: {error}"
    except Exception as error:  # invalid JSON, malformed cells: a clean failure, never a crash
        grade.error = f"not a valid notebook: {type(error).__name__}: {shorten(str(error), 300)}"
    grade.passed = grade.max_score > 0 and grade.score >= pass_mark * grade.max_score
    grade.seconds = round(time.monotonic() - started, 2)
    return grade


def format_summary(grade: NotebookGrade) -> str:
    """One line: PASS/FAIL, score, path, time, and the notebook-level error if any."""
    status = "PASS" if grade.passed else "FAIL"
    line = f"{status}  {grade.score:>3}/{grade.max_score:<3}  {grade.path}  ({grade.seconds:.1f} s)"
    return line + (f"  [{grade.error}]" if grade.error else "")


def table_width() -> int:
    """The table's width: the terminal's, between 60 and 100 columns (100 in a notebook or pipe)."""
    return max(60, min(100, shutil.get_terminal_size(fallback=(100, 24)).columns))


def _wrapped(first: str, text: str, indent: int, width: int) -> list[str]:
    """``first`` + ``text`` on lines of at most ``width``, continuations indented by ``indent``.

    Words are never cut: a single word longer than a line (a path, say) gets a line of its own.
    """
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=first,
        subsequent_indent=" " * indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [first.rstrip()]


def format_table(grade: NotebookGrade, width: int | None = None) -> str:
    """The per-exercise table with the total; messages wrap under their column, never cut.

    Args:
        width: the longest line, in characters (default ``table_width()``).
    """
    width = width or table_width()
    lines = _wrapped("", grade.path, 2, width)
    lines.append(f"  {'exercise':<10} {'points':>7}  {'result':<6}  message")
    message_column = len(f"  {'':<10} {'':>7}  {'':<6}  ")
    for row in grade.exercises:
        score = f"{row.score}/{row.points}"
        start = f"  {row.exercise:<10} {score:>7}  {'pass' if row.passed else 'FAIL':<6}  "
        lines += _wrapped(start, row.message, message_column, width)
        if row.hint:  # on its own line under the message, so it reads as advice, not as the result
            lines += _wrapped(" " * message_column + "Hint: ", row.hint, message_column + 6, width)
    for note in ([grade.error] if grade.error else []) + grade.notes:
        lines += _wrapped("  note: ", note, len("  note: "), width)
    lines.append(
        f"  {'total':<10} {f'{grade.score}/{grade.max_score}':>7}  ({grade.seconds:.1f} s)"
    )
    return "\n".join(lines)


def to_report(grades: list[NotebookGrade]) -> dict[str, Any]:
    """The machine-readable report that ``--json`` writes."""
    return {
        "version": REPORT_VERSION,
        "passed": all(grade.passed for grade in grades),
        "notebooks": [asdict(grade) for grade in grades],
    }


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gradlab.grade", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s (gradlab {gradlab.__version__})"
    )
    parser.add_argument(
        "notebooks", nargs="+", type=Path, help="notebooks to grade (never modified)"
    )
    parser.add_argument("--json", type=Path, help="also write a machine-readable report here")
    parser.add_argument(
        "--cell-timeout", type=float, default=RunLimits.cell_timeout, help="seconds"
    )
    parser.add_argument(
        "--total-timeout", type=float, default=RunLimits.total_timeout, help="seconds"
    )
    parser.add_argument(
        "--pass-mark", type=float, default=1.0, help="fraction of points to pass (default 1.0)"
    )
    parser.add_argument("--table", action="store_true", help="tables even for several notebooks")
    arguments = parser.parse_args(argv)
    for name in ("cell_timeout", "total_timeout"):
        if getattr(arguments, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0, got {getattr(arguments, name)}")
    if not 0.0 <= arguments.pass_mark <= 1.0:
        parser.error(f"--pass-mark must be between 0 and 1, got {arguments.pass_mark}")
    if arguments.json is not None:
        targets = {path.resolve() for path in arguments.notebooks}
        if arguments.json.resolve() in targets:
            parser.error(
                f"--json {arguments.json} is one of the notebooks; it would be overwritten"
            )
    return arguments


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    arguments = _parse_arguments(argv)
    limits = RunLimits(cell_timeout=arguments.cell_timeout, total_timeout=arguments.total_timeout)
    grades = []
    for path in arguments.notebooks:
        grade = grade_notebook(path, limits=limits, pass_mark=arguments.pass_mark)
        grades.append(grade)
        detailed = arguments.table or len(arguments.notebooks) == 1
        print(format_table(grade) if detailed else format_summary(grade), flush=True)
    if len(grades) > 1:
        passed = sum(grade.passed for grade in grades)
        print(f"{passed} of {len(grades)} notebooks passed")
    if arguments.json is not None:
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        arguments.json.write_text(json.dumps(to_report(grades), indent=2) + "\n")
    return 0 if all(grade.passed for grade in grades) else 1


if __name__ == "__main__":
    sys.exit(main())
