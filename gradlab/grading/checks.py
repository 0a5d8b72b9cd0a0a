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

A check can name the common wrong answers and a hint for each, ``mistakes=[(wrong_value, hint)]``
(``check_close`` and ``check_equal``): a failed answer that matches a wrong value (by the check's
own rule) gets that hint instead of the generic one, e.g. "that is 19 factors" for 0.4**19.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

RESULT_MIME = "application/vnd.gradlab.check+json"
PAYLOAD_VERSION = 1
TEXT_WIDTH = 100  # a check's text wraps here: readable in a notebook beside Lab's file browser
SHORTENED = "… (shortened)"  # marks a value that was cut for length; messages are never cut

Mistakes = Sequence[tuple[Any, str]]
"""Common wrong answers and what to say about each: ``[(wrong_value, hint), ...]``."""


def shorten(text: str, limit: int) -> str:
    """``text`` when it fits in ``limit`` characters, else its start marked as shortened.

    For values (a repr, a payload from an untrusted output), never for a message a learner reads.
    """
    return text if len(text) <= limit else text[: max(0, limit - len(SHORTENED))] + SHORTENED


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
        lines = _wrap(f"[{status}] Exercise {self.exercise} ({self.points} {unit}): {self.message}")
        if not self.passed and self.hint:
            lines += _wrap(f"  Hint: {self.hint}", indent="        ")
        return "\n".join(lines)

    def to_payload(self) -> dict[str, Any]:
        """The machine-readable form the grader parses (JSON-safe)."""
        return {"version": PAYLOAD_VERSION, **asdict(self)}


def _wrap(text: str, indent: str = "  ") -> list[str]:
    """Whole words on lines of at most TEXT_WIDTH characters; continuation lines indented."""
    return textwrap.wrap(
        text,
        width=TEXT_WIDTH,
        subsequent_indent=indent,
        break_long_words=False,  # a long name or number stays whole (and readable) on its line
        break_on_hyphens=False,
    ) or [text]


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
    return shorten(repr(value), 60)


def _validate_mistakes(
    mistakes: Any, is_expected: Callable[[Any], bool], convert: Callable[[Any], Any]
) -> list[tuple[Any, str]]:
    """``mistakes`` as a list of (converted wrong value, hint); ValueError naming what is wrong.

    Args:
        is_expected: True for a wrong value the check would pass (then it is not a mistake).
        convert: the wrong value as the check compares it; raises ValueError when it cannot be.
    """
    allowed = "a list of (wrong_value, hint) pairs, hint a non-empty string"
    if isinstance(mistakes, (str, bytes, dict)) or not isinstance(mistakes, Sequence):
        raise ValueError(f"mistakes must be {allowed}, got {shorten(repr(mistakes), 80)}")
    checked = []
    for index, item in enumerate(mistakes):
        name = f"mistakes[{index}]"
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ValueError(
                f"{name} must be a (wrong_value, hint) pair, got {shorten(repr(item), 80)}"
            )
        wrong, hint = item
        if not isinstance(hint, str) or not hint.strip():
            raise ValueError(
                f"{name}'s hint must be a non-empty string, got {shorten(repr(hint), 80)}"
            )
        try:
            value = convert(wrong)
        except ValueError as error:
            raise ValueError(f"{name}'s wrong value {error}") from None
        if is_expected(value):
            # a learner giving it would pass: listing it as a mistake is a bug in the check cell
            raise ValueError(f"{name}'s wrong value passes this check; it is not a mistake")
        checked.append((value, hint))
    return checked


def _format_number(value: float) -> str:
    """Four significant figures; non-finite as 'inf' / '-inf' / 'nan'.

    The same words as gradlab.formatting.format_number (the grader cannot import the library).
    """
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def _close(value: np.ndarray, reference: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """Element-wise |value - reference| <= atol + rtol·|reference| (the rule of compare_close)."""
    return np.abs(value - reference) <= atol + rtol * np.abs(reference)


def compare_close(
    received: Any,
    expected: Any,
    *,
    exercise: str,
    points: int = 1,
    rtol: float = 1e-2,
    atol: float = 0.0,
    hint: str = "",
    mistakes: Mistakes = (),
    reveal: bool = False,
) -> CheckResult:
    """Compare a number or array with a reference: |received - expected| <= atol + rtol·|expected|.

    Args:
        received: the learner's value (float, int, numpy array, torch tensor or nested list).
        expected: the reference value, same shape as ``received`` should have.
        rtol, atol: relative and absolute tolerance, applied element-wise.
        hint: shown when the check fails (unless a mistake below matches).
        mistakes: common wrong answers, ``[(wrong_value, hint), ...]``; a failed answer within
            tolerance of a wrong value (the same rule, with the wrong value as reference) gets
            that hint instead of ``hint``. Each wrong value has the expected shape, is finite and
            fails this check. The hint must not give the answer away.
        reveal: print the reference value in a failure message (only when it is not the answer).

    Returns:
        CheckResult; passes when shapes match, values are finite and within tolerance.
    """
    _validate_declaration(exercise, points)
    reference = _to_array(expected)
    if reference is None:
        raise ValueError(f"expected must be a number or an array of numbers, got {expected!r}")

    def as_wrong_value(wrong: Any) -> np.ndarray:
        array = _to_array(wrong)
        if array is None:
            raise ValueError(f"must be a number or an array of numbers, got {_describe(wrong)}")
        if array.shape != reference.shape:
            shapes = f"shape {tuple(array.shape)}; expected has shape {tuple(reference.shape)}"
            raise ValueError(f"has {shapes}")
        if not np.all(np.isfinite(array)):
            raise ValueError("must be finite (a non-finite answer already has its own message)")
        return array

    known = _validate_mistakes(
        mistakes, lambda wrong: bool(np.all(_close(wrong, reference, rtol, atol))), as_wrong_value
    )

    def fail(message: str, value: np.ndarray | None = None) -> CheckResult:
        for wrong, mistake_hint in known if value is not None else []:
            if np.all(_close(value, wrong, rtol, atol)):
                return CheckResult(exercise, points, False, message, mistake_hint)
        return CheckResult(exercise, points, False, message, hint)

    value = _to_array(received)
    if value is None:
        return fail(f"expected a number or array of numbers, received {_describe(received)}")
    if value.shape != reference.shape:
        return fail(f"expected shape {tuple(reference.shape)}, received shape {tuple(value.shape)}")
    tolerance = f"rtol={rtol:g}" + (f", atol={atol:g}" if atol else "")
    finite = np.isfinite(value)
    if not np.all(finite):
        if value.ndim == 0:
            return fail(
                f"received {_format_number(float(value))} (non-finite); "
                f"expected a finite number ({tolerance})"
            )
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        where = first[0] if len(first) == 1 else first
        return fail(
            f"received non-finite values ({value.size - int(finite.sum())} of {value.size}; "
            f"at index {where}: {_format_number(float(value[first]))}); "
            f"expected finite numbers ({tolerance})"
        )

    close = _close(value, reference, rtol, atol)
    if reference.ndim == 0:
        got, want = float(value), float(reference)
        if close:
            return CheckResult(
                exercise, points, True, f"{_format_number(got)} is within {tolerance}"
            )
        if reveal:
            return fail(
                f"expected {_format_number(want)} ({tolerance}), received {_format_number(got)}",
                value,
            )
        side = "too large" if got > want else "too small"
        return fail(
            f"received {_format_number(got)}, which is {side} (tolerance {tolerance})", value
        )

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
    return fail(
        f"{count} of {value.size} values differ ({tolerance}); at index {where}: {detail}", value
    )


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


def _equal(received: Any, expected: Any) -> bool:
    """Exact equality for answers: False for element-wise ``==`` and for a bool against a number."""
    try:
        equal = bool(received == expected)
    except (TypeError, ValueError):  # e.g. arrays, whose == is element-wise
        return False
    # True == 1 in Python, but a choice index is not a yes/no answer
    return equal and isinstance(received, bool) == isinstance(expected, bool)


def compare_equal(
    received: Any,
    expected: Any,
    *,
    exercise: str,
    points: int = 1,
    hint: str = "",
    mistakes: Mistakes = (),
) -> CheckResult:
    """Check exact equality (ints, strings, choices); the reference is never printed.

    Args:
        mistakes: common wrong answers, ``[(wrong_value, hint), ...]`` (e.g. an index one too
            large); a received value equal to a wrong value gets that hint instead of ``hint``.
    """
    _validate_declaration(exercise, points)
    known = _validate_mistakes(mistakes, lambda wrong: _equal(wrong, expected), lambda x: x)
    if _equal(received, expected):
        return CheckResult(exercise, points, True, f"{_describe(received)} is correct")
    specific = next((text for wrong, text in known if _equal(received, wrong)), hint)
    return CheckResult(exercise, points, False, f"{_describe(received)} is not correct", specific)


def display_result(result: CheckResult) -> None:
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
    display_result(compare_close(received, expected, **kwargs))


def check_shape(received: Any, expected_shape: tuple[int, ...], **kwargs: Any) -> None:
    """Show whether ``received`` has ``expected_shape`` (see ``compare_shape``)."""
    display_result(compare_shape(received, expected_shape, **kwargs))


def check_type(received: Any, expected_type: type | tuple[type, ...], **kwargs: Any) -> None:
    """Show whether ``received`` is a ``expected_type`` (see ``compare_type``)."""
    display_result(compare_type(received, expected_type, **kwargs))


def check_equal(received: Any, expected: Any, **kwargs: Any) -> None:
    """Show whether ``received`` equals ``expected`` (see ``compare_equal``)."""
    display_result(compare_equal(received, expected, **kwargs))


CHECK_FUNCTIONS = ("check_close", "check_shape", "check_type", "check_equal")
