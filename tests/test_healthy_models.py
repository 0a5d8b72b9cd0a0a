"""Healthy standard models (tests/model_zoo.py): they learn, and gradlab raises no false alarm on them."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

import gradlab
from gradlab import GradientMonitor, Report, Thresholds
from gradlab.diagnosis.flow import depth_profile, relative_gradients
from gradlab.diagnosis.rules import find_problems
from tests.model_zoo import (
    BATCHES,
    HEALTHY,
    CausalLMOutput,
    SequenceClassifierOutput,
    compute_loss,
    digit_batch,
    gap_cnn,
    gpt2_style,
    token_cross_entropy,
    train_healthy,
)

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = list(HEALTHY)


@pytest.mark.parametrize("name", NAMES)
def test_zoo_model_runs_forward_and_backward_quickly(name: str) -> None:
    model, batch = HEALTHY[name](), BATCHES[name](0)
    compute_loss(model, batch).backward()  # warm-up
    start = time.perf_counter()
    for _ in range(3):
        model.zero_grad()
        compute_loss(model, batch).backward()
    assert (time.perf_counter() - start) / 3 < 0.2  # ~5-20 ms on one thread; loose for busy CI
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", NAMES)
def test_zoo_model_learns_in_50_steps(name: str) -> None:
    """The standard recipe lowers the loss: the last 10 steps' mean < 0.95 x the first 5 steps'.

    Measured over seeds 0-2: 0.12-0.15 (ResNet), 0.75 (GPT-2), 0.79-0.90 (BERT), 0.72-0.74 (LSTM).
    """
    losses = train_healthy(HEALTHY[name](), BATCHES[name], steps=50)
    assert losses[-10:].mean() < 0.95 * losses[:5].mean()


@pytest.mark.parametrize("name", [*NAMES, "gap_cnn"])
def test_building_is_seeded_and_leaves_the_global_rng_alone(name: str) -> None:
    build = HEALTHY.get(name, gap_cnn)
    state = torch.random.get_rng_state()
    first, second, other = build(seed=0), build(seed=0), build(seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    pairs = zip(first.parameters(), second.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    weights = [p for p in first.parameters() if p.dim() >= 2]
    others = [p for p in other.parameters() if p.dim() >= 2]
    assert not all(torch.equal(a, b) for a, b in zip(weights, others, strict=True))


def test_gpt2_lm_head_is_tied_and_its_loss_is_the_shifted_cross_entropy() -> None:
    model = gpt2_style()
    assert model.lm_head.weight is model.transformer["wte"].weight
    batch = BATCHES["gpt2_style"](0)
    output = model(**batch)
    assert isinstance(output, CausalLMOutput)
    logits, labels = output.logits, batch["labels"]
    expected = nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, 64), labels[:, 1:].reshape(-1)
    )
    torch.testing.assert_close(output.loss, expected)
    assert model(batch["input_ids"]).loss is None


def test_bert_output_is_a_dict_with_attributes_and_masks_padding() -> None:
    model = HEALTHY["bert_style"]()
    batch = BATCHES["bert_style"](0)
    output = model(**batch)
    assert isinstance(output, SequenceClassifierOutput) and isinstance(output, dict)
    assert list(output) == ["loss", "logits"] and output["loss"] is output.loss
    assert (batch["attention_mask"] == 0).any()  # the batch has padding to mask
    # Padding is masked: changing the padded tokens leaves the logits alone.
    changed = dict(batch, input_ids=batch["input_ids"].masked_fill(batch["attention_mask"] == 0, 7))
    torch.testing.assert_close(model.eval()(**changed).logits, model(**batch).logits)
    no_labels = model(batch["input_ids"], batch["attention_mask"])
    assert no_labels.loss is None and list(no_labels) == ["logits"]


# ----------------------------------------------------------------------------- no false alarms
LOSS_FNS = {"resnet18_style": nn.CrossEntropyLoss(), "lstm_lm": token_cross_entropy}

# The warnings that may remain, each true:
# - bad_update_ratio after training the transformers: AdamW at lr 1e-3 moves small weights by
#   about 3 % of their norm per step, above 0.03 (measured over seeds 0-3: BERT's std-0.02
#   attention query 0.033-0.034 in every seed; GPT-2's residual c_proj, std 0.02/sqrt(8),
#   0.032 in seed 1 only).
# - vanishing in bert_style after training: behind its std-0.02 pooler the encoder's relative
#   gradient is 0.012-0.018 of the pooler's after 50 steps (seeds 0-5; 0.017-0.025 at init), near
#   the 1e-2 warning level.
EXPECTED_WARNINGS = {
    ("gpt2_style", "trained"): {"bad_update_ratio"},
    ("bert_style", "trained"): {"vanishing", "bad_update_ratio"},
}


def diagnose_at_init(name: str, seed: int = 0) -> Report:
    batch = BATCHES[name](0, seed=seed)
    return gradlab.diagnose(HEALTHY[name](seed=seed), batch, LOSS_FNS.get(name))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", NAMES)
def test_healthy_model_has_no_error_at_init(name: str, seed: int) -> None:
    report = diagnose_at_init(name, seed)
    assert report.ok, str(report)
    assert report.kinds() <= EXPECTED_WARNINGS.get((name, "init"), set()), str(report)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", NAMES)
def test_healthy_model_has_no_error_over_50_training_steps(name: str, seed: int) -> None:
    model = HEALTHY[name](seed=seed)
    with GradientMonitor(model) as monitor:
        train_healthy(model, lambda step: BATCHES[name](step, seed=seed), steps=50)
    report = monitor.report()
    assert report.steps == 50 and report.ok, str(report)
    assert report.kinds() <= EXPECTED_WARNINGS.get((name, "trained"), set()), str(report)


def test_a_small_init_head_is_judged_as_an_output_layer() -> None:
    """BERT-style: the relative gradient falls about 250x from the classifier to the encoder,
    most of it at the std-0.02 pooler; the output layer is a reference at the error level only,
    so this is no finding, while the same fall between hidden layers is a warning."""
    model = HEALTHY["bert_style"]()
    with GradientMonitor(model) as monitor:
        compute_loss(model, BATCHES["bert_style"](0)).backward()
    recording = monitor.recording()
    groups = depth_profile(recording, relative_gradients(recording))
    names = [g.name for g in groups]
    assert names == [*(f"encoder.layer.{i}" for i in range(4)), "pooler", "classifier"]
    values = np.array([g.value for g in groups])
    assert values[-1] / values[:4].max() > 100  # the fall the measure sees
    assert 1e-2 < values[:4].max() / values[4] < 0.1  # within 1/100 of the pooler's
    assert not find_problems(recording).findings
    strict = Thresholds(vanishing_warning=0.1)
    (finding,) = find_problems(recording, thresholds=strict).findings
    assert (finding.kind, finding.severity) == ("vanishing", "warning")
    assert "of the largest after it" in finding.evidence and "at 'pooler'" in finding.evidence


def test_global_average_pooled_28x28_cnn_is_not_vanishing() -> None:
    """The conv layers see a gradient per output element 1/784 of the pooled one's; their
    relative gradients stay within 1/10 of the largest later conv's (0.11-0.52 over seeds 0-5)."""
    report = gradlab.diagnose(gap_cnn(), digit_batch(0), nn.CrossEntropyLoss())
    assert not report.findings, str(report)
    model = gap_cnn()
    with GradientMonitor(model) as monitor:
        train_healthy(model, digit_batch, steps=50)
    assert not monitor.report().findings, str(monitor.report())
