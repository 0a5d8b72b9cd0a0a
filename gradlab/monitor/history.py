"""What a GradientMonitor stores: a bounded, step-keyed history of quantities and its metadata.

Quantities (numbers measured during backward) live here, detached and on the host; drawing and
diagnosis only read them. Used by gradlab.monitor.gradient_monitor, gradlab.diagnosis.rules and notebooks/07_monitoring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NonFiniteEvent:
    """The first recorded step and layer where a value became NaN or inf.

    quantity is one of 'input' (the batch itself), 'activation' (first layer in forward order),
    'output_grad' (first layer in backward order whose output gradient is non-finite),
    'param_grad' (a parameter gradient) or 'loss'.
    """

    step: int
    layer: str
    quantity: str

    def __str__(self) -> str:
        where = f"layer '{self.layer}'" if self.layer else "the model"
        return f"step {self.step}: non-finite {self.quantity.replace('_', ' ')} at {where}"


class History:
    """Fixed-size ring buffer of rows, one row per recorded step, one named block per quantity.

    Memory is bounded: once `capacity` rows are stored, each new row overwrites the oldest.

    Args:
        columns: quantity name -> its column names (parameter or layer names).
        capacity: the number of most recent rows kept (>= 1).
    """

    def __init__(self, columns: Mapping[str, Sequence[str]], capacity: int) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"history capacity must be an int >= 1, got {capacity!r}")
        self.capacity = capacity
        self.columns = {name: list(names) for name, names in columns.items()}
        self._steps = np.zeros(capacity, dtype=np.int64)
        self._data = {
            name: np.full((capacity, len(names)), np.nan) for name, names in self.columns.items()
        }
        self.appended = 0  # rows ever appended, including overwritten ones

    def append(self, step: int, row: Mapping[str, np.ndarray | float]) -> None:
        """Store one step's values; quantities missing from `row` are stored as NaN."""
        unknown = set(row) - set(self._data)
        if unknown:
            raise ValueError(f"unknown quantities {sorted(unknown)}; known: {sorted(self._data)}")
        slot = self.appended % self.capacity
        self._steps[slot] = step
        for name, block in self._data.items():
            block[slot] = row.get(name, np.nan)
        self.appended += 1

    def extend(self, steps: Sequence[int], rows: Mapping[str, np.ndarray]) -> None:
        """Store several steps at once; rows maps a quantity to shape (len(steps), columns)."""
        unknown = set(rows) - set(self._data)
        if unknown:
            raise ValueError(f"unknown quantities {sorted(unknown)}; known: {sorted(self._data)}")
        count = len(steps)
        keep = min(count, self.capacity)  # of more rows than fit, only the last ones stay
        slots = (self.appended + np.arange(count - keep, count)) % self.capacity
        self._steps[slots] = np.asarray(steps)[count - keep :]
        for name, block in self._data.items():
            values = rows.get(name)
            block[slots] = np.nan if values is None else values[count - keep :]
        self.appended += count

    def __len__(self) -> int:
        return min(self.appended, self.capacity)

    def _order(self) -> np.ndarray:
        """Row indices of the stored rows, oldest first."""
        if self.appended <= self.capacity:
            return np.arange(self.appended)
        start = self.appended % self.capacity
        return np.roll(np.arange(self.capacity), -start)

    @property
    def steps(self) -> np.ndarray:
        """The step of each stored row, oldest first, shape (rows,)."""
        return self._steps[self._order()].copy()

    def get(self, name: str) -> np.ndarray:
        """One quantity as a copy, oldest row first, shape (rows, columns)."""
        if name not in self._data:
            raise KeyError(f"unknown quantity {name!r}; known: {sorted(self._data)}")
        return self._data[name][self._order()].copy()

    def to_numpy(self) -> dict[str, np.ndarray]:
        """All quantities as arrays of shape (rows, columns), plus 'steps' of shape (rows,)."""
        return {"steps": self.steps, **{name: self.get(name) for name in self._data}}

    def to_dict(self) -> dict[str, object]:
        """Plain lists: {'steps': [...], quantity: {column name: [value per row]}}."""
        out: dict[str, object] = {"steps": self.steps.tolist()}
        for name, names in self.columns.items():
            block = self.get(name)
            out[name] = {column: block[:, i].tolist() for i, column in enumerate(names)}
        return out


@dataclass
class Recording:
    """Everything a GradientMonitor measured, ready for diagnosis or plotting.

    Layers are modules with their own trainable parameters, named as in model.named_modules()
    (the root module is ''). Layer columns follow named_modules() order.
    """

    layers: list[str]
    layer_types: list[str]
    layer_activations: list[str]  # activation module seen right after each layer, or ''
    forward_order: list[int]  # layer indices in the order their forward ran (called layers)
    params: list[str]
    param_layers: np.ndarray  # layer index of each parameter, shape (params,)
    param_sizes: np.ndarray  # number of elements of each parameter, shape (params,)
    param_norms: np.ndarray  # ||theta|| of each parameter when the recording was made, (params,)
    frozen: np.ndarray  # bool (params,): requires_grad is False now (frozen on purpose)
    history: History
    non_finite: NonFiniteEvent | None
    steps_seen: int
    every: int

    def layers_in_forward_order(self) -> list[int]:
        """Layer indices in the order their forward ran, then the layers never seen running."""
        order = list(self.forward_order)
        seen = set(order)
        return order + [i for i in range(len(self.layers)) if i not in seen]

    def to_dict(self) -> dict[str, object]:
        """The history as plain lists, plus names and the non-finite event."""
        event = self.non_finite
        return {
            "layers": list(self.layers),
            "params": list(self.params),
            "non_finite": None if event is None else vars(event).copy(),
            **self.history.to_dict(),
        }
