"""CI, make test and the README run one and the same test command."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ".venv/bin/python -m pytest tests --nbval notebooks solutions -q"


def test_readme_states_the_command() -> None:
    assert (
        f"`make test` runs exactly:\n\n```bash\n{COMMAND}\n```" in (ROOT / "README.md").read_text()
    )


def test_make_test_runs_it() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "\t$(PY) -m pytest tests --nbval notebooks solutions -q\n" in makefile
    assert "PY := $(VENV)/bin/python" in makefile and "VENV := .venv" in makefile


def test_ci_runs_it_after_setup() -> None:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert lines[-1] == COMMAND
    assert "make setup" in lines
