"""Hugging Face-style models: keyword-argument forwards, dataclass/dict outputs with .loss and
.logits, an lm_head tied to the token embedding, and diagnose(model, batch) using output.loss.

The models are built in tests/model_zoo.py from torch modules (no `transformers` dependency).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_zoo import bert_style, gpt2_style, lm_batch, marker_batch, token_cross_entropy
from torch import nn

import gradlab
from gradlab.diagnosis.diagnose import model_loss
from gradlab.monitor.gradient_monitor import GradientMonitor


def test_gpt2_style_kwargs_forward_dataclass_output_and_tied_weights() -> None:
    model = gpt2_style()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    oracle = []
    with GradientMonitor(model, activation_sample=None) as monitor:
        for step in range(3):
            optimizer.zero_grad()
            model(**lm_batch(step)).loss.backward()
            oracle.append(float(model.transformer["wte"].weight.grad.norm()))
            optimizer.step()
    assert monitor.steps_seen == 3 and len(monitor.history) == 3
    # the tied weight is one parameter, named where it is first found, recorded once
    assert "transformer.wte.weight" in monitor.params
    assert not any(name.startswith("lm_head") for name in monitor.params)
    assert "lm_head" not in monitor.layers
    wte = monitor.params.index("transformer.wte.weight")
    # its gradient sums the embedding lookup's and the output layer's contributions
    np.testing.assert_allclose(monitor.history.get("grad_norm")[:, wte], oracle, rtol=1e-5)
    assert monitor.non_finite is None
    assert np.isfinite(
        monitor.history.get("update_ratio")[:, monitor.layers.index("transformer.h.0.attn.c_attn")]
    ).all()


def test_the_tied_gradient_really_has_two_parts() -> None:
    """Guard for the test above: the output layer's share of the tied gradient is not negligible,
    so a monitor that kept only the embedding's share would fail it."""
    model = gpt2_style()
    batch = lm_batch(0)
    final = []
    model.transformer["ln_f"].register_forward_hook(lambda m, a, out: final.append(out))
    out = model(**batch)
    d_logits = torch.autograd.grad(out.loss, out.logits, retain_graph=True)[0]
    head_share = torch.einsum("btv,btd->vd", d_logits, final[0].detach())
    out.loss.backward()
    both = model.transformer["wte"].weight.grad
    lookup_share = both - head_share
    assert float(head_share.norm()) > 0.2 * float(both.norm())
    assert float(lookup_share.norm()) > 0.05 * float(both.norm())


def test_bert_style_dict_output_is_seen_through() -> None:
    model = bert_style()
    batch = marker_batch(0)
    with GradientMonitor(model) as monitor:
        output = model(**batch)
        assert isinstance(output, dict) and output.loss is output["loss"]
        output.loss.backward()
    assert len(monitor.history) == 1
    assert np.isfinite(monitor.history.get("output_grad_norm")).sum() >= 10
    assert "word_embeddings" in monitor.layers and not monitor.layers[0].startswith("module")


@pytest.mark.parametrize("name", ["gpt2_style", "bert_style"])
def test_diagnose_with_a_dict_batch_uses_output_loss(name: str) -> None:
    model, batch = (
        (gpt2_style(), lm_batch(0)) if name == "gpt2_style" else (bert_style(), marker_batch(0))
    )
    before = [p.detach().clone() for p in model.parameters()]
    report = gradlab.diagnose(model, batch)
    assert report.steps == 1
    assert "non_finite" not in report.kinds()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert all(p.grad is None for p in model.parameters())


def test_diagnose_with_a_loss_fn_and_a_dict_batch_passes_the_batch() -> None:
    model, batch = gpt2_style(), lm_batch(0)
    seen = []

    def loss_fn(output: object, given: dict) -> torch.Tensor:
        seen.append(given)
        return token_cross_entropy(output.logits[:, :-1], given["labels"][:, 1:])

    gradlab.diagnose(model, batch, loss_fn)
    assert seen == [batch]


def test_diagnose_without_labels_says_what_to_pass() -> None:
    model, batch = gpt2_style(), lm_batch(0)
    with pytest.raises(ValueError, match=r"model must return its loss.*labels"):
        gradlab.diagnose(model, {"input_ids": batch["input_ids"]})


def test_model_loss_reads_attribute_key_or_scalar() -> None:
    loss = torch.tensor(1.5)
    assert model_loss(type("Out", (), {"loss": loss})()) is loss
    assert model_loss({"loss": loss, "logits": torch.zeros(2)}) is loss
    assert model_loss(loss) is loss
    with pytest.raises(ValueError, match="returned Tensor"):
        model_loss(torch.zeros(3))


def test_a_tuple_batch_without_loss_fn_is_unpacked_into_the_model() -> None:
    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = gpt2_style()

        def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> object:
            return self.inner(input_ids=input_ids, labels=labels)

    batch = lm_batch(0)
    report = gradlab.diagnose(Wrapper(), (batch["input_ids"], batch["labels"]))
    assert report.steps == 1


def test_a_nan_in_a_keyword_input_is_blamed_on_the_input() -> None:
    class Embeds(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 2)

        def forward(self, *, inputs_embeds: torch.Tensor, labels: torch.Tensor) -> dict:
            logits = self.proj(inputs_embeds)
            return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}

    x = torch.ones(3, 4)
    x[1, 2] = float("nan")
    model = Embeds()
    with GradientMonitor(model) as monitor:
        model(inputs_embeds=x, labels=torch.tensor([0, 1, 0]))["loss"].backward()
    assert monitor.non_finite is not None and monitor.non_finite.quantity == "input"
