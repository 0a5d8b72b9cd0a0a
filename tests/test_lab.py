"""`make lab` (gradlab.ui.lab): Lab rooted at the course, opening the start page, terminals on our Python."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gradlab.ui.lab import (
    PYTHON_BIN_ENV,
    START_PAGE,
    course_root,
    lab_arguments,
    lab_command,
    lab_environment,
    terminal_shell,
)

ROOT = Path(__file__).resolve().parents[1]


def test_make_lab_runs_the_launcher() -> None:
    assert "lab: setup\n\t$(PY) -m gradlab.ui.lab\n" in (ROOT / "Makefile").read_text()


def test_lab_is_rooted_at_the_course_and_opens_the_start_page(tmp_path) -> None:
    options = lab_arguments(ROOT, rc_folder=tmp_path)
    assert f"--ServerApp.root_dir={ROOT}" in options
    assert f"--LabApp.default_url=/lab/tree/{START_PAGE}" in options
    assert (ROOT / START_PAGE).is_file()
    for folder in ("notebooks", "exercises", "solutions"):  # all reachable under the root
        assert (ROOT / folder).is_dir()
    command = lab_command(ROOT, ["--no-browser"], rc_folder=tmp_path)
    assert command[:4] == [sys.executable, "-m", "jupyter", "lab"] and command[-1] == "--no-browser"


def test_course_root_refuses_a_folder_without_the_start_page(tmp_path) -> None:
    assert course_root(ROOT) == ROOT
    with pytest.raises(FileNotFoundError, match="run from the course folder"):
        course_root(tmp_path)


def test_environment_puts_this_python_first_once() -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = lab_environment({"PATH": os.pathsep.join(["/usr/bin", bin_dir, "/bin"])})
    assert env["PATH"].split(os.pathsep) == [bin_dir, "/usr/bin", "/bin"]
    assert env[PYTHON_BIN_ENV] == bin_dir


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash on this machine")
def test_a_lab_terminal_finds_this_python_even_when_bashrc_puts_another_first(tmp_path) -> None:
    """The learner's ~/.bashrc often puts pyenv/conda first; the terminal must still run ours."""
    home = tmp_path / "home"
    impostor = tmp_path / "impostor"
    home.mkdir()
    impostor.mkdir()
    (impostor / "python").write_text("#!/bin/sh\necho impostor\n")
    (impostor / "python").chmod(0o755)
    (home / ".bashrc").write_text(f'export PATH="{impostor}:$PATH"\n')
    env = lab_environment({"PATH": "/usr/bin:/bin", "HOME": str(home)})
    shell = terminal_shell(rc_folder=tmp_path)
    assert "-l" not in shell.split(), "a login shell would reread /etc/profile and reset PATH"
    found = subprocess.run(
        [*shell.split(), "-c", "command -v python"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    assert found == str(Path(sys.executable).parent / "python")
