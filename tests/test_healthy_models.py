"""Healthy standard models (tests/model_zoo.py): they learn, and gradlab raises no false alarm on them."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from tests.model_zoo import (
    BATCHES,
    HEALTHY,
    CausalLMOutput,
    SequenceClassifierOutput,
    compute_loss,
    gap_cnn,
    gpt2_style,
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
