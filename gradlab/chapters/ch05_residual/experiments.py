"""Chapter 5's measurements beyond section 1: the identity path's limits, pre- vs post-activation,
zero-init branches, skip-path bugs, dense connections, and plain vs residual training on digits.

Used in notebooks/05_residual. Every function builds seeded models, runs real forward and backward
passes and returns plain numbers; the notebook prints them and the tests assert them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

from gradlab.measure.hooks import HookHandles
from gradlab.measure.probe import make_batch, probe_gradients
from gradlab.models.mlp import activation_module, init_std
from gradlab.models.residual import ResidualMLP, make_residual_mlp
from gradlab.training.data import Split
from gradlab.training.loop import TrainingRecord, train_classifier


def first_block_gradient(model: nn.Module, x: torch.Tensor, seed: int = 0) -> float:
    """‖∂L/∂(first block's input)‖ / ‖∂L/∂(last block's output)‖ from one backward pass."""
    probe = probe_gradients(model, x, seed=seed)
    return float(probe.grad_norms[0] / probe.grad_norms[-1])


def per_block_factors(model: nn.Module, x: torch.Tensor, seed: int = 0) -> np.ndarray:
    """‖∂L/∂(block input)‖ / ‖∂L/∂(block output)‖ for every block, first block first."""
    return probe_gradients(model, x, seed=seed).measured_factors


# --- 1. What the identity path does not guarantee -------------------------------------------


def count_shrinking_blocks(
    depth: int = 20, seeds: tuple[int, ...] = (0, 1, 2, 3, 4), width: int = 64
) -> tuple[int, int, float]:
    """Typical residual nets (He init, pre-activation ReLU): how many blocks shrink the gradient?

    Returns (blocks whose factor is below 1, blocks measured, the smallest factor).
    """
    factors = np.concatenate(
        [
            per_block_factors(
                make_residual_mlp(depth, width, seed=seed), make_batch(width, 64, seed)
            )
            for seed in seeds
        ]
    )
    return int((factors < 1).sum()), int(factors.size), float(factors.min())


# --- 2. Pre- vs post-activation ------------------------------------------------------------------


@dataclass(frozen=True)
class IdentityPath:
    """How much of the identity path a block order leaves open (one forward + backward pass)."""

    order: str
    open_per_block: float  # mean fraction of (example, unit) entries whose skip passes a block
    open_end_to_end: float  # fraction open through every block from the first to the last
    first_block_gradient: float  # ‖∂L/∂(block 1 input)‖ / ‖∂L/∂(last output)‖


def measure_identity_path(
    order: str, depth: int = 20, *, branch_init: str = "scaled", width: int = 64, seed: int = 0
) -> IdentityPath:
    """Pre-activation keeps every skip entry open; a ReLU after the addition closes some of them.

    With order="post" the block is y = relu(x + F(x)): where x + F(x) < 0 that unit's identity
    path is cut (its gradient is 0 on both paths). With order="pre" nothing sits on the skip path.
    """
    model = make_residual_mlp(depth, width, order=order, branch_init=branch_init, seed=seed)
    x = make_batch(width, 64, seed)
    open_masks = []
    if order == "post":
        with HookHandles() as handles, torch.no_grad():
            for block in model.blocks:
                handles.append(
                    block.activation2.register_forward_pre_hook(
                        lambda module, args: open_masks.append(args[0] > 0)
                    )
                )
            model(x)
        stacked = torch.stack(open_masks)
        per_block = float(stacked.float().mean())
        end_to_end = float(stacked.all(dim=0).float().mean())
    else:
        per_block, end_to_end = 1.0, 1.0
    return IdentityPath(order, per_block, end_to_end, first_block_gradient(model, x, seed))


# --- 3. Zero-init branches -----------------------------------------------------------------------


@dataclass(frozen=True)
class ZeroInitStart:
    """A residual net whose branches' last layers start at zero, at its first step."""

    blocks_output_change: float  # max |blocks(h) − h| over the batch: 0 means the identity
    first_block_gradient: float  # exactly 1: nothing but the identity between block 1 and the top
    first_layer_grad_norm: float  # ‖∂L/∂W1‖ summed over the blocks: 0 at the first step
    last_layer_grad_norm: float  # ‖∂L/∂W2‖ summed over the blocks: not 0, they learn first


def measure_zero_init_start(depth: int = 20, width: int = 64, seed: int = 0) -> ZeroInitStart:
    """One forward and backward pass through a zero-init residual net (pre-activation ReLU)."""
    model = make_residual_mlp(depth, width, branch_init="zero", seed=seed)
    x = make_batch(width, 64, seed)
    with torch.no_grad():
        h = model.stem(x)
        out = h
        for block in model.blocks:
            out = block(out)
        change = float((out - h).abs().max())
    y = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(seed))
    loss = F.cross_entropy(model(x), y)
    first = [block.linear1.weight for block in model.blocks]
    last = [block.linear2.weight for block in model.blocks]
    grads = torch.autograd.grad(loss, first + last)
    norm = lambda tensors: float(torch.linalg.vector_norm(torch.stack([g.norm() for g in tensors])))  # noqa: E731
    return ZeroInitStart(
        change, first_block_gradient(model, x, seed), norm(grads[:depth]), norm(grads[depth:])
    )


# --- 4. Skip-path bugs ---------------------------------------------------------------------------

SHORTCUT_CASES: tuple[tuple[str, str], ...] = (
    ("identity", "clean identity skip"),
    ("relu", "a ReLU on the skip path"),
    ("batch_norm", "a BatchNorm on the skip path"),
    ("layer_norm", "a LayerNorm on the skip path"),
    ("linear", "a Linear projection on every skip"),
    ("none", "no skip (plain)"),
)


def compare_shortcuts(
    depth: int = 20, seeds: tuple[int, ...] = (0, 1, 2), width: int = 64, weight_scale: float = 0.7
) -> dict[str, np.ndarray]:
    """The gradient reaching block 1 (relative to the last block's output) per shortcut and seed.

    Pre-activation ReLU blocks, He init × weight_scale, branch_init "scaled": healthy with the
    identity skip, so any change comes from what sits on the skip path.
    """
    return {
        shortcut: np.array(
            [
                first_block_gradient(
                    make_residual_mlp(
                        depth,
                        width,
                        weight_scale=weight_scale,
                        shortcut=shortcut,
                        branch_init="scaled",
                        seed=seed,
                    ),
                    make_batch(width, 64, seed),
                    seed,
                )
                for seed in seeds
            ]
        )
        for shortcut, _ in SHORTCUT_CASES
    }


# --- 5. Dense connections ------------------------------------------------------------------------


class DenseLayerBlock(nn.Module):
    """One dense block: layer i gets the concatenation of the block's input and layers 0..i-1."""

    def __init__(self, in_features: int, growth: int, layers: int, activation: str) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        for i in range(layers):
            layer = nn.Module()
            layer.linear = skip_init(nn.Linear, in_features + i * growth, growth)
            layer.activation = activation_module(activation)
            self.layers.append(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer.activation(layer.linear(torch.cat(features, dim=1))))
        return torch.cat(features, dim=1)


class DenseMLP(nn.Module):
    """stem → dense block → transition (Linear back to `width`) → dense block → … → head.

    As in DenseNet (Huang et al. 2017), connections are dense only *within* a block; a transition
    layer compresses the features between blocks, so block 2 sees block 1 only through it.
    """

    def __init__(
        self,
        blocks: int,
        layers_per_block: int,
        *,
        width: int = 64,
        growth: int = 16,
        activation: str = "relu",
        weight_scale: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.stem = skip_init(nn.Linear, width, width)
        self.blocks = nn.ModuleList()
        self.transitions = nn.ModuleList()
        for index in range(blocks):
            self.blocks.append(DenseLayerBlock(width, growth, layers_per_block, activation))
            if index < blocks - 1:
                self.transitions.append(
                    skip_init(nn.Linear, width + layers_per_block * growth, width)
                )
        self.head = skip_init(nn.Linear, width + layers_per_block * growth, 10)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, module in self.named_modules():
                if isinstance(module, nn.Linear):
                    fan_out, fan_in = module.weight.shape
                    in_block = ".linear" in name
                    std = (
                        init_std("he", fan_in, fan_out, weight_scale)
                        if in_block
                        else 1 / math.sqrt(fan_in)
                    )
                    module.weight.normal_(0.0, std, generator=generator)
                    module.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index < len(self.transitions):
                x = self.transitions[index](x)
        return self.head(x)


def _weight_gradient_ratio(model: nn.Module, first: nn.Linear, last: nn.Linear, seed: int) -> float:
    """‖∂L/∂W of the first layer‖ / ‖∂L/∂W of the last layer‖ from one backward pass."""
    x = make_batch(64, 64, seed)
    y = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(seed))
    grad_first, grad_last = torch.autograd.grad(
        F.cross_entropy(model(x), y), [first.weight, last.weight]
    )
    return float(grad_first.norm() / grad_last.norm())


def compare_dense(
    layers: int = 20,
    *,
    activation: str = "sigmoid",
    weight_scale: float = 1.0,
    seeds: tuple[int, ...] = (0, 1, 2),
) -> dict[str, np.ndarray]:
    """First layer's weight gradient over the last layer's, for plain, residual and dense nets.

    Each has `layers` weight layers: plain and residual `layers // 2` two-layer blocks (pre-
    activation, He init × weight_scale, standard branch init), dense two dense blocks of
    `layers // 2` layers (growth 16) with one transition between them.
    """
    results: dict[str, list[float]] = {"plain": [], "residual": [], "dense": []}
    for seed in seeds:
        for name, shortcut in (("plain", "none"), ("residual", "identity")):
            model: nn.Module = make_residual_mlp(
                layers // 2, 64, activation, weight_scale=weight_scale, shortcut=shortcut, seed=seed
            )
            assert isinstance(model, ResidualMLP)
            results[name].append(
                _weight_gradient_ratio(
                    model, model.blocks[0].linear1, model.blocks[-1].linear2, seed
                )
            )
        dense = DenseMLP(
            2, layers // 2, activation=activation, weight_scale=weight_scale, seed=seed
        )
        results["dense"].append(
            _weight_gradient_ratio(
                dense, dense.blocks[0].layers[0].linear, dense.blocks[-1].layers[-1].linear, seed
            )
        )
    return {name: np.array(values) for name, values in results.items()}


# --- 6. Training on digits -----------------------------------------------------------------------

TRAINING_NETWORKS: tuple[tuple[str, dict], ...] = (
    ("plain", {"shortcut": "none"}),
    ("residual, scaled branches", {"shortcut": "identity", "branch_init": "scaled"}),
    ("residual, standard branches", {"shortcut": "identity", "branch_init": "standard"}),
)
TRAINING_DEPTH = 20  # blocks: 40 linear layers between the stem and the head


def train_plain_and_residual(
    data: Split,
    seeds: tuple[int, ...] = (0, 1),
    *,
    steps: int = 200,
    lr: float = 0.1,
    depth: int = TRAINING_DEPTH,
) -> dict[str, list[TrainingRecord]]:
    """Train each network of TRAINING_NETWORKS (ReLU, Xavier init, SGD) once per seed."""
    records: dict[str, list[TrainingRecord]] = {}
    for name, options in TRAINING_NETWORKS:
        records[name] = [
            train_classifier(
                make_residual_mlp(
                    depth, 64, "relu", "xavier", in_features=data.in_features, seed=seed, **options
                ),
                data,
                steps=steps,
                lr=lr,
                seed=seed,
                stop_at_nonfinite=True,
            )
            for seed in seeds
        ]
    return records
