"""Grade an exercise notebook from its own last cell: the file as saved, in a fresh Python.

Used by the "Grade this notebook" cell at the end of every exercise notebook, so a learner grades
without leaving the browser. It runs the same command as a terminal (``python -m gradlab.grade``),
with the kernel's own interpreter, so it works whatever ``python`` means on the learner's PATH.
While the grader itself runs a notebook (``GRADING_ENV`` is set in its kernel) the cell does nothing,
so grading never recurses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

GRADING_ENV = "GRADLAB_GRADING"


def grade_saved_notebook(name: str) -> None:
    """Grade the saved file ``name`` (beside this notebook) and print the grader's table.

    Unsaved edits are not graded: save first. Prints only (a return value would show as Out[n]).
    """
    if os.environ.get(GRADING_ENV) == "1":
        print("(The grader is running this notebook: this cell grades nothing inside it.)")
        return
    path = Path(name)
    if path.suffix != ".ipynb" or not path.is_file():
        here = sorted(p.name for p in Path.cwd().glob("*.ipynb"))
        raise ValueError(
            f"name must be a notebook file in this folder ({Path.cwd()}), got {name!r}; "
            f"notebooks here: {', '.join(here) or 'none'}"
        )
    saved = time.strftime("%H:%M:%S", time.localtime(path.stat().st_mtime))
    print(f"Grading {path.name} as saved at {saved} (Ctrl+S saves newer edits).")
    print("A copy runs from top to bottom in a fresh Python; your file is not changed.\n")
    command = [sys.executable, "-m", "gradlab.grading.grade", str(path)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
