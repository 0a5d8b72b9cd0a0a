"""The numbers notebooks/07_monitoring states in its prose, recomputed (a failing test means the
text needs updating)."""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import gradlab
from gradlab.chapters.ch07_monitoring import dashboard, scenarios, tutorial_monitor
from gradlab.diagnosis.flow import depth_group
from gradlab.measure.activation_stats import (
    DEAD_DERIVATIVE_THRESHOLD,
    count_flagged,
    dead_regions,
)
from gradlab.training.data import load_digits_split
from tests.helpers import notebook_cell as shared_notebook_cell

LOSS = nn.CrossEntropyLoss()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def batch(one_thread) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits_split(seed=0)
    return data.x_train[:128], data.y_train[:128]


def test_tutorial_monitor_section(batch) -> None:
    model = scenarios.make_scenario_mlp(64, 10, activation=nn.Sigmoid, depth=9, init=None)
    run = tutorial_monitor.run_tutorial_monitor(model, *batch, LOSS)
    # "ten Linear layers ... named linear1 ... linear9 and output"
    assert list(run.stats) == [f"linear{i}" for i in range(1, 10)] + ["output"]
    first, last = run.stats["linear1"]["mean"], run.stats["output"]["mean"]
    assert 1.5e-9 < first < 2.5e-9  # "about 2 x 10^-9" (measured 1.96e-9)
    assert 3.5e7 < last / first < 4.5e7  # "about 4 x 10^7 times less" (measured 4.3e7)
    failed = tutorial_monitor.run_tutorial_monitor(
        tutorial_monitor.InplaceResidualMLP(64, 10), *batch, LOSS
    )
    assert not failed.ok and "is a view and is being modified inplace" in failed.error


def test_three_pixels_are_blank_in_every_image() -> None:
    data = load_digits_split(seed=0)
    assert int((data.x_train == 0).all(dim=0).sum()) == 3  # "3 of the 64 pixels"


def test_gradlab_monitor_watches_the_inplace_model(batch) -> None:
    model = tutorial_monitor.InplaceResidualMLP(64, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03)
    with gradlab.GradientMonitor(model) as monitor:
        for _ in range(50):
            optimizer.zero_grad()
            LOSS(model(batch[0]), batch[1]).backward()
            optimizer.step()
    assert not monitor.report().findings
    assert monitor.to_numpy()["update_ratio"].shape == (50, 3)


def test_the_table(batch) -> None:
    for name in scenarios.TABLE_SCENARIOS:
        scenario = scenarios.get_scenario(name)
        before = scenarios.run_scenario(name, *batch)
        after = scenarios.run_scenario(name, *batch, fixed=True)
        found = next(f for f in before.findings if f.kind == scenario.kind)
        assert found.layer == scenario.layer, name  # "at the layer where the problem starts"
        assert not after.findings, name  # "every fix leaves no finding at all"
    assert scenarios.get_scenario("dead_relus").layer == "linear3"  # "the third Linear layer"
    dead = scenarios.run_scenario("dead_relus", *batch)
    # "two errors ... the dead units first, the vanishing gradient they cause below them second"
    assert [f.kind for f in dead.errors] == ["dead_units", "vanishing"]
    assert "fix those first" in dead.errors[1].fix


def test_update_ratio_section() -> None:
    runs = {
        lr: dashboard.compute_dashboard("healthy", lr=lr, steps=100) for lr in (0.003, 0.03, 1.5)
    }
    medians = {lr: float(np.nanmedian(run.update_ratios)) for lr, run in runs.items()}
    assert 2e-3 < medians[0.03] < 4e-3  # "about 3 x 10^-3, just above the line" (2.7e-3)
    per_layer = np.median(runs[0.03].update_ratios, axis=0)
    assert np.all((per_layer > 1.5e-3) & (per_layer < 6e-3))  # "every layer"
    assert 8 < medians[0.03] / medians[0.003] < 12  # "ten times smaller"
    slow = np.nanmedian(runs[0.003].update_ratios, axis=0)
    assert np.all(slow < 7e-4)  # "every layer's median sits below the line" (at most 4.2e-4)
    first_step = runs[0.003].update_ratios[0, :-1]
    assert np.all(first_step < 8e-4)  # "every hidden layer ... from the very first step" (6.4e-4)
    assert runs[0.003].losses[-1] > 2.05  # "still above 2 after 100 steps" (2.13)
    assert f"{runs[0.03].losses[0]:.2f}" == "2.96"  # one forward pass: robust at 3 digits
    assert runs[0.03].losses[-1] < 0.75  # "to about 0.6" (0.65)
    assert 0.5 < medians[1.5] < 0.75  # "about 0.6: more than half of its own norm" (0.61)
    worst = np.nanmedian(runs[1.5].update_ratios, axis=0)
    assert worst.min() > 0.3  # "every layer's median is above 0.3" (lowest 0.49)
    assert np.nanmin(runs[1.5].update_ratios) < 0.1  # "single steps ... dip below 0.1" (0.044)
    stopped = runs[1.5].stopped_at
    assert stopped is not None and stopped < 20  # "not finite before step 20" (step 10)


def test_histogram_section() -> None:
    runs = {
        n: dashboard.compute_dashboard(n, steps=100)
        for n in ("healthy", "deep_sigmoid", "dead_relus")
    }
    healthy = runs["healthy"].histograms.median_log10()
    assert np.all(np.abs(healthy + 2) <= 0.5)  # "around 10^-2"
    sigmoid = runs["deep_sigmoid"].histograms.median_log10()
    assert len(sigmoid) == 10 and np.all(np.diff(sigmoid) >= 0)  # "march left"
    assert sigmoid[-1] - sigmoid[0] > 5  # one layer at a time, over many decades
    assert abs(sigmoid[-1] + 2) <= 0.5 and abs(sigmoid[0] + 9) <= 0.5  # 1e-2 ... 1e-9
    dead = runs["dead_relus"].histograms
    assert np.isnan(dead.median_log10()[:3]).all() and not np.isnan(dead.median_log10()[3])
    zeros = dead.zero_fraction()
    assert np.all(zeros[:3] == 1)  # "the first three layers ... every element exactly 0"
    # "linear4 is almost all zeros: only its bias gets a gradient"
    assert 32 * 32 / (32 * 32 + 32) <= zeros[3] < 1
    # healthy: "a sizeable share of exact zeros" in later layers, but below half everywhere;
    # the first layer's zeros are the 3 blank pixels' weights ("under 5 %")
    healthy_zeros = runs["healthy"].histograms.zero_fraction()
    assert healthy_zeros.max() < 0.5 and healthy_zeros[3:].max() > 0.1
    for name in ("healthy", "deep_sigmoid"):
        histograms = runs[name].histograms
        assert histograms.zero_fraction()[0] < 0.05 and histograms.zeros[0] >= 3 * 32
    # "about half of a ReLU's outputs are <= 0 ... far from the 90 % at which it warns"
    off = np.nanmedian(runs["healthy"].fraction_dead[-20:, :-1], axis=0)
    assert np.all((off > 0.35) & (off < 0.65))
    assert not runs["healthy"].report.findings


def test_healthy_units_are_on_or_off_together() -> None:
    """Section 5: why a healthy ReLU layer has units off for a whole batch (He init, no step)."""
    assert f"{0.5**64:.0e}" == "5e-20"  # "with probability 2^-64 ≈ 5 × 10^-20"
    data = load_digits_split(seed=0)
    model, _ = scenarios.build("healthy", fixed=False, in_features=64, num_classes=10)
    hidden = data.x_train
    similarities, mostly_off, mostly_on, always_off = [], [], [], []
    with torch.no_grad():
        for i in range(1, scenarios.DEPTH + 1):
            pre = getattr(model, f"linear{i}")(hidden)
            hidden = torch.relu(pre)
            directions = nn.functional.normalize(hidden, dim=1)
            cosine = directions @ directions.T
            similarity = float(cosine[~torch.eye(len(hidden), dtype=torch.bool)].mean())
            # printed to one decimal: the value is not within rounding of a .x5 boundary
            assert abs((similarity * 10) % 1 - 0.5) > 0.05, (i, similarity)
            similarities.append(similarity)
            off = (pre <= 0).double().mean(dim=0)
            # no unit sits within two images of a 90 % / 10 % threshold, so a few images whose
            # pre-activation is rounding-close to 0 cannot move a count
            step = 2 / len(hidden)
            assert torch.all((off - 0.9).abs() > step) and torch.all((off - 0.1).abs() > step)
            # an always-off unit's largest pre-activation is clearly negative, the others' positive
            assert torch.all(pre.max(dim=0).values.abs() > 1e-3)
            mostly_off.append(int((off > 0.9).sum()))
            mostly_on.append(int((off < 0.1).sum()))
            always_off.append(int((off == 1).sum()))
    # "from about 0.3 after linear1 to about 0.8 after linear6", more alike layer by layer
    assert round(similarities[0], 1) == 0.3 and round(similarities[-1], 1) == 0.8
    rounded = [round(value, 1) for value in similarities]
    assert rounded == sorted(rounded)
    # "linear4-linear6: 6-12 of 32 units mostly off, 6-9 mostly on, 1-3 always off"
    assert min(mostly_off[3:]) == 6 and max(mostly_off[3:]) == 12
    assert min(mostly_on[3:]) == 6 and max(mostly_on[3:]) == 9
    assert min(always_off[3:]) == 1 and max(always_off[3:]) == 3
    assert always_off[:3] == [0, 0, 0]


def test_dashboard_section() -> None:
    sigmoid = dashboard.compute_dashboard("deep_sigmoid", steps=100)
    assert abs(sigmoid.losses[-1] - math.log(10)) < 0.05  # "stays near ln 10"
    for name in ("too_large_init", "too_high_lr"):
        run = dashboard.compute_dashboard(name, steps=100)
        assert run.stopped_at is not None and "non_finite" in run.report.kinds()
        kinds = [f.kind for f in run.report.findings]
        # "the report leads with what went wrong first ... the overflow as its consequence"
        assert kinds[0] != "non_finite", str(run.report)
        consequence = run.report.findings[kinds.index("non_finite")]
        assert "step " in consequence.evidence and "consequence" in consequence.evidence
    too_large = dashboard.compute_dashboard("too_large_init", steps=100).report.findings
    # "the activations are already huge from linear2 on"
    assert (too_large[0].kind, too_large[0].layer) == ("large_activations", "linear2")
    assert [f.kind for f in too_large] == [
        "large_activations",
        "exploding",
        "bad_update_ratio",
        "non_finite",
    ]
    dead = dashboard.compute_dashboard("dead_relus", steps=100)
    zero = (dead.layer_grad_norms[:, :3] == 0).all(axis=1)
    assert not zero[:3].any() and zero[3:].mean() > 0.7  # "after a few steps ... at most steps"
    assert np.all(dead.histograms.counts[:3] == 0) and dead.histograms.zeros[:3].tolist() == [
        64 * 32 + 32,
        32 * 32 + 32,
        32 * 32 + 32,
    ]  # "empty histograms": every element exactly 0
    detached = dashboard.compute_dashboard("detached", steps=100)
    assert detached.losses[-1] < detached.losses[0] and detached.histograms.missing == [
        "body.linear1",
        "body.linear2",
    ]


def test_exercise_part_d_event_is_a_recorded_step_within_one_step_of_the_loss() -> None:
    """Solutions Part D: lr = 3 breaks the 4-layer ReLU net within 30 steps, and with every=2 the
    monitor's event is an even step within one step of the first non-finite loss."""
    data = load_digits_split(seed=0)
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for fan_in in (64, 32, 32, 32):
        linear = nn.Linear(fan_in, 32)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(32, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=3.0)
    generator = torch.Generator().manual_seed(0)
    losses = []
    with gradlab.GradientMonitor(model, every=2) as monitor:
        for _ in range(30):
            index = torch.randint(0, len(data.x_train), (64,), generator=generator)
            loss = LOSS(model(data.x_train[index]), data.y_train[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    bad = ~np.isfinite(losses)
    assert bad.any() and int(np.argmax(bad)) < 20  # breaks with margin (step 6 here)
    event = monitor.non_finite
    assert event is not None and event.step % 2 == 0
    assert abs(event.step - int(np.argmax(bad))) <= 1


# --- what the notebook itself shows ---------------------------------------------------------------

NOTEBOOK = Path(__file__).resolve().parents[1] / "paired" / "notebooks" / "07_monitoring.py"


def notebook_cell(marker: str) -> str:
    """The source of the one code cell of notebooks/07_monitoring that contains `marker`."""
    return shared_notebook_cell("07_monitoring", marker)


def test_the_notebooks_inplace_model_is_the_tested_one(batch) -> None:
    """Section 1 writes the in-place model out; it is tutorial_monitor's, weight for weight, so
    the numbers this file checks on tutorial_monitor.InplaceResidualMLP are the notebook's."""
    data = load_digits_split(seed=0)
    scope = {"torch": torch, "nn": nn, "data": data, "x": batch[0], "y": batch[1]}
    scope.update(loss_fn=LOSS, tutorial_monitor=tutorial_monitor)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(notebook_cell("class InplaceResidualMLP"), scope)
    assert "ok: False" in out.getvalue()  # the tutorial monitor breaks on it
    shown = scope["inplace_model"].state_dict()
    tested = tutorial_monitor.InplaceResidualMLP(64, 10).state_dict()
    assert list(shown) == list(tested)
    assert all(torch.equal(shown[name], tested[name]) for name in shown)


def test_the_quiz_cells_show_only_the_questions() -> None:
    assert notebook_cell("QUICK_CHECK").strip() == "quiz.show(questions.QUICK_CHECK)"
    knowledge = notebook_cell("KNOWLEDGE_CHECK").strip()
    assert knowledge == 'quiz.show(questions.KNOWLEDGE_CHECK, title="Chapter 7 knowledge check")'
    assert "answer=" not in NOTEBOOK.read_text()


def test_quick_check_names_the_detached_scenarios_layers(batch) -> None:
    """The quick check's 'no_grad at body.linear1 and body.linear2' is what diagnose reports there."""
    from gradlab.chapters.ch07_monitoring import questions

    report = scenarios.run_scenario("detached", *batch)
    layers = [f.layer for f in report.findings if f.kind == "no_grad"]
    assert layers == ["body.linear1", "body.linear2"]
    assert "'body.linear1' and 'body.linear2'" in questions.QUICK_CHECK[0].prompt


def test_the_dead_unit_and_vanishing_measures_are_as_the_text_says() -> None:
    """Sections 3 and 5: a unit is dead when its activation's derivative is below 0.01 (a ReLU's
    input <= 0; ELU below ln 0.01; GELU/SiLU far negative or in the band where f' crosses 0); a
    default LeakyReLU is never dead; the vanishing rule reads ||dL/dW||/||W||, warns below 1/100
    of a later hidden layer's, errs below 1/10,000 of any later layer's, counts a numbered block
    once."""
    assert DEAD_DERIVATIVE_THRESHOLD == 0.01 and nn.LeakyReLU().negative_slope == 0.01
    limits = gradlab.Thresholds()
    assert (limits.vanishing_warning, limits.vanishing_error, limits.dead_warning) == (
        1e-2,
        1e-4,
        0.9,
    )
    # "ELU below ln 0.01 = -4.6; GELU, SiLU below about -3.1 and -6.3, or near -0.75 and -1.28"
    (elu,), _ = dead_regions("elu", (1.0,), DEAD_DERIVATIVE_THRESHOLD)
    assert elu[0] == "lt" and elu[1] == pytest.approx(math.log(0.01)) and round(elu[1], 1) == -4.6
    for kind, edge, middle in (("gelu", -3.1, -0.75), ("silu", -6.3, -1.28)):
        parameters = ("none",) if kind == "gelu" else ()
        (far, band), _ = dead_regions(kind, parameters, DEAD_DERIVATIVE_THRESHOLD)
        assert far[0] == "lt" and round(far[1], 1) == edge, far
        assert band[0] == "band" and band[2] - band[1] < 0.1, band  # narrow
        assert abs((band[1] + band[2]) / 2 - middle) < 0.01, band
        function = nn.GELU() if kind == "gelu" else nn.SiLU()
        at = torch.tensor([middle, edge - 0.05, edge + 0.05, -2.0], dtype=torch.float64)
        at.requires_grad_()
        (slope,) = torch.autograd.grad(function(at).sum(), at)
        assert (slope.abs() < 0.01).tolist() == [True, True, False, False], slope
    far_negative = torch.full((100,), -8.0)
    for module, kind in ((nn.GELU(), "gelu"), (nn.SiLU(), "silu"), (nn.ELU(), "elu")):
        assert count_flagged(module(far_negative), kind, module_input=far_negative) == 100
    leaky = nn.LeakyReLU()
    assert count_flagged(leaky(far_negative), "leaky_relu", module_input=far_negative) == 0
    relu_input = torch.tensor([-1.0, 0.0, 1.0])
    assert count_flagged(torch.relu(relu_input), "relu") == 1  # live: only the input 1 > 0
    assert depth_group("layer1.0.conv1") == "layer1.0" and depth_group("h.3.attn") == "h.3"
    text = (Path(__file__).parents[1] / "paired/notebooks/07_monitoring.py").read_text()
    assert "\\lVert\\partial\\mathcal{L}/\\partial W\\rVert / \\lVert W\\rVert" in text
    assert "derivative at its input is below 0.01" in text


def test_a_leaky_relu_is_no_cure_for_the_bias_of_minus_ten(batch) -> None:
    """Section 5: LeakyReLUs swapped in for the dead-ReLU model's ReLUs (bias -10 kept) are never
    dead, but every input after 'linear3' is below 0, so they pass back exactly 1 % of the
    gradient they receive. (Whether diagnose then warns of vanishing at 'linear3' depends on the
    seed: the fall sits right at its 1/100 line, 0.0081-0.0099 on seeds 0 and 2, above on 1 and 3;
    the text does not claim it.)"""
    model = scenarios.make_scenario_mlp(64, 10, activation=nn.LeakyReLU)
    with torch.no_grad():
        model.linear3.bias.fill_(-10.0)
    assert isinstance(model.leakyrelu3, nn.LeakyReLU)
    seen = {}
    model.linear3.register_forward_hook(lambda m, i, out: seen.update(pre=out))
    model.leakyrelu3.register_forward_hook(lambda m, i, out: seen.update(post=out))
    logits = model(batch[0])
    assert bool((seen["pre"] < 0).all())
    grad_pre, grad_post = torch.autograd.grad(LOSS(logits, batch[1]), [seen["pre"], seen["post"]])
    torch.testing.assert_close(grad_pre, 0.01 * grad_post, rtol=1e-6, atol=0)
    report = gradlab.diagnose(model, batch, LOSS)
    assert not [f for f in report.findings if f.kind == "dead_units"], str(report)
    assert scenarios.get_scenario("dead_relus").fix == "zero bias (He init)"
    text = (Path(__file__).parents[1] / "paired/notebooks/07_monitoring.py").read_text()
    assert "pass back only 1 % of the gradient they receive" in text
