"""Which exercises a notebook declares, read statically from its check calls.

Used by gradlab.grading.grade and gradlab.grading.assign. An exercise is declared by a check call in a code cell,
``check_close(..., exercise="1.2", points=2)``, with literal ``exercise`` and ``points``, so an
exercise that is never reached (the kernel died, a timeout) still appears in the report with 0.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from gradlab.grading.checks import (
    CHECK_FUNCTIONS,
    PAYLOAD_VERSION,
    RESULT_MIME,
    CheckResult,
    shorten,
)

# Fallback for cells Python cannot parse (a learner's syntax error): string literals and comments
# are read as tokens, so a bracket or "points=" inside a hint or a comment cannot mislead the scan.
_CALL_PATTERN = re.compile(r"\b(?:" + "|".join(CHECK_FUNCTIONS) + r")\s*\(")
_TOKEN_PATTERN = re.compile(
    r"""(?P<string>(?P<triple>'''|\"\"\")(?:\\.|[^\\])*?(?:(?P=triple)|\Z)"""
    r"""|'(?:\\.|[^'\\\n])*(?:'|$)|"(?:\\.|[^"\\\n])*(?:"|$))"""
    r"|(?P<comment>#[^\n]*)|(?P<open>[([{])|(?P<close>[)\]}])",
    re.MULTILINE,
)
_EXERCISE_PATTERN = re.compile(r"\bexercise\s*=\s*$")
_POINTS_PATTERN = re.compile(r"\bpoints\s*=\s*(?P<points>\d+)\b")


@dataclass(frozen=True)
class CheckDeclaration:
    """One check call found in the source: where it is, which exercise, how many points."""

    cell_index: int
    exercise: str
    points: int


def _called_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _declarations_from_ast(tree: ast.AST, cell_index: int) -> list[CheckDeclaration]:
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _called_name(node) in CHECK_FUNCTIONS
    ]
    calls.sort(key=lambda node: (node.lineno, node.col_offset))  # source order, top to bottom
    found = []
    for node in calls:
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        exercise = keywords.get("exercise")
        points = keywords.get("points")
        if not (isinstance(exercise, ast.Constant) and isinstance(exercise.value, str)):
            continue  # not a graded call (or not statically declared): ignored by the grader
        if points is None:
            points_value = 1  # the default of every check function
        elif isinstance(points, ast.Constant) and isinstance(points.value, int):
            points_value = points.value
        else:
            continue
        found.append(CheckDeclaration(cell_index, exercise.value, points_value))
    return found


def _top_level_arguments(source: str, start: int) -> tuple[str, list[str]]:
    """The call's arguments from ``start`` (just after its ``(``) to its ``)`` or the source's end.

    Returns the top-level text with each string literal replaced by ``\x00N\x00`` and comments
    removed, and the literals' values (N indexes them); text inside nested brackets is dropped.
    """
    depth, position, kept, strings = 0, start, [], []
    for token in _TOKEN_PATTERN.finditer(source, start):
        if depth == 0:
            kept.append(source[position : token.start()])
        position = token.end()
        if token.group("open"):
            depth += 1
        elif token.group("close"):
            if depth == 0:
                return "".join(kept), strings
            depth -= 1
        elif token.group("string") and depth == 0:
            kept.append(f"\x00{len(strings)}\x00")
            strings.append(token.group("string"))
    if depth == 0:
        kept.append(source[position:])
    return "".join(kept), strings


def _string_value(literal: str) -> str | None:
    try:
        value = ast.literal_eval(literal)
    except (SyntaxError, ValueError):  # e.g. an unterminated string
        return None
    return value if isinstance(value, str) else None


def _declarations_from_text(source: str, cell_index: int) -> list[CheckDeclaration]:
    quoted = [  # where strings and comments are: a check call named there is not a call
        token.span()
        for token in _TOKEN_PATTERN.finditer(source)
        if token.group("string") or token.group("comment")
    ]
    found = []
    for call in _CALL_PATTERN.finditer(source):
        if any(start <= call.start() < end for start, end in quoted):
            continue
        arguments, strings = _top_level_arguments(source, call.end())
        pieces = arguments.split("\x00")  # text, string index, text, string index, ...
        exercise = next(
            (
                _string_value(strings[int(pieces[i + 1])])
                for i in range(0, len(pieces) - 1, 2)
                if _EXERCISE_PATTERN.search(pieces[i])
            ),
            None,
        )
        if not exercise:
            continue
        points = _POINTS_PATTERN.search("".join(pieces[::2]))
        found.append(
            CheckDeclaration(cell_index, exercise, int(points.group("points")) if points else 1)
        )
    return found


def _python_lines(source: str) -> str:
    """Blank out IPython-only lines (magics, shell escapes) so ``ast`` can parse the rest."""
    lines = source.splitlines()
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def find_check_calls(notebook: Any) -> list[CheckDeclaration]:
    """Every graded check call in the notebook's code cells, in source order."""
    declarations: list[CheckDeclaration] = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        try:
            tree = ast.parse(_python_lines(source))
        except SyntaxError:
            declarations.extend(_declarations_from_text(source, index))
            continue
        declarations.extend(_declarations_from_ast(tree, index))
    return declarations


def exercise_points(declarations: list[CheckDeclaration]) -> dict[str, int]:
    """Exercise id → its points (the largest ``points=`` among its checks), in source order.

    An exercise is worth its points once however many checks it has: extra checks (hidden tests
    among them) add conditions, not points, so an exercise is worth the same in solutions/ and
    exercises/.
    """
    points: dict[str, int] = {}
    for declaration in declarations:
        points[declaration.exercise] = max(points.get(declaration.exercise, 0), declaration.points)
    return points


def read_check_result(data: dict[str, Any]) -> CheckResult | None:
    """Parse one output's ``RESULT_MIME`` payload; None when it is missing or malformed."""
    payload = data.get(RESULT_MIME)
    if not isinstance(payload, dict) or payload.get("version") != PAYLOAD_VERSION:
        return None
    exercise, points = payload.get("exercise"), payload.get("points")
    passed, message, hint = payload.get("passed"), payload.get("message"), payload.get("hint", "")
    if not (isinstance(exercise, str) and isinstance(passed, bool)):
        return None
    if isinstance(points, bool) or not isinstance(points, int):
        return None
    if not isinstance(message, str) or not isinstance(hint, str):
        return None
    # a cap on what an untrusted output can put in the report, far above any check's message
    return CheckResult(exercise, points, passed, shorten(message, 2000), shorten(hint, 2000))
