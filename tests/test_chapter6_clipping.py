"""The numbers and sentences notebooks/06_clipping states, recomputed (a failing test means the text
needs updating). Training conclusions are checked over more seeds than the notebook runs, with the
margins the printed categories need."""

from __future__ import annotations

import contextlib
import io
import math
import re

import nbformat
import numpy as np
import pytest
import torch
from test_quiz_positions import assert_spread
from torch import nn

from gradlab.chapters.ch06_clipping import (
    direction,
    questions,
    spikes,
    thresholds,
    through_time,
    training,
)
from gradlab.chapters.ch06_clipping.models import make_model
from gradlab.training.clipping import clipping_effect, threshold_from_history
from gradlab.training.sequence_tasks import BASELINE_MSE, adding_problem
from tests.helpers import ROOT
from tests.helpers import notebook_cell as shared_notebook_cell

SWEEP_SEEDS = (0, 1, 2, 3, 4)  # the notebook runs (0, 1)
KIND_SEEDS = (0, 1, 2)  # the notebook runs (0,)
SPIKE_SEEDS = (0, 1, 2)  # the notebook runs 0


def notebook_cell(marker: str) -> str:
    return shared_notebook_cell("06_clipping", marker)


def run_cell(marker: str, **scope) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(notebook_cell(marker), scope)
    scope["printed"] = out.getvalue()
    return scope


# ----------------------------------------------------------------- 1. norm vs value clipping
def test_norm_clipping_keeps_the_direction_and_value_clipping_turns_it():
    view = direction.compute_clipping_view(0.1)
    assert view.size == 1185 and round(view.norm, 2) == 5.69
    assert view.norm_cosine == pytest.approx(1.0, abs=1e-9)  # printed 1.000000, angle 0.0°
    assert view.norm_clipped_norm == pytest.approx(0.1, rel=1e-5)
    assert 46.0 < view.value_angle_degrees < 47.0  # "turned by about 47°", printed 46.6
    assert view.value_clipped_norm > 20 * 0.1  # "far longer than 0.1" (2.18)
    assert view.value_clipped_norm <= 0.1 * math.sqrt(view.size)  # the c·√n bound
    text = view.summary()
    assert "cosine to g 1.000000 (angle 0.0°)" in text and "(angle 46.6°)" in text


def test_the_views_match_torchs_clipping_and_the_plane_keeps_lengths_and_angles():
    grads = direction.real_gradient()
    flat = torch.cat([g.reshape(-1) for g in grads]).double()
    for c in (0.001, 0.1, 1.0, 10.0):
        view = direction.compute_clipping_view(c)
        params = [nn.Parameter(torch.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        torch.nn.utils.clip_grad_value_(params, c)
        value = torch.cat([p.grad.reshape(-1) for p in params]).double()
        assert view.value_clipped_norm == pytest.approx(float(value.norm()), rel=1e-6)
        cosine = float(value @ flat / (value.norm() * flat.norm()))
        assert view.value_cosine == pytest.approx(cosine, abs=1e-9)
        assert view.clamped_fraction == pytest.approx(float((flat.abs() > c).double().mean()))
        lengths = np.linalg.norm(view.plane, axis=1)
        np.testing.assert_allclose(
            lengths, [view.norm, view.norm_clipped_norm, view.value_clipped_norm], rtol=1e-5
        )
        g, _, v = view.plane
        plane_cosine = g @ v / (np.linalg.norm(g) * np.linalg.norm(v))
        assert plane_cosine == pytest.approx(view.value_cosine, abs=1e-9)


def test_small_and_large_thresholds_as_the_text_says():
    scope = run_cell("for c in (0.001, 1.0, 2.0)", direction=direction)
    assert "c = 0.001: value clipping turns g by 59°, cuts 99% of the entries" in scope["printed"]
    assert "c = 2: value clipping turns g by 0°, cuts 0% of the entries" in scope["printed"]
    smallest = direction.compute_clipping_view(0.001)
    assert 55 < smallest.value_angle_degrees < 60  # "almost 60°"
    for c in (2.0, 5.0, 10.0):  # "from c = 2 up no entry is larger than c"
        view = direction.compute_clipping_view(c)
        assert view.clamped_fraction == 0 and view.value_cosine == pytest.approx(1.0, abs=1e-12)


# ----------------------------------------------------------------- 2. the loop
def test_the_shown_loop_is_the_sweeps_seed_0_run_at_max_norm_1():
    threads = torch.get_num_threads()  # the cell sets one thread, as the learner's kernel
    scope = run_cell(
        "model = make_model(",
        torch=torch,
        nn=nn,
        make_model=make_model,
        adding_problem=adding_problem,
    )
    torch.set_num_threads(threads)
    _, reference = training.train(1.0, seed=0)
    logged = re.findall(r"step +(\d+): loss (\S+) +\|g\| before clipping (\S+)", scope["printed"])
    assert [int(step) for step, _, _ in logged] == [0, 200, 400, 600, 799]
    for step, loss, norm in logged:
        assert loss == f"{reference.losses[int(step)]:.3f}"
        assert norm == f"{reference.grad_norms[int(step)]:.2f}"
    assert logged[0][2] == "5.69"  # "norm 5.7 at step 0"


def test_mixed_precision_cell_unscales_before_clipping():
    from gradlab.models.mlp import make_mlp
    from gradlab.training.data import load_digits_split

    scope = run_cell(
        "GradScaler", torch=torch, nn=nn, make_mlp=make_mlp, load_digits_split=load_digits_split
    )
    assert "ratio: 1024\n" in scope["printed"]
    assert (scope["scaled_norm"] / scope["grad_norm"]).item() == pytest.approx(1024, rel=1e-6)


# ----------------------------------------------------------------- 3. the sweep
@pytest.fixture(scope="module")
def clip_sweep():
    return training.sweep(training.THRESHOLDS, SWEEP_SEEDS)


EXPECTED_CONCLUSIONS = """\
no clipping: the loss became inf/nan in every seed, within the first 30 steps
max_norm = 10: finite, but the training loss over the last 100 steps averaged more than 10 \
times the baseline in every seed; clipping fired on more than 95% of the steps
max_norm = 1: finite, and ended below the baseline in every seed; clipping fired on fewer than half \
of the steps
max_norm = 0.1: finite, and ended below the baseline in every seed; clipping fired on more than 95% \
of the steps
max_norm = 0.01: finite, and ended below the baseline in every seed; clipping fired on more than 95% \
of the steps"""


def test_sweep_conclusions_hold_in_five_seeds_with_margins(clip_sweep):
    assert training.conclusions(clip_sweep) == EXPECTED_CONCLUSIONS
    assert training.compare_tight(clip_sweep).endswith("in every seed")
    runs = clip_sweep.runs
    for seed in SWEEP_SEEDS:
        assert len(runs[None, seed].losses) <= 25  # margin to "within the first 30 steps"
        late = runs[10.0, seed].losses[-training.LATE :].mean()
        assert late > 30 * BASELINE_MSE  # 3× margin to "more than 10 times the baseline"
        for c in (1.0, 0.1, 0.01):
            assert runs[c, seed].test_mse < 0.95 * BASELINE_MSE  # below the baseline, with margin
        assert runs[1.0, seed].clipped_fraction < 0.4
        assert runs[0.1, seed].clipped_fraction > 0.97 and runs[0.01, seed].clipped_fraction == 1
        assert runs[0.01, seed].test_mse > runs[1.0, seed].test_mse + 0.02


def test_the_notebooks_two_seeds_print_the_same_conclusions(clip_sweep):
    cell = notebook_cell("print(training.conclusions(clip_sweep))")
    assert "compare_tight" in cell
    two = training.Sweep(
        {key: run for key, run in clip_sweep.runs.items() if key[1] in (0, 1)},
        clip_sweep.thresholds,
        (0, 1),
        0.0,
    )
    assert training.conclusions(two) == EXPECTED_CONCLUSIONS
    stored = stored_text("print(training.conclusions(clip_sweep))")
    assert stored == EXPECTED_CONCLUSIONS + "\n" + training.compare_tight(two) + "\n"


def stored_text(marker: str) -> str:
    """The stored text output of the notebook's code cell containing `marker`."""
    nb = nbformat.read(ROOT / "notebooks" / "06_clipping.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    assert len(cells) == 1
    return "".join(o.get("text", "") for o in cells[0].outputs if o.output_type == "stream")


# ----------------------------------------------------------------- 4. thresholds
EXPECTED_SETUPS = """\
RNN, adding problem, MSE (lr 0.1): median norm below 1; max_norm = 1.0 clips fewer than a quarter \
of the steps
6-layer ReLU MLP, digits, cross-entropy (lr 0.05): median norm above 1; max_norm = 1.0 clips more \
than half of the steps
max_norm = 0.01 on the first setup: fires on every step and divides the learning rate by a few \
tens (between 10 and 100)"""


def test_the_notebook_prints_the_setups_summary():
    assert stored_text("print(thresholds.compare_setups(histories))") == EXPECTED_SETUPS + "\n"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_typical_norm_depends_on_the_setup(seed):
    rnn, mlp = (thresholds.record_norms(setup, seed=seed) for setup in thresholds.SETUPS)
    assert rnn.median < 0.7 and np.mean(rnn.norms > 1) < 0.25  # "below 1", 1.0 clips few steps
    assert mlp.median > 1.2 and np.mean(mlp.norms > 1) > 0.6  # "above 1 ... most of its steps"
    assert thresholds.compare_setups([rnn, mlp]) == EXPECTED_SETUPS
    p95, p99 = (threshold_from_history(rnn.norms, q) for q in (95, 99))
    assert rnn.median < p95 <= p99
    tight = clipping_effect(rnn.norms, threshold=0.01, lr=rnn.lr)
    assert tight.fraction_clipped == 1.0  # "every step is clipped"
    assert 10 < 1 / tight.mean_scale < 100  # "a few tens"
    at_p99 = clipping_effect(rnn.norms, threshold=p99, lr=rnn.lr)
    assert at_p99.fraction_clipped <= 0.02 and at_p99.mean_scale > 0.95


def test_the_seeds_lr_over_50():
    effect = clipping_effect([0.5], threshold=0.01, lr=0.1)
    assert effect.mean_scale == pytest.approx(1 / 50) and effect.effective_lr == pytest.approx(
        0.002
    )


# ----------------------------------------------------------------- 5. spikes
@pytest.fixture(scope="module")
def spike_runs():
    return {
        seed: {mode: spikes.train_with_spikes(mode, seed=seed) for mode in spikes.MODES}
        for seed in SPIKE_SEEDS
    }


EXPECTED_SPIKES = """\
no clipping: the first corrupted batch raised the held-out MSE by more than the baseline error \
0.167, and the run ended in inf/nan
clipped blindly: finite to the end; the corrupted steps raised the held-out MSE by more than 0.1 \
in total
investigated: dropped 12 examples; finite to the end; the corrupted steps raised the held-out \
MSE by less than 0.1 in total"""


@pytest.mark.parametrize("seed", SPIKE_SEEDS)
def test_spikes_are_found_and_investigating_beats_clipping_blindly(spike_runs, seed):
    runs = {mode: run for mode, (_, run) in spike_runs[seed].items()}
    assert spikes.conclusions(runs) == EXPECTED_SPIKES
    clipped_model, clipped = spike_runs[seed]["clipped blindly"]
    assert spikes.find_spikes(clipped.grad_norms) == spikes.corrupted_steps() == (100, 200, 300)
    # "had we logged only the norms after clipping ... the same search flags no step": capped at
    # 1.0, a spike is at most 1 / median; a median above 0.2 keeps that under half the factor 10
    after_clipping = np.minimum(clipped.grad_norms, 1.0)
    assert np.median(after_clipping[spikes.WARMUP :]) > 0.2
    assert spikes.find_spikes(after_clipping) == ()
    later = clipped.grad_norms[spikes.WARMUP :]
    median = np.median(later)
    for step in spikes.corrupted_steps():  # margins around the factor 10
        assert clipped.grad_norms[step] > 20 * median
    others = np.delete(later, [s - spikes.WARMUP for s in spikes.corrupted_steps()])
    assert others.max() < 7 * median
    batches = spikes.make_batches(seed)
    for step in spikes.corrupted_steps():
        x, y = batches[step]
        culprits = spikes.find_culprits(clipped_model, x, y)
        assert culprits == tuple(int(i) for i in torch.nonzero(y[:, 0] > 2).flatten())
        assert len(culprits) == spikes.CORRUPT_EXAMPLES
    assert runs["no clipping"].jumps[0] > 5 * BASELINE_MSE
    assert runs["clipped blindly"].jumps.sum() > 1.5 * spikes.TOTAL_DAMAGE
    assert abs(runs["investigated"].jumps.sum()) < 0.7 * spikes.TOTAL_DAMAGE


def test_the_notebook_shows_seed_0s_flagged_steps_and_culprits():
    text = stored_text("flagged = spikes.find_spikes")
    assert "above 10 × the median: (100, 200, 300)" in text
    assert "the same search on the norms after clipping: ()\n" in text
    culprits = stored_text("culprits = spikes.find_culprits")
    assert culprits.count("(possible range 0 to 2)") == 3
    assert stored_text("print(spikes.conclusions(spike_runs))") == EXPECTED_SPIKES + "\n"


# ----------------------------------------------------------------- 6. RNN vs LSTM
def test_one_step_back_through_the_rnn_matches_the_hand_written_jacobian():
    model = make_model("rnn", seed=3)
    x, y = adding_problem(8, 6, generator=torch.Generator().manual_seed(3))
    ratios = through_time.measure_time_gradients(model, x, y)
    assert ratios[-1] == 1.0 and ratios.shape == (6,)
    # ∂L/∂h_(T−1) = W_hh^T ((1 − h_T²) ⊙ ∂L/∂h_T), written out
    outputs, _ = model.recurrent(x)
    h_last = outputs[:, -1]
    head_grad = torch.autograd.grad(nn.functional.mse_loss(model.head(h_last), y), h_last)[0]
    previous = ((1 - h_last**2) * head_grad) @ model.recurrent.weight_hh_l0.detach()
    expected = (previous.norm() / head_grad.norm()).item()
    assert ratios[-2] == pytest.approx(expected, rel=1e-5)


def test_gradient_highway_at_init():
    rnn = through_time.profile("rnn", "rnn")
    lstm = through_time.profile("lstm", "lstm")
    lstm1 = through_time.profile("lstm1", "lstm", forget_bias=1.0)
    lstm3 = through_time.profile("lstm3", "lstm", forget_bias=3.0)
    assert np.all(rnn.per_seed[:, 0] < 1e-8) and np.all(lstm.per_seed[:, 0] < 1e-8)
    assert abs(rnn.per_step_factor() - lstm.per_step_factor()) < 0.1  # "about as fast"
    assert 0.7 < lstm1.per_step_factor() < 0.9
    sigma3 = 1 / (1 + math.exp(-3))
    assert lstm3.per_step_factor() == pytest.approx(sigma3, abs=0.02)  # "about σ(3) ≈ 0.95"
    assert 0.03 < lstm3.first_step < 0.3  # "a tenth", not 1e-11
    printed = stored_text("through_time.profile(")
    assert "(per step back ×0.95)" in printed and "nn.LSTM, forget bias 3" in printed


@pytest.fixture(scope="module")
def kind_runs():
    return training.compare_kinds(KIND_SEEDS)


EXPECTED_KINDS = """\
nn.RNN: held-out MSE above half the baseline (it barely learned) in every seed; after training \
less than 2% of the last step's gradient reaches the first step
nn.LSTM: held-out MSE below 5% of the baseline in every seed; after training more than 2% of the \
last step's gradient reaches the first step"""


def test_lstm_learns_the_adding_problem_and_the_rnn_does_not(kind_runs):
    trained = {
        kind: through_time.profile_models(kind, [m for m, _ in runs])
        for kind, runs in kind_runs.items()
    }
    highway = {kind: profile.per_seed[:, 0] for kind, profile in trained.items()}
    assert training.kind_conclusions(kind_runs, highway) == EXPECTED_KINDS
    assert max(r.test_mse for _, r in kind_runs["lstm"]) < 0.03 * BASELINE_MSE  # margin
    assert min(r.test_mse for _, r in kind_runs["rnn"]) > 0.8 * BASELINE_MSE
    assert highway["lstm"].min() > 0.04 and highway["rnn"].max() < 0.01
    one = {kind: runs[:1] for kind, runs in kind_runs.items()}
    stored = stored_text("print(training.kind_conclusions(kind_runs, highway))")
    assert stored == EXPECTED_KINDS.replace("in every seed", "in the one seed") + "\n"
    assert training.kind_conclusions(one, {k: v[:1] for k, v in highway.items()}) + "\n" == stored


# ----------------------------------------------------------------- quizzes and shape
def test_quiz_answers_are_spread_and_numbers_computed():
    assert len(questions.KNOWLEDGE_CHECK) >= 6
    assert_spread(questions.QUICK_CHECK + questions.KNOWLEDGE_CHECK)
    assert_spread(questions.KNOWLEDGE_CHECK)
    texts = [q.prompt + " ".join(q.choices) for q in questions.KNOWLEDGE_CHECK]
    assert any("0.002" in t and "lr / 50" in t for t in texts)
    assert "2.18" in " ".join(questions.QUICK_CHECK[1].choices)


def test_quizzes_are_shown_only_through_quiz_show_and_the_footer_links():
    source = (ROOT / "paired" / "notebooks" / "06_clipping.py").read_text()
    assert "Question(" not in source and "answer=" not in source
    assert 'quiz.show(questions.QUICK_CHECK, title="Quick check")' in source
    assert "quiz.show(questions.KNOWLEDGE_CHECK" in source
    nb = nbformat.read(ROOT / "notebooks" / "06_clipping.ipynb", as_version=4)
    footer = nb.cells[-1]
    assert footer.cell_type == "markdown"
    assert "← Previous: [Chapter 5, residual connections](05_residual.ipynb)" in footer.source
    assert "Next: [Chapter 7, monitoring and diagnosis](07_monitoring.ipynb)" in footer.source
    assert "../exercises/06_clipping_exercises.ipynb" in footer.source
    assert "FULL = False" in source
