"""One recorded step of a GradientMonitor: the 0-d tensors collected by hooks, and their row.

Hooks only append device tensors here (no host sync); `to_host` moves them in one transfer and
`StepBuffer.to_row` turns the numbers into per-parameter and per-layer values with numpy.
Used by gradlab.monitor (notebooks/07_monitoring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.hooks import RemovableHandle

# Order in which a step's tensors are stacked for the single transfer: the groups of 0-d tensors,
# the input sum, then the groups of 1-d tensors (one norm per tracked parameter of a stacked group).
_GROUPS = ("act_values", "flag_values", "grad_out_values", "grad_values")
_VECTOR_GROUPS = ("data_values", "delta_values")


@dataclass(slots=True)  # slots: faster attribute access in the hooks
class StepBuffer:
    """Device tensors and bookkeeping collected during one recorded step."""

    step: int
    forward_done: bool = False
    callback_queued: bool = False
    backward_done: bool = False
    input_sum: torch.Tensor | None = None  # non-finite iff the batch has a NaN/inf (or overflows)
    called: list[int] = field(default_factory=list)  # layer indices in forward order
    act_layers: list[int] = field(default_factory=list)
    act_sizes: list[int] = field(default_factory=list)
    act_values: list[torch.Tensor] = field(default_factory=list)  # (sum, L2 norm) per call
    flag_layers: list[int] = field(default_factory=list)
    flag_sizes: list[int] = field(default_factory=list)
    flag_saturation: list[bool] = field(default_factory=list)
    flag_live: list[bool] = field(default_factory=list)  # the count is of live outputs (ReLU)
    flag_values: list[torch.Tensor] = field(default_factory=list)  # dead or saturated counts
    grad_out_layers: list[int] = field(default_factory=list)  # in backward order
    grad_out_sizes: list[int] = field(default_factory=list)
    grad_out_values: list[torch.Tensor] = field(default_factory=list)
    grad_params: list[int] = field(default_factory=list)  # in backward order
    grad_values: list[torch.Tensor] = field(default_factory=list)
    grad_group: list[torch.Tensor] = field(default_factory=list)  # gradients not yet normed
    update_params: list[int] = field(default_factory=list)
    update_sizes: list[int] = field(default_factory=list)
    data_values: list[torch.Tensor] = field(default_factory=list)  # 1-d: norms before the step
    delta_values: list[torch.Tensor] = field(default_factory=list)  # 1-d: norms of the change
    snapshots: dict[int, list[tuple[list[int], torch.Tensor]]] = field(default_factory=dict)
    tensor_hooks: list[RemovableHandle] = field(default_factory=list)
    lengths: dict[str, int] = field(default_factory=dict)
    has_input: bool = False
    stacked: torch.Tensor | None = None

    def norm_gradients(self) -> None:
        """Norms of the gathered gradients in one foreach call (of a sparse one: its values)."""
        if self.grad_group:
            grads = [g.coalesce()._values() if g.is_sparse else g for g in self.grad_group]
            with torch.no_grad():  # a gradient made with create_graph=True requires grad
                self.grad_values += torch._foreach_norm(grads)
            self.grad_group = []

    def remove_tensor_hooks(self) -> None:
        """Remove the hooks on this step's tensors (they are guarded, so only detach needs it)."""
        for handle in self.tensor_hooks:
            handle.remove()
        self.tensor_hooks = []

    def close(self) -> None:
        """Stack the step's numbers into one device tensor and drop the snapshots."""
        # Tensor hooks stay: the graph they sit on is usually freed by backward, and a hook of a
        # closed step returns at once. Removing ~2 handles per layer each step costs more.
        self.tensor_hooks, self.snapshots = [], {}
        self.norm_gradients()
        self.lengths = {group: len(getattr(self, group)) for group in _GROUPS}
        self.lengths |= {g: sum(t.numel() for t in getattr(self, g)) for g in _VECTOR_GROUPS}
        values = [t for group in _GROUPS for t in getattr(self, group)]
        if self.input_sum is not None:
            values.append(self.input_sum)
        pieces = [torch.stack(values)] if values else []
        pieces += [t for group in _VECTOR_GROUPS for t in getattr(self, group)]
        self.stacked = (pieces[0] if len(pieces) == 1 else torch.cat(pieces)) if pieces else None
        for group in _GROUPS + _VECTOR_GROUPS:
            setattr(self, group, [])
        self.has_input, self.input_sum = self.input_sum is not None, None

    def to_row(
        self,
        values: list[float],  # stacked.tolist(), after close()
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
            parts[group] = flat[start : start + self.lengths[group]]
            start += self.lengths[group]
        input_finite = bool(np.isfinite(flat[start])) if self.has_input else True
        start += self.has_input
        for group in _VECTOR_GROUPS:
            parts[group] = flat[start : start + self.lengths[group]]
            start += self.lengths[group]
        row: dict[str, np.ndarray] = {}

        def per_layer(layers: list[int], weights: np.ndarray | list) -> np.ndarray:
            return np.bincount(layers, weights=weights, minlength=n_layers)

        with np.errstate(invalid="ignore", divide="ignore"):
            # Activations: mean and std from (sum, L2 norm), pooled over calls of one layer.
            act = parts["act_values"].reshape(-1, 2)
            if len(act):
                count = per_layer(self.act_layers, self.act_sizes)
                mean = per_layer(self.act_layers, act[:, 0]) / count  # NaN where not seen
                variance = per_layer(self.act_layers, act[:, 1] ** 2) / count - mean**2
                row["activation_mean"] = mean
                row["activation_std"] = np.sqrt(np.maximum(variance, 0.0))  # NaN stays NaN

            # Dead (ReLU family) and saturated (sigmoid, tanh) fractions.
            if self.lengths["flag_values"]:
                saturation = np.asarray(self.flag_saturation)
                layers = np.asarray(self.flag_layers)
                sizes = np.asarray(self.flag_sizes, dtype=np.float64)
                flags = np.where(self.flag_live, sizes - parts["flag_values"], parts["flag_values"])
                for name, mask in (
                    ("fraction_dead", ~saturation),
                    ("fraction_saturated", saturation),
                ):
                    if mask.any():
                        row[name] = per_layer(layers[mask], flags[mask]) / per_layer(
                            layers[mask], sizes[mask]
                        )

            # Gradient reaching each layer's output, root-sum-square over calls.
            grad_out = parts["grad_out_values"]
            if len(grad_out):
                squares = per_layer(self.grad_out_layers, grad_out**2)
                elements = per_layer(self.grad_out_layers, self.grad_out_sizes)
                reached = elements > 0
                row["output_grad_norm"] = np.where(reached, np.sqrt(squares), np.nan)
                row["output_grad_rms"] = np.sqrt(squares / elements)

            # Parameter gradients; parameters without a .grad stay NaN with has_grad = 0.
            has_grad = np.zeros(len(param_layers))
            has_grad[self.grad_params] = 1.0
            grad_norm = np.full(len(param_layers), np.nan)
            grad_norm[self.grad_params] = parts["grad_values"]
            squared = np.where(has_grad > 0, grad_norm**2, 0.0)
            any_grad = np.bincount(param_layers, weights=has_grad, minlength=n_layers) > 0
            layer_norm = np.sqrt(np.bincount(param_layers, weights=squared, minlength=n_layers))
            row["grad_norm"], row["has_grad"] = grad_norm, has_grad
            row["layer_grad_norm"] = np.where(any_grad, layer_norm, np.nan)
            row["global_grad_norm"] = math.sqrt(squared.sum()) if self.grad_params else np.nan

            # Update-to-data ratio; sampled squared norms are scaled up to the whole parameter.
            if self.update_params:
                index = np.asarray(self.update_params)
                scale = param_sizes[index] / np.asarray(self.update_sizes, dtype=np.float64)
                layers = param_layers[index]
                data = per_layer(layers, scale * parts["data_values"] ** 2)
                delta = per_layer(layers, scale * parts["delta_values"] ** 2)
                updated = per_layer(layers, np.ones(len(index))) > 0
                row["update_ratio"] = np.where(updated, np.sqrt(delta / data), np.nan)

        if layer_hooks:
            called = np.zeros(n_layers)
            called[self.called] = 1.0
            row["called"] = called
        if input_finite and np.isfinite(flat).all():  # the usual case: skip the per-value search
            return row, None
        return row, self._first_non_finite(input_finite, act, grad_out, parts["grad_values"])

    def _first_non_finite(
        self, input_finite: bool, act: np.ndarray, grad_out: np.ndarray, grads: np.ndarray
    ) -> tuple[str, int, bool] | None:
        """The origin of the first NaN/inf: input, then forward order, then backward order.

        An activation counts by its sum, not its L2 norm: a float32 norm overflows once the values
        pass ~1e19 while they are still finite, but any inf or nan among them makes the sum
        non-finite. Gradients count by their norm (the one number recorded for them), so a gradient
        whose norm overflows float32 (> ~1.8e19) is reported too: exploded, if not yet inf.
        """
        if not input_finite:
            return ("input", self.called[0] if self.called else 0, False)
        for k in range(len(act)):
            if not np.isfinite(act[k, 0]):  # act[k] = (sum, L2 norm)
                return ("activation", self.act_layers[k], False)
        for k in range(len(grad_out)):  # hooks fired in backward order
            if not np.isfinite(grad_out[k]):
                return ("output_grad", self.grad_out_layers[k], False)
        for k in range(len(grads)):  # gradients were gathered in backward order
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
