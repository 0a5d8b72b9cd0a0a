"""GradientMonitor under DistributedDataParallel: 2 CPU processes, gloo, torch.multiprocessing.spawn.

Each process computes the loss of its half of a global batch; DDP averages the gradients in
backward, so with a mean loss over equal halves the averaged gradient is the gradient of the
whole global batch. The monitor must record those (not the local ones), name layers without
DDP's `module.` prefix, and record on rank 0 only unless asked.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from gradlab.monitor.gradient_monitor import GradientMonitor

F = nn.functional
WORLD = 2
STEPS = 4

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="torch.distributed with gloo"
)


def make_model() -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3)
        )


def global_batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(step)
    return torch.randn(32, 6, generator=generator), torch.randint(0, 3, (32,), generator=generator)


def train(model: nn.Module, call: nn.Module, rank: int, world: int, **monitor_args: object):
    """The same SGD loop on this rank's slice of every global batch."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with GradientMonitor(call, **monitor_args) as monitor:
        for step in range(STEPS):
            x, y = global_batch(step)
            part = slice(rank * len(x) // world, (rank + 1) * len(x) // world)
            optimizer.zero_grad()
            F.cross_entropy(call(x[part]), y[part]).backward()
            optimizer.step()
    return monitor


def worker(rank: int, port: int, out: str, all_ranks: bool) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        model = make_model()
        ddp = nn.parallel.DistributedDataParallel(model)
        monitor = train(model, ddp, rank, WORLD, all_ranks=all_ranks)
        report = monitor.report()
        torch.save(
            {
                "layers": monitor.layers,
                "params": monitor.params,
                "grad_norm": monitor.history.get("grad_norm"),
                "rows": len(monitor.history),
                "report": str(report),
            },
            Path(out) / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module", autouse=True)
def no_process_left_behind() -> object:
    """mp.spawn starts multiprocessing's resource tracker, which would outlive these tests (and
    fail tests/test_grade.py's check that grading leaves no child process): stop it after them."""
    yield
    from multiprocessing import resource_tracker

    resource_tracker._resource_tracker._stop()
    assert [p for p in psutil.Process().children(recursive=True) if p.status() != "zombie"] == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def single_process() -> GradientMonitor:
    model = make_model()
    return train(model, model, 0, 1)


@pytest.mark.parametrize("all_ranks", [False, True])
def test_ddp_records_the_all_reduced_gradients_on_rank_0(
    tmp_path: Path, single_process: GradientMonitor, all_ranks: bool
) -> None:
    mp.spawn(worker, args=(free_port(), str(tmp_path), all_ranks), nprocs=WORLD, join=True)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=False)
    assert rank0["layers"] == ["0", "2", "4"]  # no 'module.' prefix
    assert rank0["params"] == single_process.params
    assert rank0["rows"] == STEPS
    np.testing.assert_allclose(
        rank0["grad_norm"], single_process.history.get("grad_norm"), rtol=1e-5
    )
    if all_ranks:  # every rank holds the same averaged gradients
        np.testing.assert_allclose(rank1["grad_norm"], rank0["grad_norm"], rtol=1e-6)
    else:
        assert rank1["rows"] == 0
        assert "rank 1: gradlab records on rank 0 only" in rank1["report"]
        assert "rank" not in rank0["report"]


def test_the_local_half_batch_gradient_differs(single_process: GradientMonitor) -> None:
    """Guard: the comparison above could not pass with the un-reduced local gradients."""
    model = make_model()
    local = train(model, model, 0, 2)
    assert not np.allclose(
        local.history.get("grad_norm"), single_process.history.get("grad_norm"), rtol=1e-3
    )


def fsdp_worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        from torch.distributed.fsdp import fully_shard

        model = make_model()
        fully_shard(model)
        try:
            GradientMonitor(model)
            message = "accepted"
        except NotImplementedError as error:
            message = str(error)
        (Path(out) / f"fsdp{rank}.txt").write_text(message)
    finally:
        dist.destroy_process_group()


def test_fsdp_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    mp.spawn(fsdp_worker, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    for rank in range(WORLD):
        message = (tmp_path / f"fsdp{rank}.txt").read_text()
        assert "does not support FSDP" in message and "DistributedDataParallel" in message
