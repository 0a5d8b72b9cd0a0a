"""The chapter's sequence models: an nn.RNN or nn.LSTM reading the adding problem, a linear head
on the last hidden state. Used in notebooks/06_clipping.

Every weight is drawn from an explicit torch.Generator (skip_init: building the modules never
touches torch's global random state). The default init is PyTorch's own, U(-1/√H, 1/√H) for every
recurrent weight and bias; `recurrent_scale` replaces the RNN's W_hh with s · Q (Q orthogonal, so
every singular value is s, as in Chapter 3), and `forget_bias` sets the LSTM's forget-gate bias.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import skip_init

KINDS: tuple[str, ...] = ("rnn", "lstm")
INPUT_FEATURES = 2  # the adding problem's value and marker channels


class SequenceRegressor(nn.Module):
    """`recurrent` (nn.RNN with tanh, or nn.LSTM; batch_first) and `head`, a Linear on h_T."""

    def __init__(self, kind: str, hidden_size: int) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
        module = nn.RNN if kind == "rnn" else nn.LSTM
        self.kind = kind
        # built on the meta device and then given empty CPU storage: no draw from the global RNG
        # (torch's skip_init cannot tell that nn.RNN accepts `device`); make_model fills them
        recurrent = module(INPUT_FEATURES, hidden_size, batch_first=True, device="meta")
        self.recurrent = recurrent.to_empty(device="cpu")
        self.head = skip_init(nn.Linear, hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, T, 2) → prediction (batch, 1) from the last hidden state."""
        outputs, _ = self.recurrent(x)
        return self.head(outputs[:, -1])


def make_model(
    kind: str,
    *,
    hidden_size: int = 32,
    seed: int = 0,
    recurrent_scale: float | None = None,
    forget_bias: float | None = None,
) -> SequenceRegressor:
    """A seeded SequenceRegressor (see the module docstring for the init)."""
    if recurrent_scale is not None and kind != "rnn":
        raise ValueError(f"recurrent_scale applies to kind='rnn' only; got kind={kind!r}")
    if forget_bias is not None and kind != "lstm":
        raise ValueError(f"forget_bias applies to kind='lstm' only; got kind={kind!r}")
    model = SequenceRegressor(kind, hidden_size)
    generator = torch.Generator().manual_seed(seed)
    bound = 1.0 / math.sqrt(hidden_size)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.uniform_(-bound, bound, generator=generator)
        if recurrent_scale is not None:
            gaussian = torch.randn(hidden_size, hidden_size, generator=generator)
            model.recurrent.weight_hh_l0.copy_(recurrent_scale * torch.linalg.qr(gaussian).Q)
        if forget_bias is not None:
            # nn.LSTM orders its gates (input, forget, cell, output); the two biases add up
            gate = slice(hidden_size, 2 * hidden_size)
            model.recurrent.bias_ih_l0[gate] = forget_bias
            model.recurrent.bias_hh_l0[gate] = 0.0
    return model
