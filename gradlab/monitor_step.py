"""One recorded step of a GradientMonitor: the 0-d tensors collected by hooks, and their row.

Hooks only append device tensors here (no host sync); `to_host` moves them in one transfer and
`StepBuffer.to_row` turns the numbers into per-parameter and per-layer values with numpy.
Used by gradlab.monitor (notebooks/07_monitoring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch
from torch.utils.hooks import RemovableHandle

# Order in which a step's tensors are stacked for the single transfer.
_GROUPS = (
    "act_values",
    "flag_values",
    "grad_out_values",
    "grad_values",
    "data_values",
    "delta_values",
)


@dataclass
class StepBuffer:
    """Device tensors and bookkeeping collected during one recorded step."""

    step: int
    forward_done: bool = False
    callback_queued: bool = False
    backward_done: bool = False
    input_finite: torch.Tensor | None = None
    called: list[int] = field(default_factory=list)  # layer indices in forward order
    act_layers: list[int] = field(default_factory=list)
    act_sizes: list[int] = field(default_factory=list)
    act_values: list[torch.Tensor] = field(default_factory=list)  # (sum, L2 norm) per call
    flag_layers: list[int] = field(default_factory=list)
    flag_sizes: list[int] = field(default_factory=list)
    flag_saturation: list[bool] = field(default_factory=list)
    flag_values: list[torch.Tensor] = field(default_factory=list)  # dead or saturated counts
    grad_out_layers: list[int] = field(default_factory=list)  # in backward order
    grad_out_sizes: list[int] = field(default_factory=list)
    grad_out_values: list[torch.Tensor] = field(default_factory=list)
    grad_params: list[int] = field(default_factory=list)
    grad_values: list[torch.Tensor] = field(default_factory=list)
    update_params: list[int] = field(default_factory=list)
    update_sizes: list[int] = field(default_factory=list)
    data_values: list[torch.Tensor] = field(default_factory=list)
    delta_values: list[torch.Tensor] = field(default_factory=list)
    snapshots: dict[int, tuple[list[int], list[torch.Tensor]]] = field(default_factory=dict)
    tensor_hooks: list[RemovableHandle] = field(default_factory=list)

    def remove_tensor_hooks(self) -> None:
        """Remove hooks left on this step's tensors (e.g. a graph that was never backpropagated)."""
        for handle in self.tensor_hooks:
            handle.remove()
        self.tensor_hooks = []
        self.snapshots = {}

    def all_values(self) -> list[torch.Tensor]:
        """Every 0-d tensor of the step, in the order to_row expects."""
        values = [t for group in _GROUPS for t in getattr(self, group)]
        if self.input_finite is not None:
            values.append(self.input_finite)
        return values

    def to_row(
        self,
        values: list[float],
        *,
        n_layers: int,
        param_layers: np.ndarray,
        param_sizes: np.ndarray,
        layer_hooks: bool,
    ) -> tuple[dict[str, np.ndarray], tuple[str, int, bool] | None]:
        """Turn the transferred numbers into a history row and the first non-finite value.

        Returns:
            (row, event) where event is (quantity, index, index_is_a_parameter) or None.
        """
        flat = np.asarray(values, dtype=np.float64)
        parts, start = {}, 0
        for group in _GROUPS:
            size = len(getattr(self, group))
            parts[group] = flat[start : start + size]
            start += size
        input_finite = bool(flat[start]) if self.input_finite is not None else True
        n_params = len(param_layers)
        row: dict[str, np.ndarray] = {}

        # Activations: mean and std from (sum, L2 norm), pooled over calls of the same layer.
        act = parts["act_values"].reshape(-1, 2)
        layers = np.asarray(self.act_layers, dtype=np.int64)
        sizes = np.asarray(self.act_sizes, dtype=np.float64)
        total, square, count = (np.zeros(n_layers) for _ in range(3))
        np.add.at(total, layers, act[:, 0])
        np.add.at(square, layers, act[:, 1] ** 2)
        np.add.at(count, layers, sizes)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / count, np.nan)
            variance = np.where(count > 0, square / count - mean**2, np.nan)
            row["activation_mean"] = mean
            row["activation_std"] = np.sqrt(np.maximum(variance, 0.0))  # NaN stays NaN

            # Dead (ReLU family) and saturated (sigmoid, tanh) fractions.
            flags = parts["flag_values"]
            saturation = np.asarray(self.flag_saturation, dtype=bool)
            for name, mask in (("fraction_dead", ~saturation), ("fraction_saturated", saturation)):
                flagged, seen = np.zeros(n_layers), np.zeros(n_layers)
                np.add.at(flagged, np.asarray(self.flag_layers, dtype=np.int64)[mask], flags[mask])
                np.add.at(
                    seen,
                    np.asarray(self.flag_layers, dtype=np.int64)[mask],
                    np.asarray(self.flag_sizes, dtype=np.float64)[mask],
                )
                row[name] = np.where(seen > 0, flagged / seen, np.nan)

            # Gradient reaching each layer's output, root-sum-square over calls.
            grad_out = parts["grad_out_values"]
            squares, elements = np.zeros(n_layers), np.zeros(n_layers)
            reached = np.zeros(n_layers, dtype=bool)
            layer_index = np.asarray(self.grad_out_layers, dtype=np.int64)
            np.add.at(squares, layer_index, grad_out**2)
            np.add.at(elements, layer_index, np.asarray(self.grad_out_sizes, dtype=np.float64))
            reached[layer_index] = True
            row["output_grad_norm"] = np.where(reached, np.sqrt(squares), np.nan)
            row["output_grad_rms"] = np.where(reached, np.sqrt(squares / elements), np.nan)

            # Parameter gradients; parameters without a .grad stay NaN with has_grad = 0.
            grad_norm = np.full(n_params, np.nan)
            grad_norm[self.grad_params] = parts["grad_values"]
            has_grad = np.zeros(n_params)
            has_grad[self.grad_params] = 1.0
            row["grad_norm"], row["has_grad"] = grad_norm, has_grad
            squared = np.where(has_grad > 0, grad_norm**2, 0.0)
            per_layer = np.bincount(param_layers, weights=squared, minlength=n_layers)
            any_grad = np.bincount(param_layers, weights=has_grad, minlength=n_layers) > 0
            row["layer_grad_norm"] = np.where(any_grad, np.sqrt(per_layer), np.nan)
            row["global_grad_norm"] = np.array(
                [math.sqrt(squared.sum()) if any_grad.any() else np.nan]
            )

            # Update-to-data ratio; sampled squared norms are scaled up to the whole parameter.
            index = np.asarray(self.update_params, dtype=np.int64)
            scale = param_sizes[index] / np.maximum(np.asarray(self.update_sizes, float), 1.0)
            data = np.bincount(
                param_layers[index], weights=scale * parts["data_values"] ** 2, minlength=n_layers
            )
            delta = np.bincount(
                param_layers[index], weights=scale * parts["delta_values"] ** 2, minlength=n_layers
            )
            updated = np.bincount(param_layers[index], minlength=n_layers) > 0
            row["update_ratio"] = np.where(updated, np.sqrt(delta / data), np.nan)

        called = np.zeros(n_layers)
        called[self.called] = 1.0
        row["called"] = called if layer_hooks else np.full(n_layers, np.nan)
        return row, self._first_non_finite(input_finite, act, grad_out, parts["grad_values"])

    def _first_non_finite(
        self, input_finite: bool, act: np.ndarray, grad_out: np.ndarray, grads: np.ndarray
    ) -> tuple[str, int, bool] | None:
        """The origin of the first NaN/inf: input, then forward order, then backward order."""
        if not input_finite:
            return ("input", self.called[0] if self.called else -1, False)
        for k in range(len(act)):
            if not np.isfinite(act[k]).all():
                return ("activation", self.act_layers[k], False)
        for k in range(len(grad_out)):  # hooks fired in backward order
            if not np.isfinite(grad_out[k]):
                return ("output_grad", self.grad_out_layers[k], False)
        for k in reversed(range(len(grads))):  # parameters late in the model come first
            if not np.isfinite(grads[k]):
                return ("param_grad", self.grad_params[k], True)
        return None


def first_tensor(value: object) -> torch.Tensor | None:
    """The first tensor in a module's output or arguments (tensors, tuples, lists, dicts)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = first_tensor(item)
            if found is not None:
                return found
    if isinstance(value, dict):
        return first_tensor(list(value.values()))
    return None


@cache
def _sample_stride(size: int, sample: int) -> int:
    """Smallest prime >= size / sample: a prime stride does not alias with row lengths."""
    stride = max(2, math.ceil(size / sample))
    while any(stride % d == 0 for d in range(2, math.isqrt(stride) + 1)):
        stride += 1
    return stride


def sampled_view(param: torch.Tensor, sample: int | None) -> torch.Tensor:
    """A flat view of at most about `sample` evenly strided elements (all when sample is None)."""
    flat = param.detach().reshape(-1)
    if sample is None or flat.numel() <= sample:
        return flat
    return flat[:: _sample_stride(flat.numel(), sample)]


def to_host(values: list[torch.Tensor]) -> list[float]:
    """Stack 0-d tensors per device and copy them to the host: one transfer per device."""
    if not values:
        return []
    devices = {t.device for t in values}
    if len(devices) == 1:
        return torch.stack(values).double().tolist()
    out = [0.0] * len(values)
    for device in devices:
        index = [i for i, t in enumerate(values) if t.device == device]
        stacked = torch.stack([values[i] for i in index]).double().tolist()
        for i, v in zip(index, stacked, strict=True):
            out[i] = v
    return out
