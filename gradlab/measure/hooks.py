"""Hooks that catch a gradient during backward, and a group of handles that cleans itself up.

Shared by measure.probe (one backward pass, notebooks/01_chain_rule) and monitor.gradient_monitor
(every recorded training step, notebooks/07_monitoring). It lives in measure/ because the monitor
already builds on measure/, never the other way round.

    with HookHandles() as handles:
        handles.append(layer.register_forward_hook(...))
        ...                               # every handle is removed here, also after an error
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from types import TracebackType

import torch
from torch.utils.hooks import RemovableHandle


def first_tensor(value: object, *, requiring_grad: bool = False) -> torch.Tensor | None:
    """The first tensor in a module's output or arguments: tensors, tuples, lists, dicts and
    dataclasses (Hugging Face's ModelOutput is both a dict and a dataclass); with
    requiring_grad, the first one that requires grad."""
    return _first(value, lambda t: t.requires_grad if requiring_grad else True)


def first_floating(value: object) -> torch.Tensor | None:
    """The first floating-point tensor in `value` (token ids are integers, inputs_embeds not)."""
    return _first(value, torch.Tensor.is_floating_point)


def _first(value: object, wanted: Callable[[torch.Tensor], bool]) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value if wanted(value) else None
    if isinstance(value, dict):
        value = list(value.values())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = [getattr(value, f.name) for f in dataclasses.fields(value)]
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first(item, wanted)
            if found is not None:
                return found
    return None


def register_gradient_hook(tensor: torch.Tensor, hook: Callable[[tuple], None]) -> RemovableHandle:
    """Call hook(grad_outputs) in backward, where grad_outputs[tensor.output_nr] is its gradient.

    A pre-hook on the node that made `tensor` sees the gradient a tensor hook would (also when the
    tensor is later changed in place, e.g. by ReLU(inplace=True)), without the Python bookkeeping of
    Tensor.register_hook, which costs ~5 µs per layer per recorded step. Read `tensor.output_nr`
    when registering: an in-place op changes it afterwards. `hook` must return None (a returned
    tuple would replace the gradients flowing on).
    """
    node = tensor.grad_fn
    if node is None:  # a leaf (output_nr 0): only a tensor hook sees its gradient
        return tensor.register_hook(lambda grad: hook((grad,)))
    return node.register_prehook(hook)


class HookHandles:
    """Handles of registered hooks, removed together by remove_all() or on leaving a `with`."""

    def __init__(self) -> None:
        self._handles: list[RemovableHandle] = []

    def append(self, handle: RemovableHandle) -> RemovableHandle:
        """Keep `handle` for removal; returns it."""
        self._handles.append(handle)
        return handle

    def extend(self, handles: list[RemovableHandle]) -> None:
        """Keep every handle in `handles` for removal."""
        self._handles.extend(handles)

    def remove_all(self) -> None:
        """Remove every hook kept so far (safe to call twice)."""
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.remove()

    def __len__(self) -> int:
        return len(self._handles)

    def __iter__(self) -> Iterator[RemovableHandle]:
        return iter(self._handles)

    def __enter__(self) -> HookHandles:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove_all()
