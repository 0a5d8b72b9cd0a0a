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
