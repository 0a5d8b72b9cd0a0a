"""Output-gradient norms and activation statistics against autograd on a CNN, an LSTM, a transformer.

test_monitor.py checks them on MLPs only. Here each model's forward is written out by hand on a
copy of it, every layer's output kept with retain_grad(): the oracle. Exact with
activation_sample=None; with the default sample (the first 65,536 elements of a larger output,
i.e. its first examples) within the tolerances stated in SAMPLED_TOLERANCE.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from gradlab import GradientMonitor

pytestmark = pytest.mark.usefixtures("one_thread")

DEFAULT_SAMPLE = 1 << 16  # GradientMonitor's activation_sample default


def make_cnn() -> nn.Sequential:
    """Conv-BN-ReLU-pool-linear; the conv and BN outputs (32x8x28x28) exceed the default sample."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 14 * 14, 10),
    )


def cnn_by_hand(model: nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, dict, dict]:
    conv = model[0](x)
    bn = model[1](conv)
    relu = torch.relu(bn)  # not in place: the oracle keeps bn
    out = model[5](model[4](model[3](relu)))
    return out, {"0": conv, "1": bn, "5": out}, {"1": relu}


def cnn_data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(32, 3, 28, 28, generator=generator)
    return x, torch.randint(0, 10, (32,), generator=generator)


def cnn_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(out, y)


class LSTMLanguageModel(nn.Module):
    """Embedding, 2-layer LSTM (tuple output), linear head on every position."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(30, 16)
        self.lstm = nn.LSTM(16, 32, num_layers=2, batch_first=True)
        self.head = nn.Linear(32, 30)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embedding(tokens))
        return self.head(out)


def lstm_by_hand(model: LSTMLanguageModel, tokens: torch.Tensor) -> tuple[torch.Tensor, dict, dict]:
    embedded = model.embedding(tokens)
    hidden, _ = model.lstm(embedded)
    out = model.head(hidden)
    return out, {"embedding": embedded, "lstm": hidden, "head": out}, {}


def lstm_data() -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.randint(0, 30, (64, 40), generator=torch.Generator().manual_seed(1))
    return tokens, tokens.roll(-1, 1)


def lstm_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(out.flatten(0, 1), y.flatten())


class TransformerClassifier(nn.Module):
    """Input projection, one post-norm nn.TransformerEncoderLayer (batch_first, ReLU module),
    mean pool, linear head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Linear(16, 32)
        self.encoder = nn.TransformerEncoderLayer(
            32, 4, dim_feedforward=64, dropout=0.0, activation=nn.ReLU(), batch_first=True
        )
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x)).mean(1))


def transformer_by_hand(
    model: TransformerClassifier, x: torch.Tensor
) -> tuple[torch.Tensor, dict, dict]:
    layer = model.encoder
    h = model.embed(x)
    attention = layer.self_attn(h, h, h, need_weights=False)[0]
    norm1 = layer.norm1(h + attention)
    linear1 = layer.linear1(norm1)
    relu = torch.relu(linear1)
    linear2 = layer.linear2(relu)
    norm2 = layer.norm2(norm1 + linear2)
    out = model.head(norm2.mean(1))
    outputs = {
        "embed": h,
        "encoder.self_attn": attention,
        "encoder.norm1": norm1,
        "encoder.linear1": linear1,
        "encoder.linear2": linear2,
        "encoder.norm2": norm2,
        "head": out,
    }
    return out, outputs, {"encoder.linear1": relu}


def transformer_data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(64, 20, 16, generator=generator), torch.randint(
        0, 10, (64,), generator=generator
    )


CASES: dict[str, tuple[Callable, Callable, Callable, Callable]] = {
    "cnn": (make_cnn, cnn_by_hand, cnn_data, cnn_loss),
    "lstm": (LSTMLanguageModel, lstm_by_hand, lstm_data, lstm_loss),
    "transformer": (TransformerClassifier, transformer_by_hand, transformer_data, cnn_loss),
}


def oracle(name: str):
    """The model, and per layer its output, the output's gradient and its ReLU'd output."""
    make, by_hand, data, loss_fn = CASES[name]
    model = make()
    reference = copy.deepcopy(model)
    x, y = data()
    out, outputs, relus = by_hand(reference, x)
    for tensor in outputs.values():
        tensor.retain_grad()
    loss_fn(out, y).backward()
    return model, (x, y), outputs, relus


def record(model: nn.Module, data, loss_fn, **kwargs) -> tuple[GradientMonitor, dict]:
    with GradientMonitor(model, updates=False, **kwargs) as monitor:
        loss_fn(model(data[0]), data[1]).backward()
    return monitor, monitor.to_numpy()


@pytest.mark.parametrize("name", list(CASES))
def test_output_gradients_and_activation_stats_match_autograd(name: str) -> None:
    model, data, outputs, relus = oracle(name)
    monitor, row = record(model, data, CASES[name][3], activation_sample=None)
    assert set(outputs) <= set(monitor.layers), monitor.layers
    for layer, tensor in outputs.items():
        i = monitor.layers.index(layer)
        values = tensor.detach().double()
        assert row["called"][0, i] == 1, layer
        assert row["output_grad_norm"][0, i] == pytest.approx(tensor.grad.norm().item(), rel=1e-5)
        assert row["output_grad_rms"][0, i] == pytest.approx(
            tensor.grad.square().mean().sqrt().item(), rel=1e-5
        ), layer
        std = values.std(correction=0).item()
        assert row["activation_mean"][0, i] == pytest.approx(values.mean().item(), abs=1e-5 * std)
        assert row["activation_std"][0, i] == pytest.approx(std, rel=1e-4), layer
    for layer, relu in relus.items():
        dead = (relu <= 0).double().mean().item()
        assert 0.2 < dead < 0.8, (layer, dead)  # a fraction that can be wrong either way
        assert row["fraction_dead"][0, monitor.layers.index(layer)] == pytest.approx(dead, abs=1e-9)
    others = [i for i, layer in enumerate(monitor.layers) if layer not in relus]
    assert np.isnan(row["fraction_dead"][0, others]).all()  # no ReLU module after them


# The default sample is the first 65,536 elements of a contiguous output, i.e. the first examples
# of a batch (a non-contiguous one, like a batch_first LSTM's, is read whole). Measured on these
# models: mean off by at most 0.006 std, std by 0.4 %, the dead fraction by 0.002; the tolerances
# are five times that.
SAMPLED_TOLERANCE = {"mean_in_stds": 0.03, "std_relative": 0.02, "dead_absolute": 0.01}


@pytest.mark.parametrize("name", list(CASES))
def test_sampled_activation_stats_are_close_to_the_exact_ones(name: str) -> None:
    model, data, outputs, relus = oracle(name)
    sampled_layers = [layer for layer, t in outputs.items() if t.numel() > DEFAULT_SAMPLE]
    assert sampled_layers, "no output is larger than the sample: nothing would be estimated"
    monitor, row = record(model, data, CASES[name][3])
    for layer in sampled_layers:
        i = monitor.layers.index(layer)
        values = outputs[layer].detach().double()
        std = values.std(correction=0).item()
        assert abs(row["activation_mean"][0, i] - values.mean().item()) < (
            SAMPLED_TOLERANCE["mean_in_stds"] * std
        ), layer
        assert row["activation_std"][0, i] == pytest.approx(
            std, rel=SAMPLED_TOLERANCE["std_relative"]
        ), layer
        # and it is an estimate: the first 65,536 elements alone, not the whole output
        head = values.reshape(-1)[:DEFAULT_SAMPLE] if outputs[layer].is_contiguous() else values
        assert row["activation_std"][0, i] == pytest.approx(head.std(correction=0).item(), rel=1e-4)
    for layer, relu in relus.items():
        if relu.numel() > DEFAULT_SAMPLE:
            dead = (relu <= 0).double().mean().item()
            measured = row["fraction_dead"][0, monitor.layers.index(layer)]
            assert abs(measured - dead) < SAMPLED_TOLERANCE["dead_absolute"], (layer, measured)
    # output gradients are never sampled: exact whatever activation_sample is
    for layer, tensor in outputs.items():
        i = monitor.layers.index(layer)
        assert row["output_grad_norm"][0, i] == pytest.approx(tensor.grad.norm().item(), rel=1e-5)
