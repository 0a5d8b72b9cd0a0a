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
# # Chapter 1 exercises — the chain rule and the per-layer factor
#
# These exercises go with `notebooks/01_chain_rule.ipynb`. Each one has a cell for your answer
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
# python -m gradlab.grade exercises/01_chain_rule_exercises.ipynb
# ```
#
# Run the cells in order: Exercises 1.4 and 1.5 both use the network, batch and reference
# measurement set up at the start of Part B.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from gradlab import theory
from gradlab.chapters.ch01_chain_rule import questions
from gradlab.grading import check_close, check_shape
from gradlab.measure import probe
from gradlab.models.mlp import make_mlp
from gradlab.ui import quiz

# %% [markdown]
# ## Part A — products of factors, by hand
#
# Use Python as a calculator here, not `gradlab.theory`: the point is to see the product.
#
# **Exercise 1.1 (2 points).** A 20-layer network multiplies the gradient by 0.4 at every layer.
# What fraction of the gradient that leaves the loss is left once it has passed back through all 20
# layers, down to the first layer's input? Store it as a float in `first_layer_gradient`.

# %%
### BEGIN SOLUTION
# PROMPT: set first_layer_gradient to what is left after 20 layers that each multiply it by 0.4
first_layer_gradient = 0.4**20
### END SOLUTION
print(f"first_layer_gradient = {first_layer_gradient:.2e}")

# %%
check_close(
    first_layer_gradient,
    theory.gradient_after_layers(0.4, 20),
    exercise="1.1",
    points=2,
    rtol=0.05,
    hint="On its way from the loss to the first layer, the gradient is multiplied by 0.4 in "
    "every layer it passes through: one factor of 0.4 per layer.",
    mistakes=[
        (
            theory.gradient_after_layers(0.4, 19),
            "That is 19 factors of 0.4, one too few. As in the chapter's quick check, every one of "
            "the 20 layers multiplies in, the first layer included.",
        ),
        (
            theory.gradient_after_layers(0.4, 21),
            "That is 21 factors of 0.4, one too many: there are 20 layers, one factor each.",
        ),
        (
            0.4 * 20,
            "That is 0.4 * 20, more than the whole gradient: the layers' factors multiply one "
            "another (0.4 * 0.4 * ...), they do not add up.",
        ),
        (
            20**0.4,
            "That is 20 ** 0.4: base and exponent are swapped. The per-layer factor is the base.",
        ),
    ],
)

# %% [markdown]
# **Exercise 1.2 (1 point) — the chapter's quick check.** Now 15 layers, each multiplying the
# gradient by 0.3. Store what is left after all 15 layers in `quick_check_gradient`.

# %%
### BEGIN SOLUTION
# PROMPT: set quick_check_gradient to what is left after 15 layers that each multiply it by 0.3
quick_check_gradient = 0.3**15
### END SOLUTION
print(f"quick_check_gradient = {quick_check_gradient:.2e}")

# %%
check_close(
    quick_check_gradient,
    theory.gradient_after_layers(0.3, 15),
    exercise="1.2",
    points=1,
    rtol=0.05,
    hint="Raise the per-layer factor to the number of layers.",
    mistakes=[
        (
            theory.gradient_after_layers(0.3, 14),
            "That is 14 factors of 0.3, one too few: every one of the 15 layers multiplies in, "
            "the first layer included.",
        ),
        (
            theory.gradient_after_layers(0.3, 16),
            "That is 16 factors of 0.3, one too many: there are 15 layers, one factor each.",
        ),
        (0.3 * 15, "That is 0.3 * 15: the factors multiply one another, they do not add up."),
        (15**0.3, "That is 15 ** 0.3: base and exponent are swapped."),
    ],
)

# %% [markdown]
# **Exercise 1.3 (2 points) — the sigmoid bound.** The sigmoid's derivative is never larger than
# its value at 0. If no weight matrix stretches any vector ($\lVert W \rVert_2 \le 1$, for example
# an orthogonal matrix), each sigmoid layer can therefore keep at most that fraction of the
# gradient. Store the largest fraction that can survive **10** such sigmoid layers in
# `sigmoid_bound_10`. (First work out $\sigma'(0)$ from $\sigma'(x) = \sigma(x)\,(1 - \sigma(x))$.)

# %%
### BEGIN SOLUTION
# PROMPT: set sigmoid_bound_10 to the largest fraction of the gradient 10 sigmoid layers can keep
sigmoid_slope_at_zero = 0.5 * (1 - 0.5)
sigmoid_bound_10 = sigmoid_slope_at_zero**10
### END SOLUTION
print(f"sigmoid_bound_10 = {sigmoid_bound_10:.2e}")

# %%
check_close(
    sigmoid_bound_10,
    theory.sigmoid_bound(10),
    exercise="1.3",
    points=2,
    rtol=0.05,
    hint="First find the sigmoid's largest slope, sigma'(0) = sigma(0) * (1 - sigma(0)); each "
    "layer contributes one such factor.",
    mistakes=[
        (
            theory.gradient_after_layers(0.5, 10),
            "That uses 0.5, the sigmoid's value sigma(0), as the factor. The factor is its slope: "
            "sigma'(0) = sigma(0) * (1 - sigma(0)).",
        ),
        (theory.sigmoid_bound(9), "That is one factor too few: 10 layers, one factor each."),
        (theory.sigmoid_bound(11), "That is one factor too many: 10 layers, one factor each."),
    ],
)

# %% [markdown]
# ## Part B — measure it on a real network
#
# A 10-layer MLP with sigmoid activations, 32 units per layer and Xavier initialisation, one
# batch of 64 random inputs with random class labels. Every step is seeded, so your numbers will
# match the reference exactly (up to float rounding).

# %%
model = make_mlp(depth=10, width=32, activation="sigmoid", init="xavier", seed=0)
x = probe.make_batch(32, batch_size=64, seed=0)
y = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(0))
reference = probe.probe_gradients(model, x, y)  # gradlab's measurement, used by the checks
print(model.layers[0])

# %% [markdown]
# **Exercise 1.4 (3 points) — per-layer gradient norms with your own hooks.** Write
# `layer_gradient_norms(model, x, y)`. It returns a numpy array with one number per layer: the
# norm $\lVert \partial \mathcal{L} / \partial h_l \rVert$ of the gradient of the loss
# $\mathcal{L}$ = `F.cross_entropy(model(x), y)` (the mean over the batch, its default) with respect
# to that layer's output $h_l$: one norm of the whole batch-by-units gradient, first layer first.
#
# One way: register a forward hook on every block in `model.layers` that keeps its output, run the
# forward pass and the loss, remove the hooks (also if something fails: `try`/`finally`), then ask
# `torch.autograd.grad` for the gradient of the loss with respect to the kept outputs.

# %%
def layer_gradient_norms(model, x, y):
    """‖∂L/∂h_l‖ for each block of model.layers (cross-entropy loss), as a numpy array."""
    ### BEGIN SOLUTION
    # PROMPT: keep each layer's output with forward hooks, backpropagate, return the gradient norms
    outputs = []
    handles = [
        layer.register_forward_hook(lambda module, inputs, output: outputs.append(output))
        for layer in model.layers
    ]
    try:
        loss = F.cross_entropy(model(x), y)
    finally:
        for handle in handles:
            handle.remove()
    gradients = torch.autograd.grad(loss, outputs)
    return np.array([float(gradient.norm()) for gradient in gradients])
    ### END SOLUTION


# %%
norms = layer_gradient_norms(model, x, y)
check_shape(norms, (10,), exercise="1.4", points=3, hint="One number per block in model.layers.")
check_close(
    norms,
    reference.activation_grad_norms,
    exercise="1.4",
    points=3,
    rtol=1e-4,
    reveal=True,
    hint="Use F.cross_entropy(model(x), y) and the output of each block, not of its linear part.",
    mistakes=[
        (
            reference.activation_grad_norms[::-1],
            "Your norms are in reverse order (the order of the backward pass): put the first "
            "block of model.layers first.",
        ),
        (
            reference.activation_grad_norms * len(y),
            "Your norms are 64 times too large: that is the gradient of the loss summed over the "
            "batch. Use F.cross_entropy's default, the mean.",
        ),
    ],
)
### BEGIN HIDDEN TESTS
other_model = make_mlp(depth=6, width=16, activation="tanh", init="he", seed=3)
other_x = probe.make_batch(16, batch_size=8, seed=3)
other_y = torch.randint(0, 10, (8,), generator=torch.Generator().manual_seed(3))
check_close(
    layer_gradient_norms(other_model, other_x, other_y),
    probe.probe_gradients(other_model, other_x, other_y).activation_grad_norms,
    exercise="1.4",
    points=3,
    rtol=1e-4,
    reveal=True,
)
### END HIDDEN TESTS

# %% [markdown]
# Once the check passes, your hooks and gradlab's probe agree. Read the norms from the last layer
# down: each layer keeps only a fraction of the gradient it receives.

# %%
print("layer | ‖∂L/∂h‖   | fraction of the layer above")
for index, norm in enumerate(norms):
    fraction = f"{norm / norms[index + 1]:.2f}" if index + 1 < len(norms) else "-"
    print(f"{index + 1:>5} | {norm:.2e} | {fraction}")
print(f"first layer / last layer: {norms[0] / norms[-1]:.1e}")

# %% [markdown]
# Most rows keep between 0.21 and 0.25 of the layer above, as the chapter's *typical case* says.
# The first row keeps 0.28: more than the sigmoid's 0.25. That is no contradiction. With random
# unit-gain weights, 0.25 caps the typical factor, not every layer's: a gradient that happens to
# lean towards the directions $W^{\top}$ stretches most (up to $\sigma_{\max} \approx 2$ here) keeps
# more. Only weights with $\lVert W \rVert_2 \le 1$ would guarantee 0.25 per layer.

# %% [markdown]
# **Exercise 1.5 (3 points) — gradient histograms, one per layer.** For the same `model`, `x` and
# `y`, collect the gradient of the loss with respect to every layer's weight matrix
# ($\partial \mathcal{L} / \partial W_l$, the `.linear.weight` of each block).
#
# - `weight_gradients`: a list of 10 flat numpy arrays, first layer first.
# - `counts`: an integer array of shape (10, 26); row $l$ is the histogram of
#   $\log_{10} |\partial \mathcal{L} / \partial W_l|$ over the bin `edges` given below.
#
# The check grades these numbers (not a picture): every weight must land in a bin, each layer's
# root-mean-square gradient must match gradlab's measurement, and each histogram's peak must sit
# near it.

# %%
edges = np.linspace(-14, -1, 27)  # 26 bins, half a power of ten each

### BEGIN SOLUTION
# PROMPT: set weight_gradients (10 flat arrays of dL/dW) and counts (10 x 26 histogram of log10|g|)
model.zero_grad()
F.cross_entropy(model(x), y).backward()
weight_gradients = [layer.linear.weight.grad.detach().numpy().ravel() for layer in model.layers]
counts = np.array([np.histogram(np.log10(np.abs(g)), bins=edges)[0] for g in weight_gradients])
### END SOLUTION

# %%
sizes = np.array([layer.linear.weight.numel() for layer in model.layers])
reference_rms = reference.weight_grad_norms / np.sqrt(sizes)
centers = (edges[:-1] + edges[1:]) / 2
check_shape(counts, (10, 26), exercise="1.5", points=3, hint="One row per layer, one column per bin.")
check_close(
    np.sum(counts, axis=1),
    sizes,
    exercise="1.5",
    points=3,
    rtol=0,
    atol=0.5,
    reveal=True,
    hint="Every weight's gradient must fall in a bin: histogram log10|g| with bins=edges.",
)
check_close(
    [np.sqrt(np.mean(np.square(g))) for g in weight_gradients],
    reference_rms,
    exercise="1.5",
    points=3,
    rtol=1e-3,
    hint="Take the gradient of each block's .linear.weight after one backward pass (zero old grads).",
    mistakes=[
        (
            2 * reference_rms,
            "Your gradients are twice too large: two backward passes added up in .grad (this "
            "cell run twice, or a backward() of your own in 1.4). Call model.zero_grad() before "
            "backward().",
        ),
        (reference_rms[::-1], "Your layers are in reverse order: layer 1 goes first."),
    ],
)
check_close(
    centers[np.argmax(counts, axis=1)],
    np.log10(reference_rms),
    exercise="1.5",
    points=3,
    rtol=0,
    atol=1.0,
    hint="Histogram the base-10 logarithm of the absolute gradients, layer 1 in row 0.",
    mistakes=[(np.log10(reference_rms)[::-1], "Your rows are in reverse order: layer 1 in row 0.")],
)

# %% [markdown]
# Now draw them: one small histogram per layer, sharing the x axis (this part is not graded).

# %%
### BEGIN SOLUTION
# PROMPT: draw one histogram per layer from counts and edges (for example with ax.stairs)
figure, axes = plt.subplots(10, 1, figsize=(6, 8), sharex=True)
for index, ax in enumerate(axes):
    ax.stairs(counts[index], edges, fill=True)
    ax.set_ylabel(f"{index + 1}", rotation=0, labelpad=10)
    ax.set_yticks([])
axes[-1].set_xlabel("log10 |dL/dW| (layer number on the left)")
figure.suptitle("Weight-gradient histograms of a 10-layer sigmoid MLP at initialisation")
plt.show()
### END SOLUTION

# %% [markdown]
# Read the stack from layer 1 down to layer 10: the whole distribution moves to the right, layer
# after layer — it does not just grow a tail. Where are the peaks, and how far apart?

# %%
peaks = centers[np.argmax(counts, axis=1)]
print("peaks (log10):", " ".join(f"{peak:.2f}" for peak in peaks))
print("never moves left from one layer to the next:", bool(np.all(np.diff(peaks) >= 0)))
print(f"layer 1 to layer 10: {peaks[-1] - peaks[0]:.1f} powers of ten")

# %% [markdown]
# ## Part C — knowledge check
#
# Pick an answer and press Check; each choice comes with an explanation. This part is for you: the
# grader does not score it.

# %%
quiz.show(questions.EXERCISE_CHECK, title="Chapter 1 knowledge check")

# %% [markdown]
# ## Grade this notebook
#
# Save first (`Ctrl+S`): the cell below grades the file **as saved**, not what is on screen. It runs
# the grader with this notebook's own Python: a copy of the saved file runs from top to bottom in a
# fresh Python (your file is never changed), and you get one row per exercise with its points and,
# for a failed exercise, why. Grade as often as you like.

# %% tags=["nbval-skip"]
from gradlab.grading.grade_saved import grade_saved_notebook

grade_saved_notebook("01_chain_rule_solutions.ipynb")
