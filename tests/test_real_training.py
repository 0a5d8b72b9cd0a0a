"""GradientMonitor in the setups people train in: autocast and GradScaler, gradient accumulation,
DataParallel and torch.compile wrappers, part of a model (`layers=`), two models in one loop.

Every recorded number is compared with an oracle computed by hand from the same run (the norms
of the .grad tensors the optimizer is about to use, unscaled by hand).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.optim.optimizer as optim_hooks
from torch import nn

import gradlab
from gradlab.monitor.gradient_monitor import GradientMonitor

F = nn.functional


def mlp(seed: int = 0, width: int = 32) -> nn.Sequential:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Linear(10, width),
            nn.ReLU(),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Linear(width, 3),
        )


def batch(step: int, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1000 + step)
    return torch.randn(size, 10, generator=generator), torch.randint(
        0, 3, (size,), generator=generator
    )


class GradNorms:
    """Oracle: the global norm of the watched model's .grad at every optimizer.step() (pre-hook)."""

    def __init__(self, model: nn.Module, divide_by: object = None) -> None:
        self.model, self.divide_by, self.values = model, divide_by, []

    def __call__(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        if not grads or not any(
            p is q
            for g in optimizer.param_groups
            for p in g["params"]
            for q in self.model.parameters()
        ):
            return
        norm = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
        self.values.append(norm / (self.divide_by() if self.divide_by else 1.0))

    def __enter__(self) -> GradNorms:
        self.handle = optim_hooks.register_optimizer_step_pre_hook(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.remove()


def global_norms(monitor: GradientMonitor) -> np.ndarray:
    return monitor.history.get("global_grad_norm")[:, 0]


# ----------------------------------------------------------------------------- gradient accumulation
@pytest.mark.parametrize("mode", ["optimizer", "manual"])
def test_accumulated_micro_batches_are_one_step_with_the_accumulated_gradient(mode: str) -> None:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    with GradNorms(model) as oracle, GradientMonitor(model, step_on=mode) as monitor:
        for step in range(6):
            optimizer.zero_grad()
            for micro in range(4):
                x, y = batch(10 * step + micro, size=8)
                (F.cross_entropy(model(x), y) / 4).backward()
            if mode == "manual":
                monitor.step()
            optimizer.step()
    assert monitor.steps_seen == 6
    assert list(monitor.history.steps) == [0, 1, 2, 3, 4, 5]
    np.testing.assert_allclose(global_norms(monitor), oracle.values, rtol=1e-5)
    # the first micro-batch's gradient alone is a quarter-size batch: not what was recorded
    assert monitor.history.get("update_ratio").shape == (6, 3)
    assert np.isfinite(monitor.history.get("update_ratio")).all()
    # every micro-batch ran through each layer: the activation statistics pool 4 calls
    assert (monitor.history.get("called") == 1).all()


def test_forward_mode_counts_every_micro_batch_as_a_step() -> None:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    with GradientMonitor(model) as monitor:
        optimizer.zero_grad()
        for micro in range(4):
            x, y = batch(micro, size=8)
            F.cross_entropy(model(x), y).backward()
        optimizer.step()
    assert monitor.steps_seen == 4


def test_every_counts_optimizer_steps() -> None:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    with GradientMonitor(model, step_on="optimizer", every=3) as monitor:
        for step in range(7):
            optimizer.zero_grad()
            for micro in range(2):
                x, y = batch(10 * step + micro, size=8)
                F.cross_entropy(model(x), y).backward()
            optimizer.step()
    assert list(monitor.history.steps) == [0, 3, 6]


def test_step_mode_errors_name_the_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"step_on must be one of .*'optimizer'"):
        GradientMonitor(mlp(), step_on="batch")
    with GradientMonitor(mlp()) as monitor, pytest.raises(RuntimeError, match="step_on='manual'"):
        monitor.step()


# ----------------------------------------------------------------------------- mixed precision
def test_autocast_bfloat16_statistics_are_taken_in_float32() -> None:
    model = mlp()
    x, y = batch(0)
    with GradientMonitor(model, activation_sample=None) as monitor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model[0](x)
            logits = model(x)
        F.cross_entropy(logits.float(), y).backward()
    mean = monitor.history.get("activation_mean")[0, 0]
    assert mean == pytest.approx(float(out.detach().float().mean()), rel=1e-2, abs=1e-3)
    assert monitor.non_finite is None


def test_float16_activations_whose_sum_overflows_float16_are_not_non_finite() -> None:
    """100 000 outputs of ~300 sum to 3e7, far above float16's 65504: summed in float32."""

    class Big(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.tensor(300.0))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x * self.scale).half()

    model = nn.Sequential(Big())
    with GradientMonitor(model, activation_sample=None) as monitor:
        model(torch.ones(100_000)).float().mean().backward()
    assert monitor.non_finite is None
    assert monitor.history.get("activation_mean")[0, 0] == pytest.approx(300.0)
    assert monitor.history.get("activation_std")[0, 0] == pytest.approx(0.0, abs=1e-3)


def run_scaled(
    init_scale: float,
    steps: int,
    mode: str,
    unscale_first: bool = False,
    loss_factor: float = 1.0,
    **scaler_args: float,
):
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6 if loss_factor > 1 else 0.05)
    scaler_args = {"growth_interval": 1000, **scaler_args}
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale, **scaler_args)
    scales, skipped = [], []
    with GradientMonitor(model, scaler=scaler, step_on=mode) as monitor:
        for step in range(steps):
            optimizer.zero_grad()
            x, y = batch(step)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = F.cross_entropy(model(x).float(), y) * loss_factor
            scaler.scale(loss).backward()
            scale = scaler.get_scale()
            grads = [p.grad.clone() for p in model.parameters()]
            if unscale_first:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1e9)
            scaler.step(optimizer)
            scaler.update()
            finite = all(torch.isfinite(g).all() for g in grads)
            skipped += [] if finite else [step]
            norm = torch.linalg.vector_norm(torch.stack([g.double().norm() for g in grads]))
            scales.append(float(norm) / scale if finite else math.nan)
    return monitor, np.array(scales), skipped


@pytest.mark.parametrize("mode", ["forward", "optimizer"])
def test_grad_scaler_norms_are_unscaled(mode: str) -> None:
    monitor, oracle, skipped = run_scaled(2.0**16, 8, mode)
    assert skipped == []
    np.testing.assert_allclose(global_norms(monitor), oracle, rtol=1e-4)
    assert global_norms(monitor).max() < 100  # the scaled norms are ~65536 times larger
    np.testing.assert_allclose(monitor.history.get("loss_scale")[:, 0], 2.0**16)


def test_grad_scaler_unscale_before_clipping_is_not_divided_twice() -> None:
    monitor, oracle, _ = run_scaled(2.0**16, 5, "optimizer", unscale_first=True)
    np.testing.assert_allclose(global_norms(monitor), oracle, rtol=1e-4)


@pytest.mark.parametrize("mode", ["forward", "optimizer"])
def test_steps_the_scaler_skips_are_counted_not_flagged(mode: str) -> None:
    # Scaled by 2^127, gradients of ~50 overflow float32: the scaler skips the step and backs
    # off (here by 2^-100, so the norms of the next steps fit in float32), then grows back
    # (x 2^100 after 3 good steps) and overflows again.
    monitor, oracle, skipped = run_scaled(
        2.0**127,
        20,
        mode,
        loss_factor=1e3,
        growth_factor=2.0**100,
        backoff_factor=2.0**-100,
        growth_interval=3,
    )
    assert 3 <= len(skipped) <= 10
    assert monitor.scaler_skipped_steps == skipped
    assert monitor.non_finite is None
    report = monitor.report()
    # the same loop with a scale that never overflows: the skipped steps change no finding
    # (the unscaled gradient norm of this x1000 loss is ~300, a true large-norm warning)
    reference, _, no_skips = run_scaled(2.0**16, 20, mode, loss_factor=1e3)
    assert no_skips == [] and "non_finite" not in report.kinds()
    assert [(f.kind, f.layer, f.severity) for f in report.findings] == [
        (f.kind, f.layer, f.severity) for f in reference.report().findings
    ]
    kept = ~np.isnan(oracle)
    np.testing.assert_allclose(global_norms(monitor)[kept], oracle[kept], rtol=1e-4)
    assert np.isnan(global_norms(monitor)[~kept]).all()
    assert f"{len(skipped)} of 20 recorded steps" in str(report)
    assert "loss scale now" in str(report)


def test_without_the_scaler_the_same_overflow_is_reported() -> None:
    model = mlp()
    x, y = batch(0)
    with GradientMonitor(model) as monitor:
        (F.cross_entropy(model(x), y) * 2.0**140).backward()
    assert monitor.non_finite is not None
    assert monitor.non_finite.quantity in ("output_grad", "param_grad")


def test_scaler_argument_is_checked() -> None:
    with pytest.raises(TypeError, match=r"scaler must be a torch\.amp\.GradScaler"):
        GradientMonitor(mlp(), scaler=2.0**16)


# ----------------------------------------------------------------------------- wrappers
def test_data_parallel_is_unwrapped_for_naming() -> None:
    model = mlp()
    wrapped = nn.DataParallel(model)
    x, y = batch(0)
    with GradientMonitor(wrapped) as monitor:
        F.cross_entropy(wrapped(x), y).backward()
    assert monitor.layers == ["0", "2", "4"]
    assert monitor.params[0] == "0.weight"
    assert len(monitor.history) == 1


def test_compiled_model_refused_with_what_to_pass_instead() -> None:
    compiled = torch.compile(mlp(), backend="eager")
    with pytest.raises(ValueError, match=r"activations=False, output_grads=False.*_orig_mod"):
        GradientMonitor(compiled)


def test_compiled_model_gradient_norms_match_eager() -> None:
    eager, model = mlp(), mlp()
    compiled = torch.compile(model, backend="aot_eager")
    results = []
    for net, call in ((eager, eager), (model, compiled)):
        optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
        with GradientMonitor(call, activations=False, output_grads=False) as monitor:
            for step in range(3):
                optimizer.zero_grad()
                x, y = batch(step)
                F.cross_entropy(call(x), y).backward()
                optimizer.step()
        results.append(monitor)
    assert (
        results[1].params
        == results[0].params
        == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    )
    assert results[1].steps_seen == 3
    np.testing.assert_allclose(
        results[1].history.get("grad_norm"), results[0].history.get("grad_norm"), rtol=1e-5
    )
    assert np.isfinite(results[1].history.get("update_ratio")).all()


def test_fsdp_is_refused_clearly() -> None:
    from torch.distributed.fsdp import FullyShardedDataParallel

    fake = FullyShardedDataParallel.__new__(FullyShardedDataParallel)
    nn.Module.__init__(fake)
    with pytest.raises(NotImplementedError, match="does not support FSDP"):
        GradientMonitor(fake)


# ----------------------------------------------------------------------------- part of a model
@pytest.mark.parametrize(
    "layers",
    [["2"], "2", lambda name, module: name == "2"],
    ids=["names", "glob", "predicate"],
)
def test_layers_selects_part_of_the_model(layers: object) -> None:
    model = mlp()
    x, y = batch(0)
    with GradientMonitor(model, layers=layers, activation_sample=None) as monitor:
        h1 = model[1](model[0](x))
        z2 = model[2](h1)
        F.cross_entropy(model(x), y).backward()
    assert monitor.layers == ["2"] and monitor.params == ["2.weight", "2.bias"]
    grad = model[2].weight.grad.norm() ** 2 + model[2].bias.grad.norm() ** 2
    assert monitor.history.get("layer_grad_norm")[0, 0] == pytest.approx(float(grad.sqrt()))
    # the ReLU after layer 2 is attributed to it; the one after layer 0 (unwatched) is not
    assert monitor.history.get("fraction_dead")[0, 0] == pytest.approx(
        float((z2 <= 0).float().mean())
    )


def test_a_name_selects_the_layers_below_it_and_typos_are_errors() -> None:
    model = nn.Sequential()
    model.add_module("block", nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)))
    model.add_module("head", nn.Linear(4, 2))
    assert GradientMonitor(model, layers=["block"]).layers == ["block.0", "block.1"]
    assert GradientMonitor(model, layers="*.1").layers == ["block.1"]
    with pytest.raises(ValueError, match=r"layers: no module named \['blok'\]"):
        GradientMonitor(model, layers=["blok"])
    with pytest.raises(TypeError, match="layers must be None, a glob"):
        GradientMonitor(model, layers=3)


def test_watching_fewer_layers_registers_fewer_hooks() -> None:
    model = mlp()
    x, y = batch(0)
    work = []
    for layers in (None, ["4"]):
        monitor = GradientMonitor(model, layers=layers)
        with monitor:
            F.cross_entropy(model(x), y).backward()
            step = monitor._pending  # the statistics (device kernels) this step collected
            groups = (step.act_values, step.flag_values, step.grad_out_values, step.grad_values)
            work.append(sum(len(g) for g in groups))
    assert work == [17, 5]  # 3 layers: 6 sums/norms, 2 dead counts, 3 output grads, 6 params


# ----------------------------------------------------------------------------- two models, one loop
def test_gan_generator_and_discriminator_each_record_their_own_steps() -> None:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        generator = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
        critic = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(critic.parameters(), lr=1e-3)
    rng = torch.Generator().manual_seed(3)
    bce = nn.BCEWithLogitsLoss()
    with (
        GradNorms(generator) as oracle_g,
        GradNorms(critic) as oracle_d,
        GradientMonitor(generator, step_on="optimizer") as mon_g,
        GradientMonitor(critic, step_on="optimizer") as mon_d,
    ):
        for _ in range(10):
            real = torch.randn(32, 2, generator=rng) + 3
            fake = generator(torch.randn(32, 4, generator=rng))
            opt_d.zero_grad()
            loss_d = bce(critic(real), torch.ones(32, 1)) + bce(
                critic(fake.detach()), torch.zeros(32, 1)
            )
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad()
            bce(critic(fake), torch.ones(32, 1)).backward()
            opt_g.step()
    assert mon_g.steps_seen == mon_d.steps_seen == 10
    assert mon_g.layers == ["0", "2"] and mon_d.layers == ["0", "2"]
    np.testing.assert_allclose(global_norms(mon_g), oracle_g.values, rtol=1e-5)
    np.testing.assert_allclose(global_norms(mon_d), oracle_d.values, rtol=1e-5)


def test_report_on_an_inactive_rank_says_so() -> None:
    monitor = GradientMonitor(mlp())
    monitor._active, monitor.rank = (
        False,
        1,
    )  # what rank 1 of a DDP run sees (tested for real there)
    with monitor:
        x, y = batch(0)
        F.cross_entropy(monitor.model(x), y).backward()
    report = monitor.report()
    assert report.steps == 0 and "rank 1: gradlab records on rank 0 only" in str(report)
    assert gradlab.Report is type(report)
