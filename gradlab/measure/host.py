"""Moving measured numbers to the host for numpy, from any device and any float dtype.

Every transfer in the library goes through here: `.cpu()` first (a CUDA or MPS tensor has no
numpy view), then float64 on the host (MPS has no float64, and numpy has no bfloat16).
tests/test_devices.py checks that no other library code calls `.numpy()` on a tensor.
Used by gradlab.monitor, gradlab.diagnosis and gradlab.measure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A float64 numpy copy of `tensor`, wherever it lives and whatever its float dtype."""
    return tensor.detach().cpu().to(torch.float64).numpy()


def norms(tensors: Sequence[torch.Tensor]) -> np.ndarray:
    """The L2 norm of each tensor as float64 on the host, in one transfer per device.

    Norms are taken in float32 or wider, so a float16 tensor's norm above 65504 is not inf.
    """
    if not len(tensors):
        return np.zeros(0)
    by_device: dict[torch.device, list[int]] = {}
    for i, t in enumerate(tensors):
        by_device.setdefault(t.device, []).append(i)
    out = np.empty(len(tensors))
    with torch.no_grad():
        for indices in by_device.values():
            group = [_widened(tensors[i].detach()) for i in indices]
            out[indices] = to_numpy(torch.stack(torch._foreach_norm(group)))
    return out


def _widened(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor in float32 when its float dtype is narrower (float16, bfloat16)."""
    if tensor.is_floating_point() and tensor.element_size() < 4:
        return tensor.float()
    return tensor
