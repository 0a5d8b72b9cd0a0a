"""The per-layer forward hooks of a GradientMonitor's recorded steps: activation statistics,
dead or saturated counts, and the hook that catches each layer's output gradient.

A mixin of gradlab.monitor.gradient_monitor.GradientMonitor (it reads the monitor's pending
StepBuffer and layer bookkeeping); kept apart because it is the hot path: the hooks run ~40
times per recorded step, so they are closures over their layer's constants with the common case
(a single contiguous output tensor) inlined. Used in notebooks/07_monitoring.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from gradlab.measure.activation_stats import count_flagged
from gradlab.measure.hooks import first_tensor, register_gradient_hook

SCRATCH_LIMIT = 1 << 20  # elements: larger hook temporaries are not kept between steps


class LayerHooks:
    """Builds the forward hooks of layers and activation modules (mixed into GradientMonitor)."""

    # The forward hooks run ~40 times per recorded step, so they are closures over their layer's
    # constants with the common case (a single contiguous output tensor) inlined.
    def _sample_limit(self) -> float:
        """Activation statistics use at most this many leading elements of an output."""
        return math.inf if self.activation_sample is None else self.activation_sample

    def _scratch(self, like: torch.Tensor) -> torch.Tensor | None:
        """A kept buffer shaped like `like` (same dtype and device) for a hook's temporary.

        One per device and dtype, shared by the hooks (they run one after another); None above
        SCRATCH_LIMIT elements, so a large unsampled output does not stay allocated.
        """
        size = like.numel()
        if size > SCRATCH_LIMIT:
            return None
        key = (like.device, like.dtype)
        buffer = self._scratch_buffers.get(key)
        if buffer is None or buffer.numel() < size:
            buffer = torch.empty(size, dtype=like.dtype, device=like.device)
            self._scratch_buffers[key] = buffer
        return buffer[:size].view(like.shape)

    def _layer_hook(self, index: int) -> Callable[[nn.Module, tuple, object], None]:
        """The forward hook of layer `index`: activation sums and its output-gradient hook."""
        activations, output_grads = self.activations, self.output_grads
        limit = self._sample_limit()
        vector_norm, on_output_grad = torch.linalg.vector_norm, self._on_output_grad

        def on_layer_output(module: nn.Module, args: tuple, output: object) -> None:
            pending = self._pending
            if pending is None or pending.forward_done:
                return
            self._last_layer = index
            pending.called.append(index)
            out = output if isinstance(output, torch.Tensor) else first_tensor(output)
            if out is None or not out.is_floating_point():
                return
            if activations:
                values = out.detach()
                size = values.numel()
                if size > limit and values.is_contiguous():
                    values, size = values.view(-1)[:limit], limit
                pending.act_layers.append(index)
                pending.act_sizes.append(size)
                # sum and L2 norm are single fast kernels; mean and std follow on the host.
                if values.element_size() < 4:  # float16/bfloat16 under autocast: sum in float32
                    wide = torch.float32
                    pending.act_values += (values.sum(dtype=wide), vector_norm(values, dtype=wide))
                else:
                    pending.act_values += (values.sum(), vector_norm(values))
            if output_grads and out.requires_grad:
                hook = partial(on_output_grad, pending, index, out.numel(), out.output_nr)
                pending.tensor_hooks.append(register_gradient_hook(out, hook))

        return on_layer_output

    def _activation_hook(self, kind: str) -> Callable[[nn.Module, tuple, object], None]:
        """The forward hook of an activation module: its dead or saturated count."""
        limit, layer_activation = self._sample_limit(), self._layer_activation
        saturation, live = kind in ("sigmoid", "tanh"), kind == "relu"
        scratch = self._scratch

        def on_activation_output(module: nn.Module, args: tuple, output: object) -> None:
            # The activation is attributed to the layer that ran just before it (Linear -> ReLU).
            pending, index = self._pending, self._last_layer
            if pending is None or index is None or pending.forward_done:
                return
            out = output if isinstance(output, torch.Tensor) else first_tensor(output)
            if out is None:
                return
            out = out.detach()
            size = out.numel()
            inp = None if live else first_tensor(args)
            if inp is not None and (inp.data_ptr() == out.data_ptr() or inp.numel() != size):
                inp = None  # ran in place: the input is gone
            if size > limit and out.is_contiguous():
                out, size = out.view(-1)[:limit], limit
                if inp is not None:
                    inp = inp.detach().reshape(-1)[:limit] if inp.is_contiguous() else None
            layer_activation[index] = kind
            pending.flag_layers.append(index)
            pending.flag_sizes.append(size)
            pending.flag_saturation.append(saturation)
            pending.flag_live.append(live)
            # ReLU outputs are >= 0, so sign() is 1 where alive: count_flagged's kernel, inlined,
            # writing into a kept scratch buffer (a fresh temporary per hook lands on new pages
            # once the kept results fragment the heap, and costs more than the kernels).
            if live:
                signs = torch.sign(out, out=scratch(out))  # out=None: a fresh tensor
                pending.flag_values.append(signs.sum(dtype=torch.float32))  # exact to 2**24
            else:
                pending.flag_values.append(
                    count_flagged(out, kind, module_input=inp, module=module)
                )

        return on_activation_output
