# ---
# jupyter:
#   jupytext:
#     formats: notebooks///ipynb,paired/notebooks///py:percent
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
# # Chapter 4 — Initialization and normalization: keep the signal alive in both directions
#
# Chapters 1–3 showed that a deep network multiplies its signal by one factor per layer, on the
# way forward (the activations) and on the way back (the gradients), and that a factor a little
# off 1 compounds into a vanished or exploded gradient. This chapter is about choosing the
# factors: how to draw the initial weights so that each layer's factor is about 1, what
# normalization layers do about it during training, and how the learning rate (with warmup)
# keeps the first steps from undoing it.
#
# **You will be able to**
# - derive the weight variance that keeps a layer's signal the same size forward and backward,
#   and say where Xavier/Glorot, He/Kaiming and tanh's gain of 5/3 come from;
# - measure, layer by layer, the forward signal (std of the pre-activations) and the backward
#   signal (gradient norm) of a 50-layer network and compare them with the prediction;
# - say what `nn.init.orthogonal_` guarantees (every singular value is 1);
# - say what BatchNorm and LayerNorm normalize over, how BatchNorm differs between training and
#   evaluation and with the batch size, and what it does to a deep sigmoid network's gradients;
# - read the update-to-data ratio of a run and use warmup to tame the first steps of a too-large
#   learning rate.
#
# Every number the text quotes is printed by a cell next to it. The notebook runs in well under a
# minute on a laptop CPU. Training runs amplify the last bits of floating-point rounding, which
# differ between CPUs: where a training run's exact numbers are shown, they are the ones *on the
# machine these outputs were stored on*, and the text states only what holds on any machine
# (checked over several seeds and several kinds of rounding).

# %%
import math

import matplotlib.pyplot as plt
import torch
from torch import nn

from gradlab.chapters.ch04_init_norm import (
    normalization,
    orthogonal,
    propagation,
    questions,
    warmup,
)
from gradlab.chapters.ch04_init_norm import plots as plots_init
from gradlab.chapters.ch04_init_norm import widgets as widgets_init
from gradlab.formatting import format_factor, format_percent
from gradlab.training.data import load_digits_split
from gradlab.ui import quiz
from gradlab.ui import wiring as widgets

# %% [markdown]
# <a id="init"></a>
# ## 1. Why scale matters, in both directions
#
# A linear layer computes $z_i = \sum_{j=1}^{n_\text{in}} w_{ij} x_j$ from its $n_\text{in}$
# inputs (its *fan-in*). If the weights are independent of the inputs and of each other, with
# mean 0 and variance $\operatorname{Var}(w)$, and the inputs have mean 0, the variances add up:
#
# $$
# \operatorname{Var}(z) = n_\text{in} \cdot \operatorname{Var}(w) \cdot \operatorname{Var}(x).
# $$
#
# (When the inputs do not have mean 0, as after a ReLU, $\operatorname{Var}(x)$ becomes the mean
# square $\mathbb{E}[x^2]$.) So the **forward condition** for the signal to keep its size is
# $n_\text{in}\operatorname{Var}(w) = 1$.
#
# Going back, the gradient reaching the layer's input is $\partial\mathcal{L}/\partial x_j =
# \sum_i w_{ij}\, \partial\mathcal{L}/\partial z_i$, a sum over the $n_\text{out}$ outputs (the
# *fan-out*), so by the same argument the **backward condition** is $n_\text{out}
# \operatorname{Var}(w) = 1$.
#
# - **Xavier / Glorot** (for tanh and sigmoid-like activations, slope about 1 near 0): one
#   variance cannot meet both conditions when $n_\text{in} \ne n_\text{out}$, so Glorot and Bengio
#   (2010) take the compromise $\operatorname{Var}(w) = 2/(n_\text{in} + n_\text{out})$, the
#   harmonic mean of $1/n_\text{in}$ and $1/n_\text{out}$.
# - **He / Kaiming** (for ReLU): a ReLU zeroes the half of its inputs that are negative, so for
#   a symmetric $z$, $\mathbb{E}[\operatorname{relu}(z)^2] = \tfrac12\operatorname{Var}(z)$ — the
#   ReLU removes half the variance, and backwards half the gradient's (its slope is 0 on half the
#   units). He et al. (2015) double the variance to make up for it: $\operatorname{Var}(w) =
#   2/n_\text{in}$.
# - **Gains.** torch writes these as a *gain* times a base std: `nn.init.calculate_gain` returns
#   $\sqrt 2$ for ReLU and $5/3$ for tanh. The ReLU value is He's factor 2 in std; for tanh the
#   documentation gives the number without a derivation (it is larger than 1 to make up for tanh's
#   slope falling below 1 away from 0). Section 2 measures what it does.
#
# **Standard deviation or variance?** The std is the square root of the variance. Some texts write
# Xavier init as $\mathcal{N}(0, \sqrt{2/(n_\text{in} + n_\text{out})})$. Under the usual
# $\mathcal{N}(\mu, \sigma^2)$ convention the second argument is a **variance**, so read literally
# that is the wrong (much wider) distribution. Correctly: variance $2/(n_\text{in} + n_\text{out})$,
# std $\sqrt{2/(n_\text{in} + n_\text{out})}$. torch's `normal_(mean, std)` takes the std. For a
# 256 → 256 layer:

# %%
fan_in = fan_out = 256
for name, std in [
    ("xavier", math.sqrt(2 / (fan_in + fan_out))),
    ("he", math.sqrt(2 / fan_in)),
]:
    print(f"{name:>6}: std {std:.4f}, variance {std**2:.5f}")
print(
    f"calculate_gain: tanh {nn.init.calculate_gain('tanh'):.4f}, relu {nn.init.calculate_gain('relu'):.4f}"
)
weight = torch.empty(fan_out, fan_in)
nn.init.xavier_normal_(weight, generator=torch.Generator().manual_seed(0))
print(f"torch's xavier_normal_: measured std {weight.std():.4f}")

# %% [markdown]
# For square layers Xavier's variance is $1/n$ and He's $2/n$: He is Xavier times $\sqrt 2$ in
# std. The *predicted per-layer ratio* of the signal is then
# $\sqrt{n_\text{in}\operatorname{Var}(w)\,\mathbb{E}[f'(z)^2]}$, with $\mathbb{E}[f'^2] = \tfrac12$
# for ReLU and 1 for tanh near 0: He with ReLU predicts 1.00, Xavier with ReLU $\sqrt{1/2}
# \approx 0.71$.

# %%
quiz.show(questions.QUICK_CHECK, title="Quick check")

# %% [markdown]
# <a id="measured"></a>
# ## 2. Measured: 50 layers, five inits, two activations
#
# Here is the whole measurement in plain torch for one setting: fifty 256 × 256 linear layers
# with He init and ReLU, a batch of 128 random inputs, and one backward pass from a loss whose
# gradient at the output is a random direction of norm 1. We keep every layer's pre-activation
# $z_l$ and read its std (the forward signal) and the norm of $\partial\mathcal{L}/\partial z_l$
# (the backward signal). Change the init, the activation or the depth and run it again.

# %% tags=["nbval-ignore-output"]
depth, width = 50, 256
generator = torch.Generator().manual_seed(0)
linears = [nn.Linear(width, width, bias=False) for _ in range(depth)]
for linear in linears:
    nn.init.normal_(linear.weight, 0.0, math.sqrt(2 / width), generator=generator)  # He

x = torch.randn(128, width, generator=generator)
h, zs = x, []
for linear in linears:
    z = linear(h)
    z.retain_grad()  # keep ∂L/∂z_l after the backward pass
    zs.append(z)
    h = torch.relu(z)
direction = torch.randn(h.shape, generator=generator)
loss = (h * direction / direction.norm()).sum()  # ∂L/∂h at the output has norm 1
loss.backward()
for layer in (1, 10, 25, 50):
    z = zs[layer - 1]
    print(f"layer {layer:>2}: std of z {z.std():.2g}   ‖∂L/∂z‖ {z.grad.norm():.2g}")

# %% [markdown]
# Both signals stay of order 1 through all fifty layers. `gradlab.chapters.ch04_init_norm.propagation`
# runs the same measurement (layers named `blocks.l.linear`) for every activation × init. Each
# ratio below is the per-layer factor from layer 1 to layer 50 (the 49th root of the end-to-end
# change), as a geometric mean over three seeds; the last column gives the end-to-end change
# itself, forward (std of $z_{50}$ over std of $z_1$) and backward ($\lVert\partial\mathcal{L}/
# \partial z_1\rVert$ over $\lVert\partial\mathcal{L}/\partial z_{50}\rVert$). "too small" is std
# $0.5/\sqrt{n}$, "too large" $2/\sqrt{n}$.

# %%
init_rows = propagation.compare_inits(depth=50, width=256)
print(propagation.format_init_table(init_rows))

# %% [markdown]
# **ReLU** follows the prediction: every measured ratio, forward and backward, is the predicted
# one to within 3 % (the tests check eight seeds). Xavier with ReLU loses $\sqrt{1/2}$ per layer,
# and $0.71^{49} \approx 4 \times 10^{-8}$ over fifty layers; too large gains $\sqrt 2$ per layer,
# $1.41^{49} \approx 2 \times 10^{7}$ (each seed lands within a factor of 4 of these). **He
# with ReLU keeps both signals within a factor of 3 of where they started over 50 layers**, in every
# seed we tried: the per-layer factor is 1, and what is left is the random wobble of finite width.
#
# **tanh** follows the prediction only while the signal is small: "too small" measures exactly 0.50
# per layer. Larger signals reach the flat parts of tanh, where its slope is below 1, so:
# - Xavier (slope-1 prediction: 1.00) measures 0.95–0.96 per layer, about 10× less over 50
#   layers, in both directions.
# - With the gain 5/3 (or He's $\sqrt 2$, or too large) the forward std settles where saturation
#   balances the gain — it no longer shrinks — but the backward signal *grows*: ×1.09 per layer
#   with the gain 5/3, roughly 100× over 50 layers. Saturation limits the forward signal, not the
#   backward one.
#
# None of these five inits keeps both signals of a 50-layer tanh network within a factor of 2:
# the gain trades a shrinking forward signal for a growing backward one. (Since Xavier shrinks
# the gradient and He grows it, some std between the two balances the gradient end to end, but
# the forward signal then still shrinks: Exercise 4.1 looks at the backward side.)
# Normalization layers (section 4) and residual connections (Chapter 5) are the standard
# answers for depth.

# %% [markdown]
# ### Interactive: the signal forward and backward
#
# Each move builds the network (no bias, named `blocks.1.linear` …) and runs one real forward and
# backward pass: std of $z_l$ on the left, $\lVert\partial\mathcal{L}/\partial z_l\rVert$ on the
# right, both on a log axis with the prediction (red dashes: the predicted ratio per layer, from
# layer 1's measured std forward and the last layer's gradient backward; where the prediction is
# far off, the dashes leave the plot).
#
# **What to try**
# - ReLU: Xavier, then He, then too large. The measurement lies on the dashes.
# - tanh with Xavier: the left curve sinks below the dashes as tanh flattens. Then the tanh gain:
#   forward flat, backward rising.
# - Width 32 against 256 with He and ReLU: the narrow network wanders further from the line.

# %% tags=["nbval-ignore-output"]
signal_demo = widgets_init.make_signal_demo(activation="relu", init="he", depth=50, width=128)
widgets.show(signal_demo)

# %% [markdown]
# <a id="orthogonal"></a>
# ## 3. Orthogonal init: every singular value is 1
#
# Chapter 3 read three sizes off a weight matrix: $\sigma_{\max}$ (the most it can stretch one
# direction), the rms singular value (the typical stretch) and the spectral radius. A Gaussian
# init only controls the *typical* stretch: its singular values spread from near 0 to about 2
# (times the rms). `nn.init.orthogonal_` fills the matrix with a random rotation: every singular
# value is exactly the gain (1 here), so **no direction is stretched or flattened**.

# %%
weight = torch.empty(256, 256)
nn.init.orthogonal_(weight, generator=torch.Generator().manual_seed(0))
singular_values = torch.linalg.svdvals(weight)
print(f"orthogonal_: σ_max {singular_values.max():.4f}, σ_min {singular_values.min():.4f}")

# %% [markdown]
# The two inits side by side, for one 256 × 256 matrix and for a chain of fifty of them (linear
# layers, so the chain's Jacobian is the product of the fifty matrices), with the norm of one
# random gradient sent back through the chain:

# %%
print(orthogonal.format_checks([orthogonal.check_init(init) for init in orthogonal.WEIGHT_INITS]))

# %% [markdown]
# Both keep a *random* gradient's norm at about 1 — the typical stretch is 1 either way. The
# difference is in the extremes: through fifty Gaussian layers some direction is stretched about
# nine-fold and another is flattened to nothing (below what float64 can resolve next to it), while
# the orthogonal chain stretches every direction by exactly 1. With an activation between the
# layers the slope still multiplies in (the widget's "orthogonal" init in section 2 behaves like
# He for ReLU and like the tanh gain for tanh, since torch's `calculate_gain` sets its gain).

# %% [markdown]
# <a id="normalization"></a>
# ## 4. Normalization: BatchNorm and LayerNorm
#
# Instead of hoping the init keeps each layer's scale, a **normalization layer** resets it: it
# subtracts a mean and divides by a std, then applies a learned scale $\gamma$ and shift $\beta$
# (so the layer can undo the normalization if that helps). The two common ones differ in *which*
# numbers the mean and std are taken over. For a batch of shape (N examples, C features):
#
# | layer | statistics over | one mean and std per | depends on the other examples? | train vs eval |
# |---|---|---|---|---|
# | `nn.BatchNorm1d(C)` | the batch (dimension N) | feature | yes | batch statistics in training; running averages in eval |
# | `nn.LayerNorm(C)` | the features (dimension C) | example | no | the same in both |
#
# (For images of shape (N, C, H, W), `BatchNorm2d` takes one mean per channel over N, H and W.)

# %%
plots_init.plot_normalized_axes()
plt.show()

# %% [markdown]
# **Train vs eval.** In training mode BatchNorm normalizes with the current batch's mean and
# variance (and updates running averages of them, `momentum=0.1`); in eval mode (`model.eval()`)
# it uses those running averages, so one example's output no longer depends on its batch. Below,
# 32 features made from the digits (a fixed random linear layer, plus 1 so their means are not 0),
# a batch of 64, and a BatchNorm1d without $\gamma,\beta$:

# %%
data = load_digits_split()
features = normalization.make_features(data)
train_eval = normalization.measure_train_eval(features)
print(
    f"train mode: largest |mean| of a feature {train_eval.train_mean:.3f}, "
    f"average std {train_eval.train_std:.3f}"
)
print(
    "eval mode before any training step (running mean 0, variance 1): largest |output − input| "
    f"{train_eval.eval_fresh_max_change:.3f}"
)
print(
    f"eval mode after {train_eval.steps} training batches vs train mode on the same batch: "
    f"mean |difference| {train_eval.eval_after_mean_gap:.2f}"
)

# %% [markdown]
# A fresh BatchNorm in eval mode does (almost) nothing: the running statistics start at mean 0 and
# variance 1. After training it normalizes with the averages over many batches, which differ from
# any one batch's: evaluating without `model.eval()` gives other outputs.
#
# **Batch-size dependence.** Put one example (example 0) into 50 random batches and compare its
# normalized output across them:

# %%
for batch_size in (2, 64):
    dependence = normalization.measure_batch_dependence(features, batch_size)
    print(
        f"batch {batch_size:>2}: BatchNorm output of example 0 varies by {dependence.batchnorm_spread:.2f} "
        f"(std over batches), LayerNorm by {dependence.layernorm_spread:.1f}; "
        f"BatchNorm outputs within 0.01 of ±1: {format_percent(dependence.batchnorm_abs_one)}"
    )

# %% [markdown]
# With a batch of two, each feature's normalized value is $(a - m)/s = \pm 1$ whatever $a$ was
# (slightly less than 1 where the two values are close, because of BatchNorm's $\epsilon$): all
# that survives is which of the pair was larger, and that depends on the partner. With 64 examples
# the statistics are stable and the example's output varies about four times less. LayerNorm
# normalizes each example over its own features, so its output does not move at all.
#
# **Gradients in a deep sigmoid network.** Twenty sigmoid layers of 64 units on the digits, Xavier
# init, trained with SGD (lr 0.1, 200 steps of 64 examples), once plain and once with a
# `BatchNorm1d` between each linear layer and its sigmoid. Left: each layer's weight-gradient norm
# at the start; right: the training loss.

# %%
sigmoid_runs = [
    normalization.train_deep_sigmoid(data, batchnorm=batchnorm) for batchnorm in (False, True)
]
plots_init.plot_normalized_runs(sigmoid_runs)
plt.show()
for run in sigmoid_runs:
    name = "with BatchNorm" if run.batchnorm else "plain"
    ratio = format_factor(run.first_to_last)
    print(f"{name:>14}: first layer's gradient / last layer's at the start {ratio}")

# %% [markdown]
# Without BatchNorm the first layer's gradient starts about $10^{-12}$ times the last layer's (the
# sigmoid's slope is at most 1/4, Chapter 2), and the plain network does not learn in 200 steps. With
# BatchNorm the first and last layer's gradients are within a factor of 3 of each other, and the
# network trains. On the machine these outputs were stored on:

# %% tags=["nbval-ignore-output"]
for run in sigmoid_runs:
    name = "with BatchNorm" if run.batchnorm else "plain"
    print(
        f"{name:>14}: loss over the last 20 steps {run.losses[-20:].mean():.2f}, "
        f"test accuracy {format_percent(run.test_accuracy)}"
    )

# %% [markdown]
# In every seed and under every kind of rounding we checked, the plain network's loss stays within
# 0.1 of $\ln 10 \approx 2.30$ (a ten-class guess) and its test accuracy below 20 %, while the
# BatchNorm network's loss ends below 0.6 and its test accuracy above 85 %.
#
# **Why does BatchNorm help?** Ioffe and Szegedy (2015) introduced it to reduce *internal
# covariate shift*: the change in each layer's input distribution as the layers below it train.
# Santurkar et al. (2018) measured that BatchNorm does not necessarily reduce that shift, and
# attributed its benefit to a smoother loss landscape (gradients that change less from step to
# step, which allows larger learning rates). Neither account is settled. What this chapter
# measured is narrower. With Xavier the weights pass the gradient on at about its size, and the
# sigmoid's slope (at most 1/4) shrinks it at every layer of the plain network. BatchNorm divides
# each $z$ by its batch std, which the sigmoids below have shrunk by those same slopes; going
# back, that division gives the factors back, and the gradients no longer shrink layer after
# layer.

# %% [markdown]
# <a id="warmup"></a>
# ## 5. Learning rate and warmup
#
# A good init puts the first step in a healthy place; the learning rate decides whether the
# next steps keep it there. A gauge from Chapter 7 is the **update-to-data ratio** $\lVert\Delta
# W\rVert / \lVert W\rVert$: how much one step changes a weight matrix relative to its size (a
# common rule of thumb puts it near $10^{-3}$). `gradlab.GradientMonitor` records it for every
# layer at every step.
#
# The runs: a six-layer ReLU network (He init) on the digits, Adam, batches of 64, 150 steps, at a
# too-small, a good and a too-large learning rate — and the too-large one again with **warmup**:
# the lr rises linearly from lr/50 to lr over 50 steps, then follows a cosine down to 0. In torch
# that is two schedulers joined:

# %%
model = warmup.make_model(seed=0)
optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
scheduler = torch.optim.lr_scheduler.SequentialLR(
    optimizer,
    [
        torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / 50, total_iters=50),
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=100),
    ],
    milestones=[50],
)
lrs = []
for _ in range(150):
    lrs.append(optimizer.param_groups[0]["lr"])
    optimizer.step()  # (no gradients here: we only read the schedule)
    scheduler.step()
print("lr at steps 0, 25, 50, 100, 149:", ", ".join(f"{lrs[s]:.2g}" for s in (0, 25, 50, 100, 149)))

# %% [markdown]
# The four runs use exactly this schedule (`gradlab.chapters.ch04_init_norm.warmup.train_with_lr`:
# the usual loop of forward, `loss.backward()`, `optimizer.step()`, `scheduler.step()`, under a
# `GradientMonitor`). The plot shows the loss, the median update ratio over the layers, and the lr;
# the curves are seed 0's on the machine these outputs were stored on.

# %%
lr_runs = warmup.compare_learning_rates(data)
plots_init.plot_lr_runs(lr_runs)
plt.show()

# %% [markdown]
# The first update does not depend on the run's luck. Adam's first step moves every weight by
# about the lr (its update is the gradient divided by its own size), so the ratio at step 0 is
# set by the lr alone:

# %%
for run in lr_runs:
    print(
        f"{run.label:<20} lr at step 0 {run.lrs[0]:<7.2g} update ratio at step 0: {run.median_ratio(0):.1e}"
    )

# %% [markdown]
# At lr 0.03 the very first step changes every weight matrix by more than a tenth of its size (the
# median over the layers: 16 %) — a hundred times the rule of thumb. Warmup starts at lr/50 and
# the ratio at $3 \times 10^{-3}$, then lets it rise as training settles. (The rule of thumb is a
# rough guide, not a target for the first step: the good lr starts at $1.6 \times 10^{-2}$, and
# the too-small one, at $1.6 \times 10^{-3}$, is the closest to it.) How each run ends (seed 0, on the machine these outputs were
# stored on):

# %% tags=["nbval-ignore-output"]
print(warmup.format_runs(lr_runs))

# %% [markdown]
# What holds in every seed we tried, under every kind of rounding: the too-large lr ends with a
# training loss at least twice the good lr's, and the too-small lr has not finished learning
# after 150 steps (its loss is still above 0.3). The same too-large lr with warmup and cosine
# decay ends lower than without in almost every run, but not in all of them (at this lr a single
# run's final loss is partly luck), and above the good lr's in every run: the schedule tames a
# too-large lr, it does not make it a good one. Warmup tames the start and the cosine decay the end: this
# experiment does not separate how much each contributes to the final loss (one of the exercises
# looks at the warmup alone).

# %% [markdown]
# ## 6. Knowledge check

# %%
quiz.show(questions.KNOWLEDGE_CHECK, title="Chapter 4 knowledge check")

# %% [markdown]
# ## Summary
#
# - A layer multiplies its signal's variance by $n_\text{in}\operatorname{Var}(w)$ forward and
#   $n_\text{out}\operatorname{Var}(w)$ backward, times the activation's $\mathbb{E}[f'^2]$.
#   Xavier ($2/(n_\text{in}+n_\text{out})$) compromises between the two; He ($2/n_\text{in}$) makes
#   up for the half a ReLU removes. Say std or variance explicitly.
# - Measured over 50 layers: ReLU follows the prediction to within a few percent; He keeps both
#   signals within a factor of 3. tanh saturates: Xavier shrinks both signals about 10×, the gain
#   5/3 keeps the forward one but lets the gradient grow about 100×.
# - `nn.init.orthogonal_` makes every singular value 1: no direction is stretched or flattened.
# - BatchNorm normalizes each feature over the batch (train: the batch's statistics; eval: running
#   averages; tiny batches make an example's output depend on its partners); LayerNorm normalizes
#   each example over its features. In a 20-layer sigmoid net BatchNorm turned a gradient ratio of
#   $10^{-12}$ into one of order 1, and a net that did not learn into one that did.
# - The update-to-data ratio shows a too-large lr from the first step; warmup (with cosine decay)
#   starts small and tames it.
#
# **Next:** practise with [the Chapter 4 exercises](../exercises/04_init_norm_exercises.ipynb):
# derive an init std for a 30-layer network, write LayerNorm in a few lines, and pick a warmup
# length.
#
# ---
# ← Previous: [Chapter 3, exploding gradients](03_exploding.ipynb) · Next: [Chapter 5, residual
# connections](05_residual.ipynb) · Exercises:
# [04_init_norm_exercises](../exercises/04_init_norm_exercises.ipynb)
