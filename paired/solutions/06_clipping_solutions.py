# ---
# jupyter:
#   jupytext:
#     formats: solutions///ipynb,paired/solutions///py:percent
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 6 exercises — gradient clipping
#
# These exercises go with `notebooks/06_clipping.ipynb`. Each one has a cell for your answer
# (it raises `NotImplementedError` until you replace that line) and a **check cell** right after
# it. Run the check cell: it says PASS or FAIL and, on a FAIL, what was wrong with the value it
# received and a hint. It never prints the answer to a question (only where your code must
# reproduce a measurement does it show the measured values it expected).
#
# When you are done, save (`Ctrl+S`) and run the **Grade this notebook** cell at the end. The
# grader runs a copy of the saved file in a fresh Python (your file is never changed) and prints
# one row per exercise with its points. The same grader runs from a terminal in the course
# folder (*File → New → Terminal* in JupyterLab started with `make lab`):
#
# ```
# python -m gradlab.grade exercises/06_clipping_exercises.ipynb
# ```
#
# Run the cells in order: every part uses the adding problem and the small RNN of the first code
# cell, and Parts B and C share one recorded training run.

# %%
import numpy as np
import torch
from torch import nn

import gradlab
from gradlab.chapters.ch06_clipping import exercise_questions
from gradlab.training.clipping import clipping_effect, threshold_from_history
from gradlab.ui import quiz
from gradlab.grading import check_close, check_equal

torch.set_num_threads(1)  # a tiny network: one thread is fastest


def adding_batch(batch_size, length, generator):
    """The adding problem: x is (batch, length, 2) — a random value and a 0/1 marker per step,
    with one marker in each half of the sequence; y is the sum of the two marked values."""
    values = torch.rand(batch_size, length, generator=generator)
    markers = torch.zeros(batch_size, length)
    rows = torch.arange(batch_size)
    markers[rows, torch.randint(0, length // 2, (batch_size,), generator=generator)] = 1.0
    markers[rows, torch.randint(length // 2, length, (batch_size,), generator=generator)] = 1.0
    return torch.stack([values, markers], dim=-1), (values * markers).sum(dim=1, keepdim=True)


class Adder(nn.Module):
    """A vanilla RNN (tanh) that reads the sequence; a linear head on its last hidden state."""

    def __init__(self, hidden_size=32):
        super().__init__()
        self.rnn = nn.RNN(2, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        outputs, _ = self.rnn(x)
        return self.head(outputs[:, -1])


def model_with_gradients(seed=0):
    """A seeded Adder after one backward pass of the MSE on a fixed batch of 64 sequences."""
    torch.manual_seed(seed)
    model = Adder()
    x, y = adding_batch(64, 20, torch.Generator().manual_seed(seed))
    nn.functional.mse_loss(model(x), y).backward()
    return model


def flat_gradient(model):
    """Every parameter's gradient, flattened and concatenated (parameters without one skipped)."""
    return torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])


model = model_with_gradients()
for name, parameter in model.named_parameters():
    print(f"{name:14} {tuple(parameter.shape)!s:9} gradient norm {parameter.grad.norm():.2f}")

# %% [markdown]
# ## Part A — norm clipping, written out
#
# `torch.nn.utils.clip_grad_norm_(parameters, max_norm)` treats the gradients of **all** the
# parameters as one long vector $g$. It measures its norm $\lVert g\rVert$ (the norm of the
# per-tensor norms) and, when that is larger than `max_norm`, multiplies every gradient by the same
# factor $\text{max\_norm} / (\lVert g\rVert + 10^{-6})$ (the $10^{-6}$ only guards against
# dividing by zero). Below the threshold nothing changes. It returns $\lVert g\rVert$ measured
# *before* clipping.
#
# **Exercise 6.1 (3 points).** Write `clip_by_norm(parameters, max_norm)` for a list of
# parameters: skip parameters whose `.grad` is `None`, change the gradients in place as above, and
# return the total norm before clipping as a float. The check compares your function with torch's
# on fresh copies of the model, once with `max_norm` a tenth of the total norm (it clips) and once
# ten times it (nothing to do).


# %%
def clip_by_norm(parameters, max_norm):
    """Scale all gradients by one factor so their total L2 norm is at most max_norm; in place.
    Returns the total norm before clipping."""
    ### BEGIN SOLUTION
    # PROMPT: compute the total norm of all gradients, scale them all by one factor if it is above max_norm, return it
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = min(1.0, max_norm / (float(total_norm) + 1e-6))
    with torch.no_grad():
        for g in grads:
            g.mul_(scale)
    return float(total_norm)
    ### END SOLUTION


# %% tags=["nbval-ignore-output"]
def clipped_by_torch(max_norm, seed=0):
    """torch's result on a fresh copy: (returned norm, flattened clipped gradient)."""
    reference = model_with_gradients(seed)
    norm = torch.nn.utils.clip_grad_norm_(reference.parameters(), max_norm)
    return float(norm), flat_gradient(reference).numpy()


def wrong_answers(max_norm, seed=0):
    """What the common mistakes give: each tensor clipped on its own, and clipping by value."""
    per_tensor, by_value = model_with_gradients(seed), model_with_gradients(seed)
    for p in per_tensor.parameters():
        torch.nn.utils.clip_grad_norm_([p], max_norm)
    torch.nn.utils.clip_grad_value_(by_value.parameters(), max_norm)
    return flat_gradient(per_tensor).numpy(), flat_gradient(by_value).numpy()


unclipped = flat_gradient(model_with_gradients()).numpy()
total = float(np.linalg.norm(unclipped.astype(np.float64)))

# Case 1: max_norm is a tenth of the total norm, so clipping rescales everything.
mine = model_with_gradients()
returned = clip_by_norm(list(mine.parameters()), total / 10)
expected_norm, expected_gradient = clipped_by_torch(total / 10)
per_tensor, by_value = wrong_answers(total / 10)
check_close(
    returned,
    expected_norm,
    exercise="6.1",
    points=3,
    rtol=1e-5,
    hint="Return the norm of all gradients together, measured before you change them.",
    mistakes=[
        (
            total / 10,
            "That is the norm after clipping (max_norm): return the norm you measured before "
            "rescaling — it is what you record to choose a threshold.",
        )
    ],
)
check_close(
    flat_gradient(mine).numpy(),
    expected_gradient,
    exercise="6.1",
    points=3,
    rtol=1e-4,
    atol=1e-7,
    hint="One factor for all gradients: max_norm / (total norm + 1e-6), applied only when it "
    "is below 1.",
    mistakes=[
        (
            per_tensor,
            "Each tensor was clipped with its own norm. Compute one total norm over all the "
            "gradients (the norm of the per-tensor norms) and multiply every gradient by the "
            "same factor.",
        ),
        (
            by_value,
            "That clamps each element into [-max_norm, max_norm] (clipping by value). Norm "
            "clipping multiplies every gradient by one factor.",
        ),
        (
            unclipped,
            "The gradients did not change: multiply them in place (g.mul_(...)), and clip when "
            "the total norm is above max_norm.",
        ),
    ],
)

# Case 2: max_norm is ten times the total norm: nothing to do.
mine = model_with_gradients()
clip_by_norm(list(mine.parameters()), total * 10)
check_close(
    flat_gradient(mine).numpy(),
    clipped_by_torch(total * 10)[1],
    exercise="6.1",
    points=3,
    rtol=1e-6,
    atol=1e-9,
    hint="Below the threshold the gradients must stay as they are.",
    mistakes=[
        (
            unclipped * (total * 10 / (total + 1e-6)),
            "The gradients were scaled UP to max_norm: clipping only ever shrinks, so the factor "
            "is min(1, max_norm / norm).",
        )
    ],
)
### BEGIN HIDDEN TESTS
# A frozen parameter (no .grad) is skipped, and another model and batch.
mine, reference = model_with_gradients(seed=3), model_with_gradients(seed=3)
for copy in (mine, reference):
    copy.rnn.bias_hh_l0.grad = None
hidden_norm = float(torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.05))
check_close(
    clip_by_norm(list(mine.parameters()), 0.05), hidden_norm, exercise="6.1", points=3, rtol=1e-5
)
check_close(
    flat_gradient(mine).numpy(),
    flat_gradient(reference).numpy(),
    exercise="6.1",
    points=3,
    rtol=1e-4,
    atol=1e-7,
)
### END HIDDEN TESTS
print(f"clipped: total norm {total:.3f} -> {np.linalg.norm(expected_gradient):.3f}")

# %% [markdown]
# ## Part B — a threshold from evidence
#
# A common default is `max_norm=1.0`, with the reason that "the typical gradient norm is well
# below 1". That is a generalisation: the typical norm depends on the model, the loss (and whether
# it sums or averages over the batch), the batch size and the stage of training. Measure it
# instead. The cell below trains the RNN on the adding problem for 200 steps of SGD **without**
# clipping, with Chapter 7's `GradientMonitor` recording the total gradient norm of every step
# (the norm before any clipping — what `clip_grad_norm_` would return).

# %% tags=["nbval-ignore-output"]
LR = 0.05
torch.manual_seed(0)
run_model = Adder()
optimizer = torch.optim.SGD(run_model.parameters(), lr=LR)
batches = torch.Generator().manual_seed(0)
with gradlab.GradientMonitor(run_model) as monitor:
    for _ in range(200):
        x, y = adding_batch(64, 20, batches)
        loss = nn.functional.mse_loss(run_model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
norms = monitor.history.get("global_grad_norm")[:, 0]  # one total norm per step
print(
    f"{len(norms)} steps; gradient norm: median {np.median(norms):.2f}, "
    f"smallest {norms.min():.2f}, largest {norms.max():.2f}"
)

# %% [markdown]
# **Exercise 6.2 (2 points).** Store in `threshold` the 99th percentile of `norms`
# (`np.percentile`, its default linear interpolation), and in `fraction_above` the fraction of the
# recorded steps whose norm is **above** that threshold: the fraction of steps clipping at
# `threshold` would have changed in this run.

# %%
### BEGIN SOLUTION
# PROMPT: set threshold (99th percentile of norms) and fraction_above (fraction of norms above it)
threshold = float(np.percentile(norms, 99))
fraction_above = float(np.mean(norms > threshold))
### END SOLUTION

# %% tags=["nbval-ignore-output"]
check_close(
    threshold,
    threshold_from_history(norms, 99),
    exercise="6.2",
    points=2,
    rtol=1e-9,
    hint="np.percentile takes the percentage, 0 to 100.",
    mistakes=[
        (
            np.percentile(norms, 0.99),
            "np.percentile takes a percentage from 0 to 100: 0.99 asks for the 0.99th "
            "percentile, near the smallest norm. (np.quantile is the one that takes 0.99.)",
        ),
        (
            norms.max(),
            "That is the largest recorded norm (the 100th percentile): clipping there never "
            "fires on a run like this one.",
        ),
        (np.percentile(norms, 95), "That is the 95th percentile; this exercise asks for the 99th."),
    ],
)
check_close(
    fraction_above,
    clipping_effect(norms, threshold_from_history(norms, 99), LR).fraction_clipped,
    exercise="6.2",
    points=2,
    rtol=1e-9,
    hint="Compare every recorded norm with the threshold and average the True/False values.",
    mistakes=[
        (
            1 - clipping_effect(norms, threshold_from_history(norms, 99), LR).fraction_clipped,
            "That is the fraction at or below the threshold, the steps clipping leaves alone.",
        ),
        (
            len(norms)
            * clipping_effect(norms, threshold_from_history(norms, 99), LR).fraction_clipped,
            "That is a count of steps: divide by the number of steps for a fraction.",
        ),
    ],
)
print(f"threshold {threshold:.2f}; above it: {fraction_above:.1%} of the steps")

# %% [markdown]
# With 200 recorded steps and linear interpolation, exactly 2 of them lie above the 99th
# percentile: clipping at `threshold` fires on about 1 step in 100 of a run like this one and
# leaves every other step alone. (gradlab's `threshold_from_history(norms, 99)` computes the same
# number; the threshold itself depends on the run: the one printed above is the one on the
# machine these outputs were stored on.)

# %% [markdown]
# ## Part C — a threshold that quietly divides the learning rate
#
# With SGD, step $t$ moves the weights by $-\,\text{lr}\cdot s_t\, g_t$ with
# $s_t = \min(1, c/\lVert g_t\rVert)$: clipping multiplies that step's learning rate by $s_t$.
# Over a run, the learning rate the steps actually used is on average
# $\text{lr}_\text{eff} = \text{lr} \times \operatorname{mean}_t \min(1, c/\lVert g_t\rVert)$.
# (With Adam a steady scale largely cancels, since Adam divides by a running gradient size; this
# reading is SGD's.)
#
# **Exercise 6.3 (3 points).** Write `clipping_summary(norms, max_norm, lr)`: return
# `(fraction_clipped, effective_lr)` for a run with these unclipped `norms` — the fraction of
# steps whose norm is above `max_norm`, and $\text{lr}_\text{eff}$ above. Both as floats.


# %%
def clipping_summary(norms, max_norm, lr):
    """(fraction of steps clipped, lr x mean over steps of min(1, max_norm / norm))."""
    ### BEGIN SOLUTION
    # PROMPT: return (fraction of norms above max_norm, lr times the mean of min(1, max_norm / norm))
    norms = np.asarray(norms, dtype=float)
    fraction_clipped = float(np.mean(norms > max_norm))
    effective_lr = lr * float(np.mean(np.minimum(1.0, max_norm / norms)))
    return fraction_clipped, effective_lr
    ### END SOLUTION


# %% tags=["nbval-ignore-output"]
TIGHT = 0.01  # a threshold copied from another project's config
P99 = threshold_from_history(norms, 99)  # Part B's threshold
fraction, effective = clipping_summary(norms, TIGHT, LR)
reference = clipping_effect(norms, TIGHT, LR)
check_close(
    fraction,
    reference.fraction_clipped,
    exercise="6.3",
    points=3,
    rtol=1e-9,
    hint="The fraction of recorded norms strictly above max_norm.",
    mistakes=[(1 - reference.fraction_clipped, "That is the fraction of steps NOT clipped.")],
)
check_close(
    effective,
    reference.effective_lr,
    exercise="6.3",
    points=3,
    rtol=1e-6,
    hint="Average the per-step factor min(1, max_norm / norm) over all steps, then multiply by lr.",
    mistakes=[
        (
            LR * np.mean(norms) / TIGHT,
            "That multiplies lr by norm / max_norm (the formula 'effective_grad_norm / "
            "clip_threshold * learning_rate'): it is upside down. Clipping multiplies a step by "
            "max_norm / norm, and never by more than 1.",
        ),
        (
            LR * TIGHT / np.median(norms),
            "That scales lr by max_norm over the median norm, one typical step. Average the "
            "per-step factor min(1, max_norm / norm) over every step instead.",
        ),
        (
            LR * TIGHT / np.mean(norms),
            "That divides by the mean norm. Average the per-step factor min(1, max_norm / norm) "
            "instead: small-norm steps are shrunk less.",
        ),
        (LR, "That is lr itself: at this threshold clipping rescales the steps."),
    ],
)
# At the 99th-percentile threshold of Part B, most steps are not clipped at all.
fraction, effective = clipping_summary(norms, P99, LR)
reference = clipping_effect(norms, P99, LR)
check_close(fraction, reference.fraction_clipped, exercise="6.3", points=3, rtol=1e-9)
check_close(
    effective,
    reference.effective_lr,
    exercise="6.3",
    points=3,
    rtol=1e-6,
    hint="Steps below the threshold keep their full learning rate.",
    mistakes=[
        (
            LR * np.mean(P99 / norms),
            "Steps below max_norm were scaled up: clipping only shrinks, so the per-step factor "
            "is min(1, max_norm / norm).",
        ),
        (
            LR,
            "That is lr itself: the few steps above the threshold were shortened, so the average "
            "is a little lower.",
        ),
    ],
)
### BEGIN HIDDEN TESTS
check_close(
    clipping_summary([0.5, 0.5, 0.5, 0.5], 0.01, 0.1),
    (1.0, 0.002),
    exercise="6.3",
    points=3,
    rtol=1e-6,
)
check_close(clipping_summary(np.array([1.0, 4.0]), 2.0, 1.0), (0.5, 0.75), exercise="6.3", points=3)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 6.4 (2 points).** Write `too_aggressive(norms, max_norm, lr)`: `True` when clipping
# at `max_norm` leaves the steps less than a tenth of the learning rate on average
# ($\text{lr}_\text{eff} < \text{lr}/10$), else `False`. Use your `clipping_summary`. (An average
# factor below 0.1 needs clipping on at least 90% of the steps: a threshold like that is not
# catching spikes, it is rescaling training.)


# %%
def too_aggressive(norms, max_norm, lr):
    """True when clipping at max_norm leaves less than a tenth of lr on average."""
    ### BEGIN SOLUTION
    # PROMPT: return True when the effective learning rate is below lr / 10
    return clipping_summary(norms, max_norm, lr)[1] < lr / 10
    ### END SOLUTION


# %%
CONFIGS = {"copied max_norm=0.01": TIGHT, "99th percentile": P99, "max_norm=1.0": 1.0}
verdicts = {name: bool(too_aggressive(norms, c, LR)) for name, c in CONFIGS.items()}
print(verdicts)
check_equal(
    verdicts,
    {name: clipping_effect(norms, c, LR).effective_lr < LR / 10 for name, c in CONFIGS.items()},
    exercise="6.4",
    points=2,
    hint="Compare clipping_summary(...)[1] with lr / 10.",
    mistakes=[
        (
            {name: True for name in CONFIGS},
            "Only a threshold that rescales (nearly) every step divides the learning rate by 10 "
            "or more; the others clip a few spikes.",
        ),
        (
            {name: False for name in CONFIGS},
            "Look at the copied threshold's effective learning rate from 6.3: compare it with "
            "lr / 10.",
        ),
    ],
)
### BEGIN HIDDEN TESTS
check_equal(
    [too_aggressive(np.full(10, 0.5), c, 0.1) for c in (0.01, 0.2, 1.0)],
    [True, False, False],
    exercise="6.4",
    points=2,
)
### END HIDDEN TESTS

# %% [markdown]
# Chapter 7's monitor reads the same numbers: `monitor.report(clip_threshold=...)` warns
# `clipping_too_aggressive` when a threshold clips most steps far below the typical norm, and its
# evidence states the learning-rate divisor computed by `gradlab.training.clipping.clipping_effect`.

# %%
for name, c in CONFIGS.items():
    kinds = [finding.kind for finding in monitor.report(clip_threshold=c).findings]
    print(f"{name:20} clipping_too_aggressive reported: {'clipping_too_aggressive' in kinds}")

# %% [markdown]
# ## Part D — knowledge check
#
# Pick an answer and press Check; each choice comes with an explanation. This part is for you: the
# grader does not score it.

# %% tags=["nbval-ignore-output"]
quiz.show(exercise_questions.EXERCISE_CHECK, title="Chapter 6 exercises: knowledge check")

# %% [markdown]
# ## Grade this notebook
#
# Save first (`Ctrl+S`): the cell below grades the file **as saved**, not what is on screen. It runs
# the grader with this notebook's own Python: a copy of the saved file runs from top to bottom in a
# fresh Python (your file is never changed), and you get one row per exercise with its points and,
# for a failed exercise, why. Grade as often as you like.

# %% tags=["nbval-skip"]
from gradlab.grading.grade_saved import grade_saved_notebook

grade_saved_notebook("06_clipping_solutions.ipynb")
