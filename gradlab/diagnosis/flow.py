"""The gradient-flow profile through depth that the vanishing and exploding rules judge.

Per layer, the relative gradient ||dL/dW|| / ||W||, W all the layer's parameters. It is the size of
a plain SGD step relative to the weights it changes: the step is -lr * dL/dW, so
||step|| / ||W|| = lr * ||dL/dW|| / ||W||. Two layers whose relative gradients differ by 1e4 learn
1e4 times apart at any one learning rate: the one that suits the first barely moves the second.
Being a ratio it does not depend on the size of a layer's output: a conv layer whose 28x28 map
is average-pooled gets a tiny gradient per output element, but its weight gradient sums them all.

Layers that are small by construction are left out (normalization gains and biases, embeddings,
whose rows of rare tokens get no gradient), and layers are grouped by depth: layers whose path
shares the prefix up to and including the first all-digit component ('h.0', 'encoder.layer.3',
'layer1.0', 'blocks.7') form one block whose value is the largest of its layers'. So a block's
attention query and key projections, tiny at init where the softmax is nearly uniform, do not
count as long as the block's value or MLP weights receive gradient. A layer path without a digit
component is its own group.

What it cannot see: a uniformly mis-scaled init (every layer's weights too large or too small by
one factor) scales activations and output gradients together, so ||dL/dW||/||W|| stays flat
through depth. The exploding rule therefore also reads the gradient norm reaching each layer's
output (the chain rule's quantity) and the global norm; a uniformly too-small init shows as tiny
activations and a tiny global norm, not as a fall through depth.
Used by gradlab.diagnosis.rules (notebooks/07_monitoring).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from gradlab.diagnosis.report import Finding, Thresholds, severity_of
from gradlab.formatting import format_factor, format_magnitude
from gradlab.monitor.history import Recording

# Layer types (Recording.layer_types holds class names) left out of the depth profile.
NORMALIZATION_TYPES = frozenset(
    {
        "BatchNorm1d",
        "BatchNorm2d",
        "BatchNorm3d",
        "SyncBatchNorm",
        "LazyBatchNorm1d",
        "LazyBatchNorm2d",
        "LazyBatchNorm3d",
        "LayerNorm",
        "GroupNorm",
        "RMSNorm",
        "InstanceNorm1d",
        "InstanceNorm2d",
        "InstanceNorm3d",
        "LocalResponseNorm",
    }
)
EMBEDDING_TYPES = frozenset({"Embedding", "EmbeddingBag"})


@dataclass(frozen=True)
class DepthGroup:
    """One step of depth in the profile: a block of layers, or a single layer."""

    name: str  # the shared prefix, e.g. 'encoder.layer.3', or the layer's own path
    value: float  # the largest relative gradient ||dL/dW|| / ||W|| among its layers
    smallest: str  # the layer with the smallest relative gradient in the group
    smallest_value: float
    largest: str  # the layer with the largest (the group's value)


def depth_group(layer: str) -> str:
    """The path up to and including its first all-digit component ('h.0.attn' -> 'h.0').

    A path without one is its own group ('fc' -> 'fc').
    """
    parts = layer.split(".")
    for i, part in enumerate(parts):
        if part.isdigit():
            return ".".join(parts[: i + 1])
    return layer


def relative_gradients(recording: Recording, rows: np.ndarray | None = None) -> np.ndarray:
    """Per layer, the median over rows of ||dL/dW|| / ||W||, W all its parameters; (layers,).

    ||W|| is the root of the sum of the layer's squared parameter norms when the recording was
    made, ||dL/dW|| the recorded layer_grad_norm (the same sum for the gradients). NaN for a layer
    of norm 0 (nothing to be relative to) or without a gradient.
    """
    grad_norms = recording.history.get("layer_grad_norm")
    if rows is not None:
        grad_norms = grad_norms[rows]
    squares = np.bincount(
        recording.param_layers, recording.param_norms**2, minlength=len(recording.layers)
    )
    norms = np.sqrt(squares)
    if not len(grad_norms):
        return np.full(len(recording.layers), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no gradient, NaN is right
        median = np.nanmedian(grad_norms, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norms > 0, median / norms, np.nan)


def depth_profile(recording: Recording, values: np.ndarray) -> list[DepthGroup]:
    """The depth groups in forward order (by their first layer to run) with their values.

    Args:
        recording: what a GradientMonitor measured (layer names, types, forward order).
        values: one relative gradient per layer (relative_gradients), NaN where unknown.
    """
    order = recording.layers_in_forward_order()
    members: dict[str, list[int]] = {}
    for index in order:
        kind = recording.layer_types[index]
        if kind in NORMALIZATION_TYPES or kind in EMBEDDING_TYPES:
            continue
        if not np.isfinite(values[index]):
            continue
        members.setdefault(depth_group(recording.layers[index]), []).append(index)
    groups = []
    for name, layers in members.items():
        smallest = min(layers, key=lambda i: values[i])
        largest = max(layers, key=lambda i: values[i])
        groups.append(
            DepthGroup(
                name=name,
                value=float(values[largest]),
                smallest=recording.layers[smallest],
                smallest_value=float(values[smallest]),
                largest=recording.layers[largest],
            )
        )
    return groups


def _per_step(ratio: float, span: list[DepthGroup]) -> str:
    """'about ×0.25 per layer over 4 layers': the geometric mean factor over the span's steps."""
    steps = len(span) - 1
    unit = "layer" if all(g.name == g.smallest == g.largest for g in span) else "block"
    plural = "s" if steps != 1 else ""
    text = f"about {format_factor(ratio ** (1.0 / steps))} per {unit} over {steps} {unit}{plural}"
    return text + (" (a layer outside the blocks counts as one)" if unit == "block" else "")


def _falls(values: np.ndarray, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """(ratios, references): each group over the largest group after it and before `stop`.

    ratios[i] = values[i] / values[references[i]]; inf where no later group has a positive value.
    """
    ratios, references = np.full(len(values), np.inf), np.zeros(len(values), dtype=int)
    for i in range(min(stop, len(values)) - 1):
        top = i + 1 + int(np.argmax(values[i + 1 : stop]))
        references[i] = top
        if values[top] > 0:
            ratios[i] = values[i] / values[top]
    return ratios, references


def vanishing_finding(groups: list[DepthGroup], limits: Thresholds) -> list[Finding]:
    """Depth groups far below a larger group after them: the relative gradient falls with depth.

    Each group is compared with the largest one later in forward order (closer to the loss), and
    the first group below the threshold is reported (where the problem starts, as for the other
    rules; the first layer, fed the raw inputs, can sit a little above the second), at the layer
    with the smallest relative gradient in that group. The output layer (the last group) is a
    reference at the error level only, as in the update-ratio rule: it takes the loss gradient
    first, and its relative gradient runs 3 to 400 times above the hidden layers' in the healthy
    models of the tests (the 400 in a BERT-style model at init; against its std-0.02 pooler, the
    largest hidden layer, its encoder stays at about 1/50, above the warning's 1/100).
    """
    values = np.array([g.value for g in groups])
    severity = "error"
    ratios, references = _falls(values, len(values))  # against every later group
    below = np.flatnonzero(ratios < limits.vanishing_error)
    if not len(below):
        ratios, references = _falls(values, len(values) - 1)  # against later hidden groups
        below = np.flatnonzero(ratios < limits.vanishing_warning)
        if not len(below):
            return []
        severity = "warning"  # at least the error level: no later group is that far above
    low = int(below[0])
    top, ratio = int(references[low]), float(ratios[low])
    group, reference = groups[low], groups[top]
    if ratio > 0:
        measured = f"the relative gradient ||dL/dW||/||W|| of '{group.name}' is "
        if group.smallest != group.name:  # a block: its largest value, and where it is smallest
            measured = f"the largest relative gradient ||dL/dW||/||W|| in block '{group.name}' is "
        evidence = measured + format_magnitude(group.value)
        if group.smallest != group.name:
            evidence += (
                f" (smallest {format_magnitude(group.smallest_value)}, at '{group.smallest}')"
            )
        evidence += (
            f", {format_magnitude(ratio)} of the largest after it "
            f"({format_magnitude(reference.value)} at '{reference.name}'): "
            f"{_per_step(ratio, groups[low : top + 1])}"
        )
        with np.errstate(divide="ignore", invalid="ignore"):  # a later group may be 0
            steps = values[low:top] / values[low + 1 : top + 1]  # below 1: falls to the input
        fall = int(np.argmin(np.where(np.isnan(steps), np.inf, steps)))
        if top - low > 1 and steps[fall] < ratio**0.5:  # most of the fall in one step
            evidence += (
                f", most of it ({format_factor(steps[fall])}) from '{groups[low + fall].name}' "
                f"to '{groups[low + fall + 1].name}'"
            )
        evidence += (
            ". A plain SGD step changes these weights that many times less, relative to their "
            "size, than the later ones'."
        )
    else:
        evidence = (
            f"no gradient at all reaches '{group.smallest}' (||dL/dW|| exactly zero): a layer "
            "between it and the loss blocks it."
        )
    return [
        Finding(
            "vanishing",
            group.smallest,
            severity,
            evidence,
            "use ReLU-family activations with He (kaiming_normal_) init instead of "
            "sigmoid/tanh, add residual connections or normalization (LayerNorm/BatchNorm) for "
            "depth; if dead units are also reported, fix those first.",
        )
    ]


def output_gradient_profile(recording: Recording, medians: dict) -> tuple[list[int], np.ndarray]:
    """Per-layer ||dL/d output|| in forward order (else ||dL/d parameters||), where measured.

    The chain rule (Chapter 1) multiplies this norm layer by layer. Used for exploding only: a
    uniformly too-large init grows the activations and the gradients together, so the relative
    gradient stays flat (x1.03 across Chapter 7's too-large-init MLP) while this grows x3941.
    """
    order = recording.layers_in_forward_order()
    values = medians["output_grad_norm"]
    if np.isfinite(values).sum() < 2:
        values = medians["layer_grad_norm"]
    kept = [i for i in order if np.isfinite(values[i])]
    return kept, values[kept]


def exploding_finding(
    recording: Recording, medians: dict, groups: list[DepthGroup], limits: Thresholds
) -> list[Finding]:
    """Gradients growing towards the input, or a huge global norm.

    Three signals, any of which fires: the relative gradient of a depth group over the last
    group's; the gradient norm reaching a layer's output over the last layer's; the median
    global gradient norm. The first to fire names the layer.
    """
    names = recording.layers
    evidence, severities, where = [], [], ""
    values = np.array([g.value for g in groups])
    if len(values) >= 2 and values[-1] > 0:
        growth = values / values[-1]
        high = int(np.argmax(growth))
        severity = severity_of(growth[high], limits.exploding_warning, limits.exploding_error)
        if severity:
            where = groups[high].largest
            severities.append(severity)
            evidence.append(
                f"the relative gradient ||dL/dW||/||W|| of '{where}' is "
                f"{format_magnitude(growth[high])} times the one at the last layer "
                f"'{groups[-1].largest}'."
            )
    layers, profile = output_gradient_profile(recording, medians)
    if len(profile) >= 2 and profile[-1] > 0:
        growth = profile / profile[-1]
        high = int(np.argmax(growth))
        severity = severity_of(growth[high], limits.exploding_warning, limits.exploding_error)
        if severity:
            where = where or names[layers[high]]
            severities.append(severity)
            evidence.append(
                f"the gradient norm reaching '{names[layers[high]]}' is "
                f"{format_magnitude(growth[high])} times the one at the last layer "
                f"'{names[layers[-1]]}'."
            )
    global_norm = float(medians["global_grad_norm"][0])
    severity = severity_of(global_norm, limits.global_norm_warning, limits.global_norm_error)
    if severity:
        severities.append(severity)
        evidence.append(
            f"median global gradient norm {format_magnitude(global_norm)} "
            f"(above {limits.global_norm_warning:g} is large)."
        )
        if not where and np.isfinite(medians["layer_grad_norm"]).any():
            where = names[int(np.nanargmax(medians["layer_grad_norm"]))]
    if not evidence:
        return []
    return [
        Finding(
            "exploding",
            where,
            "error" if "error" in severities else "warning",
            " ".join(evidence),
            "scale the init down (He for ReLU: std = sqrt(2/fan_in); Xavier for tanh/sigmoid: "
            "std = sqrt(2/(fan_in+fan_out))), add normalization, lower the learning rate, and "
            "clip gradients (torch.nn.utils.clip_grad_norm_).",
        )
    ]
