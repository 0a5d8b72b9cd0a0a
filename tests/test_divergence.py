"""gradlab.measure.divergence: symptoms read off records; training's optional weight-norm record."""

import math

import numpy as np
import pytest
import torch

from gradlab.formatting import format_number
from gradlab.measure.divergence import (
    RunSymptoms,
    count_loss_jumps,
    find_loss_spike,
    format_gradients_at,
    format_symptoms,
    format_training_log,
    largest_loss_rise,
    measure_symptoms,
    measure_symptoms_over_seeds,
    summarize_seeds,
    total_weight_norms,
    train_at_learning_rates,
    train_over_seeds,
)
from gradlab.models.mlp import make_mlp
from gradlab.training.data import load_digits_split
from gradlab.training.loop import train_classifier


@pytest.fixture(scope="module")
def data():
    return load_digits_split(seed=0)


@pytest.mark.parametrize(
    ("losses", "expected"),
    [
        ([2.3, 2.2, 2.0, 1.5], None),
        ([2.3, 2.2, 24.0, 1e5], 2),  # 24 > 10 × 2.3
        ([2.3, 2.2, math.nan], 2),
        ([2.3, math.inf], 1),
    ],
    ids=["calm", "spike", "nan", "inf"],
)
def test_find_loss_spike(losses, expected):
    assert find_loss_spike(losses) == expected


def test_count_loss_jumps():
    assert count_loss_jumps([2.0, 1.0, 1.6, 1.2, 1.3, 2.0, math.nan]) == 2


def test_weight_norms_are_recorded_before_each_step(data):
    model = make_mlp(2, 16, "relu", "xavier", in_features=64, seed=0)
    start = [float(p.detach().norm()) for p in model.parameters()]
    record = train_classifier(model, data, steps=3, lr=0.1, record_weight_norms=True)
    assert record.weight_norms.shape == (3, len(start))
    np.testing.assert_allclose(record.weight_norms[0], start, rtol=1e-6)
    assert not np.allclose(record.weight_norms[2], start)
    plain = train_classifier(make_mlp(2, 16, in_features=64), data, steps=2)
    assert plain.weight_norms is None
    with pytest.raises(ValueError, match="record_weight_norms=True"):
        total_weight_norms(plain)


def test_total_weight_norm_matches_torch(data):
    model = make_mlp(2, 16, "relu", "xavier", in_features=64, seed=0)
    expected = float(torch.cat([p.detach().flatten() for p in model.parameters()]).norm())
    record = train_classifier(model, data, steps=1, lr=0.1, record_weight_norms=True)
    assert total_weight_norms(record)[0] == pytest.approx(expected, rel=1e-6)


def test_diverging_run_is_diagnosed(data):
    records = train_at_learning_rates([0.05, 3.0], data=data, steps=60)
    calm, wild = (measure_symptoms(records[lr], lr) for lr in (0.05, 3.0))
    assert calm.spike_step is None and calm.nonfinite_step is None and calm.loss_jumps == 0
    assert wild.spike_step is not None and wild.nonfinite_step is not None
    assert wild.spike_step < wild.nonfinite_step == wild.steps_run - 1
    assert wild.nonfinite_parameter in records[3.0].parameter_names
    assert wild.weight_growth > 1e3 > calm.weight_growth
    table = format_symptoms([calm, wild])
    assert "×exploded" not in table and "×vanished" not in table
    assert len(table.splitlines()) == 3
    # the last loss reads as the training log reads it: a logged value, plain 'nan' / 'inf'
    wild_last = table.splitlines()[2].rsplit("|", 1)[1].strip()
    assert wild_last == format_number(wild.last_loss) and wild_last in {"nan", "inf"}
    step = wild.nonfinite_step
    assert "<- not finite" in format_gradients_at(records[3.0], step)
    assert "<- not finite" not in format_gradients_at(records[3.0], step - 1)
    log = format_training_log(records[3.0], step - 2)
    assert len(log.splitlines()) == 3 and "|weights|" in log
    with pytest.raises(ValueError, match="step must be in"):
        format_gradients_at(records[3.0], step + 1)


def test_largest_loss_rise_ignores_non_finite_steps():
    assert largest_loss_rise([2.0, 1.0, 1.6, 1.2, math.inf, math.nan]) == pytest.approx(0.6)
    assert largest_loss_rise([2.0, 1.0, 0.5]) == 0.0
    assert largest_loss_rise([2.0]) == 0.0


def test_seeds_are_diagnosed_and_summarised(data):
    records = train_over_seeds([0.05, 3.0], seeds=[0, 1], steps=30, data=data)
    assert [len(runs) for runs in records.values()] == [2, 2]
    symptoms = measure_symptoms_over_seeds(records, [0, 1])
    assert [row.seed for row in symptoms[3.0]] == [0, 1]
    for row, record in zip(symptoms[3.0], records[3.0], strict=True):
        step = record.first_nonfinite_step
        assert row.nonfinite_in_loss == (not math.isfinite(record.losses[step]))
        expected = "loss" if row.nonfinite_in_loss else record.first_nonfinite_parameter
        assert row.first_nonfinite == expected
        assert row.grad_growth == pytest.approx(
            record.global_grad_norms[step - 1] / record.global_grad_norms[0]
        )
    summary = summarize_seeds(symptoms).splitlines()
    assert (
        summary[0] == "lr = 0.05: no run diverged; the loss never rose by more than 0.5 in one step"
    )
    assert summary[1].startswith("lr = 3.0: all 2 runs diverged, every one within the first 20")
    with pytest.raises(ValueError, match="holds 2 runs but 3 seeds"):
        measure_symptoms_over_seeds(records, [0, 1, 2])


def test_summary_words_only_what_holds_for_every_run():
    def row(lr, nonfinite, spike, jumps=0, growth=1e4):
        return RunSymptoms(lr, 10, spike, nonfinite, None, jumps, 1.0, 1.0, grad_growth=growth)

    mixed = summarize_seeds({1.0: [row(1.0, 5, 4), row(1.0, None, None, jumps=2)]})
    assert mixed.startswith("lr = 1.0: 1 of 2 runs diverged;")  # no "every one within"
    assert "at least 2 steps" not in mixed and "1000-fold" in mixed
    late = summarize_seeds({2.0: [row(2.0, 30, 20), row(2.0, 8, 5, growth=10.0)]})
    assert "within the first" not in late and "at least 2 steps before" in late
    assert "1000-fold" not in late
    some = summarize_seeds({0.5: [row(0.5, None, None, jumps=1), row(0.5, None, None)]})
    assert some.endswith("in some runs the loss jumped up by more than 0.5 in one step")
