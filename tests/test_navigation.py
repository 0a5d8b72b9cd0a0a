"""Navigation: every relative link in a chapter resolves, and every chapter links its neighbours
and its exercises (issue: "Every chapter ends with links to the previous and next chapter")."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LINK = re.compile(r"\]\(([^)#\s]+\.(?:ipynb|png|md))\)")


def markdown(notebook: Path) -> str:
    cells = nbformat.read(notebook, as_version=4).cells
    return "\n".join(cell.source for cell in cells if cell.cell_type == "markdown")


def footer(notebook: Path) -> str:
    cells = nbformat.read(notebook, as_version=4).cells
    return [cell.source for cell in cells if cell.cell_type == "markdown"][-1]


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_every_relative_link_resolves(notebook: Path) -> None:
    targets = LINK.findall(markdown(notebook))
    missing = [t for t in targets if not (notebook.parent / t).resolve().exists()]
    assert not missing, f"{notebook.name} links to missing files: {missing}"


@pytest.mark.parametrize(
    "notebook", [p for p in CHAPTERS if not p.name.startswith("00")], ids=lambda p: p.stem
)
def test_chapter_footer_links_previous_next_and_exercises(notebook: Path) -> None:
    text = footer(notebook)
    assert "Previous" in text and "Next" in text, f"{notebook.name}: footer lacks Previous/Next"
    exercises = f"{notebook.stem}_exercises.ipynb"
    assert f"../exercises/{exercises}" in text, f"{notebook.name}: footer lacks its exercises"
    assert (ROOT / "exercises" / exercises).exists()
    earlier = [p.name for p in CHAPTERS if p.name < notebook.name]
    assert any(f"({name})" in text for name in earlier), f"{notebook.name}: no link back"


def test_readme_and_start_page_link_every_ready_chapter() -> None:
    readme = (ROOT / "README.md").read_text()
    start = markdown(ROOT / "notebooks" / "00_start_here.ipynb")
    for chapter in CHAPTERS[1:]:
        assert f"notebooks/{chapter.name}" in readme, f"README does not link {chapter.name}"
        assert f"({chapter.name})" in start, f"start page does not link {chapter.name}"
