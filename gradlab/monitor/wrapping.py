"""The model behind a wrapper: what a GradientMonitor names and hooks, and what it refuses.

`nn.DataParallel` and `DistributedDataParallel` keep the real model in `.module`; `torch.compile`
returns an OptimizedModule keeping it in `._orig_mod`. Layers are named after the inner model
(`blocks.3.linear`, not `module.blocks.3.linear` or `_orig_mod.blocks.3.linear`), while the
step-counting hooks stay on the wrapper the training loop calls. FSDP shards parameters across
processes, so no process holds a whole gradient: refused with a clear message.
Used by gradlab.monitor.gradient_monitor.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import torch
from torch import nn

FSDP_MESSAGE = (
    "GradientMonitor does not support FSDP (FullyShardedDataParallel / fully_shard) yet: each "
    "process holds only a shard of every parameter and gradient, so per-layer norms would be "
    "wrong. Monitor the model in a single-process or DistributedDataParallel run instead."
)
COMPILED_MESSAGE = (
    "GradientMonitor cannot record activations or output gradients of a torch.compile'd model: "
    "its layers run inside a compiled graph, where per-layer forward hooks either force graph "
    "breaks or never run. Pass activations=False, output_grads=False to record parameter-gradient "
    "norms and update ratios of the compiled model, or pass the uncompiled model "
    "(compiled._orig_mod, and train with it while you diagnose) to record everything."
)


@dataclass(frozen=True)
class Unwrapped:
    """The module whose layers are watched, and how it was wrapped."""

    inner: nn.Module  # layers and parameters are named and hooked here
    compiled: bool  # torch.compile'd: only parameter hooks are reliable
    distributed: bool  # DistributedDataParallel: gradients are all-reduced in backward


@cache
def _fsdp_classes() -> tuple[type, ...]:
    """FSDP's module classes in this torch build (none when torch.distributed is missing)."""
    if not torch.distributed.is_available():
        return ()
    classes: list[type] = []
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel

        classes.append(FullyShardedDataParallel)
    except ImportError:  # pragma: no cover - depends on the torch build
        pass
    try:
        from torch.distributed.fsdp import FSDPModule

        classes.append(FSDPModule)
    except ImportError:  # pragma: no cover - older torch
        pass
    return tuple(classes)


def unwrap(model: nn.Module) -> Unwrapped:
    """Peel DataParallel, DistributedDataParallel and torch.compile wrappers off `model`."""
    compiled = distributed = False
    inner = model
    fsdp = _fsdp_classes()
    while True:
        if fsdp and (isinstance(inner, fsdp) or any(isinstance(m, fsdp) for m in inner.modules())):
            raise NotImplementedError(FSDP_MESSAGE)
        if _is_compiled(inner):
            inner, compiled = inner._orig_mod, True
        elif isinstance(inner, nn.parallel.DistributedDataParallel):
            inner, distributed = inner.module, True
        elif isinstance(inner, nn.DataParallel):
            inner = inner.module
        else:
            return Unwrapped(inner, compiled, distributed)


def process_rank() -> int:
    """This process's rank in torch.distributed, 0 when it is not initialized."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return 0


def _is_compiled(module: nn.Module) -> bool:
    """True for torch.compile's OptimizedModule (checked by name: importing dynamo is slow)."""
    return type(module).__name__ == "OptimizedModule" and hasattr(module, "_orig_mod")
