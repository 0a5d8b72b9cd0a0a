"""One wording rule for vanished and exploded values (gradlab.formatting)."""

import math

import pytest

from gradlab.formatting import format_factor, format_magnitude, format_number, format_percent


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.5, "0.5"),
        (2.594, "2.59"),
        (117.39, "117"),
        (3325.3, "3325"),
        (6.4e8, "6.4e+08"),
        (3.5e-5, "3.5e-05"),
        (1.0, "1"),
        (0.0, "0"),
        (math.inf, "inf"),
        (math.nan, "nan"),
    ],
    ids=str,
)
def test_format_number(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (math.inf, "exploded (inf)"),
        (math.nan, "exploded (nan)"),
        (0.0, "vanished (0)"),
        (2.594, "2.59"),
        (1e-30, "1e-30"),
    ],
    ids=str,
)
def test_format_magnitude(value, text):
    assert format_magnitude(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (math.inf, "exploded (inf)"),
        (math.nan, "undefined (nan)"),
        (0.0, "vanished (0)"),
        (0.5, "×0.5"),
        (1.2e5, "×1.2e+05"),
    ],
    ids=str,
)
def test_format_factor(value, text):
    assert format_factor(value) == text


@pytest.mark.parametrize("value", [math.inf, math.nan, 0.0, 1e-45, 3.0, 1e40])
def test_no_prefix_is_ever_glued_to_a_word(value):
    """'×exploded' or '×vanished' must never appear: the × is for finite, non-zero numbers only."""
    text = format_factor(value)
    assert not (text.startswith("×") and any(ch.isalpha() and ch != "e" for ch in text))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (math.inf, "exploded (inf)"),
        (math.nan, "exploded (nan)"),
        (0.0, "vanished (0)"),
        (0.028, "2.8%"),
        (4.6e-7, "4.6e-05%"),
        (1.0, "100%"),
    ],
    ids=str,
)
def test_format_percent(value, text):
    assert format_percent(value) == text
