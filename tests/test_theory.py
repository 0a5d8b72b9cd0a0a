"""gradlab.theory: the factor table of Chapter 1 and the sigmoid bound."""

import pytest
import torch

from gradlab.theory import (
    float_limits,
    gradient_after_layers,
    layer_factor_table,
    layers_until_overflow,
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


@pytest.mark.parametrize("factor", [1.1, 1.5, 2.0, 5.9, 1e10])
def test_layers_until_overflow_is_the_first_depth_past_float32(factor):
    largest = float(torch.finfo(torch.float32).max)
    layers = layers_until_overflow(factor)
    assert factor**layers > largest
    assert factor ** (layers - 1) <= largest
    # and float32 itself agrees: the product really becomes inf at that depth, not before
    steps = torch.full((layers,), factor, dtype=torch.float32)
    assert torch.isinf(torch.cumprod(steps, 0)[-1])
    assert torch.isfinite(torch.cumprod(steps, 0)[-2]) if layers > 1 else True


def test_layers_until_overflow_rejects_shrinking_factors():
    with pytest.raises(ValueError, match="factor must be > 1"):
        layers_until_overflow(1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_float_limits_against_torch_finfo_and_arithmetic(dtype):
    limits = float_limits(dtype)
    info = torch.finfo(dtype)
    assert limits.largest == float(info.max)
    assert limits.smallest_normal == float(info.smallest_normal)
    assert limits.epsilon == float(info.eps)
    tiny = torch.tensor(limits.smallest_subnormal, dtype=dtype)
    assert float(tiny) > 0 and float(tiny / 2) == 0  # nothing smaller survives
    one = torch.tensor(1.0, dtype=dtype)
    assert bool(one + limits.epsilon > one) and bool(one + limits.epsilon / 4 == one)


def test_float_limits_rejects_integer_dtypes():
    with pytest.raises(ValueError, match="floating-point"):
        float_limits(torch.int32)


def test_sigmoid_bound_with_a_largest_stretch():
    assert sigmoid_bound(10, 2.0) == pytest.approx(0.5**10)
    assert sigmoid_bound(3, 1.0) == sigmoid_bound(3)
    with pytest.raises(ValueError, match="largest_stretch"):
        sigmoid_bound(3, -1.0)
