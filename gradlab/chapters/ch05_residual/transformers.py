"""Pre-norm vs post-norm: torch's own nn.TransformerEncoderLayer stacked deep, at init and training.

Used in notebooks/05_residual, section 7. Post-norm (the 2017 Transformer, norm_first=False)
computes x ← LayerNorm(x + sublayer(x)): the LayerNorm sits on the residual path, after the
addition. Pre-norm (norm_first=True) computes x ← x + sublayer(LayerNorm(x)): the residual path
is a clean identity, and a final LayerNorm comes before the head.

The synthetic task is generated here: sequences of SEQUENCE_LENGTH tokens from VOCABULARY; the
target at every position is the token one position earlier (cyclically), so the model must use
attention and the positions. Chance level is ln(VOCABULARY).

Models are built without torch's global RNG: the layers are made with skip_init and every
parameter is drawn from a seeded generator the way torch's own reset_parameters draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

VOCABULARY = 8
SEQUENCE_LENGTH = 8
D_MODEL = 16
HEADS = 2
FEEDFORWARD = 32
DEPTH = 12
CHANCE_LOSS = math.log(VOCABULARY)


class TransformerStack(nn.Module):
    """Embedding + positions → `depth` nn.TransformerEncoderLayer(norm_first=…) → head."""

    def __init__(self, norm_first: bool, depth: int = DEPTH, seed: int = 0) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.embed = skip_init(nn.Embedding, VOCABULARY, D_MODEL)
        self.positions = nn.Parameter(torch.empty(SEQUENCE_LENGTH, D_MODEL))
        self.layers = nn.ModuleList(
            skip_init(
                nn.TransformerEncoderLayer,
                D_MODEL,
                HEADS,
                FEEDFORWARD,
                dropout=0.0,
                batch_first=True,
                norm_first=norm_first,
            )
            for _ in range(depth)
        )
        # pre-norm stacks end with a LayerNorm before the head (as nn.TransformerEncoder's norm)
        self.final_norm = nn.LayerNorm(D_MODEL) if norm_first else nn.Identity()
        self.head = skip_init(nn.Linear, D_MODEL, VOCABULARY)
        self._reset(torch.Generator().manual_seed(seed))

    @torch.no_grad()
    def _reset(self, generator: torch.Generator) -> None:
        """torch's default init, drawn from `generator` (see the module docstring)."""
        self.embed.weight.normal_(0.0, 1.0, generator=generator)
        self.positions.normal_(0.0, 1.0, generator=generator)
        # MultiheadAttention's out_proj is a Linear that MultiheadAttention initialises itself
        attention_outputs = {
            id(module.out_proj)
            for module in self.modules()
            if isinstance(module, nn.MultiheadAttention)
        }
        for module in self.modules():
            if isinstance(module, nn.MultiheadAttention):
                nn.init.xavier_uniform_(module.in_proj_weight, generator=generator)
                module.in_proj_bias.zero_()
                nn.init.kaiming_uniform_(
                    module.out_proj.weight, a=math.sqrt(5), generator=generator
                )
                module.out_proj.bias.zero_()
            elif isinstance(module, nn.Linear) and id(module) not in attention_outputs:
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                bound = 1 / math.sqrt(module.weight.shape[1])
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
            elif isinstance(module, nn.LayerNorm):
                module.reset_parameters()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens) + self.positions
        for layer in self.layers:
            h = layer(h)
        return self.head(self.final_norm(h))


def make_task(
    generator: torch.Generator, batch_size: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of random token sequences and, at every position, the previous token as target."""
    tokens = torch.randint(0, VOCABULARY, (batch_size, SEQUENCE_LENGTH), generator=generator)
    return tokens, tokens.roll(1, dims=1)


def sequence_loss(model: nn.Module, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over every position."""
    return F.cross_entropy(model(tokens).reshape(-1, VOCABULARY), targets.reshape(-1))


def layer_gradient_norms(norm_first: bool, depth: int = DEPTH, seed: int = 0) -> np.ndarray:
    """‖∂L/∂θ‖ of each layer's parameters (all of them together) at init, first layer first."""
    model = TransformerStack(norm_first, depth, seed)
    tokens, targets = make_task(torch.Generator().manual_seed(seed), batch_size=64)
    layers = [list(layer.parameters()) for layer in model.layers]
    grads = torch.autograd.grad(
        sequence_loss(model, tokens, targets), [p for group in layers for p in group]
    )
    flat = iter(grads)
    return np.array(
        [math.sqrt(sum(float(next(flat).norm()) ** 2 for _ in group)) for group in layers]
    )


@dataclass(frozen=True)
class TransformerRun:
    """One Adam run without warmup on the shifted-token task."""

    norm_first: bool
    losses: np.ndarray  # one per step

    @property
    def label(self) -> str:
        return "pre-norm" if self.norm_first else "post-norm"

    @property
    def final_loss(self) -> float:
        """Mean loss of the last 10 steps."""
        return float(self.losses[-10:].mean())


def train_transformer(
    norm_first: bool, *, depth: int = DEPTH, steps: int = 80, lr: float = 1e-2, seed: int = 0
) -> TransformerRun:
    """Adam at a constant lr from step 0 (no warmup), a fresh batch per step (seeded)."""
    model = TransformerStack(norm_first, depth, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        tokens, targets = make_task(generator)
        loss = sequence_loss(model, tokens, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return TransformerRun(norm_first, np.array(losses))
