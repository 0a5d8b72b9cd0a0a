"""Instant checks for exercise notebooks: pass or fail, expected vs received, and a hint.

Used in the check cells of exercises/ and solutions/ (first in exercises/01_chain_rule). A check
cell calls e.g. ``check_close(answer, expected, exercise="1.2", points=2, hint="...")``. The
``exercise=`` and ``points=`` arguments must be literals: ``python -m gradlab.grade`` reads them
from the notebook source to know every exercise and its points, even those never reached.

Each check shows one output with two representations:
- ``text/plain``: what the learner reads (PASS/FAIL, expected vs received, a hint);
- ``application/vnd.gradlab.check+json`` (``RESULT_MIME``): ``CheckResult.to_payload()``, which the
  grader reads from the executed notebook's outputs.

Messages never print the reference value unless ``reveal=True`` (use it when the reference is not
the answer, e.g. gradlab's own measurement that the learner re-implements).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

RESULT_MIME = "application/vnd.gradlab.check+json"
PAYLOAD_VERSION = 1


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: what the grader records and the learner reads."""

    exercise: str
    points: int
    passed: bool
    message: str
    hint: str = ""

    def to_text(self) -> str:
        """The learner-facing lines: status, message, and the hint when the check failed."""
        status = "PASS" if self.passed else "FAIL"
        unit = "point" if self.points == 1 else "points"
        lines = [f"[{status}] Exercise {self.exercise} ({self.points} {unit}): {self.message}"]
        if not self.passed and self.hint:
            lines.append(f"  Hint: {self.hint}")
        return "\n".join(lines)

    def to_payload(self) -> dict[str, Any]:
        """The machine-readable form the grader parses (JSON-safe)."""
        return {"version": PAYLOAD_VERSION, **asdict(self)}


def _validate_declaration(exercise: Any, points: Any) -> None:
    if not isinstance(exercise, str) or not exercise.strip():
        raise ValueError(f"exercise must be a non-empty string such as '1.2', got {exercise!r}")
    if isinstance(points, bool) or not isinstance(points, int) or points < 0:
        raise ValueError(f"points must be a non-negative int, got {points!r}")


def _to_array(value: Any) -> np.ndarray | None:
    """A float array for numbers, numpy arrays, torch tensors and nested lists; None otherwise."""
    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    if isinstance(value, (str, bytes, dict, set)) or value is None or value is Ellipsis:
        return None
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    return array


def _describe(value: Any) -> str:
    """A short, safe description of a received value (type and, for arrays, shape)."""
    array = _to_array(value)
    if array is not None and array.ndim > 0:
        return f"{type(value).__name__} of shape {tuple(array.shape)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _format_number(value: float) -> str:
    return f"{value:.4g}"


def compare_close(
    received: Any,
    expected: Any,
    *,
    exercise: str,
    points: int = 1,
    rtol: float = 1e-2,
    atol: float = 0.0,
    hint: str = "",
    reveal: bool = False,
) -> CheckResult:
    """Compare a number or array with a reference: |received - expected| <= atol + rtol·|expected|.

    Args:
        received: the learner's value (float, int, numpy array, torch tensor or nested list).
        expected: the reference value, same shape as ``received`` should have.
        rtol, atol: relative and absolute tolerance, applied element-wise.
        reveal: print the reference value in a failure message (only when it is not the answer).

    Returns:
        CheckResult; passes when shapes match, values are finite and within tolerance.
    """
    _validate_declaration(exercise, points)
    reference = _to_array(expected)
    if reference is None:
        raise ValueError(f"expected must be a number or an array of numbers, got {expected!r}")

    def fail(message: str) -> CheckResult:
        return CheckResult(exercise, points, False, message, hint)

    value = _to_array(received)
    if value is None:
        return fail(f"expected a number or array of numbers, received {_describe(received)}")
    if value.shape != reference.shape:
        return fail(f"expected shape {tuple(reference.shape)}, received shape {tuple(value.shape)}")
    tolerance = f"rtol={rtol:g}" + (f", atol={atol:g}" if atol else "")
    if not np.all(np.isfinite(value)):
        return fail(
            f"received non-finite values (nan or inf); expected finite numbers ({tolerance})"
        )

    close = np.abs(value - reference) <= atol + rtol * np.abs(reference)
    if reference.ndim == 0:
        got, want = float(value), float(reference)
        if close:
            return CheckResult(
                exercise, points, True, f"{_format_number(got)} is within {tolerance}"
            )
        if reveal:
            return fail(
                f"expected {_format_number(want)} ({tolerance}), received {_format_number(got)}"
            )
        side = "too large" if got > want else "too small"
        return fail(f"received {_format_number(got)}, which is {side} (tolerance {tolerance})")

    if np.all(close):
        return CheckResult(exercise, points, True, f"all {value.size} values within {tolerance}")
    worst = np.unravel_index(
        np.argmax(np.abs(value - reference) / (atol + rtol * np.abs(reference) + 1e-300)),
        value.shape,
    )
    index = tuple(int(i) for i in worst)
    where = index[0] if len(index) == 1 else index
    detail = f"received {_format_number(float(value[worst]))}"
    if reveal:
        detail = f"expected {_format_number(float(reference[worst]))}, " + detail
    count = int(np.size(close) - np.count_nonzero(close))
    return fail(f"{count} of {value.size} values differ ({tolerance}); at index {where}: {detail}")


def compare_shape(
    received: Any,
    expected_shape: tuple[int, ...],
    *,
    exercise: str,
    points: int = 1,
    hint: str = "",
) -> CheckResult:
    """Check that an array or tensor has ``expected_shape``."""
    _validate_declaration(exercise, points)
    value = _to_array(received)
    wanted = tuple(expected_shape)
    if value is None:
        message = f"expected an array of shape {wanted}, received {_describe(received)}"
        return CheckResult(exercise, points, False, message, hint)
    if value.shape != wanted:
        message = f"expected shape {wanted}, received shape {tuple(value.shape)}"
        return CheckResult(exercise, points, False, message, hint)
    return CheckResult(exercise, points, True, f"shape {wanted} as expected")


def compare_type(
    received: Any,
    expected_type: type | tuple[type, ...],
    *,
    exercise: str,
    points: int = 1,
    hint: str = "",
) -> CheckResult:
    """Check that a value is an instance of ``expected_type``."""
    _validate_declaration(exercise, points)
    types = expected_type if isinstance(expected_type, tuple) else (expected_type,)
    names = " or ".join(t.__name__ for t in types)
    if isinstance(received, types):
        return CheckResult(exercise, points, True, f"a {names} as expected")
    message = f"expected a {names}, received a {type(received).__name__}"
    return CheckResult(exercise, points, False, message, hint)


def compare_equal(
    received: Any, expected: Any, *, exercise: str, points: int = 1, hint: str = ""
) -> CheckResult:
    """Check exact equality (ints, strings, choices); the reference is never printed."""
    _validate_declaration(exercise, points)
    try:
        passed = bool(received == expected)
    except (TypeError, ValueError):  # e.g. arrays, whose == is element-wise
        passed = False
    if isinstance(received, bool) != isinstance(expected, bool):
        passed = False  # True == 1 in Python, but a choice index is not a yes/no answer
    if passed:
        return CheckResult(exercise, points, True, f"{_describe(received)} is correct")
    return CheckResult(exercise, points, False, f"{_describe(received)} is not correct", hint)


def report(result: CheckResult) -> None:
    """Show a result: one output with a text/plain part and the machine-readable part."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: text only
        print(result.to_text())
        return
    if get_ipython() is None:
        print(result.to_text())
        return
    bundle = {"text/plain": result.to_text(), RESULT_MIME: result.to_payload()}
    display(bundle, raw=True)


def check_close(received: Any, expected: Any, **kwargs: Any) -> None:
    """Show whether ``received`` matches ``expected`` within tolerance (see ``compare_close``)."""
    report(compare_close(received, expected, **kwargs))


def check_shape(received: Any, expected_shape: tuple[int, ...], **kwargs: Any) -> None:
    """Show whether ``received`` has ``expected_shape`` (see ``compare_shape``)."""
    report(compare_shape(received, expected_shape, **kwargs))


def check_type(received: Any, expected_type: type | tuple[type, ...], **kwargs: Any) -> None:
    """Show whether ``received`` is a ``expected_type`` (see ``compare_type``)."""
    report(compare_type(received, expected_type, **kwargs))


def check_equal(received: Any, expected: Any, **kwargs: Any) -> None:
    """Show whether ``received`` equals ``expected`` (see ``compare_equal``)."""
    report(compare_equal(received, expected, **kwargs))


CHECK_FUNCTIONS = ("check_close", "check_shape", "check_type", "check_equal")
