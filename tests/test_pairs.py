"""Every notebook has a jupytext py:percent pair, and the two say the same thing."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(
    path
    for folder in ("notebooks", "exercises", "solutions")
    for path in (ROOT / folder).glob("*.ipynb")
)


def test_there_are_notebooks():
    assert any(path.parent.name == "notebooks" for path in NOTEBOOKS)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_and_py_pair_agree(notebook):
    script = notebook.with_suffix(".py")
    assert script.exists(), f"{notebook.name} has no jupytext pair {script.name}"
    diff = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupytext",
            "-q",
            "--diff",
            "--diff-format",
            "py:percent",
            str(notebook),
            str(script),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.strip() == "", f"{notebook.name} and {script.name} differ:\n{diff.stdout}"
