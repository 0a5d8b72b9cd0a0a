"""One wording rule for numbers that may have vanished or exploded; every readout prints through it.

A gradient can underflow to exactly 0 (the extreme of *vanishing*) or overflow float32 to inf,
after which inf − inf gives nan (the aftermath of *exploding*). Readouts must never show a prefix
glued to a word ("×exploded (nan)", "~exploded"): the prefix belongs to finite numbers only, and a
non-finite or zero value is a phrase on its own. Used by every chapter's readouts and tables.

Which function, by what the value is:
- format_number: a value as a training log shows it (a loss, one step's gradient or weight norm).
  Non-finite stays 'inf' / '-inf' / 'nan', the words print() and torch use; a NaN loss can come
  from the data as well as from an overflow, so it is not called 'exploded'.
- format_magnitude: a size that can vanish or explode (what is left of a gradient after a chain
  of layers or steps): 0 'vanished (0)', inf 'exploded (inf)', nan 'exploded (nan)'.
- format_factor: a multiplier or ratio ('×…'); nan is 'undefined (nan)' (0/0 or inf/inf).
- format_percent: a fraction as a percentage, non-finite and 0 as format_magnitude.
A fixed precision for finite values (a table column) is fine; non-finite ones still print through
these. gradlab.grading keeps its own copy of format_number's words ('inf', '-inf', 'nan')
because the grader starts without the library.
"""

from __future__ import annotations

import math

VANISHED = "vanished (0)"
EXPLODED_INF = "exploded (inf)"
EXPLODED_NAN = "exploded (nan)"
UNDEFINED = "undefined (nan)"


def format_number(value: float) -> str:
    """Three significant figures from 1e-3 to 1000, whole numbers to 1e4, else two in scientific.

    Non-finite values print as 'inf' / '-inf' / 'nan' (plain: use format_magnitude for gradients).
    """
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1000:
        return f"{value:.3g}"
    if 1000 <= abs(value) < 1e4:
        return f"{value:.0f}"
    return f"{value:.2g}"


def format_magnitude(value: float) -> str:
    """A size that can vanish or explode (a gradient norm, the fraction of a gradient left).

    0 reads 'vanished (0)' (underflow), inf 'exploded (inf)', nan 'exploded (nan)' (in a norm, nan
    comes from an overflow upstream: inf − inf or 0 × inf); anything else as format_number.
    """
    value = float(value)
    if math.isnan(value):
        return EXPLODED_NAN
    if math.isinf(value):
        return EXPLODED_INF
    if value == 0:
        return VANISHED
    return format_number(value)


def format_factor(value: float) -> str:
    """A multiplier ('×0.5', '×1.2e+05'); the × only on a finite, non-zero number.

    0 reads 'vanished (0)', inf 'exploded (inf)', nan 'undefined (nan)': a ratio is nan when it is
    0/0 or inf/inf, which says the gradient vanished or exploded but not by how much.
    """
    value = float(value)
    if math.isnan(value):
        return UNDEFINED
    if math.isinf(value):
        return EXPLODED_INF
    if value == 0:
        return VANISHED
    return "×" + format_number(value)


def format_percent(fraction: float) -> str:
    """A fraction as a percentage ('2.8%', '100%', '4.6e-05%'); 0, inf and nan as format_magnitude."""
    fraction = float(fraction)
    if not math.isfinite(fraction) or fraction == 0:
        return format_magnitude(fraction)
    percent = 100.0 * fraction
    if abs(percent) < 0.01 or abs(percent) >= 1e6:
        return f"{percent:.1e}%"
    return f"{percent:.3g}%"
