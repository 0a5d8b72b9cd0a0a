"""Overhead of GradientMonitor on a training step, as ratios to the bare step (run by hand).

    .venv/bin/python tests/benchmarks/monitor_overhead.py [--rounds 20] [--steps 20] [--threads 1]

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
than as our cost. A target counts as met when the median paired ratio is at or below it. Not collected by pytest (the
file name does not start with test_).
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

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
TARGETS = {
    "grad norms, every=1": 1.03,
    "everything, every=1": 1.15,
    "everything, every=10": 1.02,
}


def time_block(model, optimizer, x, y, steps: int, make: Callable | None) -> float:
    """Seconds per training step over `steps` steps, with the configuration's monitor attached."""
    monitor = make(model).attach() if make else None
    loss_fn = nn.CrossEntropyLoss()
    start = time.process_time()  # CPU time: robust to other processes
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    elapsed = time.process_time() - start
    if monitor:
        monitor.detach()
    return elapsed / steps


def benchmark(name: str, model: nn.Module, x: torch.Tensor, rounds: int, steps: int) -> None:
    """Print one table of medians and paired ratios for `model`."""
    y = torch.randint(0, 10, (len(x),), generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    for make in CONFIGS.values():  # warm-up: allocator, lazy init, first-call overheads
        time_block(model, optimizer, x, y, 10, make)
    times: dict[str, list[float]] = {config: [] for config in CONFIGS}
    order = list(CONFIGS)
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(order)
        for config in order:
            times[config].append(time_block(model, optimizer, x, y, steps, CONFIGS[config]))
    bare = statistics.median(times["bare"])
    print(f"\n{name}: bare step {bare * 1e3:.2f} ms (median of {rounds} blocks of {steps} steps)")
    print(
        f"{'configuration':<22} {'ms/step':>8} {'ratio':>7} {'IQR of ratio':>15} {'min ratio':>9}  target"
    )
    for config in CONFIGS:
        paired = sorted(t / b for t, b in zip(times[config], times["bare"], strict=True))
        q1, _, q3 = statistics.quantiles(paired, n=4) if rounds > 1 else [paired[0]] * 3
        median = statistics.median(paired)
        target = ""
        if config in TARGETS:
            target = f"<= {TARGETS[config]:.2f}x " + (
                "met" if median <= TARGETS[config] else "MISSED"
            )
        print(
            f"{config:<22} {statistics.median(times[config]) * 1e3:>8.2f} "
            f"{median:>6.3f}x {q1:>7.3f}-{q3:<7.3f} "
            f"{min(times[config]) / min(times['bare']):>8.3f}x  {target}"
        )


def main() -> None:
    """Parse arguments and run both benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20, help="a multiple of 10")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default="mlp,cnn")
    args = parser.parse_args()
    if args.steps % 10:
        parser.error(f"--steps must be a multiple of 10 (every=10 blocks), got {args.steps}")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    if "mlp" in args.models:
        x = torch.randn(128, 256, generator=generator)
        benchmark(
            "20-layer 256-wide ReLU MLP, batch 128, SGD", make_mlp(), x, args.rounds, args.steps
        )
    if "cnn" in args.models:
        x = torch.randn(64, 3, 32, 32, generator=generator)
        benchmark(
            "small CNN (3 conv blocks), batch 64, 3x32x32, SGD",
            make_cnn(),
            x,
            args.rounds,
            args.steps,
        )


if __name__ == "__main__":
    main()
