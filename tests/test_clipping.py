"""gradlab.training.clipping against torch.nn.utils (the oracle), on small seeded models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from gradlab.diagnosis.report import Thresholds
from gradlab.diagnosis.rules import _clipping
from gradlab.training.clipping import (
    ClippingEffect,
    clip_grad_norm_,
    clip_grad_value_,
    clipping_effect,
    cosine_similarity,
    threshold_from_history,
)

TOLERANCE = 1e-6


def _mlp(seed: int) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return model


def _mixed_dtypes(seed: int) -> nn.Module:
    """float32 and float64 layers in one model (the middle layer runs in float64)."""

    class Mixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = nn.Linear(8, 16)
            self.middle = nn.Linear(16, 16).double()
            self.last = nn.Linear(16, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.tanh(self.first(x)).double()
            return self.last(torch.relu(self.middle(h)).float())

    torch.manual_seed(seed)  # nn.Linear's own init; the test owns this process's global RNG
    return Mixed()


def _with_unused(seed: int) -> nn.Module:
    """A model with a frozen layer and an unused layer: their .grad stays None."""

    class WithUnused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = _mlp(seed)
            self.body[0].weight.requires_grad_(False)
            self.unused = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x)

    return WithUnused()


def _cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Unflatten(1, (2, 2, 2)),
        nn.Conv2d(2, 4, 2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(36, 3),
    )


MODELS = {"mlp": _mlp, "mixed_dtypes": _mixed_dtypes, "no_grad_params": _with_unused, "cnn": _cnn}


def _two_copies_with_grads(build, seed: int) -> tuple[nn.Module, nn.Module]:
    """The same model twice, each with the same gradients of a random batch."""
    generator = torch.Generator().manual_seed(100 + seed)
    x = torch.randn(32, 8, generator=generator)
    y = torch.randint(0, 3, (32,), generator=generator)
    models = []
    for _ in range(2):
        model = build(seed)
        nn.functional.cross_entropy(model(x), y).backward()
        models.append(model)
    return models[0], models[1]


def _assert_same_grads(ours: nn.Module, theirs: nn.Module) -> None:
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        assert (a.grad is None) == (b.grad is None), name
        if a.grad is not None:
            assert a.grad.dtype == b.grad.dtype, name
            torch.testing.assert_close(
                a.grad, b.grad, rtol=TOLERANCE, atol=TOLERANCE, equal_nan=True, msg=name
            )


@pytest.mark.parametrize("foreach", [None, True, False], ids=["foreach_auto", "foreach", "loop"])
@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.5, math.inf], ids=["l1", "l2", "l3.5", "inf"])
@pytest.mark.parametrize("max_norm", [0.01, 1e6], ids=["clips", "no_op"])
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("seed", [0, 1])
def test_clip_grad_norm_matches_torch(name, seed, max_norm, norm_type, foreach) -> None:
    ours, theirs = _two_copies_with_grads(MODELS[name], seed)
    before = [p.grad.clone() for p in ours.parameters() if p.grad is not None]
    our_norm = clip_grad_norm_(ours.parameters(), max_norm, norm_type, foreach=foreach)
    their_norm = torch.nn.utils.clip_grad_norm_(
        theirs.parameters(), max_norm, norm_type, foreach=foreach
    )
    torch.testing.assert_close(our_norm, their_norm, rtol=TOLERANCE, atol=TOLERANCE)
    _assert_same_grads(ours, theirs)
    after = [p.grad for p in ours.parameters() if p.grad is not None]
    if max_norm > 1e3:  # below the threshold nothing changes
        for a, b in zip(before, after, strict=True):
            torch.testing.assert_close(a, b, rtol=TOLERANCE, atol=0)
    else:  # the test must clip for real: the norm was above max_norm, and now is max_norm
        assert our_norm.item() > 5 * max_norm
        new_norm = torch.nn.utils.get_total_norm(after, norm_type)
        assert abs(new_norm.item() - max_norm) < 1e-4 * max_norm


@pytest.mark.parametrize("foreach", [None, True, False], ids=["foreach_auto", "foreach", "loop"])
@pytest.mark.parametrize("clip_value", [0.0, 0.01, 1e6], ids=["zero", "clips", "no_op"])
@pytest.mark.parametrize("name", list(MODELS))
def test_clip_grad_value_matches_torch(name, clip_value, foreach) -> None:
    ours, theirs = _two_copies_with_grads(MODELS[name], 0)
    assert clip_grad_value_(ours.parameters(), clip_value, foreach=foreach) is None
    torch.nn.utils.clip_grad_value_(theirs.parameters(), clip_value, foreach=foreach)
    _assert_same_grads(ours, theirs)


def test_accepts_a_module_a_tensor_and_a_generator() -> None:
    ours, theirs = _two_copies_with_grads(_mlp, 3)
    norm = clip_grad_norm_(ours, 0.1)  # a module: its parameters
    assert torch.equal(norm, torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.1))
    _assert_same_grads(ours, theirs)
    weight = ours[0].weight
    before = weight.grad.clone()
    norm = clip_grad_norm_(weight, 1e-3)  # a single tensor
    assert torch.allclose(norm, before.norm())
    assert torch.allclose(weight.grad.norm(), torch.tensor(1e-3), rtol=1e-3)


@pytest.mark.parametrize("parameters", [[], "no_grads"], ids=["empty_list", "no_grads"])
def test_nothing_to_clip_returns_zero_like_torch(parameters) -> None:
    if parameters == "no_grads":
        parameters = list(_mlp(0).parameters())
    ours = clip_grad_norm_(parameters, 1.0)
    theirs = torch.nn.utils.clip_grad_norm_(parameters, 1.0)
    assert torch.equal(ours, theirs) and ours.item() == 0.0
    clip_grad_value_(parameters, 1.0)  # no error, nothing to do


@pytest.mark.parametrize("bad", [math.inf, math.nan], ids=["inf", "nan"])
@pytest.mark.parametrize("foreach", [None, False], ids=["foreach_auto", "loop"])
@pytest.mark.parametrize("norm_type", [2.0, math.inf], ids=["l2", "inf"])
def test_non_finite_gradients_like_torch(bad, foreach, norm_type) -> None:
    ours, theirs = _two_copies_with_grads(_mixed_dtypes, 0)
    for model in (ours, theirs):
        model.middle.weight.grad[0, 0] = bad
    with pytest.raises(
        RuntimeError, match=r"total gradient norm \(norm_type=(2|inf)\) is (inf|nan)"
    ):
        clip_grad_norm_(ours.parameters(), 1.0, norm_type, error_if_nonfinite=True, foreach=foreach)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0, norm_type, True, foreach)
    _assert_same_grads(ours, theirs)  # the error came before any change
    our_norm = clip_grad_norm_(ours.parameters(), 1.0, norm_type, foreach=foreach)
    their_norm = torch.nn.utils.clip_grad_norm_(
        theirs.parameters(), 1.0, norm_type, foreach=foreach
    )
    torch.testing.assert_close(our_norm, their_norm, equal_nan=True)
    assert not torch.isfinite(our_norm)
    _assert_same_grads(ours, theirs)  # scaled by the non-finite norm, as torch does


def _digits_gradient() -> list[torch.Tensor]:
    """A real gradient: an MLP's on a batch of scikit-learn digits."""
    from gradlab.training.data import load_digits_split

    split = load_digits_split()
    torch.manual_seed(0)  # nn.Linear's own init
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))
    nn.functional.cross_entropy(model(split.x_train[:128]), split.y_train[:128]).backward()
    return [p.grad.clone() for p in model.parameters()]


def test_norm_clipping_keeps_direction_value_clipping_turns_it() -> None:
    grads = _digits_gradient()
    flat = torch.cat([g.reshape(-1) for g in grads])
    by_norm = _parameters_with(grads)
    clip_grad_norm_(by_norm, 0.1 * flat.norm().item())
    clipped = [p.grad for p in by_norm]
    assert (
        torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in clipped])) < 0.11 * flat.norm()
    )
    assert cosine_similarity(grads, clipped) == pytest.approx(1.0, abs=1e-6)
    by_value = _parameters_with(grads)
    clip_grad_value_(by_value, flat.abs().median().item())  # cuts half the elements
    assert cosine_similarity(grads, [p.grad for p in by_value]) < 0.95


def _parameters_with(grads: list[torch.Tensor]) -> list[torch.Tensor]:
    """Fresh parameters holding copies of the given gradients."""
    parameters = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for parameter, grad in zip(parameters, grads, strict=True):
        parameter.grad = grad.clone()
    return parameters


def test_cosine_similarity() -> None:
    a = torch.tensor([1.0, 0.0])
    assert cosine_similarity(a, torch.tensor([3.0, 0.0])) == 1.0
    assert cosine_similarity(a, torch.tensor([0.0, 2.0])) == 0.0
    assert cosine_similarity([a, a], [a, -a]) == 0.0
    assert cosine_similarity(a, torch.tensor([1.0, 1.0])) == pytest.approx(math.sqrt(0.5))
    with pytest.raises(ValueError, match="same number of elements"):
        cosine_similarity(a, torch.ones(3))
    with pytest.raises(ValueError, match="non-zero"):
        cosine_similarity(a, torch.zeros(2))


def test_threshold_from_history_on_a_known_history() -> None:
    norms = np.arange(1.0, 101.0)  # 1, 2, ..., 100
    assert threshold_from_history(norms) == pytest.approx(99.01)  # linear between 99 and 100
    assert threshold_from_history(norms, 50) == pytest.approx(50.5)
    assert threshold_from_history(list(norms), 100) == 100.0
    assert threshold_from_history(torch.tensor(norms), 95) == pytest.approx(95.05)
    rng = np.random.default_rng(0)
    history = rng.lognormal(-1.0, 0.5, size=300)
    assert threshold_from_history(history, 99) == np.percentile(history, 99)
    lower = threshold_from_history(history, 99, method="lower")
    assert lower == np.percentile(history, 99, method="lower") and lower in history
    # At the 99th percentile, clipping fires on about 1 step in 100 of the recorded run.
    assert clipping_effect(history, threshold_from_history(history), lr=1).fraction_clipped == 0.01


@pytest.mark.parametrize(
    "norms, percentile, message",
    [
        ([], 99, "norms is empty"),
        ([1.0, math.nan, 2.0], 99, r"1 non-finite value\(s\) \(first nan at index 1\)"),
        ([1.0, math.inf], 99, "non-finite"),
        ([1.0, -2.0], 99, "norms must be >= 0"),
        ([[1.0, 2.0]], 99, "norms must be 1-D"),
        ([1.0, 2.0], 0, r"percentile must be a number in \(0, 100\], got 0"),
        ([1.0, 2.0], 101, "percentile must be"),
        ([1.0, 2.0], 0.99 * math.nan, "percentile must be"),
    ],
)
def test_threshold_from_history_errors(norms, percentile, message) -> None:
    with pytest.raises(ValueError, match=message):
        threshold_from_history(norms, percentile)


def test_too_aggressive_threshold_divides_the_learning_rate() -> None:
    rng = np.random.default_rng(1)
    norms = rng.uniform(0.45, 0.55, size=200)  # norms near 0.5
    effect = clipping_effect(norms, threshold=0.01, lr=0.1)
    assert isinstance(effect, ClippingEffect)
    assert effect.fraction_clipped == 1.0
    assert effect.mean_scale == pytest.approx(np.mean(0.01 / norms))
    assert effect.effective_lr == pytest.approx(0.1 / 50, rel=0.02)  # lr / 50
    exact = clipping_effect([0.5] * 10, 0.01, 0.1)
    assert exact.mean_scale == pytest.approx(0.02) and exact.effective_lr == pytest.approx(0.002)
    assert exact.median_norm == 0.5 and exact.steps == 10
    loose = clipping_effect(norms, threshold=1.0, lr=0.1)
    assert (loose.fraction_clipped, loose.mean_scale, loose.effective_lr) == (0.0, 1.0, 0.1)
    half = clipping_effect([1.0, 4.0], threshold=2.0, lr=1.0)  # one step halved, one untouched
    assert (half.fraction_clipped, half.mean_scale) == (0.5, 0.75)
    assert clipping_effect([0.0, 1.0], 0.5, 1.0).mean_scale == 0.75  # a zero norm is not scaled


def test_clipping_effect_is_what_torch_clipping_does() -> None:
    """mean_scale is the mean of ||clipped|| / ||unclipped|| over steps of torch's clipping."""
    generator = torch.Generator().manual_seed(2)
    scales, norms = [], []
    for _ in range(50):
        size = torch.rand(1, generator=generator, dtype=torch.float64)
        parameter = torch.zeros(100, dtype=torch.float64, requires_grad=True)
        parameter.grad = torch.randn(100, generator=generator, dtype=torch.float64) * size
        norm = torch.nn.utils.clip_grad_norm_([parameter], 0.4).item()
        norms.append(norm)
        scales.append(parameter.grad.norm().item() / norm)
    effect = clipping_effect(norms, 0.4, lr=0.3)
    assert 0.1 < effect.fraction_clipped < 1.0  # some steps clipped, some not
    assert effect.mean_scale == pytest.approx(np.mean(scales), rel=1e-5)  # torch's +1e-6 only
    assert effect.effective_lr == pytest.approx(0.3 * np.mean(scales), rel=1e-5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: clip_grad_norm_([], -1.0), r"max_norm must be a number >= 0 .*got -1.0"),
        (lambda: clip_grad_norm_([], math.nan), "max_norm must be"),
        (lambda: clip_grad_norm_([], "1"), "max_norm must be"),
        (lambda: clip_grad_norm_([], 1.0, norm_type=0), "norm_type must be a number > 0"),
        (lambda: clip_grad_norm_([], 1.0, norm_type="two"), "norm_type must be"),
        (lambda: clip_grad_value_([], -0.5), r"clip_value must be a number >= 0 .*got -0.5"),
        (lambda: clipping_effect([1.0], 0.0, 0.1), "threshold must be a number > 0"),
        (lambda: clipping_effect([1.0], 1.0, -0.1), "lr must be a number >= 0"),
        (lambda: clipping_effect([], 1.0, 0.1), "norms is empty"),
    ],
)
def test_bad_input_names_the_argument(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_parameters_name_the_item() -> None:
    with pytest.raises(TypeError, match="item 1 is float"):
        clip_grad_norm_([torch.zeros(2), 3.0], 1.0)
    with pytest.raises(TypeError, match="parameters must be a module, a tensor or an iterable"):
        clip_grad_value_(3, 1.0)


def _old_rule_fires(norms: np.ndarray, threshold: float, limits: Thresholds) -> bool:
    """The rule as it was before it called clipping_effect (kept to show the behaviour is equal)."""
    return bool(
        np.mean(norms > threshold) >= limits.clipped_fraction
        and np.median(norms) / threshold >= limits.clipped_factor
    )


def test_diagnosis_rule_is_the_same_computation() -> None:
    limits = Thresholds()
    rng = np.random.default_rng(3)
    fired = 0
    for _ in range(300):
        norms = rng.lognormal(rng.uniform(-3, 1), rng.uniform(0.1, 1.5), size=rng.integers(1, 40))
        threshold = float(10 ** rng.uniform(-3, 0))
        findings = _clipping(norms, threshold, limits)
        assert bool(findings) == _old_rule_fires(norms, threshold, limits)
        if findings:
            fired += 1
            effect = clipping_effect(norms, threshold, lr=1.0)
            assert f"on {effect.fraction_clipped:.0%} of" in findings[0].evidence
            assert f"divided by {1 / effect.mean_scale:.0f} " in findings[0].evidence
    assert 30 < fired < 270  # both outcomes occur
    (finding,) = _clipping(np.full(8, 0.5), 0.01, limits)
    assert "divided by 50 " in finding.evidence
