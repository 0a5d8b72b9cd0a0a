"""Update-to-data ratio ||delta theta|| / ||theta|| across any torch.optim optimizer's step().

Global optimizer step hooks see every optimizer, so a learner does not have to hand theirs to the
monitor; only steps that update the watched parameters during a recorded step are measured.
A sampled view (evenly spaced contiguous chunks) keeps the snapshot small; its accuracy against
the exact ratio is tested in tests/test_monitor_estimates.py. The snapshot goes into a buffer kept
between steps (per optimizer and view shape): a fresh ~300 KB tensor every step lands on new pages
of memory and cost more than the copy itself. Used by gradlab.monitor.gradient_monitor
(notebooks/07_monitoring).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from functools import cache

import torch
import torch.optim.optimizer as optim_hooks
from torch.utils.hooks import RemovableHandle

from gradlab.monitor.step import StepBuffer

SAMPLE_CHUNK = 32  # contiguous elements per sampled chunk: whole cache lines, not scattered ones


@cache
def _chunk_spacing(size: int, chunks: int) -> int:
    """Largest prime spacing that fits `chunks` chunks in `size` elements.

    A prime spacing does not alias with row lengths, so the chunks drift across columns.
    """
    spacing = max(SAMPLE_CHUNK, (size - SAMPLE_CHUNK) // max(chunks - 1, 1))
    while spacing > SAMPLE_CHUNK and any(
        spacing % d == 0 for d in range(2, math.isqrt(spacing) + 1)
    ):
        spacing -= 1
    return spacing


def flat_view(param: torch.Tensor) -> torch.Tensor:
    """All elements of `param` as a 1-d tensor sharing its memory, in memory order.

    A channels_last conv weight is not contiguous, so reshape(-1) would copy it, and a copy does
    not see the optimizer's in-place update (the ratio would read 0). Permuting the dimensions by
    decreasing stride makes any dense layout contiguous; the norms do not depend on the order.
    A layout with gaps or overlaps still gives a copy (UpdateTracker then reads it afresh).
    """
    tensor = param.detach()
    if not tensor.is_contiguous():
        order = sorted(range(tensor.dim()), key=tensor.stride, reverse=True)
        tensor = tensor.permute(order)
    return tensor.reshape(-1)


def sampled_view(param: torch.Tensor, sample: int | None) -> torch.Tensor:
    """A view of about `sample` elements of `param`, in evenly spaced contiguous chunks.

    Chunks (not single strided elements) keep the read cheap: picking every k-th element would
    still touch every cache line of the parameter. All elements when sample is None.
    """
    flat = flat_view(param)
    size = flat.numel()
    if sample is None or size <= max(sample, 2 * SAMPLE_CHUNK):
        return flat
    chunks = max(sample // SAMPLE_CHUNK, 2)
    spacing = _chunk_spacing(size, chunks)
    chunks = min(chunks, (size - SAMPLE_CHUNK) // spacing + 1)
    return flat.as_strided((chunks, SAMPLE_CHUNK), (spacing, 1), flat.storage_offset())


class UpdateTracker:
    """Snapshot tracked parameters before optimizer.step() and measure the change after it.

    Args:
        params: all watched parameters; `tracked` indexes the ones to measure (one per layer:
            its largest, i.e. its weight, as in Karpathy's update-ratio plots; fewer tensors
            keep the per-step cost down).
        sample: elements per parameter for the sampled views (None: all).
    """

    def __init__(
        self, params: list[torch.nn.Parameter], tracked: list[int], sample: int | None
    ) -> None:
        self.params, self.sample = params, sample
        self._index = {id(params[i]): i for i in tracked}
        self._views: dict[int, tuple[int, torch.Tensor]] = {}
        # Keyed by the optimizer itself, weakly: an id() is reused by the next optimizer made
        # after one is freed (a fresh optimizer per training phase), and it would inherit the
        # old one's parameters.
        self._optimizer_indices: weakref.WeakKeyDictionary[
            torch.optim.Optimizer, tuple[int, list[int]]
        ] = weakref.WeakKeyDictionary()
        # Per optimizer (weakly, as above), the kept (2, params, *view shape) buffer of each
        # group of views: [0] the parameters before the step, [1] after it, then the change.
        self._buffers: weakref.WeakKeyDictionary[torch.optim.Optimizer, list[torch.Tensor]] = (
            weakref.WeakKeyDictionary()
        )
        self._pending: Callable[[], StepBuffer | None] = lambda: None

    def attach(self, pending: Callable[[], StepBuffer | None]) -> list[RemovableHandle]:
        """Register global optimizer hooks; `pending` returns the step being recorded, if any."""
        self._pending = pending
        return [
            optim_hooks.register_optimizer_step_pre_hook(self._before_step),
            optim_hooks.register_optimizer_step_post_hook(self._after_step),
        ]

    def _view(self, index: int) -> torch.Tensor:
        """The cached sampled view of parameter `index`, rebuilt if its storage changed."""
        param = self.params[index]
        cached = self._views.get(index)
        if cached is None or cached[0] != param.data_ptr():
            view = sampled_view(param, self.sample)
            if view.untyped_storage().data_ptr() != param.untyped_storage().data_ptr():
                return view  # a copy, not a view: read afresh each time, never cached
            cached = (param.data_ptr(), view)
            self._views[index] = cached
        return cached[1]

    def _indices(self, optimizer: torch.optim.Optimizer) -> list[int]:
        """Tracked parameters this optimizer updates (cached while its param groups stay)."""
        size = sum(len(group["params"]) for group in optimizer.param_groups)
        cached = self._optimizer_indices.get(optimizer)
        if cached is None or cached[0] != size:
            found = [
                i
                for group in optimizer.param_groups
                for p in group["params"]
                if (i := self._index.get(id(p))) is not None
            ]
            cached = (size, found)
            self._optimizer_indices[optimizer] = cached
        return cached[1]

    def _groups(self, indices: list[int]) -> list[tuple[list[int], list[torch.Tensor]]]:
        """`indices` grouped by the shape of their sampled view, so each group stacks into one."""
        groups: dict[torch.Size, tuple[list[int], list[torch.Tensor]]] = {}
        for i in indices:
            view = self._view(i)
            group = groups.get(view.shape)
            if group is None:
                groups[view.shape] = ([i], [view])
            else:
                group[0].append(i)
                group[1].append(view)
        return list(groups.values())

    def _buffer(
        self, optimizer: torch.optim.Optimizer, number: int, views: list[torch.Tensor]
    ) -> torch.Tensor:
        """The kept buffer of group `number` of `optimizer`, made again if it no longer fits."""
        buffers = self._buffers.setdefault(optimizer, [])
        like, shape = views[0], (2, len(views), *views[0].shape)
        if number < len(buffers):
            buffer = buffers[number]
            if (
                buffer.shape == shape
                and buffer.dtype == like.dtype
                and buffer.device == like.device
            ):
                return buffer
        buffer = torch.empty(shape, dtype=like.dtype, device=like.device)
        if number < len(buffers):
            buffers[number] = buffer
        else:
            buffers.append(buffer)
        return buffer

    def _before_step(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        pending = self._pending()
        if pending is None or not pending.backward_done or id(optimizer) in pending.snapshots:
            return
        params = self.params
        indices = [i for i in self._indices(optimizer) if params[i].grad is not None]
        if indices:
            # One stacked copy per shape (a 20-layer MLP: one), not one small copy per parameter.
            before = []
            with torch.no_grad():
                for number, (group, views) in enumerate(self._groups(indices)):
                    buffer = self._buffer(optimizer, number, views)
                    torch.stack(views, out=buffer[0])
                    before.append((group, buffer))
            pending.snapshots[id(optimizer)] = before

    def _after_step(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        pending = self._pending()
        if pending is None or not pending.snapshots.get(id(optimizer)):
            return
        before = pending.snapshots[id(optimizer)]
        pending.snapshots[id(optimizer)] = []  # remember it stepped
        with torch.no_grad():
            for group, buffer in before:
                # Views again, not the ones from before: the step may have replaced a storage.
                after = torch.stack([self._view(i) for i in group], out=buffer[1])
                after.sub_(buffer[0])  # the change (its sign does not matter for the norm)
                # Both norms in one kernel: row 0 of the parameters before, row 1 of the change;
                # in float32 at least (a float16 norm overflows at 65504).
                wide = torch.float32 if buffer.element_size() < 4 else None
                dims = tuple(range(2, buffer.dim()))
                both = torch.linalg.vector_norm(buffer, dim=dims, dtype=wide)
                pending.data_values.append(both[0])
                pending.delta_values.append(both[1])
                pending.update_params += group
                pending.update_sizes += [after[0].numel()] * len(group)
