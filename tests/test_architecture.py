"""gradlab's layout is its architecture: the five import rules hold, read from the code's imports.

The same rules as ../shared/tools/architecture_rules.py (which reviewers run from the repo root),
checked here so CI guards them on a clean clone:
  1. the library imports no matplotlib, ipywidgets or IPython, and no gradlab.chapters/ui/plotting/grading;
  2. plotting imports no ipywidgets/IPython and no gradlab.chapters/ui/grading;
  3. grading imports nothing of gradlab outside gradlab.grading, and no torch at module level;
  4. a chapter package imports no other chapter package;
  5. the package root holds at most 15 entries, and every numbered notebook (except 00) has its
     gradlab/chapters/chNN_* package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gradlab"
PARTS = ("chapters", "grading", "ui", "plotting")
GUI = ("matplotlib", "ipywidgets", "IPython")


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] if rel[0] in PARTS and len(rel) > 1 else "library"


def imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at module level) for every import in the file; relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = path.relative_to(ROOT).with_suffix("").parts
    package = package if path.name == "__init__.py" else package[:-1]
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, id(node) in top))
            found += [(f"{module}.{alias.name}", id(node) in top) for alias in node.names]
    return found


def violations(path: Path, found_imports: list[tuple[str, bool]] | None = None) -> list[str]:
    """The rule violations of one module (``found_imports`` replaces reading the file, for tests)."""
    part = part_of(path)
    rel = path.relative_to(PACKAGE).parts
    chapter = rel[1] if part == "chapters" and len(rel) > 2 else None
    found = []
    for module, module_level in imports(path) if found_imports is None else found_imports:
        names = module.split(".")
        head = names[0]
        sub = names[1] if head == "gradlab" and len(names) > 1 else None
        if part == "library" and (head in GUI or sub in PARTS):
            found.append(f"{module} (the library draws nothing and knows no chapter/ui/grader)")
        elif part == "plotting" and (head in GUI[1:] or sub in ("chapters", "ui", "grading")):
            found.append(f"{module} (plotting draws stored numbers only)")
        elif part == "grading" and head == "gradlab" and sub not in (None, "grading"):
            found.append(f"{module} (grading stands alone)")
        elif part == "grading" and head == "torch" and module_level:
            found.append(f"{module} (the grader must not import torch at start-up)")
        elif chapter and sub == "chapters" and len(names) > 2 and names[2] != chapter:
            found.append(f"{module} (chapters do not import each other)")
    return [f"{path.relative_to(ROOT)} imports {text}" for text in found]


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_keeps_its_parts_import_rules(path: Path) -> None:
    assert violations(path) == []


def test_the_package_root_stays_small() -> None:
    entries = [p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 15, f"gradlab/ holds {len(entries)} entries: {sorted(entries)}"


def test_every_numbered_chapter_has_its_package() -> None:
    packages = {p.name for p in (PACKAGE / "chapters").iterdir() if (p / "__init__.py").exists()}
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        number = notebook.name[:2]
        if number != "00":
            assert any(name.startswith(f"ch{number}_") for name in packages), notebook.name


def test_every_package_says_what_lives_there_and_what_it_may_import() -> None:
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert len(doc.split()) >= 12, f"{init.relative_to(ROOT)} needs a docstring paragraph"


def test_the_checker_catches_forbidden_imports() -> None:
    """The rule check itself can fail: each kind of forbidden import is reported."""
    cases = [
        ("measure/probe.py", ("matplotlib.pyplot", True), "draws nothing"),
        ("measure/probe.py", ("gradlab.chapters.ch01_chain_rule", True), "draws nothing"),
        ("plotting/log_lines.py", ("ipywidgets", True), "stored numbers only"),
        ("grading/grade.py", ("gradlab.measure.probe", False), "stands alone"),
        ("grading/grade.py", ("torch", True), "start-up"),
        (
            "chapters/ch01_chain_rule/widgets.py",
            ("gradlab.chapters.ch02_activations.depth", True),
            "do not import each other",
        ),
    ]
    for where, found, reason in cases:
        problems = violations(PACKAGE / where, [found])
        assert len(problems) == 1 and reason in problems[0], (where, found, problems)
    assert violations(PACKAGE / "grading/grade.py", [("torch", False)]) == []  # lazy is fine


def test_no_module_seeds_or_draws_from_a_global_random_state() -> None:
    """torch.manual_seed, numpy's global draws and random.* are the learner's: gradlab uses its own
    seeded generators (torch.Generator, np.random.default_rng)."""
    local_numpy = {"default_rng", "Generator", "SeedSequence", "PCG64"}
    found = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute):
                continue
            value = node.value
            name = f"{getattr(value, 'id', '')}.{node.attr}"
            if isinstance(value, ast.Name) and name in ("torch.manual_seed", "torch.seed"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
            elif (
                isinstance(value, ast.Attribute)
                and value.attr == "random"
                and getattr(value.value, "id", "") in ("np", "numpy")
                and node.attr not in local_numpy
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} np.random.{node.attr}")
            elif isinstance(value, ast.Name) and value.id == "random" and node.attr != "Random":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} random.{node.attr}")
    assert found == []
