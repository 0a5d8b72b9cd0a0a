"""Start JupyterLab for the course: ``python -m gradlab.lab`` (what ``make lab`` runs).

One place says how the course opens, so ``make lab`` and the browser tests start the same Lab:
- rooted at the course folder, so notebooks/, exercises/ and solutions/ are all in the file browser
  and the start page's links to the exercises open;
- opening on the start page (``notebooks/00_start_here.ipynb``);
- with this Python's folder first on PATH in Lab's terminals, so ``python -m gradlab.grade …``
  typed there runs the course's environment, not another interpreter. Setting PATH for the server
  is not enough: a login shell rereads /etc/profile, and a ~/.bashrc often puts pyenv or conda
  first. So terminals run bash with TERMINAL_RC, which sources the learner's ~/.bashrc and then
  puts this Python's folder first, as a virtual environment's ``activate`` would.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

START_PAGE = "notebooks/00_start_here.ipynb"
PYTHON_BIN_ENV = "GRADLAB_PYTHON_BIN"
TERMINAL_RC = f"""# bash start-up for JupyterLab terminals opened by `make lab` (written by gradlab.ui.lab)
[ -f ~/.bashrc ] && . ~/.bashrc
if [ -n "${{{PYTHON_BIN_ENV}}}" ]; then
    export PATH="${{{PYTHON_BIN_ENV}}}:$PATH"
    PS1="(gradlab) ${{PS1:-\\$ }}"
fi
"""


def course_root(start: Path | None = None) -> Path:
    """The course folder: ``start`` (default: the current folder) when it holds the start page."""
    root = (start or Path.cwd()).resolve()
    if not (root / START_PAGE).is_file():
        raise FileNotFoundError(
            f"run from the course folder (the one holding {START_PAGE}); {root} does not hold it"
        )
    return root


def terminal_shell(rc_folder: Path | None = None) -> str:
    """The command Lab's terminals run: bash with TERMINAL_RC (written to ``rc_folder``).

    Without bash: the user's $SHELL or sh, not as a login shell, relying on PATH alone.
    """
    bash = shutil.which("bash")
    if bash is None:
        return os.environ.get("SHELL") or "/bin/sh"
    folder = rc_folder or Path(tempfile.gettempdir())
    rc = folder / f"gradlab-terminal-{os.getuid() if hasattr(os, 'getuid') else 0}.bashrc"
    rc.write_text(TERMINAL_RC)
    return shlex.join([bash, "--rcfile", str(rc), "-i"])


def lab_arguments(root: Path, rc_folder: Path | None = None) -> list[str]:
    """Options for ``jupyter lab`` that make it open the course as a learner needs it.

    As root (e.g. in a container) Jupyter refuses to start without ``--allow-root``; say it for them.
    """
    options = [
        f"--ServerApp.root_dir={root}",
        f"--LabApp.default_url=/lab/tree/{START_PAGE}",
        f"--ServerApp.terminado_settings=shell_command={terminal_shell(rc_folder)}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        options.append("--allow-root")
    return options


def lab_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: os.environ) with this interpreter's folder first on PATH.

    Lab's terminals and kernels inherit it, so ``python`` there is this Python (e.g. .venv/bin/python).
    """
    env = dict(os.environ if base is None else base)
    bin_dir = str(Path(sys.executable).parent)
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir]
    env["PATH"] = os.pathsep.join([bin_dir, *rest])
    env[PYTHON_BIN_ENV] = bin_dir
    if sys.prefix != sys.base_prefix:  # a virtual environment: say so, as `activate` would
        env["VIRTUAL_ENV"] = sys.prefix
    return env


def lab_command(
    root: Path, extra: list[str] | None = None, rc_folder: Path | None = None
) -> list[str]:
    """The full command: this Python's ``jupyter lab`` with the course options, then ``extra``."""
    return [sys.executable, "-m", "jupyter", "lab", *lab_arguments(root, rc_folder), *(extra or [])]


def main(argv: list[str] | None = None) -> None:
    """Replace this process with JupyterLab (extra arguments are passed on to ``jupyter lab``)."""
    extra = sys.argv[1:] if argv is None else argv
    command = lab_command(course_root(), extra)
    os.execve(command[0], command, lab_environment())


if __name__ == "__main__":
    main()
