"""Which parts of a model a GradientMonitor watches: its layers, their parameters, activations.

A layer is a module with trainable parameters of its own (recurse=False): nn.Linear, nn.Conv2d,
nn.LayerNorm, a bare nn.LSTM, or a custom module holding an nn.Parameter. A parameter shared by
two modules belongs to the first one in named_modules() order, so every parameter is counted once.
Activation modules (ReLU, Tanh, ...) that are not layers themselves are listed with their kind, so
their dead or saturated fraction can be attributed to the layer that ran before them.
Used by gradlab.monitor.gradient_monitor (notebooks/07_monitoring).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
from torch import nn

from gradlab.measure.activation_stats import classify_activation


@dataclass(frozen=True)
class ModelLayers:
    """A model's layers and trainable parameters, in named_modules() order."""

    names: list[str]  # each layer's module path, e.g. 'layers.3.linear' ('' for the model itself)
    modules: list[nn.Module]  # the layer modules, same order as names
    param_names: list[str]  # 'layer path.parameter name' of every trainable parameter
    params: list[nn.Parameter]  # the parameters, same order as param_names
    param_layers: np.ndarray  # int64, shape (params,): index into names of each parameter's layer
    param_sizes: np.ndarray  # int64, shape (params,): number of elements of each parameter
    activation_modules: list[tuple[nn.Module, str]]  # (module, kind) of activations not layers
    largest_params: list[int]  # per layer, the index of its largest parameter, ascending
    unwatched: list[nn.Module]  # layers left out by `layers=` (they still run)


# What `layers=` accepts: layer names or prefixes, a glob, or a predicate on (name, module).
LayerSelection = str | Collection[str] | Callable[[str, nn.Module], bool] | None


def selector(layers: LayerSelection, model: nn.Module) -> Callable[[str, nn.Module], bool]:
    """A predicate for `layers=`: a name also selects every layer below it ('h.3' -> 'h.3.attn').

    A string is a glob (fnmatch: 'h.*.mlp.*'); a collection lists names or prefixes, each of which
    must name a module of the model (a typo would otherwise watch nothing, silently).
    """
    if layers is None:
        return lambda name, module: True
    if callable(layers):
        return lambda name, module: bool(layers(name, module))
    if isinstance(layers, str):
        pattern = layers
        return lambda name, module: fnmatch.fnmatchcase(name, pattern)
    if not isinstance(layers, Collection) or not all(isinstance(n, str) for n in layers):
        raise TypeError(
            "layers must be None, a glob string, a list of module names, or a predicate "
            f"(name, module) -> bool; got {type(layers).__name__}"
        )
    known = dict(model.named_modules())
    unknown = [n for n in layers if n not in known]
    if unknown:
        examples = ", ".join(repr(n) for n in list(known)[1:6])
        raise ValueError(
            f"layers: no module named {unknown} in the model (modules: {examples}, ...)"
        )
    prefixes = tuple(n + "." for n in layers if n)
    names = set(layers)
    if "" in names:  # the whole model
        return lambda name, module: True
    return lambda name, module: name in names or name.startswith(prefixes)


def find_layers(model: nn.Module, layers: LayerSelection = None) -> ModelLayers:
    """The layers of `model`: modules owning trainable parameters, each parameter counted once.

    `layers` (see selector) keeps only some of them; the others are listed in `unwatched`.
    """
    chosen = selector(layers, model)
    unwatched: list[nn.Module] = []
    names: list[str] = []
    modules: list[nn.Module] = []
    param_names: list[str] = []
    params: list[nn.Parameter] = []
    param_layers: list[int] = []
    seen: set[int] = set()
    for name, module in model.named_modules():
        own = [
            (f"{name}.{p_name}" if name else p_name, p)
            for p_name, p in module.named_parameters(recurse=False)
            if p.requires_grad and id(p) not in seen
        ]
        seen |= {id(p) for _, p in own}
        if own and not chosen(name, module):
            unwatched.append(module)
        elif own:
            param_layers += [len(names)] * len(own)
            names.append(name)
            modules.append(module)
            param_names += [p_name for p_name, _ in own]
            params += [p for _, p in own]
    activation_modules = [
        (module, kind)
        for module in model.modules()
        if (kind := classify_activation(module)) and module not in modules + unwatched
    ]
    return ModelLayers(
        names=names,
        modules=modules,
        param_names=param_names,
        params=params,
        param_layers=np.asarray(param_layers, dtype=np.int64),
        param_sizes=np.asarray([p.numel() for p in params], dtype=np.int64),
        activation_modules=activation_modules,
        largest_params=_largest_params(param_layers, params),
        unwatched=unwatched,
    )


def _largest_params(param_layers: list[int], params: list[nn.Parameter]) -> list[int]:
    """Per layer, the index of its largest parameter (the first of equal sizes), ascending."""
    largest: dict[int, int] = {}
    for i, layer in enumerate(param_layers):
        if layer not in largest or params[i].numel() > params[largest[layer]].numel():
            largest[layer] = i
    return sorted(largest.values())
