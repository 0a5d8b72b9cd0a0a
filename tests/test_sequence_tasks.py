"""gradlab.training.sequence_tasks: the adding problem's inputs, targets and baseline."""

import pytest
import torch

from gradlab.training.sequence_tasks import BASELINE_MSE, adding_problem


def test_two_markers_one_in_each_half_and_the_target_is_their_sum():
    x, y = adding_problem(500, 11, generator=torch.Generator().manual_seed(0))
    assert x.shape == (500, 11, 2) and y.shape == (500, 1) and x.dtype == torch.float32
    markers = x[..., 1]
    assert torch.all(markers.sum(dim=1) == 2)
    assert torch.all(markers[:, :5].sum(dim=1) == 1) and torch.all(markers[:, 5:].sum(dim=1) == 1)
    marked = [x[i, markers[i] == 1, 0].sum() for i in range(500)]
    torch.testing.assert_close(y[:, 0], torch.stack(marked))
    assert float(x[..., 0].min()) >= 0 and float(x[..., 0].max()) < 1


def test_baseline_is_the_variance_of_the_target():
    _, y = adding_problem(200_000, 4, generator=torch.Generator().manual_seed(1))
    assert pytest.approx(1 / 6) == BASELINE_MSE
    assert float(((y - 1.0) ** 2).mean()) == pytest.approx(BASELINE_MSE, rel=0.01)


def test_the_generator_decides_and_the_global_rng_is_untouched():
    state = torch.get_rng_state()
    a = adding_problem(8, 6, generator=torch.Generator().manual_seed(3))
    b = adding_problem(8, 6, generator=torch.Generator().manual_seed(3))
    c = adding_problem(8, 6, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("length", [1, 0, 2.5, True])
def test_bad_length_is_named(length):
    with pytest.raises(ValueError, match="length must be an integer >= 2"):
        adding_problem(4, length, generator=torch.Generator())
