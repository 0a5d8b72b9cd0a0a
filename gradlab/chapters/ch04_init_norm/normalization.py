"""BatchNorm and LayerNorm, measured (Chapter 4, section 4).

What each normalizes over, BatchNorm's train vs eval modes, how one example's BatchNorm output
depends on the rest of its batch (batch 2 vs 64), and a deep sigmoid network on digits with and
without BatchNorm: its per-layer weight-gradient norms at the start and its loss after training.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

from gradlab.measure.signal import SignalProfile, measure_signal
from gradlab.training.data import Split
from gradlab.training.loop import accuracy


def make_features(data: Split, width: int = 32, seed: int = 0) -> torch.Tensor:
    """The digits' training images through one fixed random linear layer: (n, width) features
    whose means and stds differ from feature to feature (what a BatchNorm layer sees)."""
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(data.in_features, width, generator=generator) / math.sqrt(data.in_features)
    return data.x_train @ weight + 1.0


@dataclass(frozen=True)
class BatchDependence:
    """How much one example's normalized output moves when the rest of its batch changes."""

    batch_size: int
    batchnorm_spread: float  # mean over features of the std (over batches) of example 0's output
    layernorm_spread: float  # the same for LayerNorm (0: it never looks at the other examples)
    batchnorm_abs_one: float  # fraction of example 0's BatchNorm outputs within 1e-2 of ±1


def measure_batch_dependence(
    features: torch.Tensor, batch_size: int, batches: int = 50, seed: int = 0
) -> BatchDependence:
    """Put example 0 in `batches` random batches of `batch_size` (train mode) and compare its
    output across them, for nn.BatchNorm1d and nn.LayerNorm (no learned scale: affine off)."""
    width = features.shape[1]
    batchnorm = nn.BatchNorm1d(width, affine=False)
    layernorm = nn.LayerNorm(width, elementwise_affine=False)
    generator = torch.Generator().manual_seed(seed)
    bn_rows, ln_rows = [], []
    with torch.no_grad():
        for _ in range(batches):
            others = torch.randint(1, len(features), (batch_size - 1,), generator=generator)
            batch = torch.cat([features[:1], features[others]])
            bn_rows.append(batchnorm(batch)[0])
            ln_rows.append(layernorm(batch)[0])
    bn, ln = torch.stack(bn_rows).double(), torch.stack(ln_rows).double()
    return BatchDependence(
        batch_size=batch_size,
        batchnorm_spread=float(bn.std(dim=0).mean()),
        layernorm_spread=float(ln.std(dim=0).mean()),
        batchnorm_abs_one=float(((bn.abs() - 1).abs() < 1e-2).double().mean()),
    )


@dataclass(frozen=True)
class TrainEval:
    """BatchNorm1d on one batch: in train mode (batch statistics) and in eval mode (running ones)."""

    train_mean: float  # largest |mean| over features of the train-mode output
    train_std: float  # mean over features of the train-mode output's std
    eval_fresh_max_change: float  # eval mode with fresh running stats (0, 1): max |output − input|
    eval_after_mean_gap: float  # eval mode after `steps` train-mode batches: mean |eval − train|
    steps: int


def measure_train_eval(features: torch.Tensor, steps: int = 200, seed: int = 0) -> TrainEval:
    """Train-mode vs eval-mode BatchNorm1d (affine off) on a batch of 64 features."""
    generator = torch.Generator().manual_seed(seed)
    batch = features[torch.randint(0, len(features), (64,), generator=generator)]
    batchnorm = nn.BatchNorm1d(features.shape[1], affine=False)
    with torch.no_grad():
        batchnorm.eval()
        fresh = batchnorm(batch)
        batchnorm.train()
        train_out = batchnorm(batch)
        for _ in range(steps - 1):  # running statistics: an average over many batches
            batchnorm(features[torch.randint(0, len(features), (64,), generator=generator)])
        batchnorm.eval()
        eval_out = batchnorm(batch)
    return TrainEval(
        train_mean=float(train_out.mean(dim=0).abs().max()),
        train_std=float(train_out.std(dim=0, unbiased=False).mean()),
        eval_fresh_max_change=float((fresh - batch).abs().max()),
        eval_after_mean_gap=float((eval_out - train_out).abs().mean()),
        steps=steps,
    )


def make_deep_sigmoid(depth: int, width: int, batchnorm: bool, seed: int = 0) -> nn.Sequential:
    """`depth` blocks (blocks.l.linear, [blocks.l.norm: BatchNorm1d], blocks.l.act: sigmoid) and a
    head, for 64-pixel digits; Xavier-normal weights from a seeded generator, zero biases."""
    generator = torch.Generator().manual_seed(seed)
    blocks, fan_in = OrderedDict(), 64
    for layer in range(1, depth + 1):
        parts = OrderedDict(linear=skip_init(nn.Linear, fan_in, width))
        if batchnorm:
            parts["norm"] = nn.BatchNorm1d(width)
        parts["act"] = nn.Sigmoid()
        blocks[str(layer)] = nn.Sequential(parts)
        fan_in = width
    model = nn.Sequential(
        OrderedDict(blocks=nn.Sequential(blocks), head=skip_init(nn.Linear, width, 10))
    )
    with torch.no_grad():
        for linear in (m for m in model.modules() if isinstance(m, nn.Linear)):
            nn.init.xavier_normal_(linear.weight, generator=generator)
            linear.bias.zero_()
    return model


@dataclass(frozen=True)
class NormalizedRun:
    """A deep sigmoid net on digits: gradients at the start, then a short SGD run."""

    batchnorm: bool
    start: SignalProfile  # per blocks.l.linear: weight_grad_norm at step 0 (cross-entropy)
    losses: np.ndarray  # training loss per step
    test_accuracy: float  # after training, in eval mode

    @property
    def first_to_last(self) -> float:
        """Weight-gradient norm of the first linear layer over that of the last, at the start."""
        norms = self.start.weight_grad_norm
        return float(norms[0] / norms[-1])


def train_deep_sigmoid(
    data: Split,
    *,
    batchnorm: bool,
    depth: int = 20,
    width: int = 64,
    steps: int = 200,
    lr: float = 0.1,
    seed: int = 0,
) -> NormalizedRun:
    """Measure the start's per-layer gradients, then train with SGD on batches of 64."""
    model = make_deep_sigmoid(depth, width, batchnorm, seed)
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(0, len(data.x_train), (64,), generator=generator)
    linears = {
        f"blocks.{layer}.linear": model.blocks[layer - 1].linear for layer in range(1, depth + 1)
    }
    start = measure_signal(
        model,
        data.x_train[index],
        modules=linears,
        loss_fn=lambda output: F.cross_entropy(output, data.y_train[index]),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        index = torch.randint(0, len(data.x_train), (64,), generator=generator)
        loss = F.cross_entropy(model(data.x_train[index]), data.y_train[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return NormalizedRun(
        batchnorm, start, np.array(losses), accuracy(model, data.x_test, data.y_test)
    )
