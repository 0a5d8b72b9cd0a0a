"""Diagnosis rules: from recorded quantities to findings with evidence and a concrete fix.

The rules follow the diagnosis table (NaN loss, early-layer gradients near zero, huge
gradients, huge activations, activations mostly zero, gradients None) plus update-to-data ratio and
clipping checks. They read a Recording only, so they are the same for gradlab.diagnose() (one
batch) and GradientMonitor.report() (a training history). Used in notebooks/07_monitoring.
"""

from __future__ import annotations

import warnings

import numpy as np

from gradlab.diagnosis.activations import activation_findings
from gradlab.diagnosis.flow import (
    depth_profile,
    exploding_finding,
    relative_gradients,
    vanishing_finding,
)
from gradlab.diagnosis.report import SEVERITIES, Finding, Report, Thresholds, severity_of
from gradlab.formatting import format_magnitude
from gradlab.monitor.history import NonFiniteEvent, Recording
from gradlab.training.clipping import clipping_effect


def find_problems(
    recording: Recording,
    *,
    clip_threshold: float | None = None,
    thresholds: Thresholds | None = None,
    update_ratio: np.ndarray | None = None,
    loss: float | None = None,
) -> Report:
    """Apply every rule to a recording; findings sorted root causes first, then errors first.

    Args:
        recording: what a GradientMonitor measured.
        clip_threshold: the max_norm given to clip_grad_norm_, if any.
        thresholds: warning/error levels; Thresholds() by default.
        update_ratio: per-layer update ratios to use instead of the recorded ones (e.g. lr·|g|/|θ|).
        loss: the loss value, when known (a non-finite loss is a finding even with finite grads).
    """
    limits = thresholds or Thresholds()
    history = recording.history
    findings: list[Finding] = []
    event = recording.non_finite
    if event is None and loss is not None and not np.isfinite(loss):
        step = int(history.steps[-1]) if len(history) else 0
        event = NonFiniteEvent(step, "", "loss")
    if event is not None:
        findings.append(_non_finite(event))
    findings += _no_grad(recording)

    # The other rules read finite steps only (before the first non-finite value).
    rows = np.ones(len(history), dtype=bool)
    if event is not None:
        rows = history.steps < event.step
    if rows.any():
        medians = {name: _median(history.get(name)[rows]) for name in history.columns}
        if update_ratio is not None:
            medians["update_ratio"] = np.asarray(update_ratio, dtype=float)
        global_norms = history.get("global_grad_norm")[rows, 0]
        groups = depth_profile(recording, relative_gradients(recording, rows))
        findings += vanishing_finding(groups, limits)
        findings += exploding_finding(recording, medians, groups, limits)
        findings += activation_findings(recording, medians, limits)
        findings += _updates(recording, medians, limits)
        if clip_threshold is not None:
            findings += _clipping(global_norms, clip_threshold, limits)

    findings = _triage(findings, recording)
    if event is not None and event.quantity != "input":
        findings = _non_finite_as_consequence(findings)
    return Report(findings=findings, steps=len(history))


# Root causes first (Exercise 7.4's triage): a NaN in the data, a cut graph, dead or saturated
# units cause the vanishing or exploding gradients and odd update ratios reported after them.
# Huge activations come before exploding gradients: the forward pass runs first, and a weight's
# gradient is its input activation times the gradient reaching its output.
TRIAGE_ORDER = (
    "non_finite",
    "no_grad",
    "dead_units",
    "saturation",
    "large_activations",
    "exploding",
    "vanishing",
    "bad_update_ratio",
    "clipping_too_aggressive",
)


def _triage(findings: list[Finding], recording: Recording) -> list[Finding]:
    """Root causes first (TRIAGE_ORDER), then errors before warnings, then in forward order.

    A cause leads even as a warning: inputs x255 give large activations at the first layer (a
    warning) and, from them, exploding gradients further on (an error); fixing the first fixes both.
    """
    forward = recording.layers_in_forward_order()
    position = {recording.layers[i]: rank for rank, i in enumerate(forward)}

    def key(finding: Finding) -> tuple[int, int, int]:
        kind = finding.kind
        cause = TRIAGE_ORDER.index(kind) if kind in TRIAGE_ORDER else len(TRIAGE_ORDER)
        return cause, SEVERITIES.index(finding.severity), position.get(finding.layer, -1)

    return sorted(findings, key=key)


def _non_finite_as_consequence(findings: list[Finding]) -> list[Finding]:
    """Move a non-finite value that training produced behind the errors found before it.

    A NaN or inf in the activations, gradients or loss is where a problem ends, not where it
    starts (Chapter 3): when the finite steps before it already show errors (huge activations,
    exploding gradients, too-large updates), those lead the report and the non-finite finding
    names itself their consequence. A NaN in the input batch stays first: the data is the cause.
    """
    non_finite = [f for f in findings if f.kind == "non_finite"]
    rest = [f for f in findings if f.kind != "non_finite"]
    errors = [i for i, f in enumerate(rest) if f.severity == "error"]
    if not non_finite or not errors:
        return findings
    first = rest[0]
    where = f"'{first.layer}'" if first.layer else "the whole model"
    consequences = [
        Finding(
            f.kind,
            f.layer,
            f.severity,
            f.evidence + f" A consequence of the findings above, measured on the finite steps "
            f"before it; they start with {first.kind} at {where}.",
            "fix the first finding above; " + f.fix,
        )
        for f in non_finite
    ]
    after = errors[-1] + 1
    return rest[:after] + consequences + rest[after:]


def _median(block: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, fine
        return np.nanmedian(block, axis=0) if len(block) else np.full(block.shape[1], np.nan)


def _non_finite(event: NonFiniteEvent) -> Finding:
    fixes = {
        "input": "the batch itself contains NaN/inf: check the data pipeline "
        "(torch.isfinite(x).all()), missing values, and normalization dividing by a zero std.",
        "activation": "the forward pass overflowed here: lower the learning rate, clip gradients "
        "(torch.nn.utils.clip_grad_norm_), and use He/Xavier init or normalization layers.",
        "output_grad": "the gradient overflowed flowing back into this layer: lower the learning "
        "rate, clip gradients; if this is the last layer, check log/sqrt/division in the loss "
        "(use CrossEntropyLoss on logits, add an eps).",
        "param_grad": "this parameter's gradient overflowed: lower the learning rate and clip "
        "gradients (torch.nn.utils.clip_grad_norm_).",
        "loss": "the loss is NaN/inf: check the loss for log(0), sqrt of negatives, division by "
        "zero (use CrossEntropyLoss on logits, add an eps) and the targets for NaN.",
    }
    return Finding("non_finite", event.layer, "error", str(event) + ".", fixes[event.quantity])


def _no_grad(recording: Recording) -> list[Finding]:
    history = recording.history
    if not len(history):
        return []
    has_grad = history.get("has_grad")
    called = history.get("called")
    findings = []
    for index, layer in enumerate(recording.layers):
        mine = np.flatnonzero(recording.param_layers == index)
        # frozen on purpose (requires_grad False now) is not missing
        missing = [
            recording.params[i]
            for i in mine
            if not has_grad[:, i].any() and not recording.frozen[i]
        ]
        if not missing:
            continue
        ran = called[:, index]
        if np.isnan(ran).all():
            cause = "it is unused or its output is detached from the loss"
        elif not ran.any():
            cause = "its forward never ran: the module is unused"
        else:
            cause = "its forward ran but its output does not reach the loss (detached graph)"
        findings.append(
            Finding(
                "no_grad",
                layer,
                "error",
                f"{', '.join(missing)} got no gradient in {len(history)} recorded steps: {cause}.",
                "look for .detach(), torch.no_grad(), .data, .item()/.numpy() or a non-"
                "differentiable op (argmax, round) between this layer and the loss; delete the "
                "module if it is unused; to freeze it on purpose call requires_grad_(False).",
            )
        )
    return findings


def _updates(recording: Recording, medians: dict, limits: Thresholds) -> list[Finding]:
    names = recording.layers
    ratio = medians["update_ratio"]
    measured = [i for i in range(len(names)) if np.isfinite(ratio[i])]
    # The output layer (last to run) is judged at the error level only: its few weights
    # take the loss gradient first and run higher than hidden layers in healthy training.
    output = (list(recording.forward_order) or [len(names) - 1])[-1]
    warning, error = limits.update_ratio_high_warning, limits.update_ratio_high_error
    findings = []
    high = [i for i in measured if ratio[i] >= (error if i == output else warning)]
    if high:
        worst = max(high, key=lambda i: ratio[i])
        findings.append(
            Finding(
                "bad_update_ratio",
                names[worst],
                severity_of(ratio[worst], warning, error),
                f"update/data ratio {format_magnitude(ratio[worst])} at '{names[worst]}' "
                f"({len(high)} of "
                f"{len(measured)} layers above {warning:g}, the output layer above {error:g}; "
                "about 1e-3 is typical, and output layers and weights followed by BatchNorm "
                "often run higher): each step changes the weights by a large part of their own norm.",
                "lower the learning rate (try 3-10x smaller) or add warmup; watch the ratio "
                "settle near 1e-3.",
            )
        )
    low = [i for i in measured if ratio[i] < limits.update_ratio_low_warning]
    if low:
        worst = min(low, key=lambda i: ratio[i])
        findings.append(
            Finding(
                "bad_update_ratio",
                names[worst],
                "warning",
                f"update/data ratio {format_magnitude(ratio[worst])} at '{names[worst]}' "
                f"({len(low)} of "
                f"{len(measured)} layers below {limits.update_ratio_low_warning:g}): these "
                "weights barely move.",
                "raise the learning rate, or fix vanishing gradients (reported separately) "
                "that starve these layers.",
            )
        )
    return findings


def _clipping(global_norms: np.ndarray, clip_threshold: float, limits: Thresholds) -> list:
    norms = global_norms[np.isfinite(global_norms)]
    if clip_threshold <= 0:
        raise ValueError(
            f"clip_threshold must be > 0 (clip_grad_norm_'s max_norm), got {clip_threshold!r}"
        )
    if not len(norms):
        return []
    # The same computation as Chapter 6's clipping_effect (lr=1: the scale the steps were given).
    effect = clipping_effect(norms, clip_threshold, lr=1.0)
    clipped = effect.fraction_clipped
    factor = effect.median_norm / clip_threshold
    if clipped < limits.clipped_fraction or factor < limits.clipped_factor:
        return []
    return [
        Finding(
            "clipping_too_aggressive",
            "",
            "warning",
            f"the global gradient norm exceeded max_norm={clip_threshold:g} on {clipped:.0%} of "
            f"{len(norms)} recorded steps, median {factor:.0f}x the threshold: clipping rescales "
            "those steps, so the learning rate is effectively divided by "
            f"{1 / effect.mean_scale:.0f} (lr x mean of min(1, max_norm/norm)).",
            f"raise max_norm to about the typical norm ({np.percentile(norms, 90):.3g} is the "
            "90th percentile) so clipping only catches spikes, or lower the learning rate.",
        )
    ]
