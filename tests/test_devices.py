"""The library on any device: nothing reaches numpy (or float64) without passing through .cpu().

A CUDA tensor has no numpy view and Apple's MPS has no float64, so `x.double().numpy()` on a
device tensor raises inside the learner's training loop. No GPU here: every library source file
is read, and each `.numpy()`, `.double()` or `.to(torch.float64)` must have a `.cpu()` earlier
in the same expression (gradlab.measure.host is the one place that does it for everyone). Where a
CUDA device exists, the monitor and diagnose also run on it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from helpers import ROOT
from torch import nn

import gradlab
from gradlab.measure.host import norms, to_numpy

LIBRARY = ["measure", "monitor", "diagnosis", "models", "training", "theory.py", "formatting.py"]
HOST_MODULE = ROOT / "gradlab" / "measure" / "host.py"


def library_files() -> list[Path]:
    files: list[Path] = []
    for part in LIBRARY:
        path = ROOT / "gradlab" / part
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [f for f in files if f != HOST_MODULE]


def _to_float64(call: ast.Call) -> bool:
    """`.double()` or `.to(torch.float64)` / `.to(dtype=torch.float64)`."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr == "double":
        return True
    if func.attr != "to":
        return False
    args = list(call.args) + [k.value for k in call.keywords if k.arg == "dtype"]
    return any(ast.unparse(a) in ("torch.float64", "torch.double") for a in args)


def _has_cpu_before(node: ast.AST) -> bool:
    """Whether the receiver chain of an attribute call contains a `.cpu()` call."""
    while isinstance(node, (ast.Call, ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "cpu":
                return True
            node = func
        else:
            node = node.value
    return False


def unsafe_host_transfers(source: str) -> list[str]:
    """The `.numpy()` / float64 conversions in `source` without a `.cpu()` before them."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if (node.func.attr == "numpy" or _to_float64(node)) and not _has_cpu_before(
            node.func.value
        ):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_checker_catches_what_it_should() -> None:
    bad = "a = x.double().numpy()\nb = w.detach().to(torch.float64)\nc = g.numpy()\n"
    good = (
        "a = x.cpu().double().numpy()\nb = w.detach().cpu().to(torch.float64)\n"
        "c = g.cpu().numpy()\n"
    )
    found = unsafe_host_transfers(bad)
    assert len(found) == 4  # line 1 twice: .double() and .numpy() both before any .cpu()
    assert {line.split(":")[0] for line in found} == {"line 1", "line 2", "line 3"}
    assert unsafe_host_transfers(good) == []


@pytest.mark.parametrize("path", library_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_library_code_converts_a_device_tensor_without_cpu(path: Path) -> None:
    assert unsafe_host_transfers(path.read_text()) == [], (
        f"{path.relative_to(ROOT)}: convert through gradlab.measure.host (to_numpy, norms) or "
        "call .cpu() first"
    )


def test_host_helpers_give_float64_from_low_precision() -> None:
    big = torch.full((10_000,), 100.0, dtype=torch.float16)  # norm 1e4, squares overflow fp16
    assert norms([big, torch.ones(4, dtype=torch.bfloat16)]).tolist() == pytest.approx([1e4, 2.0])
    assert to_numpy(torch.tensor([1.5], dtype=torch.bfloat16)).dtype.name == "float64"


def _train_on(device: torch.device) -> gradlab.Report:
    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradlab.GradientMonitor(model) as monitor:
        for _ in range(40):  # more than one batch of stored steps (16)
            x = torch.randn(32, 8, generator=generator).to(device)
            y = torch.randint(0, 3, (32,), generator=generator).to(device)
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    assert len(monitor.history) == 40
    report = gradlab.diagnose(model, (x, y), nn.CrossEntropyLoss(), lr=0.1)
    assert report.steps == 1
    return monitor.report()


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="NO CUDA GPU ON THIS MACHINE: the CUDA run of GradientMonitor/diagnose is skipped "
    "(the static check above covers every host transfer)",
)
def test_monitor_and_diagnose_on_cuda() -> None:
    _train_on(torch.device("cuda"))


@pytest.mark.skipif(
    not torch.backends.mps.is_available(), reason="NO APPLE MPS DEVICE ON THIS MACHINE"
)
def test_monitor_and_diagnose_on_mps() -> None:
    _train_on(torch.device("mps"))


def test_the_same_run_on_cpu() -> None:
    assert _train_on(torch.device("cpu")).steps == 40
