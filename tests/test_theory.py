"""gradlab.theory: the factor table of Chapter 1 and the sigmoid bound."""

import pytest

from gradlab.theory import (
    gradient_after_layers,
    layer_factor_table,
    sigmoid_bound,
)

# (factor, depth, value the chapter states, relative tolerance of the statement)
STATED = [
    (0.9, 10, 0.35, 0.01),
    (0.9, 50, 0.005, 0.05),
    (0.5, 10, 0.001, 0.03),
    (0.5, 50, 1e-15, 0.15),
    (1.0, 10, 1.0, 0),
    (1.0, 50, 1.0, 0),
    (1.1, 10, 2.59, 0.002),
    (1.1, 50, 117.39, 1e-4),
    (1.5, 10, 57.67, 1e-4),
    (1.5, 50, 6.4e8, 0.01),
]


@pytest.mark.parametrize(("factor", "depth", "stated", "rel"), STATED)
def test_factor_table_reproduces_stated_values(factor, depth, stated, rel):
    table = layer_factor_table()
    assert table.value(factor, depth) == pytest.approx(stated, rel=rel)


def test_seed_claim_of_1e8_for_factor_1_5_is_wrong():
    # the seed text says ~1e8; the true value is ~6.4e8, six times more
    assert layer_factor_table().value(1.5, 50) > 6e8


def test_exercise_and_quick_check_numbers():
    assert gradient_after_layers(0.4, 20) == pytest.approx(1.1e-8, rel=0.01)
    assert gradient_after_layers(0.3, 15) == pytest.approx(1.43e-8, rel=0.01)


def test_sigmoid_bound():
    assert sigmoid_bound(10) == pytest.approx(9.54e-7, rel=1e-3)
    assert sigmoid_bound(20) == pytest.approx(9.09e-13, rel=1e-3)


def test_table_prints_every_row():
    text = str(layer_factor_table())
    for factor in ("0.9", "0.5", "1.0", "1.1", "1.5"):
        assert factor in text
    assert "117" in text and "6.4e+08" in text
