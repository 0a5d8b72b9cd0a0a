"""GradientMonitor: record gradient flow of any nn.Module during a normal training loop, cheaply.

    with gradlab.GradientMonitor(model, every=10) as monitor:
        for x, y in loader: ...            # your loop, unchanged
    print(monitor.report())

Why not register_full_backward_hook (the tutorial monitor)? It wraps a module's inputs and outputs
in views and fails on in-place ops such as ReLU(inplace=True) or `x += shortcut` (pytorch issue
61519). We use forward hooks plus a gradient hook on each layer's output instead (a pre-hook on
the node that made it): registered before an in-place op, it sees the gradient of that value.

Why it is cheap: nothing goes to the host per layer. Parameter hooks only collect the gradients
autograd writes; their norms are taken in one foreach call when backward ends (measured as fast as
norming small groups while they are still in cache, and ~40 µs of Python cheaper per step). A step's
numbers are stacked into one tensor and moved to the host once; rows are built in batches. Steps
that are not recorded run two hooks on the root module only. Used in notebooks/07_monitoring.

Real training (README, "Using gradlab on your own model"): any device (numbers reach the host
through gradlab.measure.host), autocast (low-precision sums are taken in float32), GradScaler
(`scaler=`: unscaled norms, skipped steps counted, monitor/scaling.py), gradient accumulation
(`step_on="optimizer"` or `"manual"`), DataParallel/DDP/torch.compile wrappers (monitor/wrapping.py:
names of the inner model; under DDP the gradients are the all-reduced ones and only rank 0
records), part of a model (`layers=`).
"""

from __future__ import annotations

import weakref
from functools import partial
from types import TracebackType

import numpy as np
import torch
import torch.optim.optimizer as optim_hooks
from torch import nn

from gradlab.diagnosis.report import Report, Thresholds
from gradlab.diagnosis.rules import find_problems
from gradlab.measure.hooks import (
    HookHandles,
    first_floating,
    first_tensor,
    register_gradient_hook,
)
from gradlab.measure.host import norms, to_numpy
from gradlab.monitor.history import History, NonFiniteEvent, Recording
from gradlab.monitor.layer_hooks import LayerHooks
from gradlab.monitor.layers import LayerSelection, find_layers
from gradlab.monitor.scaling import GRADIENT_EVENTS, ScalerWatch
from gradlab.monitor.step import StepBuffer
from gradlab.monitor.step_modes import StepEnds
from gradlab.monitor.updates import UpdateTracker
from gradlab.monitor.wrapping import COMPILED_MESSAGE, process_rank, unwrap

PARAM_QUANTITIES = ("grad_norm", "has_grad")
LAYER_QUANTITIES = (
    "layer_grad_norm",  # sqrt of the sum of the layer's squared parameter-gradient norms
    "output_grad_norm",  # ||dL/d output|| of the layer (summed over calls)
    "output_grad_rms",  # the same divided by sqrt(number of elements): comparable across layers
    "activation_mean",
    "activation_std",
    "fraction_dead",  # units after the layer whose activation derivative |f'(x)| < 0.01
    "fraction_saturated",  # of the sigmoid/tanh module right after the layer
    "update_ratio",  # ||delta theta|| / ||theta|| across optimizer.step
    "called",  # 1 if the layer's forward ran in the step
)
STEP_MODES = ("forward", "optimizer", "manual")
STORE_BATCH = 16  # closed steps turned into history rows together (cheaper when cache is warm)


class GradientMonitor(LayerHooks, StepEnds):
    """Record per-layer gradient flow every `every` training steps of any nn.Module.

    A step is one forward call of `model` with gradients enabled (calls under torch.no_grad(),
    e.g. validation, are not counted), or with step_on="optimizer" one optimizer step. Use as a
    context manager or call attach() / detach().

    Args:
        model: the module to watch; layers are its submodules with their own trainable parameters.
        every: record every N-th step (step 0, N, 2N, ...).
        history_size: rows kept per quantity; older rows are dropped (bounded memory).
        activations: record activation mean/std and dead/saturated fractions.
        output_grads: record the gradient norm reaching each layer's output.
        updates: record each layer's update-to-data ratio ||delta W|| / ||W|| (W: the layer's
            largest parameter) across any torch.optim optimizer's step() that updates it.
        update_sample: estimate the update ratio from about this many elements per parameter, in
            evenly spaced chunks (None: exact, costs a copy of the parameters every recorded step).
        activation_sample: compute activation statistics on at most this many leading elements
            of a contiguous output, i.e. its first examples (None: all; large conv outputs make
            full passes expensive).
        step_on: what a training step is. "forward": each forward call of the model (the
            default). "optimizer": each step() of an optimizer (or GradScaler.step) that updates
            the watched parameters; all forward/backward passes before it (gradient
            accumulation) make one step, recorded with the accumulated gradient. "manual": call
            monitor.step() after the last backward of each step, before optimizer.step().
        scaler: the torch.amp.GradScaler of a mixed-precision loop: gradient norms are recorded
            unscaled, steps the scaler skips (inf/NaN scaled gradients) are counted, not reported
            as non_finite, and the report states the count and the loss scale.
        layers: watch only these layers: module names (a name includes the layers below it), a
            glob such as "h.*.mlp.*", or a predicate (name, module) -> bool. None: all.
        all_ranks: under torch.distributed only rank 0 records (the others attach nothing);
            True records on every rank.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        every: int = 1,
        history_size: int = 1000,
        activations: bool = True,
        output_grads: bool = True,
        updates: bool = True,
        update_sample: int | None = 4096,
        activation_sample: int | None = 1 << 16,
        step_on: str = "forward",
        scaler: object | None = None,
        layers: LayerSelection = None,
        all_ranks: bool = False,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an int >= 1, got {every!r}")
        if update_sample is not None and update_sample < 1:
            raise ValueError(f"update_sample must be None or >= 1, got {update_sample!r}")
        if activation_sample is not None and activation_sample < 1:
            raise ValueError(f"activation_sample must be None or >= 1, got {activation_sample!r}")
        if step_on not in STEP_MODES:
            raise ValueError(f"step_on must be one of {STEP_MODES}, got {step_on!r}")
        unwrapped = unwrap(model)
        if unwrapped.compiled and (activations or output_grads):
            raise ValueError(COMPILED_MESSAGE)
        self.activation_sample = activation_sample
        self.model, self.every, self.step_on = model, every, step_on
        self.activations, self.output_grads = activations, output_grads
        self.rank = process_rank()
        self._active = all_ranks or self.rank == 0
        self._distributed = unwrapped.distributed
        self._scaler = None if scaler is None else ScalerWatch(scaler)
        self._stepped = False  # step_on optimizer/manual: a step ended since the last forward
        self._deferred: StepBuffer | None = None  # DDP: the step whose gradients wait for allreduce

        found = find_layers(unwrapped.inner, layers)
        self._unwatched = found.unwatched
        self.layers, self.params = found.names, found.param_names
        self._layer_modules, self._params = found.modules, found.params
        self._param_layers, self._param_sizes = found.param_layers, found.param_sizes
        self._activation_modules = found.activation_modules
        self._layer_activation = [""] * len(self.layers)
        self._forward_order: list[int] = []
        tracked = found.largest_params  # an update ratio per layer: of its largest parameter
        self._updates = UpdateTracker(self._params, tracked, update_sample) if updates else None

        columns: dict[str, list[str]] = {"global_grad_norm": ["global"]}
        columns |= {q: self.params for q in PARAM_QUANTITIES}
        columns |= {q: self.layers for q in LAYER_QUANTITIES}
        if self._scaler is not None:
            columns["loss_scale"] = ["global"]
        self._history = History(columns, history_size)
        self._non_finite: NonFiniteEvent | None = None
        self.steps_seen = 0
        self._pending: StepBuffer | None = None
        self._closed: list[StepBuffer] = []
        self._last_layer: int | None = None
        self._handles = HookHandles()
        self._step_handles = HookHandles()  # hooks present only on recorded steps
        self._scratch_buffers: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}
        self._attached = False
        # weakly keyed by the optimizer: a freed optimizer's id() is reused by the next one made
        self._optimizers: weakref.WeakKeyDictionary[torch.optim.Optimizer, tuple[int, bool]] = (
            weakref.WeakKeyDictionary()
        )
        self._trainable: list[bool] = []  # requires_grad of each parameter when hooks went in

    # ----------------------------------------------------------------- attach / detach
    def attach(self) -> GradientMonitor:
        """Register the hooks; returns self."""
        if self._attached:
            raise RuntimeError("this GradientMonitor is already attached; call detach() first")
        self._attached = True
        if not self._active:  # another rank records
            return self
        model = self.model
        self._handles.append(
            model.register_forward_pre_hook(self._on_forward_start, with_kwargs=True)
        )
        self._handles.append(model.register_forward_hook(self._on_forward_end))
        if self.step_on == "optimizer":  # before the update tracker's hook: it needs the grads
            self._handles.append(optim_hooks.register_optimizer_step_pre_hook(self._on_optimizer))
        if self._scaler is not None:
            self._handles.append(
                self._scaler.watch_steps(self._on_scaler_step, self._recorded_step)
            )
        if self._updates is not None:
            self._handles.extend(self._updates.attach(lambda: self._pending))
        return self

    def detach(self) -> None:
        """Remove every hook and store the pending steps; safe to call twice."""
        self._handles.remove_all()
        self._step_handles.remove_all()
        self._attached = False
        if self._pending is not None:
            self._pending.remove_tensor_hooks()
        self._close_pending()
        self._store_closed()

    def __enter__(self) -> GradientMonitor:
        return self.attach()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.detach()

    # ----------------------------------------------------------------- results
    def _bring_up_to_date(self) -> None:
        """Store every finished step, including one whose backward is done but not stepped."""
        pending = self._pending
        ended = self.step_on == "forward" or self._stepped
        if pending is not None and pending.backward_done and ended:
            self._close_pending()
        self._store_closed()

    @property
    def history(self) -> History:
        """The bounded history of recorded steps, up to date."""
        self._bring_up_to_date()
        return self._history

    @property
    def non_finite(self) -> NonFiniteEvent | None:
        """The first recorded step and layer where a value became NaN/inf, or None."""
        self._bring_up_to_date()
        return self._non_finite

    def recording(self) -> Recording:
        """The measured quantities so far, with names, for diagnosis and plotting."""
        history = self.history
        return Recording(
            layers=list(self.layers),
            layer_types=[type(m).__name__ for m in self._layer_modules],
            layer_activations=list(self._layer_activation),
            forward_order=list(self._forward_order),
            params=list(self.params),
            param_layers=self._param_layers.copy(),
            param_sizes=self._param_sizes.copy(),
            param_norms=norms(self._params),
            frozen=np.array([not p.requires_grad for p in self._params], dtype=bool),
            history=history,
            non_finite=self._non_finite,
            steps_seen=self.steps_seen,
            every=self.every,
        )

    def report(
        self, *, clip_threshold: float | None = None, thresholds: Thresholds | None = None
    ) -> Report:
        """Diagnose the recorded history; pass the clip_grad_norm_ max_norm you use, if any."""
        if not self._active:
            note = (
                f"rank {self.rank}: gradlab records on rank 0 only (pass all_ranks=True to "
                "record on every rank)."
            )
            return Report(notes=[note])
        recording = self.recording()
        report = find_problems(recording, clip_threshold=clip_threshold, thresholds=thresholds)
        if self._scaler is not None:
            report.notes.append(self._scaler.summary(len(recording.history)))
        return report

    @property
    def scaler_skipped_steps(self) -> list[int]:
        """Recorded steps the GradScaler skipped (inf/NaN scaled gradients); [] without one."""
        self._bring_up_to_date()
        return [] if self._scaler is None else list(self._scaler.skipped_steps)

    def to_numpy(self) -> dict[str, np.ndarray]:
        """The history as arrays (rows = recorded steps); column names are .params / .layers."""
        return self.recording().history.to_numpy()

    def to_dict(self) -> dict[str, object]:
        """The history as plain dicts and lists, keyed by parameter or layer name."""
        return self.recording().to_dict()

    # ----------------------------------------------------------------- step bookkeeping
    def _close_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        pending.close()
        if pending.backward_done:  # a forward without backward records nothing
            self._closed.append(pending)

    def _store_closed(self) -> None:
        """Turn closed steps into history rows: one host transfer and one row build per run of
        steps that recorded the same layers in the same order (usually all of them)."""
        closed, self._closed = self._closed, []
        start = 0
        while start < len(closed):
            first = closed[start]
            signature = first.signature()
            end = start + 1
            while end < len(closed) and closed[end].signature() == signature:
                end += 1
            run = closed[start:end]
            start = end
            if first.called and not self._forward_order:
                self._forward_order = list(dict.fromkeys(first.called))
            if first.stacked is None:
                flat = np.zeros((len(run), 0))
            else:
                flat = to_numpy(torch.stack([p.stacked for p in run]))
            rows, event = self._rows(first, flat)
            if self._scaler is not None:
                event = self._unscale(run, flat, rows, event)
            if self._non_finite is None and event is not None:
                row, quantity, index, is_param = event
                layer_index = self._param_layers[index] if is_param else index
                layer = self.layers[layer_index] if self.layers else ""
                self._non_finite = NonFiniteEvent(run[row].step, layer, quantity)
            self._history.extend([p.step for p in run], rows)

    def _rows(
        self, first: StepBuffer, flat: np.ndarray
    ) -> tuple[dict[str, np.ndarray], tuple[int, str, int, bool] | None]:
        """History rows of steps shaped like `first` and their first non-finite event."""
        return first.to_rows(
            flat,
            n_layers=len(self.layers),
            param_layers=self._param_layers,
            param_sizes=self._param_sizes,
            layer_hooks=self.activations or self.output_grads,
        )

    def _unscale(
        self,
        run: list[StepBuffer],
        flat: np.ndarray,
        rows: dict[str, np.ndarray],
        event: tuple[int, str, int, bool] | None,
    ) -> tuple[int, str, int, bool] | None:
        """Divide the gradient rows by each step's loss scale; steps whose gradients are
        non-finite were skipped by the scaler, not broken: count them, and return the first
        non-finite event that is not one of them (a forward-pass overflow still is)."""
        scaler = self._scaler
        assert scaler is not None
        scales, skipped = scaler.take([p.step for p in run])
        scaler.unscale(rows, scales)
        rows["loss_scale"] = scales[:, None]
        for row in np.flatnonzero(skipped == 1):
            scaler.skip(rows, row, run[row].step)
        offset = 0
        while event is not None and event[1] in GRADIENT_EVENTS:
            row = offset + event[0]
            if np.isnan(skipped[row]):  # no scaler.step() seen: non-finite grads mean skipped
                scaler.skip(rows, row, run[row].step)
            elif skipped[row] == 0:  # stepped: only the float32 norm of S x grad overflowed
                scaler.blank(rows, row)
            offset, event = row + 1, None
            if offset < len(run):
                _, later = self._rows(run[0], flat[offset:])
                event = None if later is None else (later[0] + offset, *later[1:])
        return event

    # ----------------------------------------------------------------- forward
    def _on_forward_start(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if not torch.is_grad_enabled():
            return
        if self.step_on == "forward":
            self._close_pending()
            step = self.steps_seen
            self.steps_seen += 1
        else:  # one step lasts until an optimizer step (or monitor.step()) ends it
            if self._stepped:
                self._stepped = False
                self._close_pending()
            step = self.steps_seen
        if len(self._closed) >= STORE_BATCH:
            self._store_closed()
        pending = self._pending
        if pending is None:
            if step % self.every:
                self._remove_step_hooks()
                return
            pending = self._pending = StepBuffer(step)
            self._install_step_hooks()
        pending.forward_done = False  # another micro-batch of an accumulated step
        self._last_layer = None
        x = first_floating(args) if args else None
        if x is None and kwargs:
            x = first_floating(kwargs)
        if x is not None:
            total = x.detach().sum(dtype=torch.float32)  # one kernel; NaN/inf in x makes it so
            pending.input_sum = total if pending.input_sum is None else pending.input_sum + total

    def _on_forward_end(self, module: nn.Module, args: tuple, output: object) -> None:
        pending = self._pending
        if pending is None or not torch.is_grad_enabled() or pending.forward_done:
            return
        pending.forward_done = True
        # One hook on the model's output tells us backward started, whatever else is hooked.
        out = first_tensor(output, requiring_grad=True)
        if out is not None:
            hook = partial(self._on_backward, pending)
            pending.tensor_hooks.append(register_gradient_hook(out, hook))

    def _install_step_hooks(self) -> None:
        # A parameter frozen (or unfrozen) since the hooks went in, e.g. a backbone frozen for
        # fine-tuning: a frozen one cannot take a gradient hook, so the hooks are made again.
        trainable = [p.requires_grad for p in self._params]
        if self._step_handles and trainable == self._trainable:
            return
        self._step_handles.remove_all()
        self._trainable = trainable
        handles = []
        if self.step_on == "forward":  # else the gradients are read when the step ends
            handles += [
                p.register_post_accumulate_grad_hook(partial(self._on_param_grad, i))
                for i, p in enumerate(self._params)
                if p.requires_grad
            ]
        if self.activations or self.output_grads:
            for index, module in enumerate(self._layer_modules):
                # prepend: when the root itself is a layer (e.g. a bare nn.LSTM), its layer hook
                # must run before _on_forward_end marks the forward as done.
                hook = self._layer_hook(index)
                handles.append(module.register_forward_hook(hook, prepend=True))
            for module in self._unwatched:  # their activations are not the watched layer's
                handles.append(module.register_forward_hook(self._forget_last_layer))
        if self.activations:
            for module, kind in self._activation_modules:
                handles.append(module.register_forward_hook(self._activation_hook(kind)))
        self._step_handles.extend(handles)

    def _forget_last_layer(self, module: nn.Module, args: tuple, output: object) -> None:
        self._last_layer = None

    def _remove_step_hooks(self) -> None:
        self._step_handles.remove_all()

    # ----------------------------------------------------------------- backward
    def _on_backward(self, pending: StepBuffer, grad_outputs: object = None) -> None:
        if pending is self._pending and not pending.callback_queued:
            pending.callback_queued = True
            engine = torch.autograd.Variable._execution_engine
            engine.queue_callback(partial(self._on_backward_end, pending))

    def _on_output_grad(
        self, pending: StepBuffer, index: int, size: int, output_nr: int, grad_outputs: tuple
    ) -> None:
        grad = grad_outputs[output_nr]
        if pending is not self._pending or grad is None:
            return
        if not pending.callback_queued:  # _on_backward's own check, without the call
            self._on_backward(pending)
        pending.grad_out_layers.append(index)
        pending.grad_out_sizes.append(size)
        grad = grad.detach()
        wide = torch.float32 if grad.element_size() < 4 else None  # float16 norms overflow
        pending.grad_out_values.append(torch.linalg.vector_norm(grad, dtype=wide))

    def _on_param_grad(self, index: int, param: torch.Tensor) -> None:
        """After autograd accumulated param.grad: keep it (normed with the others at the end)."""
        pending, grad = self._pending, param.grad
        if (
            pending is None or pending.backward_done or grad is None
        ):  # None: an earlier hook took it
            return
        if not pending.callback_queued:
            self._on_backward(pending)
        pending.grad_params.append(index)
        # The tensor, not param.grad later: a hook may step and clear .grad during backward.
        pending.grad_group.append(grad)

    def _on_backward_end(self, pending: StepBuffer) -> None:
        """Runs once when autograd finishes: every .grad of this backward is accumulated."""
        if pending is not self._pending or self.step_on != "forward":
            return
        if self._distributed and self._deferred is not pending:
            # DDP all-reduces the gradients in its own end-of-backward callback, queued after
            # ours: queue ours again so the norms are of the averaged gradients.
            self._deferred = pending
            engine = torch.autograd.Variable._execution_engine
            engine.queue_callback(partial(self._on_backward_end, pending))
            return
        pending.norm_gradients()
        pending.backward_done = True
        if self._scaler is not None:
            self._scaler.remember(pending.step, unscaled=False)
