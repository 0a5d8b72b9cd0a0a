"""The factor table measured on real ReLU networks agrees with factor^depth."""

import math

import pytest

from gradlab.chapters.ch01_chain_rule.factor_measurement import measure_factor_table


@pytest.fixture(scope="module")
def table():
    return measure_factor_table()


def test_every_row_within_a_factor_of_1_6(table):
    for row in table.rows:
        for depth in table.depths:
            assert 1 / 1.6 < row.ratio(depth) < 1.6, (row.factor, depth, row.measured[depth])


def test_vanishing_and_exploding_rows_move_the_right_way(table):
    measured = {row.factor: row.measured for row in table.rows}
    assert measured[0.5][50] < 1e-14
    assert measured[1.5][50] > 1e8
    assert all(math.isfinite(v) for row in table.rows for v in row.measured.values())


def test_table_prints_theory_and_measurement(table):
    text = str(table)
    assert "117" in text and "6.4e+08" in text and "ratio" in text


def test_ratio_range_is_what_the_chapter_prints(table):
    lowest, highest = table.ratio_range()
    ratios = [row.ratio(d) for row in table.rows for d in table.depths]
    assert (lowest, highest) == (min(ratios), max(ratios))
    # printed as 'between 0.7 and 1.0': both far from a rounding boundary (x.x5) on any CPU
    assert f"{lowest:.1f}" == "0.7" and abs(lowest * 10 % 1 - 0.5) > 0.1
    assert f"{highest:.1f}" == "1.0" and abs(highest * 10 % 1 - 0.5) > 0.1


def test_an_overflowed_measurement_prints_in_the_wording_rule() -> None:
    """A row whose measurement overflowed: its ratio reads 'exploded (inf)', never a bare 'inf'."""
    from gradlab.chapters.ch01_chain_rule.factor_measurement import (
        MeasuredFactorRow,
        MeasuredFactorTable,
    )

    row = MeasuredFactorRow(3.0, {100: 3.0**100}, {100: math.inf})
    text = str(MeasuredFactorTable((100,), (row,)))
    cells = text.splitlines()[2].split()
    assert cells[-4:] == ["exploded", "(inf)", "exploded", "(inf)"], text
    assert "  inf" not in text
