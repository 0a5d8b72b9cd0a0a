"""CI, make test and the README run one and the same test command."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_ci_requires_the_browser_tests_to_run() -> None:
    """In CI a missing Chromium fails the browser tests instead of skipping them."""
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert lines.index("export GRADLAB_REQUIRE_BROWSER=1") < lines.index(COMMAND)


def test_required_browser_turns_a_skip_into_a_failure(monkeypatch) -> None:
    from tests.browser import conftest
    from tests.browser.conftest import skip_loudly

    monkeypatch.setattr(conftest, "_skipped_reasons", [])  # no false banner in this run's summary
    monkeypatch.setenv("GRADLAB_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="BROWSER TESTS NOT RUN: no chromium"):
        skip_loudly("no chromium")
    monkeypatch.delenv("GRADLAB_REQUIRE_BROWSER")
    with pytest.raises(pytest.skip.Exception), pytest.warns(UserWarning):
        skip_loudly("no chromium (test)")


def test_portability_matrix_runs_the_suite_under_every_setting() -> None:
    """make test-portability: the README's command without browser tests, once per numerics setting."""
    makefile = (ROOT / "Makefile").read_text()
    assert "test-portability: setup\n\tbash .ci/portability\n" in makefile
    script = (ROOT / ".ci" / "portability").read_text()
    assert "pytest tests --nbval notebooks solutions -q \\\n    --ignore=tests/browser" in script
    for setting in (
        '"OMP_NUM_THREADS=1"',
        '"OMP_NUM_THREADS=2"',
        '"ATEN_CPU_CAPABILITY=default"',
        '"MKL_CBWR=COMPATIBLE"',
        '"ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE"',
    ):
        assert setting in script
    assert "make test-portability" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"ATEN_CPU_CAPABILITY": "default"}, ("DEFAULT", None)),
        ({"OMP_NUM_THREADS": "1"}, (None, 1)),
    ],
    ids=["simd-off", "one-thread"],
)
def test_the_perturbations_reach_torch(setting, expected) -> None:
    """The matrix only means something if torch honours the variables it sets, read at start-up."""
    code = "import torch; print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads())"
    env = {**os.environ, **setting}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    capability, threads = expected
    if capability is not None:
        assert out[0] == capability
    if threads is not None:
        assert int(out[1]) == threads
