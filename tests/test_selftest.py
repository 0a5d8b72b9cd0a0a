"""Tests for gradlab.ui.selftest: the start page's "do widgets work?" slider."""

import pytest
import torch

from gradlab.ui.selftest import (
    SELFTEST_MAX,
    SELFTEST_MIN,
    compute_selftest_readout,
    format_selftest_readout,
    make_widget_selftest,
)


@pytest.mark.parametrize("x", range(SELFTEST_MIN, SELFTEST_MAX + 1), ids=lambda x: f"x={x}")
def test_readout_matches_autograd(x):
    readout = compute_selftest_readout(x)
    x_tensor = torch.tensor(float(x), requires_grad=True)
    y = x_tensor**2
    y.backward()
    assert readout.x == x
    assert readout.value == y.item()
    assert readout.slope == x_tensor.grad.item()


def test_format_names_value_and_slope():
    text = format_selftest_readout(compute_selftest_readout(3))
    assert text == "x = 3  ->  f(x) = x² = 9, slope f'(x) = 2x = 6"


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (SELFTEST_MIN - 1, ValueError),
        (SELFTEST_MAX + 1, ValueError),
        (1.5, TypeError),
        ("3", TypeError),
        (True, TypeError),
    ],
    ids=["below-range", "above-range", "float", "string", "bool"],
)
def test_bad_x_raises_naming_the_value(bad, error):
    with pytest.raises(error, match=f"x must be .*got {bad!r}"):
        compute_selftest_readout(bad)


def printed_text(output) -> str:
    return "".join(item["text"] for item in output.outputs if item["output_type"] == "stream")


def test_moving_the_slider_prints_the_new_readout():
    box = make_widget_selftest(x=3)
    slider, output = box.children
    assert slider.description == "x"
    assert (slider.min, slider.max, slider.value) == (SELFTEST_MIN, SELFTEST_MAX, 3)
    assert printed_text(output) == "x = 3  ->  f(x) = x² = 9, slope f'(x) = 2x = 6\n"
    slider.value = -4
    assert printed_text(output) == "x = -4  ->  f(x) = x² = 16, slope f'(x) = 2x = -8\n"
