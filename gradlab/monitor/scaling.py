"""Mixed precision with torch.amp.GradScaler: unscaled gradient norms and the scaler's skipped steps.

With a GradScaler the loss is multiplied by the scale S before backward, so every gradient the
hooks see is S times the true one: recorded gradient quantities are divided by S (the scale of
that step, copied on the device when backward ends, moved to the host with the other numbers).
When the scaled gradients overflow, scaler.step() skips optimizer.step() and lowers S: that is
the scaler working, not a model blowing up, so such a step is counted as skipped and its gradient
numbers are left out (NaN) instead of being reported as non_finite or exploding. Which steps it
skipped is the scaler's own decision (its found_inf flags, read after scaler.step()); a step
recorded without a scaler.step() call counts as skipped when its gradients are non-finite.
Used by gradlab.monitor.gradient_monitor.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from gradlab.measure.host import to_numpy


def _on_host(values: list[torch.Tensor | float]) -> np.ndarray:
    """Scalars and 0-d tensors as one float64 array, with one transfer for the tensors."""
    tensors = [v for v in values if isinstance(v, torch.Tensor)]
    host = iter(to_numpy(torch.stack([t.reshape(()) for t in tensors])) if tensors else [])
    return np.array([next(host) if isinstance(v, torch.Tensor) else v for v in values], float)


# Recorded quantities that scale with the loss (and so with S); activations do not.
SCALED_QUANTITIES = (
    "grad_norm",
    "layer_grad_norm",
    "global_grad_norm",
    "output_grad_norm",
    "output_grad_rms",
)
GRADIENT_EVENTS = ("output_grad", "param_grad")


class ScalerWatch:
    """Remembers the scale of each recorded step and unscales their rows."""

    def __init__(self, scaler: object) -> None:
        if not hasattr(scaler, "get_scale") or not hasattr(scaler, "is_enabled"):
            raise TypeError(
                f"scaler must be a torch.amp.GradScaler (or None), got {type(scaler).__name__}"
            )
        self.scaler = scaler
        self._scales: dict[int, torch.Tensor | float] = {}  # step -> its scale
        self._found_inf: dict[int, torch.Tensor] = {}  # step -> the scaler's inf/NaN flag
        self.skipped_steps: list[int] = []
        self.last_scale = float("nan")

    def remember(self, step: int, *, unscaled: bool) -> None:
        """Copy the current scale (on its device, no host sync) for recorded step `step`.

        unscaled: the gradients were already divided by it (scaler.unscale_ ran), so use 1.
        """
        scale = getattr(self.scaler, "_scale", None) if self.scaler.is_enabled() else None
        self._scales[step] = 1.0 if scale is None or unscaled else scale.detach().clone()

    def watch_steps(
        self,
        on_step: Callable[[torch.optim.Optimizer, bool], None],
        recorded_step: Callable[[], int | None],
    ) -> _Restore:
        """Wrap scaler.step(optimizer): call on_step(optimizer, unscaled) before it (also for
        the steps it skips, where no optimizer hook runs), and afterwards keep the scaler's
        found-inf flag for the step being recorded, if any. remove() restores the scaler."""
        scaler = self.scaler
        original = scaler.step

        def step(optimizer: torch.optim.Optimizer, *args: object, **kwargs: object) -> object:
            states = getattr(scaler, "_per_optimizer_states", {})
            state = states.get(id(optimizer), {})
            on_step(optimizer, getattr(state.get("stage"), "name", "") == "UNSCALED")
            result = original(optimizer, *args, **kwargs)
            found = states.get(id(optimizer), {}).get("found_inf_per_device", {})
            recorded = recorded_step()
            if found and recorded is not None:
                flag = (sum(v.detach().cpu().float() for v in found.values()) > 0).float()
                self._found_inf[recorded] = torch.maximum(
                    flag, self._found_inf.get(recorded, torch.zeros(()))
                )
            return result

        scaler.step = step
        return _Restore(scaler)

    def take(self, steps: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(scales, skipped) of `steps`, forgetting them: the scale as float64 (1 where none was
        remembered) and the scaler's verdict, 1 skipped, 0 stepped, NaN unknown (no scaler.step)."""
        scales = [self._scales.pop(step, 1.0) for step in steps]
        flags = [self._found_inf.pop(step, math.nan) for step in steps]
        values = _on_host(scales + flags)
        if len(steps):
            self.last_scale = float(values[len(steps) - 1])
        return values[: len(steps)], values[len(steps) :]

    def unscale(self, rows: dict[str, np.ndarray], scales: np.ndarray) -> None:
        """Divide every gradient quantity of `rows` (shape (steps, columns)) by its step's scale."""
        for name in SCALED_QUANTITIES:
            if name in rows:
                rows[name] = rows[name] / scales[:, None]

    def skip(self, rows: dict[str, np.ndarray], row: int, step: int) -> None:
        """Count `step` as skipped by the scaler and blank its gradient numbers (NaN)."""
        self.skipped_steps.append(step)
        self.blank(rows, row)

    def blank(self, rows: dict[str, np.ndarray], row: int) -> None:
        """Leave a row's gradient numbers out (NaN): not measured, e.g. the float32 norm of the
        scaled gradients overflowed although the scaler found them finite and stepped."""
        for name in SCALED_QUANTITIES:
            if name in rows:
                rows[name][row] = np.nan

    def summary(self, recorded: int) -> str:
        """One line for the report: skipped steps and the current scale."""
        return (
            f"GradScaler: {len(self.skipped_steps)} of {recorded} recorded steps had inf/NaN "
            f"scaled gradients and were skipped by the scaler (its normal back-off, not reported "
            f"as non_finite); gradient norms are unscaled; loss scale now {self.last_scale:g}."
        )


class _Restore:
    """Handle that removes the wrapper watch_steps put on a scaler instance."""

    def __init__(self, scaler: object) -> None:
        self.scaler = scaler

    def remove(self) -> None:
        self.scaler.__dict__.pop("step", None)
