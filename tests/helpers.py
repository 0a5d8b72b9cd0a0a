"""Small helpers several test modules share: find a widget inside a demo, read a notebook's cell."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def find(demo, description=None, css_class=None):
    """The one widget inside `demo` labelled `description` or carrying `css_class`."""
    stack, found = [demo], []
    while stack:
        widget = stack.pop()
        stack.extend(getattr(widget, "children", ()))
        if description is not None and getattr(widget, "description", None) == description:
            found.append(widget)
        if css_class is not None and css_class in widget._dom_classes:
            found.append(widget)
    assert len(found) == 1, (description, css_class, found)
    return found[0]


def notebook_cell(notebook: str, marker: str) -> str:
    """The source of the one code cell of notebooks/`notebook` (read from its paired twin) that
    contains `marker`."""
    cells = (ROOT / "paired" / "notebooks" / f"{notebook}.py").read_text().split("\n# %%")
    found = [
        cell.split("\n", 1)[1]
        for cell in cells
        if marker in cell and "[markdown]" not in cell.split("\n", 1)[0]
    ]
    assert len(found) == 1, (marker, len(found))
    return found[0]


def run_exercises(
    exercises: Path,
    solutions: Path,
    answers: dict | None = None,
    until: str | None = None,
    not_run: tuple[str, ...] = ("quiz.show(", "grade_saved_notebook("),
):
    """Run a shipped exercise notebook's cells in one namespace, answer cells filled in.

    Args:
        answers: {marker: source}: the answer cell containing `marker` runs `source` (or, if it
            is a function, source(the cell as shipped)); every other answer cell runs the worked
            solution (the cell with the same id in `solutions`).
        until: stop after the last cell containing `exercise="<until>"`.
        not_run: cells containing any of these are skipped (widgets and the grade cell need a
            notebook).

    Returns:
        (namespace, the words printed by the cells, one string).
    """
    import contextlib
    import io

    worked = {cell.id: cell.source for cell in code_cells(solutions)}
    cells = [cell for cell in code_cells(exercises) if not any(s in cell.source for s in not_run)]
    if until is not None:
        last = max(i for i, c in enumerate(cells) if f'exercise="{until}"' in c.source)
        cells = cells[: last + 1]
    answers = dict(answers or {})
    namespace: dict = {"__name__": "__exercises__"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for cell in cells:
            source = cell.source
            if "NotImplementedError(" in source:
                chosen = [marker for marker in answers if marker in source]
                answer = answers.pop(chosen[0]) if chosen else worked[cell.id]
                source = answer(source) if callable(answer) else answer
            exec(compile(source, f"cell {cell.id}", "exec"), namespace)
    assert not answers, f"no answer cell contains {list(answers)}"
    return namespace, " ".join(printed.getvalue().split())


def check_results(printed: str, exercise: str) -> list[str]:
    """The printed PASS/FAIL results of one exercise, each with its message and hint."""
    parts = printed.split("[")
    return [
        "[" + part
        for part in parts
        if part.startswith(("PASS] Exercise " + exercise + " ", "FAIL] Exercise " + exercise + " "))
    ]


def code_cells(path: Path) -> list:
    """The code cells of a stored notebook."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def findings_of(report: object, kind: str) -> list:
    """The findings of one kind in a gradlab Report (used by the diagnosis tests)."""
    return [f for f in report.findings if f.kind == kind]
