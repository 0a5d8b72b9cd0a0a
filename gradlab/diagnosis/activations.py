"""Activation rules: huge activations, dead units (no gradient flows back), saturated units.

They read the activation statistics a GradientMonitor recorded (gradlab.measure.activation_stats)
and report where a problem starts in forward order: later layers often inherit it from the first.
Used by gradlab.diagnosis.rules (notebooks/07_monitoring).
"""

from __future__ import annotations

import numpy as np

from gradlab.diagnosis.report import Finding, Thresholds, severity_of
from gradlab.formatting import format_magnitude
from gradlab.measure.activation_stats import ACTIVATION_NAMES, DEAD_DERIVATIVE_THRESHOLD
from gradlab.monitor.history import Recording

DEAD_FIX = (
    "pre-activations are pushed where the activation is flat (a large negative bias, a too-high "
    "learning rate, bad init): use He init with zero bias, lower the learning rate, or use "
    f"LeakyReLU with negative_slope >= {DEAD_DERIVATIVE_THRESHOLD:g}, whose derivative never "
    "falls below that (GELU, SiLU and ELU are flat far on the negative side too)."
)
SATURATION_FIX = (
    "pre-activations are too large: use Xavier init for sigmoid/tanh, add normalization before "
    "the activation, standardize inputs, or use a ReLU-family activation in hidden layers."
)


def activation_findings(recording: Recording, medians: dict, limits: Thresholds) -> list[Finding]:
    """Findings from activation std and the dead and saturated fractions (medians per layer)."""
    return (
        _large_activations(recording, medians, limits)
        + _fraction_finding(recording, medians["fraction_dead"], "dead_units", limits)
        + _fraction_finding(recording, medians["fraction_saturated"], "saturation", limits)
    )


def _forward_order(recording: Recording) -> list[int]:
    return list(recording.forward_order) or list(range(len(recording.layers)))


def _large_activations(recording: Recording, medians: dict, limits: Thresholds) -> list[Finding]:
    names, std = recording.layers, medians["activation_std"]
    order = _forward_order(recording)
    large = [i for i in order if np.isfinite(std[i]) and std[i] >= limits.activation_std_warning]
    if not large:
        return []
    first, worst = large[0], max(large, key=lambda i: std[i])
    return [
        Finding(
            "large_activations",
            names[first],
            severity_of(std[worst], limits.activation_std_warning, limits.activation_std_error),
            f"output std {format_magnitude(std[first])} at '{names[first]}' (first of "
            f"{len(large)} layers above {limits.activation_std_warning:g}; largest "
            f"{format_magnitude(std[worst])} at '{names[worst]}').",
            "the init scale is too large or a normalization is missing: use He/Xavier init "
            "and add LayerNorm/BatchNorm; standardize the inputs.",
        )
    ]


def _meaning(kind: str, activation: str) -> str:
    """What the flagged units of this activation kind have in common, for the evidence."""
    if kind == "saturation":
        return "are saturated (derivative below its threshold)"
    if activation == "relu":  # exactly zero: the input was <= 0
        return "have f'(x) = 0 (input <= 0): no gradient flows back through them"
    return (
        f"have |f'(x)| < {DEAD_DERIVATIVE_THRESHOLD:g}: almost no gradient flows back through them"
    )


def _fraction_finding(
    recording: Recording, fraction: np.ndarray, kind: str, limits: Thresholds
) -> list[Finding]:
    """Dead or saturated units: reported where they start, with the worst layer's severity."""
    names = recording.layers
    if kind == "dead_units":
        warning, error, fix = limits.dead_warning, limits.dead_error, DEAD_FIX
    else:
        warning, error, fix = limits.saturated_warning, limits.saturated_error, SATURATION_FIX
    order = _forward_order(recording)
    bad = [i for i in order if np.isfinite(fraction[i]) and fraction[i] >= warning]
    if not bad:
        return []
    first, worst = bad[0], max(bad, key=lambda i: fraction[i])
    activation = recording.layer_activations[first]
    others = ", ".join(f"'{names[i]}'" for i in bad[1:6]) + (", ..." if len(bad) > 6 else "")
    evidence = (
        f"{fraction[first]:.0%} of the {ACTIVATION_NAMES.get(activation, activation)} outputs "
        f"after '{names[first]}' {_meaning(kind, activation)}."
    )
    if others:
        evidence += f" Also after {others} ({len(bad)} layers)."
    return [
        Finding(kind, names[first], severity_of(fraction[worst], warning, error), evidence, fix)
    ]
