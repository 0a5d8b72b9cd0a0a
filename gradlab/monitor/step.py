"""One recorded step of a GradientMonitor: the 0-d tensors collected by hooks, and their row.

Hooks only append device tensors here (no host sync); `to_host` moves them in one transfer and
`StepBuffer.to_row` turns the numbers into per-parameter and per-layer values with numpy.
Used by gradlab.monitor.gradient_monitor (notebooks/07_monitoring).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.hooks import RemovableHandle

# Order in which a step's tensors are stacked for the single transfer: the groups of 0-d tensors,
# the input sum, then the groups of 1-d tensors (one norm per tracked parameter of a stacked group).
_GROUPS = ("act_values", "flag_values", "grad_out_values", "grad_values")
_VECTOR_GROUPS = ("data_values", "delta_values")


def _foreach_norm_wide(grads: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Norms in one foreach call, float16/bfloat16 ones in float32 (a float16 norm overflows
    at 65504, which the scaled gradients of a mixed-precision model pass at once)."""
    low = [g.element_size() < 4 for g in grads]
    if not any(low):
        return torch._foreach_norm(grads)
    if all(low):
        return torch._foreach_norm(grads, 2, dtype=torch.float32)
    return torch._foreach_norm([g.float() if w else g for g, w in zip(grads, low, strict=True)])


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
                self.grad_values += _foreach_norm_wide(grads)
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

    def signature(self) -> tuple:
        """What the row depends on besides the numbers: steps that share it are built together."""
        return (
            self.has_input,
            tuple(self.lengths.values()),
            tuple(self.called),
            tuple(self.act_layers),
            tuple(self.act_sizes),
            tuple(self.flag_layers),
            tuple(self.flag_sizes),
            tuple(self.flag_saturation),
            tuple(self.flag_live),
            tuple(self.grad_out_layers),
            tuple(self.grad_out_sizes),
            tuple(self.grad_params),
            tuple(self.update_params),
            tuple(self.update_sizes),
        )

    def to_rows(
        self,
        flat: np.ndarray,  # (steps, numbers): the stacked numbers of steps with this signature
        *,
        n_layers: int,
        param_layers: np.ndarray,
        param_sizes: np.ndarray,
        layer_hooks: bool,
    ) -> tuple[dict[str, np.ndarray], tuple[int, str, int, bool] | None]:
        """Turn the transferred numbers of steps shaped like this one into history rows.

        Returns:
            (rows, event): rows maps each quantity to an array of shape (steps, columns); event is
            (row, quantity, index, index_is_a_parameter) for the first row with a NaN/inf, or None.
        """
        parts, input_finite = self._split(flat)
        columns = _LayerColumns(len(flat), n_layers)
        rows: dict[str, np.ndarray] = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            rows |= self._activation_rows(parts["act_values"], columns)
            rows |= self._flag_rows(parts["flag_values"], columns)
            rows |= self._output_grad_rows(parts["grad_out_values"], columns)
            rows |= self._param_grad_rows(parts["grad_values"], columns, param_layers)
            rows |= self._update_rows(parts, columns, param_layers, param_sizes)
        if layer_hooks:
            called = np.zeros(n_layers)
            called[self.called] = 1.0
            rows["called"] = np.tile(called, (len(flat), 1))
        return rows, self._first_event(flat, parts, input_finite)

    def _split(self, flat: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Cut the stacked numbers back into their groups (in close()'s order) and the input check.

        Returns:
            (parts, input_finite): each group as (steps, its length); per step, whether the
            batch was finite (all True when the input was not watched).
        """
        parts, start = {}, 0
        for group in _GROUPS:
            parts[group] = flat[:, start : start + self.lengths[group]]
            start += self.lengths[group]
        input_finite = np.isfinite(flat[:, start]) if self.has_input else np.ones(len(flat), bool)
        start += self.has_input
        for group in _VECTOR_GROUPS:
            parts[group] = flat[:, start : start + self.lengths[group]]
            start += self.lengths[group]
        return parts, input_finite

    def _activation_rows(self, values: np.ndarray, columns: _LayerColumns) -> dict[str, np.ndarray]:
        """Activation mean and std per layer from (sum, L2 norm), pooled over calls of one layer."""
        act = values.reshape(columns.steps, -1, 2)
        if not act.shape[1]:
            return {}
        count = columns.constant(self.act_layers, self.act_sizes)
        mean = columns.per_layer(self.act_layers, act[:, :, 0]) / count  # NaN where not seen
        variance = columns.per_layer(self.act_layers, act[:, :, 1] ** 2) / count - mean**2
        # NaN stays NaN
        return {"activation_mean": mean, "activation_std": np.sqrt(np.maximum(variance, 0.0))}

    def _flag_rows(self, values: np.ndarray, columns: _LayerColumns) -> dict[str, np.ndarray]:
        """Dead (ReLU family) and saturated (sigmoid, tanh) fractions of each layer's outputs."""
        if not self.lengths["flag_values"]:
            return {}
        saturation = np.asarray(self.flag_saturation)
        layers = np.asarray(self.flag_layers)
        sizes = np.asarray(self.flag_sizes, dtype=np.float64)
        flags = np.where(self.flag_live, sizes - values, values)  # live counts become dead counts
        rows = {}
        for name, mask in (("fraction_dead", ~saturation), ("fraction_saturated", saturation)):
            if mask.any():
                rows[name] = columns.per_layer(layers[mask], flags[:, mask]) / columns.constant(
                    layers[mask], sizes[mask]
                )
        return rows

    def _output_grad_rows(
        self, values: np.ndarray, columns: _LayerColumns
    ) -> dict[str, np.ndarray]:
        """Gradient reaching each layer's output: root-sum-square over the layer's calls."""
        if not values.shape[1]:
            return {}
        squares = columns.per_layer(self.grad_out_layers, values**2)
        elements = columns.constant(self.grad_out_layers, self.grad_out_sizes)
        reached = elements > 0
        return {
            "output_grad_norm": np.where(reached, np.sqrt(squares), np.nan),
            "output_grad_rms": np.sqrt(squares / elements),
        }

    def _param_grad_rows(
        self, values: np.ndarray, columns: _LayerColumns, param_layers: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Parameter, layer and global gradient norms; a parameter without .grad: NaN, has_grad 0."""
        steps = columns.steps
        has_grad = np.zeros(len(param_layers))
        has_grad[self.grad_params] = 1.0
        grad_norm = np.full((steps, len(param_layers)), np.nan)
        grad_norm[:, self.grad_params] = values
        squared = np.where(has_grad > 0, grad_norm**2, 0.0)
        any_grad = columns.constant(param_layers, has_grad) > 0
        layer_norm = np.sqrt(columns.per_layer(param_layers, squared))
        global_norm = np.sqrt(squared.sum(axis=1)) if self.grad_params else np.nan
        return {
            "grad_norm": grad_norm,
            "has_grad": np.tile(has_grad, (steps, 1)),
            "layer_grad_norm": np.where(any_grad, layer_norm, np.nan),
            "global_grad_norm": np.broadcast_to(global_norm, steps)[:, None],
        }

    def _update_rows(
        self,
        parts: dict[str, np.ndarray],
        columns: _LayerColumns,
        param_layers: np.ndarray,
        param_sizes: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Update-to-data ratio per layer; sampled squared norms are scaled up to the whole param."""
        if not self.update_params:
            return {}
        index = np.asarray(self.update_params)
        scale = param_sizes[index] / np.asarray(self.update_sizes, dtype=np.float64)
        layers = param_layers[index]
        data = columns.per_layer(layers, scale * parts["data_values"] ** 2)
        delta = columns.per_layer(layers, scale * parts["delta_values"] ** 2)
        updated = columns.constant(layers, np.ones(len(index))) > 0
        return {"update_ratio": np.where(updated, np.sqrt(delta / data), np.nan)}

    def _first_event(
        self, flat: np.ndarray, parts: dict[str, np.ndarray], input_finite: np.ndarray
    ) -> tuple[int, str, int, bool] | None:
        """(row, quantity, index, index_is_a_parameter) of the first real NaN/inf, or None."""
        finite = input_finite & np.isfinite(flat).all(axis=1)
        if finite.all():  # the usual case: skip the per-value search
            return None
        act = parts["act_values"].reshape(len(flat), -1, 2)
        # A row can be non-finite only in an overflowed L2 norm (values still finite): search on
        # to the first row with a real NaN/inf, which may come later in the same batch of steps.
        for row in np.flatnonzero(~finite):
            event = self._first_non_finite(
                bool(input_finite[row]),
                act[row],
                parts["grad_out_values"][row],
                parts["grad_values"][row],
            )
            if event is not None:
                return (int(row), *event)
        return None

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


@dataclass(frozen=True)
class _LayerColumns:
    """Sums values into per-layer columns: (steps, n_layers) for per-step numbers."""

    steps: int
    n_layers: int

    def per_layer(self, layers: list[int] | np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Sum weights (steps, values) into their layers' columns, in order, like bincount."""
        out = np.zeros((self.steps, self.n_layers))
        np.add.at(out, (slice(None), np.asarray(layers, dtype=np.intp)), weights)
        return out

    def constant(self, layers: list[int] | np.ndarray, weights: list | np.ndarray) -> np.ndarray:
        """Sum one weight per value (the same every step) into its layer's entry: (n_layers,)."""
        return np.bincount(layers, weights=weights, minlength=self.n_layers)
