"""When a GradientMonitor's training step ends: with step_on="optimizer" at an optimizer's (or
GradScaler's) step, with step_on="manual" at monitor.step(); the gradient recorded is then the
accumulated .grad the optimizer is about to use (gradient accumulation, several models).

A mixin of gradlab.monitor.gradient_monitor.GradientMonitor (it reads the monitor's pending
StepBuffer and watched parameters). Used in README "Using gradlab on your own model".
"""

from __future__ import annotations

import torch


class StepEnds:
    """Ends training steps on optimizer steps or monitor.step() (mixed into GradientMonitor)."""

    def step(self) -> None:
        """End the current training step (step_on="manual"): call it after the step's last
        backward and before optimizer.step(), so the accumulated gradient is the one recorded."""
        if self.step_on != "manual":
            raise RuntimeError(
                f"monitor.step() is for step_on='manual'; this monitor has step_on="
                f"{self.step_on!r}, where steps are counted for you"
            )
        if self._attached and self._active:
            self._end_of_step()

    def _on_optimizer(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        """Global optimizer pre-step hook: an optimizer updating watched parameters ends a step."""
        if self._owns(optimizer):
            self._end_of_step()

    def _on_scaler_step(self, optimizer: torch.optim.Optimizer, unscaled: bool) -> None:
        """GradScaler.step(optimizer), which skips optimizer.step() when gradients overflow."""
        if self.step_on == "optimizer" and self._owns(optimizer):
            self._end_of_step(unscaled=unscaled)

    def _recorded_step(self) -> int | None:
        """The step being recorded, if its gradients are in (for the scaler's verdict on it)."""
        pending = self._pending
        return pending.step if pending is not None and pending.backward_done else None

    def _owns(self, optimizer: torch.optim.Optimizer) -> bool:
        """Whether `optimizer` updates any watched parameter (cached per param-group layout)."""
        size = sum(len(g["params"]) for g in optimizer.param_groups)
        cached = self._optimizers.get(optimizer)
        if cached is None or cached[0] != size:
            watched = {id(p) for p in self._params}
            owned = any(id(p) in watched for g in optimizer.param_groups for p in g["params"])
            cached = self._optimizers[optimizer] = (size, owned)
        return cached[1]

    def _end_of_step(self, *, unscaled: bool = False) -> None:
        """The step's gradients are complete: record them (once) and end the step."""
        if not self._stepped:  # a second optimizer in the same step is the same step
            self._stepped = True
            self.steps_seen += 1
        pending = self._pending
        if pending is None or pending.backward_done:
            return
        for index, param in enumerate(self._params):
            if param.grad is not None:
                pending.grad_params.append(index)
                pending.grad_group.append(param.grad)
        pending.norm_gradients()
        pending.backward_done = True
        if self._scaler is not None:
            self._scaler.remember(pending.step, unscaled=unscaled)
