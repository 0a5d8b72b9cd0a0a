"""Every notebook has a jupytext py:percent twin under paired/, and the two say the same thing."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from gradlab.grading.assign import paired_formats, paired_script

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("notebooks", "exercises", "solutions")
NOTEBOOKS = sorted(path for folder in FOLDERS for path in (ROOT / folder).glob("*.ipynb"))
TWINS = sorted(path for folder in FOLDERS for path in (ROOT / "paired" / folder).glob("*"))


def test_there_are_notebooks():
    assert any(path.parent.name == "notebooks" for path in NOTEBOOKS)


def test_every_twin_has_its_notebook():
    orphans = [
        str(twin.relative_to(ROOT)) for twin in TWINS if twin not in map(paired_script, NOTEBOOKS)
    ]
    assert not orphans, f"twins whose notebook is gone (delete or rename them): {orphans}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_names_its_twin_under_paired(notebook):
    formats = nbformat.read(notebook, as_version=4).metadata.get("jupytext", {}).get("formats")
    assert formats == paired_formats(notebook.parent.name), (
        f"{notebook.name}: run `jupytext --set-formats '{paired_formats(notebook.parent.name)}' "
        f"{notebook.parent.name}/{notebook.name}`"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_and_py_pair_agree(notebook):
    script = paired_script(notebook)
    assert script.exists(), f"{notebook.name} has no jupytext twin {script.relative_to(ROOT)}"
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
