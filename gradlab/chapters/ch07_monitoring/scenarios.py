"""The diagnosis table as data: for each signal, a broken model, its fix, what to expect.

Each Scenario pairs a broken set-up with the one change that fixes it (a Setup is a model
builder, how the batch is prepared, and a learning rate), plus the finding gradlab.diagnose()
should report for the broken one and where. Everything is small and seeded: a model builds in
milliseconds, so the notebook and the dashboard can rebuild it on every call.
Used in notebooks/07_monitoring (the table walk-through and the live dashboard).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from gradlab.diagnosis.diagnose import diagnose
from gradlab.diagnosis.report import Report

WIDTH = 32  # hidden units: big enough to show each problem, small enough to train in a blink
DEPTH = 6  # hidden layers of the default MLP: Linear layers 'linear1' ... 'linear6', then 'output'


def seeded_linear(in_features: int, out_features: int, generator: torch.Generator) -> nn.Linear:
    """nn.Linear with PyTorch's default init drawn from `generator`, not from the global RNG.

    The draws and their order are nn.Linear's own (kaiming_uniform_(a=sqrt(5)) for the weight,
    uniform(±1/sqrt(fan_in)) for the bias), so `torch.manual_seed(seed)` followed by the same
    nn.Linear(...) calls in a learner's own code gives the same weights.
    """
    layer = nn.Linear(in_features, out_features, device="meta").to_empty(device="cpu")
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    bound = 1 / math.sqrt(in_features)
    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


def he_init_(layer: nn.Linear, generator: torch.Generator) -> None:
    """He (Kaiming) normal weights for ReLU, zero bias: std = sqrt(2 / fan_in)."""
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", generator=generator)
    nn.init.zeros_(layer.bias)


def too_large_init_(layer: nn.Linear, generator: torch.Generator) -> None:
    """Weights of std 1 whatever the fan-in: each ReLU layer multiplies by sqrt(fan_in / 2)."""
    nn.init.normal_(layer.weight, std=1.0, generator=generator)
    nn.init.zeros_(layer.bias)


def make_scenario_mlp(
    in_features: int,
    num_classes: int,
    *,
    activation: Callable[[], nn.Module] = nn.ReLU,
    depth: int = DEPTH,
    init: Callable[[nn.Linear, torch.Generator], None] | None = he_init_,
    seed: int = 0,
) -> nn.Sequential:
    """The scenarios' MLP: depth × (Linear, activation), then a Linear head, with named layers.

    Unlike gradlab.models.mlp.make_mlp (activation and init by name, layers in a ModuleList),
    this one takes any activation class and init function, and names its modules for a reader:
    'linear1', 'relu1', 'linear2', ..., 'output' (the head), so a report's "dead units after
    'linear3'" is the third Linear layer. model[i] still indexes them in order. init=None keeps
    PyTorch's default init (uniform, std ≈ 1/sqrt(3·fan_in)). All draws come from one
    torch.Generator seeded with `seed`; the global RNG is neither read nor advanced.
    """
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be an int >= 1 (hidden layers), got {depth!r}")
    generator = torch.Generator().manual_seed(seed)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i in range(1, depth + 1):
        layer = seeded_linear(in_features if i == 1 else WIDTH, WIDTH, generator)
        if init is not None:
            init(layer, generator)
        function = activation()
        layers[f"linear{i}"] = layer
        layers[f"{type(function).__name__.lower()}{i}"] = function
    head = seeded_linear(WIDTH, num_classes, generator)
    if init is not None:
        init(head, generator)
    layers["output"] = head
    return nn.Sequential(layers)


def make_dead_relu_mlp(in_features: int, num_classes: int, *, seed: int = 0) -> nn.Sequential:
    """He-initialised ReLU MLP whose third Linear ('linear3') has bias -10: its units are off."""
    model = make_scenario_mlp(in_features, num_classes, seed=seed)
    with torch.no_grad():
        model.linear3.bias.fill_(-10.0)
    return model


class BodyHead(nn.Module):
    """A body MLP and a linear head; detach=True cuts the graph between them (a common bug)."""

    def __init__(
        self, in_features: int, num_classes: int, *, detach: bool = False, seed: int = 0
    ) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.body = nn.Sequential(
            OrderedDict(
                linear1=seeded_linear(in_features, WIDTH, generator),
                relu1=nn.ReLU(),
                linear2=seeded_linear(WIDTH, WIDTH, generator),
                relu2=nn.ReLU(),
            )
        )
        self.head = seeded_linear(WIDTH, num_classes, generator)
        self.detach = detach
        for module in self.modules():
            if isinstance(module, nn.Linear):
                he_init_(module, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.body(x)
        if self.detach:
            features = features.detach()  # e.g. left over from logging features with .numpy()
        return self.head(features)


def scale_inputs(factor: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """Batch preparation that multiplies the (standardised) inputs by `factor`."""
    return lambda x: x * factor


def insert_missing_value(x: torch.Tensor) -> torch.Tensor:
    """A copy of x with one NaN, as a missing value in a data file would give."""
    x = x.clone()
    x[3, 5] = float("nan")
    return x


def keep_inputs(x: torch.Tensor) -> torch.Tensor:
    """Batch preparation that leaves the inputs as they are."""
    return x


@dataclass(frozen=True)
class Setup:
    """One side of a scenario: a model builder, the batch preparation and the learning rate."""

    make_model: Callable[[int, int], nn.Module]  # (in_features, num_classes) -> model
    prepare_inputs: Callable[[torch.Tensor], torch.Tensor] = keep_inputs
    lr: float = 0.03


@dataclass(frozen=True)
class Scenario:
    """A row of the diagnosis table: the signal, a broken set-up, its fix, what diagnose says."""

    name: str
    title: str  # a short label for menus
    signal: str  # what a learner sees (the diagnosis table, left column)
    cause: str  # why, in this scenario
    broken: Setup
    fixed: Setup
    fix: str  # the change from broken to fixed, in words
    kind: str  # the finding kind diagnose reports for the broken set-up ('' for none)
    layer: str  # ... and the layer it names
    in_table: bool = True  # one of the table's six signals (False: dashboard-only)


def _he(in_features: int, num_classes: int) -> nn.Module:
    return make_scenario_mlp(in_features, num_classes)


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "healthy",
            "healthy",
            "loss goes down, gradient norms steady, update ratio near 1e-3",
            "ReLU, He init, standardised inputs, a moderate learning rate",
            broken=Setup(_he),
            fixed=Setup(_he),
            fix="nothing to fix",
            kind="",
            layer="",
            in_table=False,
        ),
        Scenario(
            "nan_loss",
            "NaN in the data",
            "loss becomes nan",
            "a missing value (NaN) in one input example",
            broken=Setup(_he, insert_missing_value),
            fixed=Setup(_he),
            fix="clean the data: drop or impute rows where torch.isfinite(x) is False",
            kind="non_finite",
            layer="linear1",
        ),
        Scenario(
            "deep_sigmoid",
            "deep sigmoid",
            "early-layer gradient norms near zero",
            "ten Linear layers with a sigmoid between each two and PyTorch's default init: the "
            "sigmoid's slope is at most 1/4, and these weights do not make up for it",
            broken=Setup(
                lambda n, k: make_scenario_mlp(n, k, activation=nn.Sigmoid, depth=9, init=None)
            ),
            fixed=Setup(lambda n, k: make_scenario_mlp(n, k, depth=9)),
            fix="ReLU activations with He init",
            kind="vanishing",
            layer="linear1",
        ),
        Scenario(
            "too_large_init",
            "too-large init",
            "very large gradient norms",
            "weights of std 1 instead of He's sqrt(2/fan_in)",
            broken=Setup(lambda n, k: make_scenario_mlp(n, k, init=too_large_init_)),
            fixed=Setup(_he),
            fix="He init (nn.init.kaiming_normal_)",
            kind="exploding",
            layer="linear1",
        ),
        Scenario(
            "unscaled_inputs",
            "unscaled inputs (0-255)",
            "activations have huge magnitude",
            "pixels fed as 0-255 instead of standardised (here: inputs x 255)",
            broken=Setup(_he, scale_inputs(255.0)),
            fixed=Setup(_he),
            fix="standardise the inputs: (x - mean) / std over the training set",
            kind="large_activations",
            layer="linear1",
        ),
        Scenario(
            "dead_relus",
            "dead ReLUs (bias -10)",
            "activations mostly zero",
            "a large negative bias (-10) switches the ReLUs after the third Linear layer off",
            broken=Setup(make_dead_relu_mlp),
            fixed=Setup(_he),
            fix="zero bias (He init)",
            kind="dead_units",
            layer="linear3",
        ),
        Scenario(
            "detached",
            "detached sub-module",
            "gradients are None",
            "the body's output is .detach()-ed before the head",
            broken=Setup(lambda n, k: BodyHead(n, k, detach=True)),
            fixed=Setup(lambda n, k: BodyHead(n, k)),
            fix="remove the .detach() between body and head",
            kind="no_grad",
            layer="body.linear1",
        ),
        Scenario(
            "too_high_lr",
            "too-high learning rate",
            "update-to-data ratio far above 1e-3, loss spikes",
            "a learning rate 50 times too large for plain SGD",
            broken=Setup(_he, lr=1.5),
            fixed=Setup(_he),
            fix="lower the learning rate 50x (watch the update ratio settle near 1e-3)",
            kind="bad_update_ratio",
            layer="output",
            in_table=False,
        ),
    )
}
TABLE_SCENARIOS = tuple(name for name, s in SCENARIOS.items() if s.in_table)


def get_scenario(name: str) -> Scenario:
    """The scenario called `name`; the error lists the known names."""
    if name not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}; got {name!r}")
    return SCENARIOS[name]


def build(name: str, *, fixed: bool, in_features: int, num_classes: int) -> tuple[nn.Module, Setup]:
    """A fresh model of the scenario's broken (or fixed) set-up, and that set-up."""
    scenario = get_scenario(name)
    setup = scenario.fixed if fixed else scenario.broken
    return setup.make_model(in_features, num_classes), setup


def run_scenario(name: str, x: torch.Tensor, y: torch.Tensor, *, fixed: bool = False) -> Report:
    """Build the scenario's broken (or fixed) model and run gradlab.diagnose() on it.

    The batch goes through the set-up's prepare_inputs, and diagnose uses the set-up's lr.
    """
    model, setup = build(name, fixed=fixed, in_features=x.shape[1], num_classes=int(y.max()) + 1)
    return diagnose(model, (setup.prepare_inputs(x), y), nn.CrossEntropyLoss(), lr=setup.lr)
