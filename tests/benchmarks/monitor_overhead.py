"""Overhead of GradientMonitor on a training step, as ratios to the bare step (run by hand).

    .venv/bin/python tests/benchmarks/monitor_overhead.py [--rounds 20] [--steps 20] [--threads 1]
        [--models mlp,cnn,resnet,transformer,lstm]

Models (each bare step roughly 10-60 ms on one thread of a laptop-class CPU):
    mlp          the issue's 20-layer 256-wide ReLU MLP, batch 128
    cnn          a small CNN (3 conv blocks with BatchNorm, max-pooling), batch 64, 3x32x32
    resnet       a ResNet-style CNN: 6 residual BasicBlocks (BatchNorm, ReLU(inplace=True),
                 `out += shortcut`), global average pool, batch 16, 3x32x32
    transformer  nn.TransformerEncoder, 4 layers, d_model 128, 4 heads, batch_first, seq 64, batch 8
    lstm         2-layer nn.LSTM, hidden 256, input 32, seq 50, batch 16, head on the last step

Configurations, timed in interleaved blocks of `--steps` training steps (their order shuffled
every round, all in one process):
    bare                      no monitor
    tutorial monitor          register_full_backward_hook on each layer + .item() (the tutorial's)
    grad norms, every=1       GradientMonitor(activations=False, output_grads=False, updates=False)
    everything, every=1       GradientMonitor() (grad norms, activations, output grads, updates)
    everything, every=10      GradientMonitor(every=10)
Each round gives one paired ratio per configuration (its block time / the bare block time of the
same round), so slow drifts of a shared machine cancel; we print the median ratio and its
interquartile range, and the ratio of the fastest blocks (noise on a shared machine only ever adds
time, so minima estimate the intrinsic cost). Times are process CPU time, with one torch thread
by default (--threads; the header says which), so other processes' load shows up as noise rather
than as our cost. A target counts as met when the median paired ratio is at or below it. A
configuration that cannot run on a model (the tutorial monitor on in-place ops) is printed as such.
Not collected by pytest (the file name does not start with test_).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

import gradlab
from gradlab.monitor.gradient_monitor import GradientMonitor


def make_mlp(depth: int = 20, width: int = 256) -> nn.Module:
    """The issue's 20-layer, 256-wide ReLU MLP with He init."""
    layers: list[nn.Module] = []
    for _ in range(depth - 1):
        layer = nn.Linear(width, width)
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        nn.init.zeros_(layer.bias)
        layers += [layer, nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def make_cnn() -> nn.Module:
    """A small CNN for 3x32x32 images: three conv blocks (with BatchNorm) and a linear head."""
    blocks: list[nn.Module] = []
    channels = [3, 16, 32, 64]
    for c_in, c_out in itertools.pairwise(channels):
        blocks += [
            nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
    return nn.Sequential(*blocks, nn.Flatten(), nn.Linear(64 * 4 * 4, 10))


class BasicBlock(nn.Module):
    """A torchvision-style residual block: two 3x3 convs with BatchNorm, in-place ReLU and add."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu2 = nn.ReLU(inplace=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return self.relu2(out)


def make_resnet(widths: tuple[int, ...] = (16, 32, 64), blocks: int = 2) -> nn.Module:
    """A small ResNet for 3x32x32 images: stem, `blocks` BasicBlocks per width, average pool."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, widths[0], 3, 1, 1, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(inplace=True),
    ]
    c_in = widths[0]
    for stage, width in enumerate(widths):
        for block in range(blocks):
            layers.append(BasicBlock(c_in, width, 2 if block == 0 and stage > 0 else 1))
            c_in = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, 10))


class TransformerClassifier(nn.Module):
    """nn.TransformerEncoder (post-norm, ReLU feed-forward) with a mean-pooled linear head."""

    def __init__(self, d_model: int = 128, heads: int = 4, layers: int = 4) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            d_model, heads, 4 * d_model, dropout=0.0, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x).mean(dim=1))


class LSTMClassifier(nn.Module):
    """A 2-layer nn.LSTM with a linear head on the last time step."""

    def __init__(self, inputs: int = 32, hidden: int = 256, layers: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(inputs, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x)[0][:, -1])


class TutorialMonitor:
    """The tutorial monitor: a full backward hook per layer that syncs with .item() each time."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.history: dict[str, list[float]] = {}
        self.handles: list = []

    def attach(self) -> TutorialMonitor:
        for name, module in self.model.named_modules():
            if any(True for _ in module.parameters(recurse=False)):
                self.history[name] = []
                self.handles.append(module.register_full_backward_hook(self._hook(name)))
        return self

    def _hook(self, name: str) -> Callable:
        def record(module: nn.Module, grad_input: tuple, grad_output: tuple) -> None:
            if grad_output[0] is not None:
                self.history[name].append(grad_output[0].norm().item())

        return record

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []


CONFIGS: dict[str, Callable[[nn.Module], object] | None] = {
    "bare": None,
    "tutorial monitor": TutorialMonitor,
    "grad norms, every=1": lambda m: GradientMonitor(
        m, activations=False, output_grads=False, updates=False
    ),
    "everything, every=1": lambda m: GradientMonitor(m),
    "everything, every=10": lambda m: GradientMonitor(m, every=10),
}
TARGETS = {  # issue 16; the MLP's "everything, every=1" target is stricter: MLP_TARGET
    "grad norms, every=1": 1.03,
    "everything, every=1": 1.15,
    "everything, every=10": 1.02,
}
MLP_TARGET = 1.10


def time_block(model, optimizer, x, y, steps: int, make: Callable | None) -> float:
    """Seconds per training step over `steps` steps, with the configuration's monitor attached."""
    monitor = make(model).attach() if make else None
    loss_fn = nn.CrossEntropyLoss()
    try:
        start = time.process_time()  # CPU time: robust to other processes
        for _ in range(steps):
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
        elapsed = time.process_time() - start
    finally:
        if monitor:
            monitor.detach()
    return elapsed / steps


def benchmark(
    name: str, model: nn.Module, x: torch.Tensor, rounds: int, steps: int, targets: dict
) -> None:
    """Print one table of medians and paired ratios for `model`, against `targets`."""
    y = torch.randint(0, 10, (len(x),), generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    configs, failed = dict(CONFIGS), {}
    for config, make in CONFIGS.items():  # warm-up: allocator, lazy init, first-call overheads
        try:
            time_block(model, optimizer, x, y, 10, make)
        except RuntimeError as error:  # the tutorial monitor on in-place ops
            failed[config] = str(error).split("\n")[0][:60]
            del configs[config]
    times: dict[str, list[float]] = {config: [] for config in configs}
    order = list(configs)
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(order)
        for config in order:
            times[config].append(time_block(model, optimizer, x, y, steps, configs[config]))
    bare = statistics.median(times["bare"])
    print(f"\n{name}: bare step {bare * 1e3:.2f} ms (median of {rounds} blocks of {steps} steps)")
    print(
        f"{'configuration':<22} {'ms/step':>8} {'ratio':>7} {'IQR of ratio':>15} {'min ratio':>9}  target"
    )
    for config in CONFIGS:
        if config in failed:
            print(f"{config:<22} fails: {failed[config]}")
            continue
        paired = sorted(t / b for t, b in zip(times[config], times["bare"], strict=True))
        q1, _, q3 = statistics.quantiles(paired, n=4) if rounds > 1 else [paired[0]] * 3
        median = statistics.median(paired)
        target = ""
        if config in targets:
            target = f"<= {targets[config]:.2f}x " + (
                "met" if median <= targets[config] else "MISSED"
            )
        print(
            f"{config:<22} {statistics.median(times[config]) * 1e3:>8.2f} "
            f"{median:>6.3f}x {q1:>7.3f}-{q3:<7.3f} "
            f"{min(times[config]) / min(times['bare']):>8.3f}x  {target}",
            flush=True,
        )


# name: (description, model builder, input shape); inputs are drawn from one seeded generator.
MODELS: dict[str, tuple[str, Callable[[], nn.Module], tuple[int, ...]]] = {
    "mlp": ("20-layer 256-wide ReLU MLP, batch 128, SGD", make_mlp, (128, 256)),
    "cnn": ("small CNN (3 conv blocks), batch 64, 3x32x32, SGD", make_cnn, (64, 3, 32, 32)),
    "resnet": (
        "ResNet-style CNN (6 BasicBlocks, BatchNorm), batch 16, 3x32x32, SGD",
        make_resnet,
        (16, 3, 32, 32),
    ),
    "transformer": (
        "TransformerEncoder (4 layers, d_model 128), batch 8, seq 64, SGD",
        TransformerClassifier,
        (8, 64, 128),
    ),
    "lstm": ("2-layer LSTM (hidden 256), batch 16, seq 50, SGD", LSTMClassifier, (16, 50, 32)),
}


def main() -> None:
    """Parse arguments and run the chosen models' benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20, help="a multiple of 10")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}"
    )
    args = parser.parse_args()
    if args.steps % 10:
        parser.error(f"--steps must be a multiple of 10 (every=10 blocks), got {args.steps}")
    chosen = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in MODELS]
    if unknown or not chosen:
        parser.error(f"--models takes names from {', '.join(MODELS)}, got {args.models!r}")
    torch.set_num_threads(args.threads)
    # The tutorial monitor's hooks warn on every model whose input does not require grad.
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), gradlab from")
    print(f"{gradlab.__file__}, load average {os.getloadavg()[0]:.2f} at the start")
    for name in chosen:  # each model from the same seeds, whichever others run
        description, build, shape = MODELS[name]
        torch.manual_seed(0)
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
        targets = TARGETS | ({"everything, every=1": MLP_TARGET} if name == "mlp" else {})
        benchmark(description, build(), x, args.rounds, args.steps, targets)


if __name__ == "__main__":
    main()
