"""The library stands on its own: what each part needs is declared, one version, entry points work."""

import ast
import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import gradlab

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
LIBRARY_EXCLUDED = ("chapters", "grading", "ui", "plotting")


def _requirement_names(requirements: list[str]) -> set[str]:
    return {r.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip() for r in requirements}


def test_distribution_name_differs_from_the_taken_one_and_the_import_name_stays() -> None:
    assert PROJECT["name"] != "gradlab"
    assert (ROOT / "gradlab" / "__init__.py").exists()


def test_one_version_source() -> None:
    assert "version" in PROJECT["dynamic"] and "version" not in PROJECT
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "gradlab.__version__"}
    assert f"## {gradlab.__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_core_needs_only_torch_and_numpy_and_extras_cover_the_rest() -> None:
    assert _requirement_names(PROJECT["dependencies"]) == {"torch", "numpy"}
    extras = {
        name: _requirement_names(reqs) for name, reqs in PROJECT["optional-dependencies"].items()
    }
    assert {"ipywidgets", "matplotlib", "scikit-learn", "jupyterlab"} <= extras["course"]
    assert {"nbclient", "nbformat", "jupyter_client", "jupytext"} <= extras["grading"]


def test_library_modules_import_no_third_party_package_beyond_torch_and_numpy_at_start() -> None:
    """scikit-learn (digits) is imported inside the function that needs it, so core installs work."""
    allowed = {"torch", "numpy", "gradlab", "__future__", *sys.stdlib_module_names}
    offenders = []
    for path in sorted((ROOT / "gradlab").rglob("*.py")):
        if path.relative_to(ROOT / "gradlab").parts[0] in LIBRARY_EXCLUDED:
            continue
        for node in ast.parse(path.read_text()).body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] not in allowed]
    assert offenders == []


def test_console_scripts_point_at_real_entry_points() -> None:
    scripts = PROJECT["scripts"]
    assert set(scripts) == {"gradlab-grade", "gradlab-assign"}
    for target in scripts.values():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function))


def test_version_flag_of_both_commands() -> None:
    for module in ("gradlab.grade", "gradlab.assign"):
        out = subprocess.run(
            [sys.executable, "-m", module, "--version"], capture_output=True, text=True, check=True
        ).stdout
        assert f"gradlab {gradlab.__version__}" in out, out


def test_typed_and_licensed() -> None:
    assert (ROOT / "gradlab" / "py.typed").exists()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["gradlab"]
    license_text = (ROOT / "LICENSE").read_text()
    assert "MIT License" in license_text and "CC BY 4.0" in license_text
