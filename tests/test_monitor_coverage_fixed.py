"""Library bugs found by the issue-16 coverage tests, each fixed; these tests keep them fixed.

Freezing a layer after the monitor started; channels_last conv weights' update ratio; a fresh
optimizer reusing a freed one's id(); diagnose() leaving BatchNorm running statistics as they were.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import findings_of as find
from torch import nn

import gradlab
from gradlab import GradientMonitor


# ----------------------------------------------------------------- channels_last conv weights
def make_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )  # fmt: skip


@pytest.mark.parametrize("sample", [None, 4096], ids=["exact", "default"])
def test_update_ratio_of_channels_last_weights_matches_a_snapshot(sample) -> None:
    """model.to(memory_format=torch.channels_last) (the usual CNN speed-up) makes 4-d conv
    weights non-contiguous. Today their update ratio reads 0 and the report warns that these
    weights 'barely move'. The second conv weight (18,432 elements) is sampled by default."""
    model = make_cnn().to(memory_format=torch.channels_last)
    assert not model[0].weight.is_contiguous()
    x = torch.randn(16, 3, 12, 12).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    weights = [model[0].weight, model[2].weight, model[6].weight]
    with GradientMonitor(model, update_sample=sample) as monitor:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        before = [w.detach().clone() for w in weights]
        optimizer.step()
    expected = [((w - b).norm() / b.norm()).item() for w, b in zip(weights, before, strict=True)]
    ratio = monitor.to_numpy()["update_ratio"][0]
    # sampled: measured 8 % off on the channels_last conv weight (memory order out, kh, kw, in)
    assert ratio.tolist() == pytest.approx(expected, rel=1e-4 if sample is None else 0.2)
    assert not find(monitor.report(), "bad_update_ratio")


# ----------------------------------------------------------------- a fresh optimizer per phase
def test_a_fresh_optimizer_per_phase_is_measured_on_its_own_layers() -> None:
    """A new optimizer per training phase, each for other layers. CPython gives a new object the
    id() of one just freed; the update tracker caches each optimizer's parameters by id(), so
    today a new optimizer can inherit a freed one's layers: the layer it updates reads NaN and a
    layer it does not update reads 0 (then reported as 'barely move')."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
    trained = []
    with GradientMonitor(model, update_sample=None) as monitor:
        for phase in range(6):
            layer = (2, 0, 1)[phase % 3]  # index into monitor.layers ('0', '2', '4')
            optimizer = torch.optim.SGD(model[2 * layer].parameters(), lr=0.1)
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
            trained.append(layer)
            del optimizer  # freed at once (refcount): the next one gets its id()
    ratio = monitor.to_numpy()["update_ratio"]
    for step, layer in enumerate(trained):
        measured = np.flatnonzero(np.isfinite(ratio[step])).tolist()
        assert measured == [layer] and ratio[step, layer] > 1e-4, (step, ratio[step])


def test_a_fresh_optimizer_of_another_model_does_not_end_a_step() -> None:
    """step_on='optimizer' (a GAN loop with a fresh optimizer per iteration): the discriminator's
    new optimizer can get the id() of the generator's freed one, and GradientMonitor._owns caches
    ownership by id(), so today it ends a generator step (11 steps counted for 10)."""
    torch.manual_seed(0)
    generator, discriminator = nn.Linear(4, 4), nn.Linear(4, 4)  # the same parameter count
    x = torch.randn(8, 4)
    with GradientMonitor(generator, step_on="optimizer") as monitor:
        for _ in range(10):
            optimizer = torch.optim.SGD(generator.parameters(), lr=0.01)
            optimizer.zero_grad()
            discriminator(generator(x)).square().mean().backward()
            optimizer.step()
            del optimizer  # freed at once (refcount): the next one gets its id()
            optimizer = torch.optim.SGD(discriminator.parameters(), lr=0.01)
            optimizer.zero_grad()
            discriminator(generator(x).detach()).square().mean().backward()
            optimizer.step()
            del optimizer  # freed at once (refcount): the next one gets its id()
    assert monitor.steps_seen == 10
    assert monitor.to_numpy()["steps"].tolist() == list(range(10))


# ----------------------------------------------------------------- diagnose leaves the model as it was
def test_diagnose_leaves_batchnorm_running_statistics_as_they_were() -> None:
    """diagnose() says 'the model is not updated', but its forward pass in train mode moves every
    BatchNorm's running_mean/running_var (momentum 0.1 toward the batch) and num_batches_tracked:
    a diagnosis in the middle of training changes what the model computes in eval mode."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(32, 8) + 1.0, torch.randint(0, 3, (32,))
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    model.eval()
    eval_before = model(x).detach()
    model.train()
    gradlab.diagnose(model, (x, y), nn.CrossEntropyLoss())
    assert model.training  # the mode is left as it was (already true today)
    for name, b in model.named_buffers():
        assert torch.equal(b, buffers[name]), name
    model.eval()
    assert torch.equal(model(x).detach(), eval_before)
