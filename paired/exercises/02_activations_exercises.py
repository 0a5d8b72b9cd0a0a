# ---
# jupyter:
#   jupytext:
#     formats: exercises///ipynb,paired/exercises///py:percent
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
# # Chapter 2 exercises — activations and sigmoid saturation
#
# These exercises go with `notebooks/02_activations.ipynb`. Each one has a cell for your answer
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
# python -m gradlab.grade exercises/02_activations_exercises.ipynb
# ```
#
# Run the cells in order: Exercise 2.4 uses your function
# from 2.3, and 2.6 your function from 2.5.

# %%
import math

import torch
import torch.nn.functional as F

from gradlab.chapters.ch02_activations import dead_units, questions
from gradlab.chapters.ch02_activations import depth as activation_depth
from gradlab.grading import check_close, check_equal
from gradlab.measure.probe import make_batch
from gradlab.models.activations import saturation_zone
from gradlab.models.mlp import make_mlp
from gradlab.training.data import load_digits_split
from gradlab.training.loop import train_classifier
from gradlab.ui import quiz

torch.set_num_threads(1)  # tiny networks: one thread is fastest

# %% [markdown]
# ## Part A — where sigmoid and tanh saturate
#
# Solve these with pencil and `math`, not with `gradlab.models.activations`: the point is the algebra.
#
# **Exercise 2.1 (2 points).** The sigmoid's derivative is $\sigma'(x) = s(1-s)$ with
# $s = \sigma(x)$. Find the positive input where $\sigma'(x) = 0.05$ — the edge of the sigmoid's
# flat zone — and store it in `sigmoid_edge`. (Solve the quadratic $s(1-s) = 0.05$ for $s > 1/2$,
# then invert the sigmoid: $x = \ln\frac{s}{1-s}$.)

# %%
raise NotImplementedError('set sigmoid_edge to the positive x where s(1 - s) = 0.05')
print(f"sigmoid_edge = {sigmoid_edge:.3f}")

# %%
check_close(
    sigmoid_edge,
    saturation_zone("sigmoid", 0.05).intervals[-1][0],
    exercise="2.1",
    points=2,
    rtol=1e-3,
    hint="s(1 - s) = 0.05 is a quadratic in s: of its two roots take the one above 1/2, then "
    "invert the sigmoid, x = log(s / (1 - s)).",
    mistakes=[
        (
            -saturation_zone("sigmoid", 0.05).intervals[-1][0],
            "That is the negative edge: for the positive input take the root s > 1/2.",
        ),
        (
            1 / (1 + math.exp(-saturation_zone("sigmoid", 0.05).intervals[-1][0])),
            "That is s = sigma(x), not x: invert the sigmoid, x = log(s / (1 - s)).",
        ),
    ],
)

# %% [markdown]
# **Exercise 2.2 (2 points).** Do the same for tanh: $\tanh'(x) = 1 - \tanh^2(x)$. Store the
# positive input where $\tanh'(x) = 0.1$ in `tanh_edge`. Is the rule of thumb "tanh saturates for
# $|x| > 2$" safe?

# %%
raise NotImplementedError('set tanh_edge to the positive x where 1 - tanh(x)**2 = 0.1')
print(f"tanh_edge = {tanh_edge:.3f}; the rule of thumb 2 is safe: {tanh_edge < 2}")

# %%
check_close(
    tanh_edge,
    saturation_zone("tanh", 0.1).intervals[-1][0],
    exercise="2.2",
    points=2,
    rtol=1e-3,
    hint="Solve 1 - t**2 = 0.1 for t = tanh(x) > 0, then invert tanh (math.atanh).",
    mistakes=[
        (
            math.atanh(0.9),
            "That solves tanh(x) = 0.9. The equation is tanh(x)**2 = 0.9: take the square root "
            "first.",
        ),
        (
            math.tanh(saturation_zone("tanh", 0.1).intervals[-1][0]),
            "That is t = tanh(x), not x: invert it with atanh.",
        ),
        (
            -saturation_zone("tanh", 0.1).intervals[-1][0],
            "That is the negative edge: the question asks for the positive input.",
        ),
    ],
)

# %% [markdown]
# ## Part B — gradient flow through different activations
#
# **Exercise 2.3 (3 points).** Write `gradient_remaining(activation, depth, init)`. It builds
# `make_mlp(depth, 64, activation, init, seed=0)`, feeds it the batch `make_batch(64, 64, seed=0)`
# with the labels `torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(0))`, and
# returns, as a float, the fraction of the gradient that reaches the input:
# $\lVert \partial\mathcal{L}/\partial x \rVert \,/\, \lVert \partial\mathcal{L}/\partial h_L \rVert$,
# where $\mathcal{L}$ is the cross-entropy and $h_L$ the output of the last block of
# `model.layers`.
#
# One way: make `x` require gradients, keep $h_L$ with a forward hook on `model.layers[-1]`
# (remove it afterwards), and ask `torch.autograd.grad` for both gradients at once.

# %%
def gradient_remaining(activation, depth, init):
    """‖∂L/∂x‖ / ‖∂L/∂h_L‖ for a seeded DeepMLP on a seeded batch."""
    raise NotImplementedError('build the model and batch, backpropagate once, return the ratio of the two norms')


# %%
def reference_remaining(activation, depth, init):
    """gradlab's measurement of the same quantity (one seed)."""
    comparison = activation_depth.compute_gradient_after_depth(
        depth, init, activations=[activation], seeds=1
    )
    return comparison.remaining_of(activation)


check_close(
    [gradient_remaining(name, 10, "xavier") for name in ("sigmoid", "tanh", "relu")],
    [reference_remaining(name, 10, "xavier") for name in ("sigmoid", "tanh", "relu")],
    exercise="2.3",
    points=3,
    rtol=1e-4,
    reveal=True,
    hint="Divide the norm of dL/dx by the norm of dL/dh_L (the last block's output), both from "
    "one backward pass of F.cross_entropy.",
)

# %% [markdown]
# Compare the four activations of the chapter's training run, at 10 layers with Xavier init:

# %%
for name in ("sigmoid", "tanh", "relu", "leaky_relu"):
    print(f"{name:>10}: {gradient_remaining(name, 10, 'xavier'):.2e}")

# %% [markdown]
# **Exercise 2.4 (2 points).** He initialisation does not rescue sigmoid. Using your function,
# find the **smallest depth** at which a sigmoid network with `"he"` init keeps less than a
# millionth ($10^{-6}$) of the gradient, and store it in `sigmoid_millionth_depth` (an int).

# %%
raise NotImplementedError('set sigmoid_millionth_depth to the first depth where gradient_remaining(...) < 1e-6')
print(f"sigmoid_millionth_depth = {sigmoid_millionth_depth}")

# %%
reference_depth = next(
    depth for depth in range(1, 51) if reference_remaining("sigmoid", depth, "he") < 1e-6
)
check_equal(
    sigmoid_millionth_depth,
    reference_depth,
    exercise="2.4",
    points=2,
    hint="Loop depth = 1, 2, 3, ... and stop at the first one whose remaining fraction is < 1e-6.",
    mistakes=[
        (
            reference_depth - 1,
            "That is the last depth that still keeps at least a millionth, one too few: the "
            "question asks for the first depth that keeps less.",
        )
    ],
)

# %% [markdown]
# ## Part C — dead units
#
# **Exercise 2.5 (3 points).** Write `dead_fraction(model, x)`: the fraction of all hidden units
# of `model.layers` (every block's `.linear` output) whose pre-activation is $\le 0$ for **every**
# row of the batch `x`. Count units over all layers together (they all have the same width here).
# Do not change the model, and do not track gradients.

# %%
def dead_fraction(model, x):
    """Fraction of hidden units with no positive pre-activation over the batch x."""
    raise NotImplementedError('run x through model.layers, count units whose pre-activation is never > 0')


# %%
data = load_digits_split(seed=0)
shifted = dead_units.shift_biases_(make_mlp(3, 64, "relu", "he", in_features=64, seed=0), -3.0)
check_close(
    dead_fraction(shifted, data.x_train),
    dead_units.measure_dead_units(shifted, data.x_train).dead_fraction,
    exercise="2.5",
    points=3,
    rtol=1e-6,
    reveal=True,
    hint="A unit is dead when (z <= 0).all(dim=0) over the batch; z is each block's .linear output.",
)

# %% [markdown]
# **Exercise 2.6 (2 points) — kill units with a too-high learning rate.** The cell below builds a
# fresh ReLU network. Measure its dead fraction on `data.x_train` (store it in `dead_before`),
# train it for 10 Adam steps at learning rate 0.1 with
# `train_classifier(model, data, steps=10, lr=0.1, optimizer="adam", seed=0)`, and measure again
# (`dead_after`). Use your `dead_fraction`.

# %% tags=["nbval-ignore-output"]
model = make_mlp(3, 64, "relu", "he", in_features=64, seed=0)

raise NotImplementedError('set dead_before, train 10 Adam steps at lr 0.1, then set dead_after')
print(f"dead before: {dead_before:.0%}, after 10 steps at lr 0.1: {dead_after:.0%}")

# %%
reference_kill = dead_units.run_dead_unit_experiment(
    "relu", kill_lr=0.1, recover_steps=1, data=data
)
check_close(
    [dead_before, dead_after],
    [reference_kill.start.dead_fraction, reference_kill.after_kill.dead_fraction],
    exercise="2.6",
    points=2,
    rtol=1e-6,
    hint="Measure on data.x_train before training, then train exactly as given, then measure again.",
)

# %% [markdown]
# ## Part D — knowledge check
#
# Pick an answer and press Check; each choice comes with an explanation. This part is for you: the
# grader does not score it.

# %%
quiz.show(questions.EXERCISE_CHECK, title="Chapter 2 exercises: knowledge check")

# %% [markdown]
# ## Grade this notebook
#
# Save first (`Ctrl+S`): the cell below grades the file **as saved**, not what is on screen. It runs
# the grader with this notebook's own Python: a copy of the saved file runs from top to bottom in a
# fresh Python (your file is never changed), and you get one row per exercise with its points and,
# for a failed exercise, why. Grade as often as you like.

# %% tags=["nbval-skip"]
from gradlab.grading.grade_saved import grade_saved_notebook

grade_saved_notebook("02_activations_exercises.ipynb")
