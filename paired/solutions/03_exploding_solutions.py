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
# # Chapter 3 exercises — exploding gradients
#
# These exercises go with `notebooks/03_exploding.ipynb`. Each one has a cell for your answer
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
# python -m gradlab.grade exercises/03_exploding_exercises.ipynb
# ```
#
# Run the cells in order: Part A's exercises share the
# weights built at its start, Part B's share one training run.

# %%
import math

import numpy as np
import torch

from gradlab.measure import divergence
from gradlab.measure import spectral
from gradlab.training.data import load_digits_split
from gradlab.grading import check_close, check_equal, check_shape

# %% [markdown]
# ## Part A — predict, then measure, the first-layer gradient
#
# A chain of 25 linear layers, $h_l = W_l h_{l-1}$, 32 units wide, where each $W_l$ is 1.3 times a
# random orthogonal matrix. The loss is $\mathcal{L} = \langle v, h_{25}\rangle$ for a fixed
# `upstream` vector $v$ of norm 1, so the gradient at the output has norm exactly 1 and the norm
# of the gradient at the input $h_0 = x$ *is* the growth. The cell below builds everything from
# one seed (the same draws `gradlab.measure.spectral.measure_growth` makes, so the checks can compare
# with it).

# %%
DEPTH, WIDTH, SCALE = 25, 32, 1.3
generator = torch.Generator().manual_seed(0)
weights = spectral.make_weights(DEPTH, WIDTH, SCALE, "orthogonal", generator=generator)
x = torch.randn(32, WIDTH, generator=generator)
upstream = torch.randn(32, WIDTH, generator=generator)
upstream = upstream / torch.linalg.vector_norm(upstream)
reference = spectral.measure_growth(DEPTH, SCALE, width=WIDTH, batch_size=32, seed=0)
print("weights:", tuple(weights.shape), " x:", tuple(x.shape), " upstream:", tuple(upstream.shape))

# %% [markdown]
# **Exercise 3.1 (2 points) — predict.** Compute the largest singular value of every weight
# matrix (`torch.linalg.svdvals` or `torch.linalg.matrix_norm(..., ord=2)`), store them as a numpy
# array of 25 numbers in `sigma_max`, and store the predicted growth at the input,
# $\prod_l \sigma_{\max}(W_l) \times \text{slope}$, in `predicted_growth` (the layers are linear:
# the slope is 1).

# %%
### BEGIN SOLUTION
# PROMPT: set sigma_max (25 largest singular values) and predicted_growth (their product)
sigma_max = np.array([float(torch.linalg.matrix_norm(w.double(), ord=2)) for w in weights])
predicted_growth = float(np.prod(sigma_max))
### END SOLUTION
print(f"predicted_growth = {predicted_growth:.4g}")

# %%
check_shape(sigma_max, (DEPTH,), exercise="3.1", points=2, hint="One value per weight matrix.")
check_close(
    sigma_max,
    reference.largest_singular_values,
    exercise="3.1",
    points=2,
    rtol=1e-4,
    hint="A scaled orthogonal matrix stretches every direction by the same amount.",
    mistakes=[
        (
            reference.largest_singular_values * math.sqrt(WIDTH),
            "That is the Frobenius norm, matrix_norm's default: ask for ord=2, the largest "
            "singular value.",
        )
    ],
)
check_close(
    predicted_growth,
    reference.predicted_growth,
    exercise="3.1",
    points=2,
    rtol=1e-3,
    hint="Multiply the per-layer factors; they do not add.",
    mistakes=[
        (
            np.sum(reference.largest_singular_values),
            "That is the sum of the 25 factors: growth multiplies them.",
        ),
        (
            np.prod(reference.largest_singular_values[1:]),
            "That is the product of 24 factors, one too few: every one of the 25 matrices "
            "stretches the gradient.",
        ),
        (
            np.prod(reference.largest_singular_values * math.sqrt(WIDTH)),
            "That is the product of the Frobenius norms (matrix_norm's default): use ord=2, the "
            "largest singular value.",
        ),
    ],
)

# %% [markdown]
# **Exercise 3.2 (3 points) — measure.** Write `input_gradient_norm(weights, x, upstream,
# activation)`: run the forward pass $h_l = f(h_{l-1} W_l^{\top})$ through every matrix in
# `weights` starting from `x`, take the loss $\langle \text{upstream}, h_L\rangle$ (the sum of the
# element-wise product), and return $\lVert \partial\mathcal{L}/\partial x \rVert$ as a float.
# `activation` is a function of a tensor (`lambda z: z` for the linear chain).

# %%
def input_gradient_norm(weights, x, upstream, activation=lambda z: z):
    """‖∂L/∂x‖ for L = ⟨upstream, h_L⟩ through h_l = activation(h_(l-1) W_lᵀ)."""
    ### BEGIN SOLUTION
    # PROMPT: run the forward pass from x, take the loss, return the norm of its gradient at x
    x = x.detach().clone().requires_grad_(True)
    h = x
    for weight in weights:
        h = activation(h @ weight.T)
    (gradient,) = torch.autograd.grad((h * upstream).sum(), x)
    return float(torch.linalg.vector_norm(gradient))
    ### END SOLUTION


# %%
measured_growth = input_gradient_norm(weights, x, upstream)
print(f"measured growth {measured_growth:.4g} vs predicted {predicted_growth:.4g}")
check_close(
    measured_growth,
    reference.measured_growth,
    exercise="3.2",
    points=3,
    rtol=1e-4,
    reveal=True,
    hint="Start from a copy of x that requires grad; the loss is (h * upstream).sum().",
    mistakes=[
        (
            1.0,
            "1 is the norm of the gradient at the output (upstream has norm 1): ask for the "
            "gradient with respect to the input x.",
        )
    ],
)
### BEGIN HIDDEN TESTS
tanh_generator = torch.Generator().manual_seed(4)
tanh_weights = spectral.make_weights(7, 16, 1.4, "gaussian", generator=tanh_generator)
tanh_x = torch.randn(8, 16, generator=tanh_generator)
tanh_upstream = torch.randn(8, 16, generator=tanh_generator)
tanh_upstream = tanh_upstream / torch.linalg.vector_norm(tanh_upstream)
tanh_reference = spectral.measure_growth(
    7, 1.4, kind="gaussian", activation="tanh", width=16, batch_size=8, seed=4
)
check_close(
    input_gradient_norm(tanh_weights, tanh_x, tanh_upstream, torch.tanh),
    tanh_reference.measured_growth,
    exercise="3.2",
    points=3,
    rtol=1e-4,
    reveal=True,
)
### END HIDDEN TESTS

# %% [markdown]
# With orthogonal weights the prediction is exact. Now the same experiment with **Gaussian**
# weights of the same scale: their rms singular value is about 1.3, but their largest singular
# value is about twice that.
#
# **Exercise 3.3 (2 points) — bound or typical?** For `gaussian_weights` below, store in
# `gaussian_bound` the product of the largest singular values, and in `gaussian_typical` the
# product of the rms singular values ($\lVert W\rVert_F/\sqrt{32}$, `torch.linalg.matrix_norm`
# with its default Frobenius norm), and in `gaussian_measured` the real growth measured with your
# function from 3.2 (inputs `gaussian_x`, `gaussian_upstream`). Which prediction is within a factor
# of 10 of the measurement?

# %%
gaussian_generator = torch.Generator().manual_seed(0)
gaussian_weights = spectral.make_weights(
    DEPTH, WIDTH, SCALE, "gaussian", generator=gaussian_generator
)
gaussian_x = torch.randn(32, WIDTH, generator=gaussian_generator)
gaussian_upstream = torch.randn(32, WIDTH, generator=gaussian_generator)
gaussian_upstream = gaussian_upstream / torch.linalg.vector_norm(gaussian_upstream)
gaussian_reference = spectral.measure_growth(DEPTH, SCALE, kind="gaussian", width=WIDTH, seed=0)

### BEGIN SOLUTION
# PROMPT: set gaussian_bound, gaussian_typical and gaussian_measured (with input_gradient_norm)
gaussian_bound = float(
    np.prod([float(torch.linalg.matrix_norm(w.double(), ord=2)) for w in gaussian_weights])
)
gaussian_typical = float(
    np.prod([float(torch.linalg.matrix_norm(w.double())) for w in gaussian_weights])
    / math.sqrt(WIDTH) ** DEPTH
)
gaussian_measured = input_gradient_norm(gaussian_weights, gaussian_x, gaussian_upstream)
### END SOLUTION
print(
    f"bound {gaussian_bound:.3g}, typical {gaussian_typical:.3g}, measured {gaussian_measured:.3g}"
)

# %%
check_close(
    gaussian_bound,
    gaussian_reference.predicted_growth,
    exercise="3.3",
    points=2,
    rtol=1e-3,
    hint="ord=2 gives the largest singular value; multiply over the 25 layers.",
    mistakes=[
        (
            gaussian_reference.typical_growth * math.sqrt(WIDTH) ** DEPTH,
            "That is the product of the Frobenius norms (matrix_norm's default): use ord=2, the "
            "largest singular value.",
        )
    ],
)
check_close(
    gaussian_typical,
    gaussian_reference.typical_growth,
    exercise="3.3",
    points=2,
    rtol=1e-3,
    hint="The Frobenius norm divided by sqrt(32) is the rms singular value.",
    mistakes=[
        (
            gaussian_reference.typical_growth * math.sqrt(WIDTH) ** DEPTH,
            "That is the product of the Frobenius norms: divide each one by sqrt(32) to get the "
            "layer's rms singular value.",
        ),
        (
            gaussian_reference.typical_growth * math.sqrt(WIDTH) ** (DEPTH - 1),
            "That divides the product by sqrt(32) once: divide each of the 25 Frobenius norms by "
            "sqrt(32), one per layer.",
        ),
    ],
)
check_close(
    gaussian_measured,
    gaussian_reference.measured_growth,
    exercise="3.3",
    points=2,
    rtol=1e-4,
    hint="Call input_gradient_norm from 3.2 on gaussian_weights, gaussian_x, gaussian_upstream.",
    mistakes=[
        (
            reference.measured_growth,
            "That is the growth of the orthogonal chain from 3.2: pass gaussian_weights, "
            "gaussian_x and gaussian_upstream.",
        )
    ],
)

# %% [markdown]
# ## Part B — find the first non-finite step
#
# A real run that diverges: the ReLU network of section 3 of the chapter (four hidden layers of 64
# units and a linear output layer) on the digits with SGD at `lr = 3.0` (seed 2, one of the five
# runs there), trained for 20 steps *without* stopping at the first non-finite value. It diverges
# within the first 20 steps on any machine; the exact step and numbers printed below are the ones
# on the machine these outputs were stored on. `losses` has one entry per step; `grad_norms` has
# one row per step and one column per parameter, in `parameter_names` order (forward order: input
# layer first).

# %% tags=["nbval-ignore-output"]
run = divergence.train_at_learning_rates(
    [3.0], data=load_digits_split(seed=0), steps=20, seed=2, stop_at_nonfinite=False
)[3.0]
losses, grad_norms, parameter_names = run.losses, run.grad_norms, run.parameter_names
print(f"{len(losses)} steps, {len(parameter_names)} parameters; last loss: {losses[-1]}")

# %% [markdown]
# **Exercise 3.4 (3 points).** Write `first_nonfinite_step(losses, grad_norms)`: the index of the
# first step whose loss *or* any gradient norm is `inf` or `nan`, or `None` when every value is
# finite. (`np.isfinite` is your friend.)

# %%
def first_nonfinite_step(losses, grad_norms):
    """The first step with a non-finite loss or gradient norm, or None."""
    ### BEGIN SOLUTION
    # PROMPT: return the first step whose loss or any gradient norm is inf or nan (None if none)
    bad = ~np.isfinite(np.asarray(losses)) | ~np.isfinite(np.asarray(grad_norms)).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None
    ### END SOLUTION


# %% tags=["nbval-ignore-output"]
step = first_nonfinite_step(losses, grad_norms)
print("first non-finite step:", step)
check_equal(
    step,
    run.first_nonfinite_step,
    exercise="3.4",
    points=3,
    hint="Combine the loss test and the per-step 'any gradient is not finite' test with |.",
    mistakes=[
        (
            run.first_nonfinite_step + 1,
            "One step too late. If you tested only the loss: a gradient can overflow one step "
            "before the loss does (that step's update is what breaks the loss), so test every "
            "gradient norm too. Steps are counted from 0, as positions in losses.",
        )
    ],
)
### BEGIN HIDDEN TESTS
check_equal(first_nonfinite_step([2.0, 1.0], np.ones((2, 3))), None, exercise="3.4", points=3)
check_equal(
    first_nonfinite_step([2.0, 1.0, 0.5], np.array([[1.0, 1.0], [1.0, np.inf], [1.0, 1.0]])),
    1,
    exercise="3.4",
    points=3,
)
check_equal(first_nonfinite_step([2.0, np.nan], np.ones((2, 1))), 1, exercise="3.4", points=3)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 3.5 (2 points) — which layer?** At that step, store in `first_bad_parameter` the name
# of the parameter whose gradient is non-finite and that comes **first in the backward pass** —
# that is, nearest the loss, the *last* such entry in `parameter_names` order. (In some runs the
# loss itself is already `nan` at that step; then every gradient is `nan` and the answer is simply
# the last parameter. In this run, on the machine these outputs were stored on, the loss was
# still finite.)

# %% tags=["nbval-ignore-output"]
### BEGIN SOLUTION
# PROMPT: set first_bad_parameter to the non-finite parameter nearest the loss at that step
bad_columns = np.flatnonzero(~np.isfinite(grad_norms[step]))
first_bad_parameter = parameter_names[bad_columns[-1]]
### END SOLUTION
print("first non-finite parameter:", first_bad_parameter)

# %%
check_equal(
    first_bad_parameter,
    run.first_nonfinite_parameter,
    exercise="3.5",
    points=2,
    hint="Look at grad_norms[step] and walk the columns from the last to the first.",
)

# %% [markdown]
# **Exercise 3.6 (1 point) — the warning before.** The loss spiked before anything overflowed.
# Store in `spike_step` the first step whose loss is more than ten times the loss at step 0.

# %% tags=["nbval-ignore-output"]
### BEGIN SOLUTION
# PROMPT: set spike_step to the first step whose loss exceeds 10 times the first loss
spike_step = int(np.argmax(~(losses <= 10 * losses[0])))
### END SOLUTION
print(f"spike at step {spike_step}, {step - spike_step} steps before the first non-finite one")

# %%
check_equal(
    spike_step,
    divergence.find_loss_spike(losses),
    exercise="3.6",
    points=1,
    hint="Compare every loss with 10 * losses[0] and take the first index where it is larger.",
)

# %% [markdown]
# ## Grade this notebook
#
# Save first (`Ctrl+S`): the cell below grades the file **as saved**, not what is on screen. It runs
# the grader with this notebook's own Python: a copy of the saved file runs from top to bottom in a
# fresh Python (your file is never changed), and you get one row per exercise with its points and,
# for a failed exercise, why. Grade as often as you like.

# %% tags=["nbval-skip"]
from gradlab.grading.grade_saved import grade_saved_notebook

grade_saved_notebook("03_exploding_solutions.ipynb")
