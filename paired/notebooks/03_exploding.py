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
# # Chapter 3 — Exploding gradients and gradients through time
#
# Chapter 1 showed that the gradient reaching a layer is a product of one factor per layer above
# it. This chapter is about the factors that are *bigger* than 1: where they come from in a
# weight matrix, what a training run looks like when they take over, and why recurrent networks,
# which reuse one matrix at every time step, are especially exposed.
#
# **You will be able to**
# - read three sizes off a weight matrix (largest singular value, spectral radius, typical
#   stretch) and say which one bounds a gradient and which one governs a repeated product;
# - estimate the growth of a gradient through $L$ layers as $(\sigma_{\max} \times
#   \text{slope})^L$ and check the estimate against a real backward pass;
# - recognise the four symptoms of exploding gradients in a training log, and find the step where
#   the first non-finite value appeared and where (the loss or which parameter's gradient);
# - measure $\partial \mathcal{L}/\partial h_t$ for every step of a real `nn.RNN` and tell the
#   vanishing regime from the exploding one.
#
# Every number the text quotes is printed by a cell next to it. The whole notebook runs in well
# under a minute on a laptop CPU. Training runs amplify the last bits of floating-point rounding,
# which differ between CPUs: where this chapter shows one run's exact numbers, they are the ones
# *on the machine these outputs were stored on*, and the text states only what holds on any
# machine (checked over several seeds).

# %%
import math
from collections import OrderedDict

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from gradlab import theory
from gradlab.chapters.ch03_exploding import matrix_stretch
from gradlab.chapters.ch03_exploding import plots as plots_exploding
from gradlab.chapters.ch03_exploding import questions
from gradlab.chapters.ch03_exploding import widgets as widgets_exploding
from gradlab.formatting import format_factor, format_number
from gradlab.measure import divergence, rnn, spectral
from gradlab.training.data import load_digits_split
from gradlab.ui import quiz
from gradlab.ui import wiring as widgets

# %% [markdown]
# ## 1. Three sizes of a weight matrix
#
# ### 1.1 A matrix stretches a circle into an ellipse
#
# Multiplying a vector $v$ by a matrix $W$ turns it and changes its length. How much longer
# $Wv$ is than $v$ depends on the direction of $v$. Take every vector of length 1 (the unit
# circle) and multiply each by a 2 × 2 matrix: the result is an ellipse. Everything this chapter
# needs about matrices can be read off that picture:
#
# - **singular values**: the longest stretch is the ellipse's longest half-axis, $\sigma_{\max}$;
#   the shortest stretch is its shortest half-axis, $\sigma_{\min}$. No vector is stretched more
#   than $\sigma_{\max}$ or less than $\sigma_{\min}$.
# - **eigenvectors**: directions that $W$ does not turn, only scales (green). The scale factor is
#   the **eigenvalue** $\lambda$; the largest $\lvert\lambda\rvert$ is the **spectral radius**
#   $\rho$. Apply $W$ again and again, and a vector ends up along the eigen-direction with the
#   largest $\lvert\lambda\rvert$, growing by $\rho$ per application.
# - **typical stretch**: the **Frobenius norm** $\lVert W\rVert_F$ is $\sqrt{\text{sum of the
#   squared entries}}$, which equals $\sqrt{\sigma_{\max}^2 + \sigma_{\min}^2}$. Divided by
#   $\sqrt{n}$ (here $\sqrt 2$) it is the **rms singular value**: how much a direction picked at
#   random is stretched, typically.
# - an **orthogonal** matrix $Q$ is a rotation (or a mirror image): it turns vectors without
#   stretching them, so every singular value is 1. A scale $s$ times it, $W = s\,Q$, maps the
#   circle to a circle of radius $s$: every direction is stretched by exactly $s$ (right panel).
#
# `gradlab.chapters.ch03_exploding.matrix_stretch.map_unit_circle` computes these for a 2 × 2 matrix; the plot only draws them.

# %%
stretch = matrix_stretch.map_unit_circle(np.array([[1.2, 0.6], [0.3, 0.7]]))
angle = 0.6  # a rotation by 0.6 radians is an orthogonal matrix
rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
scaled_rotation = matrix_stretch.map_unit_circle(1.3 * rotation)
fig, axes = plt.subplots(1, 2, figsize=(9, 5.2))
plots_exploding.plot_circle_image(stretch, axes[0])
plots_exploding.plot_circle_image(scaled_rotation, axes[1], title="W = s·Q with s = 1.3")
fig.tight_layout()
plt.show()
print(stretch.summary())
print()
print(scaled_rotation.summary())

# %% [markdown]
# Read off the left matrix: $\sigma_{\max} = 1.48$ is larger than $\rho = 1.44$ (a single
# multiplication can stretch some direction more than the eigenvalues say), and the typical
# stretch 1.09 lies between $\sigma_{\min}$ and $\sigma_{\max}$. For $s\,Q$ all of them are
# $s = 1.3$; a rotation has no direction it leaves unturned, so its eigenvalues are complex
# numbers, but their size is still $s$.
#
# ### 1.2 The three sizes, for the matrices of a network
#
# Going backwards through layer $l$, the gradient is multiplied by the activation's slope and
# then by $W_l^{\top}$:
#
# $$
# \frac{\partial \mathcal{L}}{\partial h_{l-1}} = W_l^{\top}\big(f'(z_l) \odot g_l\big),
# \qquad g_l = \frac{\partial \mathcal{L}}{\partial h_l}.
# $$
#
# How much can $W^{\top}$ stretch a vector? That depends on the direction, and three numbers
# summarise it:
#
# | size | symbol | what it tells you |
# |---|---|---|
# | largest singular value | $\sigma_{\max}(W) = \lVert W \rVert_2$ | the **most** any vector can be stretched: $\lVert W^{\top} v\rVert \le \sigma_{\max}\lVert v\rVert$ |
# | spectral radius | $\rho(W) = \max \lvert\lambda_i\rvert$ | the growth **per step** when the *same* matrix is applied over and over |
# | rms singular value | $\lVert W\rVert_F / \sqrt{n}$ | the **typical** stretch of a random direction (Chapter 1's "gain") |
#
# For a random Gaussian $n \times n$ matrix with entries of standard deviation $s/\sqrt{n}$, theory
# says the rms singular value is about $s$, $\sigma_{\max}$ about $2s$, and $\rho$ about $s$. Here
# they are for real 64 × 64 matrices, with a fourth column: the growth per step of
# $\lVert (W^{\top})^k v \rVert$ measured over 200 repeated applications.

# %%
spectra = spectral.compare_spectra((0.6, 1.0, 1.5, 2.0))
print(spectral.format_spectra(spectra))

# %% [markdown]
# Two things to read off:
#
# - $\sigma_{\max}$ is about twice the other two. It is a *worst case*: it is reached only by one
#   special direction.
# - Repeated application grows like $\rho$, not like $\sigma_{\max}$ — the last column matches the
#   eigenvalue column. That is the number that matters for a recurrent network (section 4).
#
# A common rule of thumb says "a weight matrix with norm $\lVert W\rVert_2 = \sigma_{\max} > 1$
# amplifies gradients". The first row shows why that needs care: at scale 0.6 the matrix has
# $\sigma_{\max} > 1$, yet a gradient sent back through 20 such (linear) layers *shrinks*:

# %%
gaussian_small = spectral.measure_growth(20, 0.6, kind="gaussian")
first_row = spectra[0].spectrum
print(f"σ_max of the 64 × 64 matrix in the first row: {first_row.largest_singular_value:.2f}")
print(gaussian_small.summary())

# %% [markdown]
# (The chain uses twenty fresh 32 × 32 matrices of the same scale; the σ_max in its summary is
# their geometric mean, 1.15, also above 1.) A norm above 1 only says the gradient *can* grow in
# some direction. Whether it *does* depends on how the gradient lines up with that direction, and
# for a product of independent random matrices it lines up no better than chance: the typical
# stretch (0.6 per layer here) wins.

# %% [markdown]
# ## 2. Gradient growth: $(\sigma_{\max} \times \text{slope})^L$, estimated and measured
#
# Per layer the gradient is multiplied by $W_l^{\top}$, which stretches it by at most
# $\sigma_{\max}(W_l)$, and by the activation's slope $f'(z_l)$, one number per unit. Replacing
# those many slopes by one typical size, their rms over the batch, gives an **estimate** for $L$
# layers:
#
# $$
# \frac{\lVert \partial\mathcal{L}/\partial h_0 \rVert}{\lVert \partial\mathcal{L}/\partial h_L \rVert}
# \;\approx\; \prod_{l=1}^{L} \sigma_{\max}(W_l)\,\operatorname{rms} f'(z_l)
# \;\approx\; (\sigma_{\max} \times \text{slope})^L .
# $$
#
# Only for linear layers (slope exactly 1) is it a guaranteed upper bound, and that bound is reached
# when *every* singular value equals $\sigma_{\max}$: a scaled orthogonal matrix $W = s\,Q$
# stretches every direction by exactly $s$. Here is the whole measurement for one chain of twenty
# such linear layers, 32 units wide: build the weights, run a batch forward, take a loss whose
# gradient at the output has norm 1, and read the norm of the gradient at the input. Change the
# scale, the depth or the activation and run it again.

# %%
depth, width, scale = 20, 32, 1.5
generator = torch.Generator().manual_seed(0)
# W = s·Q: Q is the orthogonal factor of a random matrix's QR decomposition
weights = [
    scale * torch.linalg.qr(torch.randn(width, width, generator=generator)).Q for _ in range(depth)
]
x = torch.randn(32, width, generator=generator, requires_grad=True)  # a batch of 32 inputs
h = x
for weight in weights:
    # a linear layer (slope 1); with torch.tanh(h @ weight.T) or torch.relu(...) instead, the
    # estimate printed below also needs the activation's rms slope (the next cell measures it)
    h = h @ weight.T
upstream = torch.randn(32, width, generator=generator)
upstream = upstream / torch.linalg.vector_norm(upstream)  # the gradient at the output: norm 1
loss = (h * upstream).sum()
loss.backward()
print(f"measured ‖∂L/∂x‖ = {torch.linalg.vector_norm(x.grad):.0f}")
print(f"estimate (σ_max × slope)^L = {scale}^{depth} = {scale**depth:.0f}")

# %% [markdown]
# `gradlab.measure.spectral.measure_growth` runs the same measurement (and records the gradient
# at every layer on the way), so we can sweep it: three activations, three scales, twenty
# layers each.

# %%
for activation in spectral.CHAIN_ACTIVATIONS:
    for scale in (0.5, 1.0, 1.5):
        growth = spectral.measure_growth(20, scale, activation=activation)
        print(
            f"{activation:>6}, scale {scale}: slope {growth.slopes.mean():.3f}, "
            f"estimated {format_factor(growth.predicted_growth)}, "
            f"measured {format_factor(growth.measured_growth)}"
        )

# %% [markdown]
# - **linear**: slope 1, and the measurement equals $s^{20}$ exactly: $0.5^{20} \approx 10^{-6}$,
#   $1.5^{20} \approx 3300$.
# - **tanh**: near zero its slope is 1, so at small scales it behaves like the linear chain. At
#   scale 1.5 the activations grow until tanh saturates, the slope drops to about 0.7, and the
#   per-layer factor $1.5 \times 0.7$ is only just above 1. Saturation limits the explosion.
# - **relu**: half the units are off, so the rms slope is $\sqrt{1/2} \approx 0.71$. The net
#   factor at scale 1.5 is $1.5 \times 0.71 \approx 1.06$. (He initialisation uses the scale
#   $\sqrt 2 \approx 1.41$ for this reason: $\sqrt 2 \times \sqrt{1/2} = 1$.)
#
# With a nonlinear activation the slope is itself measured (the rms of $f'(z_l)$ over the batch),
# so the formula is an estimate, not a bound: the gradient can lean towards the units whose slope
# is larger, and the tanh and relu measurements at scale 1.5 come out a few tens of percent away
# from it, on either side (tanh measures *more* than estimated). Over twenty layers and twelve
# orders of magnitude that is still a good estimate.
#
# With *Gaussian* weights the estimate overshoots by about $2^L$, because $\sigma_{\max} \approx
# 2s$ while a random gradient is stretched by only about $s$ — the typical factor tracks the
# measurement instead:

# %%
print(spectral.measure_growth(20, 1.0, kind="gaussian", activation="relu").summary())

# %% [markdown]
# Two of the classic exploding numbers, checked: $1.5^{40}$ and $1.1^{100}$.

# %%
print(f"1.5^40  = {theory.gradient_after_layers(1.5, 40):.3g}")
print(f"1.1^100 = {theory.gradient_after_layers(1.1, 100):.3g}")

# %% [markdown]
# $1.5^{40} \approx 1.1 \times 10^{7}$, as usually quoted. $1.1^{100}$ is often rounded to
# "$\approx 10^4$"; it is $1.4 \times 10^4$ — a mild factor of 1.1 per layer, compounded over 100
# layers, multiplies the gradient fourteen-thousand-fold.

# %% [markdown]
# ### Interactive: weight scale and depth
#
# Each move builds fresh weight matrices with that scale and runs one real forward and backward
# pass. The plot shows $\lVert \partial\mathcal{L}/\partial h_l\rVert$ for every layer (log axis;
# the output's gradient is 1), the $\sigma_{\max} \times$ slope estimate (red dashes) and the
# typical rms $\times$ slope curve (grey dots).
#
# **What to try**
# - Orthogonal, linear: the three curves lie on top of each other at every scale.
# - Switch to Gaussian weights: the red estimate peels away; the measurement follows the grey
#   curve.
# - Linear, scale 3, depth 100: $3^{100} \approx 5 \times 10^{47}$ is more than the largest
#   float32 number (printed below), so the gradient overflows and the readout says *exploded*
#   instead of a number.
# - tanh at scale 3: saturation cuts the per-layer factor from 3 to about 1.3 (printed below).

# %% tags=["nbval-ignore-output"]
growth_demo = widgets_exploding.make_growth_demo(depth=20, weight_scale=1.5)
widgets.show(growth_demo)

# %% [markdown]
# Why does the readout say *exploded* at scale 3 and depth 100? Compare $3^{100}$ with the largest
# number float32 can hold, and count how far back from the output the gradient stays finite:

# %%
print(f"largest float32 number: {torch.finfo(torch.float32).max:.2g}")
print(f"3^100 = {3.0**100:.2g}")
linear_chain = spectral.measure_growth(100, 3.0)
print(linear_chain.summary())
finite_layers = int(np.isfinite(linear_chain.grad_norms).sum()) - 1  # the output's is 1
print(f"layers back from the output whose gradient is still finite: {finite_layers}")
tanh_extreme = spectral.measure_growth(100, 3.0, activation="tanh")
per_layer = tanh_extreme.measured_growth ** (1 / 100)  # the geometric mean over the 100 layers
print(f"tanh at the same extreme: each layer multiplies the gradient by about {per_layer:.1f}")

# %% [markdown]
# At scale 3 and depth 100 the linear chain's gradient is `nan`: about 80 layers back (printed
# above) its entries passed the largest float32 number and became `inf`, and the next matrix
# product added `inf` to `-inf`, which is `nan`. The tanh chain stays finite, and each of its
# layers multiplies the gradient by about 1.3 instead of 3 (printed above). Its full readout is
# below; a tanh chain this strongly scaled is *chaotic* (tiny rounding differences grow from layer
# to layer), so its exact digits are the ones on the machine these outputs were stored on. What
# holds on any machine: the per-layer factor of about 1.3, and the gradient at the input,
# around $10^{12}$, is still an explosion, but more than twenty orders of magnitude short of
# overflow.

# %% tags=["nbval-ignore-output"]
print(tanh_extreme.summary())

# %% [markdown]
# ## 3. What exploding looks like in a real training run
#
# Numbers at initialisation are one thing; what does a learner actually *see*? We train the same
# ReLU network (four hidden layers of 64 units and a linear output layer `head`, Xavier init; for a
# given seed, the same initial weights and minibatches at every learning rate) on the scikit-learn
# digits (8 × 8 images, 10 classes, ships offline) with plain SGD at three learning rates, for 100
# steps, and record the loss, every parameter's gradient norm and every parameter's norm at each
# step. Each learning rate is trained from five seeds (five initialisations and minibatch orders),
# because a single run can be a coin flip: near the edge of stability whether a run diverges can hang on the last bits of rounding,
# so the same seed diverges on one CPU and trains on another. The three rates below are chosen
# away from that edge: for this network it lies somewhere between 0.5, where every run below
# survives, and 3.0, where every run diverges.

# %%
data = load_digits_split(seed=0)
sweep = divergence.train_over_seeds(divergence.LEARNING_RATES, divergence.SEEDS, data=data)
symptoms = divergence.measure_symptoms_over_seeds(sweep, divergence.SEEDS)
runs = {lr: records[0] for lr, records in sweep.items()}  # seed 0, shown in the plots
plots_exploding.plot_losses_by_lr(runs)
plt.show()
print(divergence.summarize_seeds(symptoms))

# %% [markdown]
# Those lines summarise all five seeds, and they are worded so that they hold on any machine
# (checked under several kinds of floating-point rounding). The plot shows seed 0's runs, on the
# machine these outputs were stored on; on yours the curves may differ in detail.
#
# <a id="symptom-loss-spike"></a>
# ### 3.1 Loss spikes and NaN
#
# Here is seed 0's run at `lr = 3.0` written out: the model, the training loop, and the log a
# training script would print (the loss and the norm of all gradients together). It is the same
# run as the sweep's seed 0, draw for draw; this copy keeps going past the first non-finite value
# so you see what comes after it. Change the learning rate, the depth or the init and run it
# again. The exact numbers are the ones on the machine these outputs were stored on:

# %% tags=["nbval-ignore-output"]
def make_model(seed: int) -> nn.Sequential:
    """Four hidden ReLU layers of 64 units and a linear output layer; Xavier init, zero biases."""
    layers = OrderedDict()
    for i in range(1, 5):
        layers[f"linear{i}"] = nn.Linear(64, 64)
        layers[f"relu{i}"] = nn.ReLU()
    layers["head"] = nn.Linear(64, 10)
    model = nn.Sequential(layers)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for linear in (module for module in model if isinstance(module, nn.Linear)):
            fan_out, fan_in = linear.weight.shape
            linear.weight.normal_(0.0, math.sqrt(2 / (fan_in + fan_out)), generator=generator)
            linear.bias.zero_()
    return model


model = make_model(seed=0)
optimizer = torch.optim.SGD(model.parameters(), lr=3.0)
batches = torch.Generator().manual_seed(0)  # which 64 digits each step trains on
with divergence.single_thread():  # one thread, as in the sweep: the same rounding
    for step in range(16):
        index = torch.randint(0, len(data.x_train), (64,), generator=batches)
        loss = nn.functional.cross_entropy(model(data.x_train[index]), data.y_train[index])
        optimizer.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
        print(
            f"step {step:>3}: loss = {format_number(loss.item()):>9}   "
            f"|grad| = {format_number(grad_norm.item()):>9}"
        )
        optimizer.step()

# %% [markdown]
# The loss starts near $\ln 10 \approx 2.30$ (a 10-class guess). On the machine these outputs were
# stored on it then bounces for a few steps, climbs to tens, to hundreds of thousands and beyond,
# and finally reads `nan`. Textbook logs often jump straight from a normal loss to a huge one and
# then `nan`; what every one of the five runs shares (the summary printed under the plot checks
# it) is the order of events: the loss **spikes** to more than ten
# times its starting value at least two steps before the first `inf` or `nan`, and the gradient
# norm grows more than a thousand-fold before it. Large gradient norms and a spiking loss are the
# early warning; NaN is the end of the story.
#
# <a id="symptom-nan"></a>
# **Where did it start?** `gradlab.training.loop` records every parameter's gradient norm, so we can
# find the first step at which any number stopped being finite, and where. Either the forward
# pass overflowed first (the *loss* is `inf` or `nan`, and then every gradient is `nan` at once),
# or the loss was still a huge finite number and a gradient overflowed on the way back (we then
# name the first such parameter in backward order, from the loss towards the input). For the five
# runs at `lr = 3.0`:

# %% tags=["nbval-ignore-output"]
print(divergence.format_symptoms(symptoms[3.0]))

# %% [markdown]
# Which number overflows first differs from run to run (and can differ between machines), so do
# not read a cause into it. The sweep builds the same network with its layers named
# `layers.0.linear` … `layers.3.linear` (`linear1` … `linear4` above) and `head`. One step before
# the first non-finite value, seed 0's gradients are all still finite, and the weight gradients
# are enormous in every layer — the explosion runs through the whole network, not one layer.
# (The output bias's gradient stays small: with cross-entropy it is the batch mean of
# softmax − one-hot, whose norm can never exceed $\sqrt 2$.)

# %% tags=["nbval-ignore-output"]
wild = runs[3.0]
print(divergence.format_gradients_at(wild, wild.first_nonfinite_step - 1))

# %% [markdown]
# One update after the first overflow the weights themselves are `inf` or `nan`, and from then on
# every number is `nan`: nothing can be recovered, which is why training scripts stop at the first
# non-finite value.
#
# <a id="symptom-oscillation"></a>
# ### 3.2 Oscillation
#
# At `lr = 0.5` every run survives, but the loss does not go down smoothly: in most runs it
# sometimes jumps up by more than 0.5 in a single step before settling again, while at
# `lr = 0.05` it never does (the summary above). How many jumps, and how high, differs from seed to
# seed and from machine to machine; here they are for seed 0 on the machine these outputs were
# stored on:

# %% tags=["nbval-ignore-output"]
for lr, record in runs.items():
    jumps = divergence.count_loss_jumps(record.losses)
    rise = divergence.largest_loss_rise(record.losses)
    print(f"lr = {lr}: {jumps} jumps > 0.5, largest one-step rise {format_number(rise)}")

# %% [markdown]
# Each jump is a step that overshot: the update was so large that it crossed the valley and
# landed higher on the other side. The plot above shows them as upward spikes in the `lr = 0.5`
# curve.
#
# <a id="symptom-weight-growth"></a>
# ### 3.3 Weight growth
#
# The norm of all the parameters together barely moves in a healthy run. In the diverging run it
# grows by orders of magnitude in the last few steps before the NaN — each oversized update makes
# the next gradient (and so the next update) larger still, a positive feedback loop.

# %%
weight_norms = {lr: divergence.total_weight_norms(record) for lr, record in runs.items()}
plots_exploding.plot_weight_norms(weight_norms)
plt.show()

# %% [markdown]
# Over all five seeds, from the first step to the last (on the machine these outputs were stored
# on):

# %% tags=["nbval-ignore-output"]
for lr, rows in symptoms.items():
    growth = [row.weight_growth for row in rows]
    smallest, largest = format_factor(min(growth)), format_factor(max(growth))
    print(f"lr = {lr}: the weight norm grew {smallest} to {largest}")

# %% [markdown]
# In every seed the calm runs end with weights less than 30 % larger than they started, while
# every diverging run's weights grow more than a hundred million times before the NaN.
#
# ### 3.4 The symptoms table
#
# Everything above in one place. Each row links to the cell that shows it.
#
# | symptom | what you see (in this chapter's runs) | why it happens | shown in |
# |---|---|---|---|
# | loss spikes | the loss jumps to more than ten times its start, at least two steps before any NaN | an update overshoots so far that the new weights are much worse | [3.1](#symptom-loss-spike) |
# | NaN values | `inf` in the loss or a gradient, then `nan` in everything | values overflow float32 (above the largest float32, $3.4 \times 10^{38}$, printed in section 2) and `inf − inf` is `nan` | [3.1, where did it start](#symptom-nan) |
# | oscillation | the loss rises and falls by large amounts instead of settling | steps overshoot the valley and bounce between its walls | [3.2](#symptom-oscillation) |
# | weight growth | the weight norm grows by orders of magnitude | big gradients → big updates → bigger weights → bigger gradients | [3.3](#symptom-weight-growth) |
#
# And as numbers, read off every run by `gradlab.measure.divergence` (a *spike* is a loss above ten times
# the first step's), on the machine these outputs were stored on:

# %% tags=["nbval-ignore-output"]
print(divergence.format_symptoms([row for rows in symptoms.values() for row in rows]))

# %% [markdown]
# ## 4. Gradients through time
#
# A recurrent network applies the **same** weights at every time step:
# $h_t = \tanh(W_x x_t + W_h h_{t-1})$. Unrolled over $T$ steps it is a $T$-layer network whose
# layers all share $W_h$, and backpropagation through time (BPTT) multiplies by one step's
# Jacobian per step. We build $W_h = s\,Q$, a scale $s$ times an orthogonal $Q$ (section 1.1), so
# that every singular value and the spectral radius of $W_h$ equal $s$:
#
# $$
# \frac{\partial \mathcal{L}}{\partial h_{t-1}}
#   = W_h^{\top}\,\big(f'(a_t) \odot \tfrac{\partial \mathcal{L}}{\partial h_t}\big)
# \quad\Longrightarrow\quad
# \Big\lVert \frac{\partial \mathcal{L}}{\partial h_t} \Big\rVert \approx
#   (s \times \text{slope})^{T-t} .
# $$
#
# Because it is the same matrix every time, its spectral radius sets the long-run rate (section
# 1). `gradlab.measure.rnn` measures $\lVert\partial\mathcal{L}/\partial h_t\rVert$ for every $t$ on a real
# `torch.nn.RNN`, stepping it one time step at a time so that autograd can hand back the gradient
# at every hidden state. The loss is read at the last step, so the gradient there is 1.
#
# Two cases:
# - **linear**: one hidden unit whose recurrent weight is the number $s$ (a ReLU unit fed positive
#   inputs, so it never switches off). Here the closed form is exact: $\partial\mathcal{L}/\partial
#   h_t = s^{T-t}$.
# - **tanh**: 32 units with $W_h = s\,Q$ for a random orthogonal $Q$.
#
# With $s = 0.5$ and $T = 6$:

# %%
print(rnn.compute_time_gradients("linear", 0.5, 6).summary())
print(rnn.compute_time_gradients("tanh", 0.5, 6).summary())

# %% [markdown]
# The linear RNN halves the gradient at every step back: 1, 0.5, 0.25, 0.125, 0.0625, 0.03125.
# The tanh RNN follows just below the closed form, since $\tanh' \le 1$.
#
# ### Vanishing and exploding regimes
#
# Fifty steps, for a range of scales $s$: what reaches the first step? (Two significant figures.)

# %%
print(rnn.format_regimes((0.5, 0.9, 1.0, 1.1, 1.5, 2.0), 50))

# %% [markdown]
# - Below 1 the gradient vanishes geometrically: at $s = 0.9$ less than 1 % of it
#   survives 50 steps. An RNN like this cannot learn that something 50 steps ago mattered.
# - Above 1 the linear RNN explodes geometrically: $2^{49} \approx 5.6 \times 10^{14}$.
# - The tanh RNN explodes much later: as $h_t$ grows, tanh saturates and its slope shrinks,
#   which pulls the per-step factor back towards (or below) 1. At $s = 1.1$ it still
#   *vanishes*; at 2 it explodes, but by a few thousand instead of $5.6 \times 10^{14}$.
#
# ### Interactive: the scale $s$ and $T$
#
# Both RNNs are rebuilt and unrolled at each move; the plot shows
# $\lVert\partial\mathcal{L}/\partial h_t\rVert$ for every $t$ on a log axis, with the closed form
# dashed. The text gives the step-by-step chain for the last six steps.
#
# **What to try**
# - $s = 0.5$, $T = 6$: the stepper above. Then raise $T$ to 100.
# - $s = 1$: the linear RNN keeps the gradient at exactly 1; the tanh one fades.
# - $s = 3$, $T = 100$: the linear RNN overflows (*exploded (inf)*) after about 80
#   steps back; the tanh RNN explodes too, but stays finite.

# %% tags=["nbval-ignore-output"]
time_demo = widgets_exploding.make_time_demo(recurrent_scale=0.5, steps=6)
widgets.show(time_demo)

# %% [markdown]
# At $s = 3$ over $T = 100$ steps the linear RNN's numbers are the powers of 3 (to float32's seven
# significant digits) until they overflow, about 80 steps back:

# %%
linear_extreme = rnn.compute_time_gradients("linear", 3.0, 100)
tanh_extreme = rnn.compute_time_gradients("tanh", 3.0, 100)
print(linear_extreme.summary())
finite_steps = int(np.isfinite(linear_extreme.grad_norms).sum()) - 1  # the last step's is 1
print(f"linear RNN: steps back from the last one whose gradient is still finite: {finite_steps}")
print(
    f"tanh RNN: {tanh_extreme.regime}; the gradient reaching the first step is finite: "
    f"{math.isfinite(tanh_extreme.first_step)}"
)

# %% [markdown]
# The tanh RNN at $s = 3$ is chaotic like the deep tanh chain above: its gradients grow by many
# orders of magnitude over the 100 steps, but their digits depend on rounding. On the machine
# these outputs were stored on:

# %% tags=["nbval-ignore-output"]
print(tanh_extreme.summary())

# %% [markdown]
# ## 5. Knowledge check

# %%
quiz.show(questions.KNOWLEDGE_CHECK, title="Chapter 3 knowledge check")

# %% [markdown]
# ## Summary
#
# - A weight matrix has three sizes: $\sigma_{\max}$ bounds one backward step, $\rho$ governs a
#   matrix applied again and again, and the rms singular value is what a random gradient sees.
# - Through $L$ layers the gradient grows roughly like $(\sigma_{\max} \times \text{slope})^L$:
#   an estimate (the slope is an rms), exact for orthogonal linear layers, a few tens of percent
#   off with tanh or relu; with Gaussian weights it overshoots and the typical stretch wins.
# - Exploding gradients show up in training as loss spikes, then `inf`/`nan`, with oscillation
#   and runaway weight norms around them. The spike and the growing gradient norm come first:
#   watch them. Recording the loss and every parameter's gradient norm tells you the step where
#   the first non-finite value appeared and where.
# - An RNN reuses $W_h = s\,Q$ at every step, so its gradients through time scale like
#   $s^{T-t}$: vanishing below 1, exploding above — softened, for tanh, by saturation.
#
# **Next:** practise with [the Chapter 3 exercises](../exercises/03_exploding_exercises.ipynb): estimate and
# then measure a first-layer gradient, and find the first non-finite step of a diverging run.
#
# **What about the fixes?** The next three chapters teach the standard cures:
# [Chapter 4](04_init_norm.ipynb) initialisation and normalisation layers (and learning-rate
# warmup), [Chapter 5](05_residual.ipynb) residual connections, [Chapter 6](06_clipping.ipynb)
# gradient clipping, with recurrent networks again (RNN vs LSTM).
# Chapter 7 shows how to watch for all of this while you train.
#
# ---
# ← Previous: [Chapter 2, activations](02_activations.ipynb) · Next:
# [Chapter 4, initialization and normalization](04_init_norm.ipynb) ·
# Exercises: [03_exploding_exercises](../exercises/03_exploding_exercises.ipynb)
