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
# # Chapter 2 — Activations and sigmoid saturation
#
# Chapter 1 showed that one layer multiplies the gradient by about *(size of f′) × (gain of W)*.
# This chapter is about the first half of that product: the activation function. Its derivative
# is a gate every gradient passes through, once per layer, and different activations build very
# different gates.
#
# **You will be able to**
# - derive why sigmoid networks lose gradient at every layer, and estimate how much;
# - say where sigmoid and tanh saturate, and what a saturated unit does to learning;
# - compare how much gradient survives a deep stack for seven activations, measured;
# - find dead ReLU units in a real network, kill them on purpose, and see which activations
#   let them come back;
# - read a training comparison on real data and explain it with the numbers above.
#
# Every number the text quotes is computed in a cell next to it. The whole notebook runs in
# under a minute on a laptop CPU.
#
# Training runs are *chaotic*: another CPU rounds floats a little differently, and a run can take
# another path. So every training experiment here is repeated over several seeds, and the text
# states only what holds in every seed. Tables of single runs are marked "on the machine these
# outputs were stored on"; yours may differ in the details, not in the conclusion.

# %%
import math

import numpy as np
import torch
import torch.nn.functional as F

from gradlab import theory
from gradlab.chapters.ch02_activations import dead_units, questions
from gradlab.chapters.ch02_activations import depth as activation_depth
from gradlab.chapters.ch02_activations import explorer as activation_explorer
from gradlab.chapters.ch02_activations import plots as plots_activations
from gradlab.chapters.ch02_activations import training_comparison as activation_training
from gradlab.chapters.ch02_activations import widgets as widgets_activations
from gradlab.formatting import format_magnitude, format_percent
from gradlab.measure.spectral import largest_singular_value, rms_singular_value
from gradlab.models.activations import activation_derivative, saturation_zone
from gradlab.models.mlp import make_mlp
from gradlab.training.data import load_digits_split
from gradlab.ui import quiz
from gradlab.ui import wiring as widgets

# The networks here are tiny: one CPU thread runs them fastest, and threads fighting over two
# cores make them many times slower.
torch.set_num_threads(1)

# Seeds per training experiment. THOROUGH = True runs twice as many (about twice as long).
THOROUGH = False
SEEDS = tuple(range(10 if THOROUGH else 5))

# %% [markdown]
# ## 1. Why sigmoid vanishes
#
# The sigmoid $\sigma(x) = 1/(1+e^{-x})$ has a derivative that can be written with the function
# itself:
#
# $$
# \sigma'(x) = \sigma(x)\,\big(1-\sigma(x)\big).
# $$
#
# Checking that identity against autograd is worth doing once by hand:

# %%
x = (torch.arange(-800, 801, dtype=torch.float64) / 100).requires_grad_(True)  # -8 to 8
s = torch.sigmoid(x)
(by_autograd,) = torch.autograd.grad(s.sum(), x)
by_formula = s.detach() * (1 - s.detach())
print("σ(1−σ) matches autograd:", torch.allclose(by_formula, by_autograd))
print(f"largest σ'(x) = {by_formula.max():.4f}, at x = {x[by_formula.argmax()]:.2f}")

# %% [markdown]
# The product $s(1-s)$ of two numbers that add up to 1 is largest when both are $\tfrac12$, so
# $\sigma'$ peaks at $x = 0$ with value $0.25$ and is smaller everywhere else. The sigmoid's gate
# therefore passes at most a quarter of the gradient. The layer's weights multiply it again.
# With unit-gain weights ($W$ stretches a typical direction by 1, Chapter 1) a layer's typical
# factor is $0.25$ at best — when every unit sits at $x = 0$ — so after $L$ layers typically
# about $0.25^L$ or less survives:

# %%
for depth in (5, 10, 20):
    print(f"0.25^{depth:<2} = {theory.sigmoid_bound(depth):.2e}")

# %% [markdown]
# That is the *typical* case, not a ceiling. A random matrix stretches some directions more than
# its rms gain: its largest stretch, the largest singular value $\sigma_{\max}$ (Chapter 3), is
# about twice the rms. Measured on the ten weight matrices of a 10-layer Xavier network:

# %%
sigmoid_net = make_mlp(10, 64, "sigmoid", "xavier", seed=0)
stretch = [largest_singular_value(layer.linear.weight) for layer in sigmoid_net.layers]
rms = [rms_singular_value(layer.linear.weight) for layer in sigmoid_net.layers]
print(f"rms gain:                {min(rms):.2f} to {max(rms):.2f}")
print(f"σ_max (largest stretch): {min(stretch):.2f} to {max(stretch):.2f}")
strict = theory.sigmoid_bound(10, largest_stretch=max(stretch))
print(f"strict bound for 10 such layers, (0.25 × {max(stretch):.2f})^10 = {strict:.1e}")
print(f"typical case, 0.25^10 = {theory.sigmoid_bound(10):.1e}")

# %% [markdown]
# So the strict bound is $\prod_l 0.25\,\sigma_{\max}(W_l)$, which is guaranteed to be at most
# $0.25^L$ when every $\lVert W_l \rVert_2 = \sigma_{\max}(W_l) \le 1$. With these weights the strict bound is
# about $0.5^L$ — a thousand times more than $0.25^{10}$ after ten layers — yet a gradient rarely
# lines up with every layer's most-stretched direction: section 4 measures about $0.23$ per
# layer, close to the typical $0.25$.
#
# So the common rules of thumb describe the typical case: ten sigmoid layers keep about a
# millionth ($0.25^{10} = 9.5 \times 10^{-7}$), twenty about a trillionth
# ($9.1 \times 10^{-13}$). And $0.25$ is $\sigma'$ at $x = 0$: away from zero the gate closes
# further.
#
# ## 2. Saturation zones
#
# A unit is **saturated** when its input is so far from zero that the curve is flat there: the
# output barely changes, and the derivative — the fraction of gradient it lets through — is
# nearly 0. You often read "sigmoid saturates for $|x| > 3$, where $\sigma' < 0.05$" and "tanh
# for $|x| > 2$, where $\tanh' < 0.1$". `gradlab.models.activations.saturation_zone` finds the exact
# edges by scanning the derivative:

# %%
sigmoid_zone = saturation_zone("sigmoid", 0.05)
tanh_zone = saturation_zone("tanh", 0.1)
print(f"sigmoid: σ' < 0.05 for {sigmoid_zone.describe()}")
print(f"tanh:    tanh' < 0.1 for {tanh_zone.describe()}")
print(f"         tanh' < 0.05 for {saturation_zone('tanh', 0.05).describe()}")
print(f"at the rule-of-thumb edges: σ'(3) = {activation_derivative('sigmoid', 3.0):.4f}, ", end="")
print(f"tanh'(2) = {activation_derivative('tanh', 2.0):.4f}")

# %% [markdown]
# Both rules of thumb are *true* — beyond 3 (or 2) the derivative is indeed below the threshold —
# but they are conservative: sigmoid is already that flat beyond 2.89, and tanh beyond 1.82. Tanh
# starts with a derivative four times larger than sigmoid's (1 instead of 0.25) but also
# flattens sooner: even at sigmoid's threshold 0.05 it is flat beyond 2.18, before 2.89.
#
# Here is every activation of the course: its largest derivative and its flat zone (threshold
# 0.1 for tanh, 0.05 for the rest):

# %%
print(activation_explorer.activation_table())

# %% [markdown]
# Three families show up:
#
# - **sigmoid, tanh** flatten on *both* sides: a large input of either sign blocks the gradient.
# - **relu, leaky_relu, elu** are flat (or nearly) only on the *negative* side, and pass the
#   gradient unchanged (derivative exactly 1) for every positive input.
# - **gelu, silu** are smooth versions of relu. Their derivative rises a little above 1 for
#   larger positive inputs (the max column: 1.129 and 1.100) and settles back to 1 from above,
#   and it is **negative for every input below a point**: $-0.75$ for GELU, $-1.28$ for
#   SiLU (last lines of the table). There the function *decreases*: it dips below 0 and rises
#   back towards 0 as $x \to -\infty$. The derivative is lowest at $x = -1.41$ for GELU (about
#   $-0.13$) and $x = -2.40$ for SiLU (about $-0.10$), then fades to 0 from below.
#   The middle interval in their flat-zone column is where $f'$ crosses 0 (at the bottom of
#   $f$'s dip), not a flat stretch: just left of it $f'$ is negative, not small.
#
# ## 3. Interactive: activation explorer
#
# Pick an activation and move $x$. The plot shows $f$ (solid) and $f'$ (dashed) with the point
# marked on both and the flat zone shaded; the text gives the values at $x$ and a one-line note on
# that activation's gradient issue.
#
# **What to try**
# - sigmoid at $x = 0$, then at $x = 4$: the derivative falls from 0.25 to under 0.02 (printed
#   below).
# - tanh at $x = 2$: already inside the zone.
# - relu at $x = -0.1$ and $x = 0.1$: all or nothing.
# - gelu and silu at $x = -4$: compare how much gradient each still lets through.

# %% tags=["nbval-ignore-output"]
explorer = widgets_activations.make_activation_explorer_demo(activation="sigmoid", x=0.0)
widgets.show(explorer)

# %% [markdown]
# How much the gate lets through at the points the list names: σ′ at 4, and each left tail at
# $x = -4$:

# %%
print(f"sigmoid'(4) = {float(activation_derivative('sigmoid', 4.0)):.4f}")
for name in ("leaky_relu", "gelu", "silu"):
    print(f"{name}'(-4) = {activation_derivative(name, -4.0):+.1e}")

# %% [markdown]
# ## 4. Gradient after N layers, measured
#
# The explorer shows one unit. What matters for training is what a whole stack does. Some texts
# show a bar chart of "gradient remaining after 10 layers" with sigmoid below 0.01% and tanh,
# ReLU and Leaky ReLU at 2.8% each. Those bars are not measurements — so let us measure.
#
# For each activation we build networks that differ **only** in the activation: 10 hidden layers
# of width 64, the same initialisation (Xavier), the same seeds (three networks each, averaged
# geometrically), the same random batch. One real backward pass each (no training, so no chaos);
# we report the gradient reaching the input divided by the gradient leaving the last layer.

# %%
xavier_10 = activation_depth.compute_gradient_after_depth(10, "xavier")
print(xavier_10.table())
print(f"\n(√½)^10 = 0.5^5 = {0.5**5:.2%}   0.23^10 = {0.23**10:.1e} = {100 * 0.23**10:.1e}%")
print(f"sigmoid, per layer: {xavier_10.remaining_of('sigmoid') ** (1 / 10):.2f}")

# %%
_ = plots_activations.plot_gradient_after_depth(xavier_10)

# %% [markdown]
# What the measurement says about the hand-drawn bars:
#
# - **sigmoid**: below 0.01%, yes — in fact about $4.6 \times 10^{-5}$ %, close to $0.23^{10}$:
#   about 0.23 per layer (last line above), the factor Chapter 1 measured per sigmoid layer.
# - **relu and leaky_relu: 2.8% is right — for Xavier init.** It is close to
#   $(\sqrt{1/2})^{10} = 1/32 \approx 3.1\%$: half of a ReLU layer's units are off, so
#   $\operatorname{rms} f' = \sqrt{1/2}$, and Xavier weights have gain 1; the measurement falls a
#   little short of it, as in Chapter 1.
# - **tanh: 2.8% is wrong.** Measured, tanh keeps about ten times more (roughly a quarter): with
#   inputs near zero its derivative is close to 1.
# - gelu and silu keep less than relu here, elu more.
#
# But "how much survives" is not a property of the activation alone. Give every network He
# initialisation (weights $\sqrt2$ larger, designed for ReLU) and the picture changes:

# %%
he_10 = activation_depth.compute_gradient_after_depth(10, "he")
print(he_10.table())

# %% [markdown]
# With He init relu, leaky_relu, gelu and tanh all keep roughly 100% — a gradient highway — while
# sigmoid still loses almost everything: its gate's 0.25 cannot be made up by a factor of
# $\sqrt2$. The activation and the initialisation set the per-layer factor *together*.
#
# Is that the init or luck? Each of the three seeds, for ReLU:

# %%
relu_row = xavier_10.activations.index("relu")
print("relu, Xavier, per seed:", ", ".join(format_percent(v) for v in xavier_10.per_seed[relu_row]))
print("relu, He,     per seed:", ", ".join(format_percent(v) for v in he_10.per_seed[relu_row]))

# %% [markdown]
# Every seed lands near its init's value (a few percent with Xavier, near 100% with He): the
# init makes the difference, not the draw.
#
# ### Interactive: depth and init
#
# Every move builds 21 fresh networks (7 activations × 3 seeds) and runs a real backward pass
# through each. Try depth 50 with `he`, then `normal` init (plain `randn` weights, a gain of 8
# per layer): the five ReLU-like numbers overflow float32 (about $3.4 \times 10^{38}$) and read
# *exploded (nan)*, tanh's gradient grows more than $10^{10}$-fold without overflowing (labelled
# *exploded*, the label for anything above $10^4$), while sigmoid's saturation tames the blow-up.
# Measured at depth 50 with `normal` init:

# %%
normal_50 = activation_depth.compute_gradient_after_depth(50, "normal")
print(f"largest float32: {torch.finfo(torch.float32).max:.1e}")
print("depth 50, normal init: gradient reaching the input / gradient leaving the last layer")
for name, value in zip(normal_50.activations, normal_50.remaining, strict=True):
    if not math.isfinite(value):
        print(f"{name:>10}: {format_magnitude(value)}: float32 overflowed")
    elif value > 1e10:
        print(f"{name:>10}: finite, but over 1e10 (labelled exploded)")
    else:
        print(f"{name:>10}: finite, below {format_percent(0.01)}")

# %% [markdown]
# On the machine these outputs were stored on, the exact values (tanh's depends on rounding in
# its saturated units, so yours may differ by tens of percent):

# %% tags=["nbval-ignore-output"]
print(normal_50.table())

# %% tags=["nbval-ignore-output"]
depth_demo = widgets_activations.make_gradient_after_depth_demo(depth=10, init="xavier")
widgets.show(depth_demo)

# %% [markdown]
# ## 5. Dead ReLUs
#
# ReLU's gate is all or nothing. A unit whose pre-activation $z$ is $\le 0$ for **every** input
# outputs 0 and has derivative 0 for every input, so its weights receive exactly zero gradient:
# gradient descent cannot move it. Such a ReLU unit is **dead**. `gradlab.chapters.ch02_activations.dead_units` counts
# **never-positive** units: the fraction of units whose pre-activation is never positive over a
# whole batch (here all the training digits, counted below). For ReLU, never positive means dead. For Leaky
# ReLU, GELU and SiLU it does not: such a unit still passes a small gradient (0.01, or $f'(z)$),
# so for them the count says "switched off on this data", not "stuck for good".
#
# We use a 3-hidden-layer MLP (width 64, He init) on scikit-learn's 8×8 digits. At
# initialisation hardly any unit is dead. Shift every bias down and units die — a large negative
# bias is the simplest way to kill them:

# %%
data = load_digits_split(seed=0)
print(f"{len(data.x_train)} training digits")
for shift, report in dead_units.measure_dead_fraction_vs_bias(data=data).items():
    print(f"bias shift {shift:+.0f}: {report.describe()}")

# %% [markdown]
# Deeper layers die first: each layer's inputs are the (now smaller) outputs of the layer below.
#
# ### A too-high learning rate kills units during training
#
# Nobody sets biases to −4 by hand, but a few oversized updates do the same thing. Below, each
# network takes 10 Adam steps at learning rate 0.1 (ten to a hundred times too high), then
# 300 sensible steps (Adam, learning rate 0.01). We count never-positive units at the start,
# after the 10 bad steps, and at the end; all four activations see the same data, seeds and
# schedule, and the whole experiment is repeated with five seeds (init and minibatch order).

# %%
high_lr = dead_units.study_dead_unit_recovery(kill_lr=0.1, seeds=SEEDS, data=data)

# %% [markdown]
# The spread over the seeds, on the machine these outputs were stored on:

# %% tags=["nbval-ignore-output"]
print(high_lr.table())

# %% [markdown]
# And what holds in every seed:

# %%
relu_killed = high_lr.fractions("relu", "after_kill")
print(
    f"relu never positive after the 10 bad steps: over 20% in every seed: {relu_killed.min() > 0.2}"
)
for name in ("leaky_relu", "gelu", "silu"):
    fewer = bool((high_lr.fractions(name, "after_kill") < relu_killed).all())
    print(f"{name:>10} loses fewer units than relu in every seed: {fewer}")
first_layer_killed = high_lr.fractions("relu", "after_kill", layer=0)
none_first = bool(first_layer_killed.max() == 0)
print(f"relu: no first-layer unit killed by the bad steps, every seed: {none_first}")
for name in dead_units.RECOVERY_ACTIVATIONS:
    above = bool(high_lr.test_accuracies(name).min() > 0.8)
    print(f"{name:>10}: test accuracy above 80% in every seed: {above}")

# %% [markdown]
# Ten bad steps kill over a fifth of the ReLU units in every seed (28% to 43% on the machine
# these outputs were stored on; you will read that "30–50% of ReLUs die" in practice, and that
# is one experience, not a law). The other activations lose fewer. ReLU's dead units all sit in
# the deeper layers: the bad steps kill none in the first layer, in every seed. This network
# is wide enough to reach high accuracy with its survivors in every seed; the next experiment is
# harsher.
#
# ### Recovery from a large negative bias
#
# Now every network starts with all biases shifted by −4, so all four activations start with
# (nearly) the same never-positive units — from about a third to over half of them, depending on
# the seed — and then train for 300 sensible steps:

# %%
bias_kill = dead_units.study_dead_unit_recovery(bias_shift=-4.0, seeds=SEEDS, data=data)

# %% tags=["nbval-ignore-output"]
print(bias_kill.table())
gelu_wins = int((bias_kill.test_accuracies("gelu") > bias_kill.test_accuracies("relu")).sum())
print(f"gelu's test accuracy above relu's in {gelu_wins} of {len(SEEDS)} seeds")
_ = plots_activations.plot_dead_units(bias_kill)

# %% [markdown]
# Above, the medians and ranges on the machine these outputs were stored on. Single runs after a
# kill this hard are chaotic: with the same seed, a GELU network's test accuracy can move by tens
# of points from one CPU to another. What holds in every seed:

# %%
print(
    f"relu's dead first-layer units stay dead, every seed: {bias_kill.first_layer_stayed_off('relu')}"
)
leaky_left = bias_kill.fractions("leaky_relu", "after_recovery")
print(f"leaky_relu ends with under 10% never positive in every seed: {leaky_left.max() < 0.1}")
others_left = [bias_kill.fractions(name, "after_recovery") for name in ("relu", "gelu", "silu")]
fewest = bool((leaky_left < np.minimum.reduce(others_left)).all())
print(f"leaky_relu ends with the fewest never-positive units, every seed: {fewest}")
for name in ("relu", "gelu", "silu"):
    fewer = bias_kill.fractions(name, "after_recovery") < bias_kill.fractions(name, "after_kill")
    print(
        f"{name:>10} ends with fewer never-positive units than after the kill, every seed: "
        f"{bool(fewer.all())}"
    )
for name in dead_units.RECOVERY_ACTIVATIONS:
    print(f"{name:>10}: test accuracy {bias_kill.median_accuracy_verdict(name)}")
winners, losers = ("leaky_relu", "silu"), ("relu", "gelu")
print(
    f"every leaky_relu and silu run beats every relu and gelu run: "
    f"{bias_kill.separates(winners, losers)}"
)

# %% [markdown]
# What the measurement shows:
#
# - **ReLU, first layer: once dead, dead for good.** Its inputs are the fixed pixels, its dead
#   units get exactly zero gradient, so not one of them changes — in every seed, on every machine
#   (a zero gradient is exactly zero under any rounding). In deeper layers some units do come
#   back (ReLU's network ends with fewer never-positive units than after the kill, every seed) —
#   not by their own gradient, but because the layers below changed what they receive. So
#   "a dead ReLU can never recover" is exactly true only for the first layer.
# - **Leaky ReLU recovers almost completely**: its slope of 0.01 for negative inputs is small, but
#   never zero, and Adam rescales small gradients into normal-sized steps.
# - **SiLU recovers**: at $x = -4$ its derivative is still about $-0.05$. Both it and Leaky ReLU
#   reach a median test accuracy above 80%, and each of their runs beats every ReLU and GELU run.
# - **GELU helps much less than its reputation**, although it is often listed next to Leaky ReLU
#   as a fix: its left tail fades like a Gaussian, so at $x = -4$ its derivative is about
#   $-5 \times 10^{-4}$, a hundred times smaller than SiLU's. Many of its units do turn positive
#   again for some inputs, yet its network ends with ReLU's, at a median test accuracy below
#   50%, and every one of its runs below every Leaky ReLU and SiLU run. (Which of ReLU and GELU
#   ends higher changes from seed to seed — see the line under the table — and from machine to
#   machine: that comparison is noise.)
#
# ## 6. Training on real data
#
# Finally, the experiment that started it all: the same MLP (4 hidden layers × 64, Xavier init,
# plain SGD at learning rate 0.1, 300 minibatches of 64), trained on digits. Here is the model
# and its training loop, for one seed; change the activation, the depth or the learning rate
# and run it again:

# %%
def train(activation, *, depth=4, lr=0.1, steps=300, seed=0):
    """Plain SGD on the digits; returns the trained model and the last minibatch's loss."""
    model = make_mlp(depth, 64, activation, "xavier", in_features=64, seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)  # draws the minibatches
    for _ in range(steps):
        index = torch.randint(0, len(data.x_train), (64,), generator=generator)
        loss = F.cross_entropy(model(data.x_train[index]), data.y_train[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, loss.item()


def accuracy_on_test(model):
    with torch.no_grad():
        return float((model(data.x_test).argmax(dim=1) == data.y_test).float().mean())


print(make_mlp(4, 64, "sigmoid", "xavier", in_features=64))

# %% tags=["nbval-ignore-output"]
for name in ("sigmoid", "relu"):
    model, loss = train(name)
    print(f"{name:>7}: last loss {loss:.3f}, test accuracy {format_percent(accuracy_on_test(model))}")

# %% [markdown]
# On the machine these outputs were stored on, the sigmoid network ends at a loss of about
# $\ln 10$ and the ReLU network learns. `gradlab` runs this same loop
# (`gradlab.training.loop.train_classifier`, which also records every gradient norm) for four
# activations and three seeds. Its *final loss* is the mean over the last 20 steps, which
# smooths the minibatch noise of the single last loss printed above:

# %%
training = activation_training.study_activation_training(data=data)
comparison = training.comparisons[0]

# %% tags=["nbval-ignore-output"]
print(training.table())
print()
print(training.layer_table())

# %%
_ = plots_activations.plot_training_comparison(comparison)

# %% [markdown]
# The exact numbers above are from the machine these outputs were stored on (the curves show
# seed 0; ReLU's curve lies almost exactly under Leaky ReLU's). What holds in every seed:

# %%
sigmoid_losses = training.final_losses("sigmoid")
print(
    f"sigmoid: final loss within 0.02 of ln 10 in every seed: "
    f"{bool((abs(sigmoid_losses - math.log(10)) < 0.02).all())}"
)
print(
    f"sigmoid: test accuracy below 15% in every seed: {training.test_accuracies('sigmoid').max() < 0.15}"
)
for name in ("tanh", "relu", "leaky_relu"):
    print(
        f"{name:>10}: test accuracy above 90% in every seed: "
        f"{training.test_accuracies(name).min() > 0.9}"
    )
sigmoid_layers = training.layer_grad_norms("sigmoid")
relu_layers = training.layer_grad_norms("relu")
first_ratio = relu_layers[:, 0] / sigmoid_layers[:, 0]
print(
    f"relu's first layer gets 30 to 100 times more gradient than sigmoid's, every seed: "
    f"{bool(((first_ratio > 30) & (first_ratio < 100)).all())}"
)
print(
    f"sigmoid's output layer gets more gradient than relu's, every seed: "
    f"{bool((sigmoid_layers[:, -1] > relu_layers[:, -1]).all())}"
)
shrinks = (sigmoid_layers[:, :-1] < sigmoid_layers[:, 1:]).all()
print(f"sigmoid: each layer gets less gradient than the one above it, every seed: {bool(shrinks)}")

# %% [markdown]
# The sigmoid network does not learn at all in 300 steps: its loss settles at $\ln 10 \approx 2.30$
# (a uniform guess over 10 classes) and its accuracy at chance, about 10%. The layer table shows
# where the gradient goes. The output layer is not starved: it receives *more* gradient than the
# ReLU network's. Going down, each sigmoid layer receives less than the one above it, and the
# first layer 30 to 100 times less than ReLU's first layer, in every seed; in the ReLU network
# every layer gets about the same. That is what was measured: the gradient fades on its way down
# through the sigmoid layers. These numbers do not say why the output layer's larger gradient
# fails to lower the loss, only that it does. Tanh, ReLU and Leaky ReLU all pass 90% test
# accuracy in every seed; their ranges overlap, so this run does not rank them.
#
# Sigmoid is not broken, it is *deep* sigmoid that fails. The same run with fewer hidden layers
# (the 4-layer row is the run above):

# %%
shallow = {
    depth: activation_training.study_activation_training(("sigmoid",), depth=depth, data=data)
    for depth in (1, 2)
}
for depth, study in shallow.items():
    accuracies = study.test_accuracies("sigmoid")
    print(
        f"sigmoid, {depth} hidden layer(s): test accuracy above 60% in every seed: "
        f"{accuracies.min() > 0.6}"
    )
print(
    f"sigmoid, 4 hidden layers: test accuracy below 15% in every seed: "
    f"{training.test_accuracies('sigmoid').max() < 0.15}"
)

# %% tags=["nbval-ignore-output"]
for depth, study in shallow.items():
    accuracies = study.test_accuracies("sigmoid")
    print(
        f"sigmoid, {depth} hidden layer(s): test accuracy {format_percent(accuracies.min())} "
        f"to {format_percent(accuracies.max())}"
    )

# %% [markdown]
# One or two sigmoid layers learn; at four layers, where the first layer's gradient has shrunk
# layer after layer (the layer table above), 300 steps are no longer enough to get started.

# %% [markdown]
# ## 7. Knowledge check

# %%
quiz.show(questions.KNOWLEDGE_CHECK, title="Chapter 2 knowledge check")

# %% [markdown]
# ## Summary
#
# - $\sigma' = \sigma(1-\sigma) \le 0.25$: a sigmoid's gate passes at most a quarter of the
#   gradient, so with unit-gain weights $L$ layers typically keep about $0.25^L$ or less — and
#   less once units saturate. A strict bound needs $\lVert W \rVert_2 \le 1$: random weights
#   stretch some directions by about 2.
# - Saturation zones, computed: sigmoid is flat ($\sigma' < 0.05$) beyond $|x| = 2.89$, tanh
#   ($\tanh' < 0.1$) beyond $|x| = 1.82$.
# - How much gradient survives depends on the activation *and* the init; measured at 10 layers,
#   ReLU keeps 2.8% with Xavier and about 100% with He, sigmoid keeps almost nothing with either.
# - GELU′ is negative for every $x < -0.75$ and SiLU′ for every $x < -1.28$ (lowest $-0.13$ and
#   $-0.10$); both fade to 0 from below.
# - ReLU units can die (never positive, zero gradient); first-layer dead ReLUs never come back.
#   After a large negative bias, Leaky ReLU and SiLU networks recover (median test accuracy above
#   80%); GELU's fast-fading tail leaves its network with ReLU's, below 50%.
# - On digits, the same 4-layer MLP learns with tanh, ReLU and Leaky ReLU (above 90% in every
#   seed) and stays at chance with sigmoid, whose lower layers get ever less gradient.
#
# **Next:** practise with [the Chapter 2 exercises](../exercises/02_activations_exercises.ipynb).
#
# ---
# ← Previous: [Chapter 1, the chain rule](01_chain_rule.ipynb) · Next:
# [Chapter 3, exploding gradients](03_exploding.ipynb) · Exercises:
# [02_activations_exercises](../exercises/02_activations_exercises.ipynb)
