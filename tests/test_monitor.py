"""Oracle tests for gradlab.monitor.gradient_monitor: every recorded quantity against plain autograd."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.optim.optimizer as optim_hooks
from torch import nn

from gradlab.monitor.gradient_monitor import GradientMonitor


def make_mlp(
    activation: type[nn.Module] = nn.ReLU, depth: int = 4, width: int = 16
) -> nn.Sequential:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), activation()]
    return nn.Sequential(*layers, nn.Linear(width, 3))


class ResidualBlock(nn.Module):
    """Conv-BN-ReLU(inplace) twice with an in-place shortcut addition, as in torchvision."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x  # in-place residual: register_full_backward_hook fails here
        return self.relu(out)


def make_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(inplace=True),
        ResidualBlock(4),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


class LSTMClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lstm = nn.LSTM(5, 8, num_layers=2, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def make_transformer() -> nn.Module:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(
        16, 2, dim_feedforward=32, dropout=0.0, batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)


CASES = {
    "mlp": (make_mlp, (8, 16)),
    "mlp_inplace_relu": (lambda: make_mlp(lambda: nn.ReLU(inplace=True)), (8, 16)),
    "cnn_inplace_residual": (make_cnn, (4, 3, 6, 6)),
    "lstm": (LSTMClassifier, (4, 7, 5)),
    "transformer": (make_transformer, (4, 5, 16)),
}


def run_steps(model: nn.Module, shape: tuple, steps: int = 1, **kwargs) -> GradientMonitor:
    """Train `steps` SGD steps under a monitor; returns the (detached) monitor."""
    torch.manual_seed(1)
    x = torch.randn(*shape)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with GradientMonitor(model, **kwargs) as monitor:
        for _ in range(steps):
            optimizer.zero_grad()
            model(x).square().mean().backward()
            optimizer.step()
    return monitor


@pytest.mark.parametrize("name", list(CASES))
def test_parameter_gradient_norms_match_autograd(name: str) -> None:
    make, shape = CASES[name]
    model = make()
    torch.manual_seed(1)
    x = torch.randn(*shape)
    with GradientMonitor(model, updates=False) as monitor:
        model(x).square().mean().backward()
    row = monitor.to_numpy()
    named = dict(model.named_parameters())
    expected = np.array([named[p].grad.norm().item() for p in monitor.params])
    np.testing.assert_allclose(row["grad_norm"][0], expected, rtol=1e-5)
    total = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]).item()
    np.testing.assert_allclose(row["global_grad_norm"][0, 0], total, rtol=1e-5)
    assert set(monitor.params) == set(named), "every parameter is watched"


@pytest.mark.parametrize("inplace", [False, True], ids=["relu", "relu_inplace"])
def test_output_gradients_and_activation_stats_match_autograd(inplace: bool) -> None:
    model = make_mlp(lambda: nn.ReLU(inplace=inplace))
    reference = copy.deepcopy(model)
    for module in reference.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    x = torch.randn(8, 16)
    with GradientMonitor(model, updates=False) as monitor:
        model(x).square().mean().backward()
    # Oracle: keep every Linear output of the non-inplace copy and ask autograd for its grad.
    outputs, h = [], x
    for module in reference:
        h = module(h)
        if isinstance(module, nn.Linear):
            h.retain_grad()
            outputs.append(h)
    h.square().mean().backward()
    row = monitor.to_numpy()
    assert monitor.layers == [str(i) for i in range(0, 9, 2)]
    for i, out in enumerate(outputs):
        assert row["output_grad_norm"][0, i] == pytest.approx(out.grad.norm().item(), rel=1e-5)
        assert row["output_grad_rms"][0, i] == pytest.approx(
            out.grad.square().mean().sqrt().item(), rel=1e-5
        )
        assert row["activation_mean"][0, i] == pytest.approx(out.mean().item(), abs=1e-6)
        assert row["activation_std"][0, i] == pytest.approx(out.std(correction=0).item(), rel=1e-4)
    for i, out in enumerate(outputs[:-1]):  # the last Linear has no activation after it
        dead = (torch.relu(out) <= 0).float().mean().item()
        assert row["fraction_dead"][0, i] == pytest.approx(dead)
    assert np.isnan(row["fraction_dead"][0, -1])


@pytest.mark.parametrize(
    "activation,threshold", [(nn.Sigmoid, 0.05), (nn.Tanh, 0.1)], ids=["sigmoid", "tanh"]
)
def test_saturation_fraction_uses_the_derivative(activation: type, threshold: float) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), activation())
    x = 3 * torch.randn(64, 16)
    with GradientMonitor(model, updates=False) as monitor:
        model(x).sum().backward()
    z = model[0](x).detach().requires_grad_()
    (slope,) = torch.autograd.grad(activation()(z).sum(), z)
    expected = (slope < threshold).float().mean().item()
    assert monitor.to_numpy()["fraction_saturated"][0, 0] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("activation", [nn.LeakyReLU, nn.GELU, nn.ReLU6], ids=str)
def test_dead_fraction_of_other_relu_family_activations(activation: type) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), activation())
    x = torch.randn(64, 16)
    with GradientMonitor(model, updates=False) as monitor:
        model(x).sum().backward()
    z = model[0](x).detach().requires_grad_()
    (slope,) = torch.autograd.grad(activation()(z).sum(), z)
    expected = (slope.abs() < 0.01).float().mean().item()  # dead: |f'(x)| < 0.01
    assert monitor.to_numpy()["fraction_dead"][0, 0] == pytest.approx(expected, abs=1e-6)


def test_activation_sample_uses_the_first_examples() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU())
    x = torch.randn(64, 16)
    with GradientMonitor(model, activation_sample=320) as monitor:  # 10 of 64 examples
        model(x).sum().backward()
    head = model[0](x[:10])
    row = monitor.to_numpy()
    assert row["activation_mean"][0, 0] == pytest.approx(head.mean().item(), abs=1e-6)
    assert row["fraction_dead"][0, 0] == pytest.approx((head <= 0).float().mean().item())


@pytest.mark.parametrize("sample", [None, 256], ids=["exact", "sampled"])
def test_update_ratio_matches_a_parameter_snapshot(sample: int | None) -> None:
    model = make_mlp(width=32)
    x = torch.randn(8, 32)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in model.parameters()]
    with GradientMonitor(model, update_sample=sample) as monitor:
        model(x).square().mean().backward()
        optimizer.step()
    after = list(model.parameters())
    ratio = monitor.to_numpy()["update_ratio"][0]
    for layer in range(len(monitor.layers)):  # each layer's largest parameter: its weight
        weight = 2 * layer
        expected = ((after[weight] - before[weight]).norm() / before[weight].norm()).item()
        assert ratio[layer] == pytest.approx(expected, rel=1e-4 if sample is None else 0.15)


def test_a_root_module_with_parameters_is_a_layer() -> None:
    torch.manual_seed(0)
    model = nn.LSTM(5, 8, batch_first=True)
    with GradientMonitor(model) as monitor:
        output, _ = model(torch.randn(4, 7, 5))
        output.square().mean().backward()
    row = monitor.to_numpy()
    assert monitor.layers == [""]
    assert np.isfinite(row["activation_mean"][0, 0])
    assert row["output_grad_norm"][0, 0] > 0


def test_every_n_records_steps_and_ignores_no_grad_forwards() -> None:
    model = make_mlp()
    x = torch.randn(8, 16)
    with GradientMonitor(model, every=3) as monitor:
        for _ in range(7):
            model(x).sum().backward()
            with torch.no_grad():
                model(x)  # validation: not a step
    assert monitor.steps_seen == 7
    assert monitor.to_numpy()["steps"].tolist() == [0, 3, 6]


def test_history_is_bounded_and_exports_plain_types() -> None:
    monitor = run_steps(make_mlp(), (8, 16), steps=6, history_size=4)
    arrays = monitor.to_numpy()
    assert arrays["steps"].tolist() == [2, 3, 4, 5]
    assert arrays["grad_norm"].shape == (4, len(monitor.params))
    exported = monitor.to_dict()
    assert exported["steps"] == [2, 3, 4, 5]
    assert set(exported["grad_norm"]) == set(monitor.params)
    assert all(isinstance(v, float) for v in exported["update_ratio"]["0"])


def _no_hooks_left(model: nn.Module) -> bool:
    modules_clean = all(
        not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
        for m in model.modules()
    )
    optimizer_clean = not optim_hooks._global_optimizer_pre_hooks and not (
        optim_hooks._global_optimizer_post_hooks
    )
    params_clean = all(
        not getattr(p, "_post_accumulate_grad_hooks", None) for p in model.parameters()
    )
    return modules_clean and optimizer_clean and params_clean


def test_hooks_are_removed_on_exit_and_on_error() -> None:
    model = make_mlp()
    run_steps(model, (8, 16))
    assert _no_hooks_left(model)
    with pytest.raises(RuntimeError, match="boom"), GradientMonitor(model):
        model(torch.randn(8, 16))  # forward done, hooks installed, backward never runs
        raise RuntimeError("boom")
    assert _no_hooks_left(model)
    monitor = GradientMonitor(model).attach()
    monitor.detach()
    monitor.detach()  # twice is fine
    assert _no_hooks_left(model)


def test_non_finite_first_step_and_layer() -> None:
    model = make_mlp()
    x = torch.randn(8, 16)
    with GradientMonitor(model) as monitor:
        model(x).sum().backward()
        with torch.no_grad():
            model[4].weight[0, 0] = float("inf")  # third Linear overflows from now on
        model(x).sum().backward()
        model(x).sum().backward()
    event = monitor.non_finite
    assert (event.step, event.layer, event.quantity) == (1, "4", "activation")


def test_huge_but_finite_activations_are_not_non_finite() -> None:
    """Values of 4e19 overflow a float32 L2 norm but are finite: no event until they are inf."""
    model = nn.Sequential(nn.Linear(4, 4))
    with torch.no_grad():
        model[0].weight.fill_(1e19)
        model[0].bias.zero_()
    with GradientMonitor(model) as monitor:
        out = model(torch.ones(2, 4))
        out.mean().backward()
        assert torch.isfinite(out).all()
        assert monitor.non_finite is None
        with torch.no_grad():
            model[0].weight.fill_(1e38)  # 4e38 > float32 max: now the output is inf
        model(torch.ones(2, 4)).mean().backward()
    event = monitor.non_finite
    assert (event.step, event.layer, event.quantity) == (1, "0", "activation")


def test_an_overflowed_norm_does_not_hide_a_later_nan_in_the_same_batch() -> None:
    """Step 0: values of 4e19 (finite; only their float32 L2 norm overflows). Step 1: inf. Both
    steps are turned into rows together when the monitor closes: the event is still step 1."""
    model = nn.Sequential(nn.Linear(4, 4))
    with torch.no_grad():
        model[0].weight.fill_(1e19)
        model[0].bias.zero_()
    with GradientMonitor(model) as monitor:
        model(torch.ones(2, 4)).mean().backward()
        with torch.no_grad():
            model[0].weight.fill_(1e38)
        model(torch.ones(2, 4)).mean().backward()
    event = monitor.non_finite
    assert event is not None and (event.step, event.layer, event.quantity) == (1, "0", "activation")


def test_non_finite_input_is_named() -> None:
    model = make_mlp()
    x = torch.randn(8, 16)
    x[0, 0] = float("nan")
    with GradientMonitor(model) as monitor:
        model(x).sum().backward()
    assert (monitor.non_finite.layer, monitor.non_finite.quantity) == ("0", "input")


class DetachedBody(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(16, 16), nn.ReLU())
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).detach())


def test_parameters_without_gradient_are_reported_not_skipped() -> None:
    model = DetachedBody()
    with GradientMonitor(model) as monitor:
        model(torch.randn(8, 16)).sum().backward()
    row = monitor.to_numpy()
    assert monitor.params == ["body.0.weight", "body.0.bias", "head.weight", "head.bias"]
    assert row["has_grad"][0].tolist() == [0, 0, 1, 1]
    assert np.isnan(row["grad_norm"][0, :2]).all()
    assert row["called"][0].tolist() == [1, 1]


def test_grad_norms_only_still_records_the_basics() -> None:
    monitor = run_steps(
        make_mlp(), (8, 16), steps=2, activations=False, output_grads=False, updates=False
    )
    arrays = monitor.to_numpy()
    assert np.isfinite(arrays["grad_norm"]).all()
    assert np.isnan(arrays["activation_mean"]).all() and np.isnan(arrays["update_ratio"]).all()


@pytest.mark.parametrize(
    "kwargs,match",
    [({"every": 0}, "every"), ({"history_size": 0}, "capacity"), ({"update_sample": 0}, "update")],
)
def test_bad_arguments_say_what_is_allowed(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GradientMonitor(make_mlp(), **kwargs)


def test_update_ratio_of_differently_shaped_weights_matches_a_snapshot() -> None:
    model = make_cnn()  # conv, batch-norm and linear weights: one stacked snapshot per shape
    x = torch.randn(4, 3, 6, 6)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    named_before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with GradientMonitor(model, update_sample=None) as monitor:
        model(x).square().mean().backward()
        optimizer.step()
    ratio = monitor.to_numpy()["update_ratio"][0]
    named = dict(model.named_parameters())
    for layer_index, layer in enumerate(monitor.layers):
        weight = f"{layer}.weight" if layer else "weight"
        before, after = named_before[weight], named[weight].detach()
        expected = ((after - before).norm() / before.norm()).item()
        assert ratio[layer_index] == pytest.approx(expected, rel=1e-4), layer


def _hook_counts(model: nn.Module) -> tuple[int, int]:
    """(forward hooks on non-root modules, parameter post-accumulate hooks)."""
    modules = sum(len(m._forward_hooks) for m in model.modules() if m is not model)
    params = sum(
        len(getattr(p, "_post_accumulate_grad_hooks", None) or {}) for p in model.parameters()
    )
    return modules, params


def test_unrecorded_steps_run_no_layer_or_parameter_hooks_and_record_nothing() -> None:
    model = make_mlp()
    x = torch.randn(8, 16)
    with GradientMonitor(model, every=2) as monitor:
        model(x).sum().backward()  # step 0: recorded
        recorded_hooks = _hook_counts(model)
        model(x).sum().backward()  # step 1: not recorded
        unrecorded_hooks = _hook_counts(model)
        rows_after_unrecorded = len(monitor.history)
    assert recorded_hooks[0] > 0 and recorded_hooks[1] == len(monitor.params)
    assert unrecorded_hooks == (0, 0)
    assert rows_after_unrecorded == 1 and monitor.to_numpy()["steps"].tolist() == [0]
    assert _no_hooks_left(model)


def test_gradient_norms_survive_a_hook_that_steps_and_clears_grad_in_backward() -> None:
    """The optimizer-in-backward pattern: a parameter's .grad is None once backward ends."""
    model = make_mlp()
    reference = copy.deepcopy(model)
    x = torch.randn(8, 16)
    reference(x).square().mean().backward()
    expected = [p.grad.norm().item() for p in reference.parameters()]

    def step_and_clear(param: torch.Tensor) -> None:
        with torch.no_grad():
            param.add_(param.grad, alpha=-0.1)
        param.grad = None

    with GradientMonitor(model, updates=False) as monitor:
        loss = model(x).square().mean()  # the forward installs the monitor's hooks: they run first
        handles = [p.register_post_accumulate_grad_hook(step_and_clear) for p in model.parameters()]
        loss.backward()
    for handle in handles:
        handle.remove()
    assert all(p.grad is None for p in model.parameters())
    np.testing.assert_allclose(monitor.to_numpy()["grad_norm"][0], expected, rtol=1e-5)


class LeafOutput(nn.Module):
    """A layer whose output is its own parameter: a leaf, with no node to hook."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(8, 16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.table


def test_output_gradient_of_a_leaf_output_matches_autograd() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(LeafOutput(), nn.Linear(16, 3))
    x = torch.randn(8, 16)
    with GradientMonitor(model) as monitor:
        model(x).square().mean().backward()
    row = monitor.to_numpy()
    expected = model[0].table.grad.norm().item()  # the output is the table itself
    assert row["output_grad_norm"][0, 0] == pytest.approx(expected, rel=1e-5)


class SometimesSkips(nn.Module):
    """Runs its middle layer in blocks of four calls, so runs of steps record different layers."""

    def __init__(self) -> None:
        super().__init__()
        self.first, self.middle, self.last = nn.Linear(6, 6), nn.Linear(6, 6), nn.Linear(6, 2)
        self.relu, self.calls = nn.ReLU(), 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        x = self.relu(self.first(x))
        if (self.calls // 4) % 2 == 0:
            x = torch.tanh(self.middle(x))
        return self.last(x)


def _monitored_run(read_every_step: bool, history_size: int) -> dict[str, np.ndarray]:
    torch.manual_seed(0)
    model, x = SometimesSkips(), torch.randn(5, 6)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with GradientMonitor(model, history_size=history_size) as monitor:
        for _ in range(21):
            optimizer.zero_grad()
            model(x).square().sum().backward()
            optimizer.step()
            if read_every_step:
                _ = monitor.history  # stores each step on its own
    return monitor.to_numpy()


@pytest.mark.parametrize("history_size", [100, 7], ids=["all-kept", "wraps-within-a-batch"])
def test_rows_built_in_batches_match_rows_built_one_step_at_a_time(history_size: int) -> None:
    batched = _monitored_run(read_every_step=False, history_size=history_size)
    single = _monitored_run(read_every_step=True, history_size=history_size)
    assert batched["steps"].tolist() == list(range(21))[-history_size:]
    for name, values in single.items():
        np.testing.assert_array_equal(batched[name], values, err_msg=name)
    ran = [((step + 1) // 4) % 2 == 0 for step in batched["steps"]]
    assert batched["called"][:, 1].tolist() == [float(r) for r in ran]
    assert np.isnan(batched["activation_mean"][:, 1]).tolist() == [not r for r in ran]


def test_history_extend_keeps_the_last_rows_that_fit() -> None:
    from gradlab.monitor.history import History

    history = History({"a": ["x", "y"], "b": ["z"]}, capacity=3)
    history.append(0, {"a": np.array([0.0, 0.5])})
    history.extend([1, 2, 3, 4], {"a": np.arange(8.0).reshape(4, 2)})
    assert history.steps.tolist() == [2, 3, 4]
    np.testing.assert_array_equal(history.get("a"), [[2, 3], [4, 5], [6, 7]])
    assert np.isnan(history.get("b")).all()
    assert history.appended == 5
