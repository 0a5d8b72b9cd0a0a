"""A zoo of deliberately broken models: each must give the right finding kind at the right layer."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
import torch
from helpers import findings_of as find
from torch import nn

from gradlab.diagnosis.diagnose import Finding, Report, Thresholds, diagnose
from gradlab.diagnosis.flow import (
    DepthGroup,
    depth_group,
    depth_profile,
    relative_gradients,
    vanishing_finding,
)
from gradlab.diagnosis.rules import _triage
from gradlab.monitor.gradient_monitor import GradientMonitor

WIDTH = 32
LOSS = nn.CrossEntropyLoss()


def he_init(layer: nn.Linear) -> None:
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    nn.init.zeros_(layer.bias)


def make_mlp(
    activation: Callable[[], nn.Module] = nn.ReLU,
    depth: int = 6,
    init: Callable[[nn.Linear], None] | None = he_init,
) -> nn.Sequential:
    """Linear layers are named '0', '2', ..., '2 * depth' (the output layer)."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layer = nn.Linear(WIDTH, WIDTH)
        if init is not None:
            init(layer)
        layers += [layer, activation()]
    return nn.Sequential(*layers, nn.Linear(WIDTH, 10))


def batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(64, WIDTH, generator=generator), torch.randint(
        0, 10, (64,), generator=generator
    )


class ResidualMLP(nn.Module):
    """Pre-norm residual MLP with He init: healthy."""

    def __init__(self, depth: int = 8) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(WIDTH), nn.Linear(WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH)
            )
            for _ in range(depth)
        )
        for block in self.blocks:
            he_init(block[1])
            he_init(block[3])
        self.head = nn.Linear(WIDTH, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = x + block(x)
        return self.head(x)


class PreNormTransformer(nn.Module):
    """nn.TransformerEncoder with norm_first=True and a linear head: healthy at init."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        layer = nn.TransformerEncoderLayer(
            WIDTH, 4, dim_feedforward=64, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=3, enable_nested_tensor=False)
        self.head = nn.Linear(WIDTH, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x.view(len(x), 4, WIDTH // 4).repeat(1, 1, 4)).mean(1))


class DetachedBody(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH))
        self.head = nn.Linear(WIDTH, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(x)).detach())


class UnusedLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.hidden = nn.Linear(WIDTH, WIDTH)
        self.spare = nn.Linear(WIDTH, WIDTH)  # defined, never called
        self.head = nn.Linear(WIDTH, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.hidden(x)))


def negative_bias_mlp() -> nn.Sequential:
    model = make_mlp()
    with torch.no_grad():
        model[4].bias.fill_(-10.0)  # every unit after the third Linear is dead
    return model


BROKEN = {
    "deep_sigmoid": (lambda: make_mlp(nn.Sigmoid, depth=10, init=None), "vanishing", "0"),
    "too_large_init": (
        lambda: make_mlp(init=lambda layer: nn.init.normal_(layer.weight, std=1.0)),
        "exploding",
        "0",
    ),
    "saturated_tanh": (
        lambda: make_mlp(nn.Tanh, init=lambda layer: nn.init.normal_(layer.weight, std=0.8)),
        "saturation",
        "0",
    ),
    "relu_negative_bias": (negative_bias_mlp, "dead_units", "4"),
    "detached_submodule": (DetachedBody, "no_grad", "body.0"),
    "unused_layer": (UnusedLayer, "no_grad", "spare"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_model_gets_the_right_finding_at_the_right_layer(name: str) -> None:
    make, kind, layer = BROKEN[name]
    report = diagnose(make(), batch(), LOSS)
    found = find(report, kind)
    assert found, f"expected {kind}, got:\n{report}"
    assert found[0].layer == layer, str(report)
    assert found[0].fix and found[0].evidence


def test_detached_submodule_names_every_starved_layer_and_the_cause() -> None:
    report = diagnose(DetachedBody(), batch(), LOSS)
    assert {f.layer for f in find(report, "no_grad")} == {"body.0", "body.2"}
    assert "detached" in find(report, "no_grad")[0].evidence
    assert "unused" in find(diagnose(UnusedLayer(), batch(), LOSS), "no_grad")[0].evidence


def test_nan_input_is_a_non_finite_error_at_the_first_layer() -> None:
    x, y = batch()
    x[3, 5] = float("nan")
    report = diagnose(make_mlp(), (x, y), LOSS)
    (finding,) = find(report, "non_finite")
    assert (finding.layer, finding.severity) == ("0", "error")
    assert "input" in finding.evidence and "data" in finding.fix


def test_too_high_learning_rate_gives_bad_update_ratio() -> None:
    assert find(diagnose(make_mlp(), batch(), LOSS, lr=10.0), "bad_update_ratio")
    model = make_mlp()
    x, y = batch()
    optimizer = torch.optim.SGD(model.parameters(), lr=2.0)
    with GradientMonitor(model) as monitor:
        for _ in range(4):
            optimizer.zero_grad()
            LOSS(model(x), y).backward()
            optimizer.step()
    report = monitor.report()
    errors = [f for f in report.errors if f.kind in ("bad_update_ratio", "non_finite")]
    assert errors, str(report)


def test_clipping_every_step_is_too_aggressive() -> None:
    model = make_mlp()
    x, y = batch()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with GradientMonitor(model) as monitor:
        for _ in range(4):
            optimizer.zero_grad()
            LOSS(model(x), y).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.01)
            optimizer.step()
    assert find(monitor.report(clip_threshold=0.01), "clipping_too_aggressive")
    assert not find(monitor.report(clip_threshold=100.0), "clipping_too_aggressive")
    assert not find(monitor.report(), "clipping_too_aggressive")


HEALTHY = {
    "he_relu_mlp": make_mlp,
    "residual_mlp_he": ResidualMLP,
    "prenorm_transformer": PreNormTransformer,
}


@pytest.mark.parametrize("name", list(HEALTHY))
def test_healthy_model_has_no_error(name: str) -> None:
    report = diagnose(HEALTHY[name](), batch(), LOSS)
    assert report.ok, str(report)


def test_report_prints_a_table_and_diagnose_restores_grads() -> None:
    model = make_mlp(nn.Sigmoid, depth=10, init=None)
    model(batch()[0]).sum().backward()
    before = [p.grad.clone() for p in model.parameters()]
    text = str(diagnose(model, batch(), LOSS))
    assert text.splitlines()[1].split() == ["severity", "kind", "layer"]
    assert "vanishing" in text and "fix:" in text
    assert all(torch.equal(a, p.grad) for a, p in zip(before, model.parameters(), strict=True))
    assert "no problems found" in str(Report(steps=1))


def test_bad_arguments_say_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="pair"):
        diagnose(make_mlp(), (1, 2, 3), LOSS)
    with pytest.raises(ValueError, match="lr"):
        diagnose(make_mlp(), batch(), LOSS, lr=-1.0)


def test_dead_units_found_in_gradlabs_own_mlp() -> None:
    """gradlab.models.mlp' MLPs use torch's activation classes, so the dead-unit rule sees them."""
    from gradlab.models.mlp import make_mlp as make_gradlab_mlp

    model = make_gradlab_mlp(4, WIDTH, "relu", "he", in_features=WIDTH, seed=0)
    with torch.no_grad():
        model.layers[2].linear.bias.fill_(-10.0)
    found = find(diagnose(model, batch(), LOSS), "dead_units")
    assert found, "no dead_units finding on a gradlab MLP with a -10 bias"
    assert found[0].layer == "layers.2.linear"  # the layer whose units died


# Healthy CNNs: a conv feature map has far more elements than the logits and pooling spreads the
# gradient, so only a size-independent measure (the relative gradient ||dL/dW||/||W||, whose
# weight gradient sums over every position) calls them healthy.
def plain_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(1568, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def global_pool_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )


class BasicBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class SmallResNet(nn.Module):
    """Stem, two BatchNorm basic blocks, global average pool, linear head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.block1, self.block2 = BasicBlock(16), BasicBlock(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block2(self.block1(torch.relu(self.bn(self.stem(x)))))
        return self.fc(x.mean((2, 3)))


HEALTHY_CNNS = {"plain_cnn": plain_cnn, "global_pool_cnn": global_pool_cnn, "resnet": SmallResNet}


def image_batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 1, 28, 28, generator=generator)
    return x, torch.randint(0, 10, (32,), generator=generator)


def train(model: nn.Module, x, y, *, lr: float, momentum: float, steps: int) -> Report:
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    with GradientMonitor(model) as monitor:
        for _ in range(steps):
            optimizer.zero_grad()
            LOSS(model(x), y).backward()
            optimizer.step()
    return monitor.report()


@pytest.mark.parametrize("name", list(HEALTHY_CNNS))
def test_healthy_cnn_is_not_vanishing_at_init_or_after_training(name: str) -> None:
    x, y = image_batch()
    at_init = diagnose(HEALTHY_CNNS[name](), (x, y), LOSS)
    assert not find(at_init, "vanishing"), str(at_init)
    trained = train(HEALTHY_CNNS[name](), x, y, lr=0.05, momentum=0.9, steps=30)
    assert not find(trained, "vanishing"), str(trained)


def test_vanishing_over_one_layer_says_layer_and_two_digit_factor() -> None:
    model = make_mlp(depth=1)
    with torch.no_grad():
        model[2].weight.mul_(1e-5)  # the output layer passes almost nothing back to '0'
    (finding,) = find(diagnose(model, batch(), LOSS), "vanishing")
    assert finding.layer == "0" and "over 1 layer." in finding.evidence, finding.evidence
    factor = finding.evidence.split("about ×")[1].split(" ")[0]  # formatting.format_factor
    assert float(factor) > 0, finding.evidence


HEALTHY_RECIPES = {
    # He-init ReLU MLP, plain SGD: the output layer runs near 1e-2, the hidden ones near 2e-3
    "he_mlp_sgd_0.05": (make_mlp, batch, 0.05, 0.0, 100),
    # ResNet-like CNN, SGD 0.1 with momentum 0.9: convs before BatchNorm near 2e-2, head 4e-2
    "resnet_sgd_0.1_momentum": (SmallResNet, image_batch, 0.1, 0.9, 30),
}


@pytest.mark.parametrize("name", list(HEALTHY_RECIPES))
def test_standard_healthy_recipe_has_no_update_ratio_finding(name: str) -> None:
    make, make_batch, lr, momentum, steps = HEALTHY_RECIPES[name]
    report = train(make(), *make_batch(), lr=lr, momentum=momentum, steps=steps)
    assert not find(report, "bad_update_ratio"), str(report)


def test_findings_are_sorted_root_causes_first_then_errors_then_forward_order() -> None:
    model = make_mlp(nn.Sigmoid, depth=10, init=None)
    with GradientMonitor(model) as monitor:
        model(batch()[0]).sum().backward()
    recording = monitor.recording()
    shuffled = [
        Finding("bad_update_ratio", "0", "warning", "", ""),
        Finding("vanishing", "0", "error", "", ""),
        Finding("exploding", "4", "warning", "", ""),
        Finding("large_activations", "6", "warning", "", ""),
        Finding("saturation", "6", "error", "", ""),
        Finding("dead_units", "8", "error", "", ""),
        Finding("dead_units", "2", "error", "", ""),
        Finding("no_grad", "10", "error", "", ""),
        Finding("non_finite", "20", "error", "", ""),
        Finding("saturation", "2", "warning", "", ""),
    ]
    ordered = [(f.severity, f.kind, f.layer) for f in _triage(shuffled, recording)]
    assert ordered == [
        ("error", "non_finite", "20"),
        ("error", "no_grad", "10"),
        ("error", "dead_units", "2"),
        ("error", "dead_units", "8"),
        ("error", "saturation", "6"),
        ("warning", "saturation", "2"),
        ("warning", "large_activations", "6"),  # a cause leads the exploding it causes
        ("warning", "exploding", "4"),
        ("error", "vanishing", "0"),
        ("warning", "bad_update_ratio", "0"),
    ]
    # diagnose() sorts the same way: the dead units before the vanishing gradient they cause
    kinds = [f.kind for f in diagnose(negative_bias_mlp(), batch(), LOSS).errors]
    assert kinds == ["dead_units", "vanishing"], kinds


def test_a_non_finite_value_from_training_follows_its_cause() -> None:
    """Weights of std 1 (Chapter 7's too-large init): the activations are huge from layer 2 at
    step 0 and overflow at the last layer a few steps later. The report leads with the cause and
    names the non-finite layer as its consequence; a NaN in the data stays first."""
    torch.manual_seed(0)
    model = make_mlp(init=lambda layer: nn.init.normal_(layer.weight, std=1.0))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03)
    x, y = batch()
    with GradientMonitor(model) as monitor:
        for _ in range(20):
            optimizer.zero_grad()
            loss = LOSS(model(x), y)
            loss.backward()
            if not torch.isfinite(loss):
                break
            optimizer.step()
    event = monitor.non_finite
    assert event is not None and event.step >= 1  # finite steps come before it
    report = monitor.report()
    kinds = [f.kind for f in report.findings]
    first = report.findings[0]
    assert first.kind == "large_activations" and first.severity == "error", str(report)
    names = monitor.layers
    assert names.index(first.layer) < names.index(event.layer)  # it starts earlier in the net
    consequence = report.findings[kinds.index("non_finite")]
    assert consequence.layer == event.layer and "consequence" in consequence.evidence
    assert all(f.severity == "warning" for f in report.findings[kinds.index("non_finite") + 1 :])
    bad_data = x.clone()
    bad_data[3, 5] = float("nan")
    assert diagnose(make_mlp(), (bad_data, y), LOSS).findings[0].kind == "non_finite"


def test_the_init_fix_gives_he_and_xavier_their_own_std() -> None:
    """He: sqrt(2/fan_in) for ReLU; Xavier (Glorot): sqrt(2/(fan_in+fan_out)) for tanh/sigmoid."""
    model = make_mlp(init=lambda layer: nn.init.normal_(layer.weight, std=1.0))
    fix = find(diagnose(model, batch(), LOSS), "exploding")[0].fix
    assert "He for ReLU: std = sqrt(2/fan_in)" in fix
    assert "Xavier for tanh/sigmoid: std = sqrt(2/(fan_in+fan_out))" in fix
    # the formulas are torch's own: kaiming_normal_ and xavier_normal_ on a 2000 x 3000 weight
    weight = torch.empty(2000, 3000)
    torch.manual_seed(0)
    assert (
        abs(nn.init.kaiming_normal_(weight, nonlinearity="relu").std() - (2 / 3000) ** 0.5) < 1e-3
    )
    assert abs(nn.init.xavier_normal_(weight).std() - (2 / 5000) ** 0.5) < 1e-3


@pytest.mark.parametrize("warning", [100.0, 50.0], ids=["default", "custom"])
def test_the_global_norm_limit_in_the_evidence_is_the_threshold_used(warning: float) -> None:
    model = make_mlp(init=lambda layer: nn.init.normal_(layer.weight, std=1.0))
    limits = Thresholds(global_norm_warning=warning, global_norm_error=1e3)
    evidence = find(diagnose(model, batch(), LOSS, thresholds=limits), "exploding")[0].evidence
    assert f"(above {warning:g} is large)" in evidence, evidence


def test_diagnose_restores_gradients_also_when_the_loss_fails() -> None:
    model = make_mlp()
    before = [torch.full_like(p, 0.5) for p in model.parameters()]
    for p, grad in zip(model.parameters(), before, strict=True):
        p.grad = grad

    def broken_loss(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("loss failed")

    with pytest.raises(RuntimeError, match="loss failed"):
        diagnose(model, batch(), broken_loss)
    assert all(p.grad is grad for p, grad in zip(model.parameters(), before, strict=True))


# ----------------------------------------------------------------- the gradient-flow profile
@pytest.mark.parametrize(
    "layer,group",
    [
        ("h.0.attn.c_attn", "h.0"),
        ("encoder.layer.3.attention.self.query", "encoder.layer.3"),
        ("layer1.0.conv1", "layer1.0"),
        ("blocks.7", "blocks.7"),
        ("0", "0"),
        ("fc", "fc"),
        ("linear12", "linear12"),
        ("", ""),
    ],
)
def test_depth_group_is_the_path_up_to_its_first_number(layer: str, group: str) -> None:
    assert depth_group(layer) == group


class TiedNormed(nn.Module):
    """Embedding, LayerNorm, a BatchNorm'd Linear block list and a head tied to the embedding."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(20, WIDTH)
        self.norm = nn.LayerNorm(WIDTH)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.ReLU(inplace=True), nn.Linear(WIDTH, WIDTH))
            for _ in range(2)
        )
        self.head = nn.Linear(WIDTH, 20, bias=False)
        self.head.weight = self.embedding.weight
        self.zero = nn.Linear(WIDTH, WIDTH)
        nn.init.zeros_(self.zero.weight)
        nn.init.zeros_(self.zero.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.embedding(tokens))
        for block in self.blocks:
            x = x + block(x)
        return self.head(x + self.zero(x))


def test_relative_gradients_match_autograd_and_skip_norms_embeddings_and_zero_weights() -> None:
    model = TiedNormed()
    tokens = torch.randint(0, 20, (8, 5), generator=torch.Generator().manual_seed(1))
    loss = lambda: LOSS(model(tokens).flatten(0, 1), tokens.flatten())  # noqa: E731
    with GradientMonitor(model) as monitor:
        loss().backward()
    recording = monitor.recording()
    values = relative_gradients(recording)
    for index, name in enumerate(recording.layers):  # oracle: plain autograd on the module
        params = list(model.get_submodule(name).parameters(recurse=False))
        grads = torch.cat([p.grad.flatten() for p in params]).norm()
        norm = torch.cat([p.detach().flatten() for p in params]).norm()
        if norm == 0:
            assert np.isnan(values[index]), name
        else:
            assert values[index] == pytest.approx(float(grads / norm), rel=1e-5), name
    groups = depth_profile(recording, values)
    # LayerNorm and the (tied) embedding are small by construction; 'zero' has no norm to be
    # relative to; each block counts once, at its largest layer's value.
    assert [g.name for g in groups] == ["blocks.0", "blocks.1"]
    for group in groups:
        inside = [values[recording.layers.index(f"{group.name}.{i}")] for i in (0, 2)]
        assert group.value == max(inside) and group.smallest_value == min(inside)


def test_vanishing_reports_the_first_group_below_the_threshold_without_numpy_warnings() -> None:
    """The first group (in forward order) under the error level is named, not the lowest; a
    group of value 0 between it and the reference raises no division warning (seen on a run
    that diverged)."""

    def group(name: str, value: float) -> DepthGroup:
        return DepthGroup(name, value, name, value, name)

    groups = [group("a", 3e-6), group("b", 1e-6), group("c", 0.0), group("d", 0.5), group("e", 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (finding,) = vanishing_finding(groups, Thresholds())
    assert (finding.layer, finding.severity) == ("a", "error")  # 3e-6 of 'e': below 1e-4
    assert "of the largest after it (1 at 'e')" in finding.evidence, finding.evidence
    # below 1e-8 only the group of value 0 is an error, however late
    (finding,) = vanishing_finding(groups, Thresholds(vanishing_error=1e-8))
    assert (finding.layer, finding.severity) == ("c", "error")
    assert "no gradient at all reaches 'c'" in finding.evidence
    # without it, 'a' is 6e-6 of the largest hidden group 'd': a warning when errors need 1e-8
    (finding,) = vanishing_finding(groups[:2] + groups[3:], Thresholds(vanishing_error=1e-8))
    assert (finding.layer, finding.severity) == ("a", "warning")
    assert "of the largest after it (0.5 at 'd')" in finding.evidence
