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
# # Chapter 1 — The chain rule and the per-layer factor
#
# Training a network means sending a signal backwards: the loss tells the last layer how to
# change, and that message has to travel through every layer below it before the first layer
# hears anything. This chapter is about what happens to the message on the way.
#
# **You will be able to**
# - write the gradient at the first layer of a deep network as a product of one factor per layer;
# - predict from that product whether gradients will vanish or explode, and by how much;
# - name the three parts of one layer's backward step and say which of them you control;
# - measure all of this on real PyTorch networks with `gradlab`, and check the prediction.
#
# Everything below runs in well under a minute on a laptop CPU. Every number the text quotes is
# computed in a cell next to it.

# %%
import math

import torch

from gradlab import theory
from gradlab.chapters.ch01_chain_rule import factor_measurement, questions
from gradlab.chapters.ch01_chain_rule.widgets import make_gradient_flow_demo
from gradlab.measure import probe, spectral
from gradlab.models.activations import activation_derivative, max_derivative
from gradlab.models.mlp import make_mlp
from gradlab.plotting import gradient_flow as plots
from gradlab.ui import quiz
from gradlab.ui import wiring as widgets

# %% [markdown]
# ## 1. A deep network is a long product
#
# Take a network of $L$ layers, each computing $h_l = f(z_l)$ with $z_l = W_l h_{l-1} + b_l$.
# The loss $\mathcal{L}$ depends on the first layer only *through* all the later ones, so the chain
# rule strings their local derivatives together:
#
# $$
# \frac{\partial \mathcal{L}}{\partial h_0}
#   = \frac{\partial \mathcal{L}}{\partial h_L}
#     \cdot \frac{\partial h_L}{\partial h_{L-1}}
#     \cdots \frac{\partial h_1}{\partial h_0} .
# $$
#
# Each factor $\partial h_l / \partial h_{l-1}$ is one layer's Jacobian. If, on average, a layer
# multiplies the size of the gradient by some number $r$ — the **per-layer factor** — then after
# $L$ layers what reaches the input is about $r^L$ times what left the loss. A power of $L$ is
# unforgiving: a little below 1 and the signal dies out, a little above 1 and it blows up.
#
# Picture the gradient as traffic on a road from the loss back to the input. Every layer is a
# junction that lets through a fraction $r$ of the cars (or, when $r > 1$, somehow multiplies
# them). A healthy network is a *gradient highway*: each junction passes traffic through
# unchanged, $r \approx 1$, however long the road.

# %% [markdown]
# ### The factor table
#
# `gradlab.theory` computes $r^L$ for a few factors and depths:

# %%
table = theory.layer_factor_table()
print(table)

# %% [markdown]
# Three things to read off it:
#
# - A factor of 0.9 looks harmless, yet after 50 layers only about half a percent of the
#   gradient is left.
# - Halving per layer wipes out the signal: after 50 layers it is around $10^{-15}$. Float32 can
#   still store that (its normal numbers reach down to about $10^{-38}$; below that it keeps fewer
#   and fewer digits down to $1.4 \times 10^{-45}$, and anything below half of that becomes exactly
#   0). But added to weights of size ~0.1 an update this small changes nothing: float32 keeps only
#   about 7 significant digits. The cell after the plot checks these numbers.
# - On the exploding side, 1.5 per layer over 50 layers gives about $6.4 \times 10^{8}$.
#   (Some texts round this entry to "$\sim 10^8$"; the exact value is more than six times
#   larger.) Large, but nowhere near float32's largest number, about $3.4 \times 10^{38}$: a
#   gradient explodes long before it overflows.

# %% [markdown]
# Drawn over every depth from 0 to 50, the rows fan out from 1: only the thick line at factor 1
# stays level — that flat line is the gradient highway.

# %%
_ = plots.plot_factor_curves(theory.factor_curves(max_depth=50))

# %%
float32 = theory.float_limits(torch.float32)
print(f"0.9^50 = {table.value(0.9, 50):.4f}   0.5^50 = {table.value(0.5, 50):.1e}")
print(f"1.5^50 = {table.value(1.5, 50):.3e}, which is {table.value(1.5, 50) / 1e8:.1f} x 1e8")
print(f"float32's largest number:    {float32.largest:.1e}")
print(f"its smallest normal number:  {float32.smallest_normal:.1e}")
print(f"its smallest number of all:  {float32.smallest_subnormal:.1e} (below half of it: 0)")
print(f"its significant digits:      {float32.significant_digits:.1f}")
weight = torch.tensor(0.1)  # a float32 weight
print("0.1 + 0.5^50 == 0.1 in float32:", bool(weight + table.value(0.5, 50) == weight))

# %% [markdown]
# ### Measured on real networks
#
# A table of powers is only arithmetic. Does a real network follow it? We can build networks
# whose layers multiply the gradient by a chosen factor: a ReLU layer with He initialisation
# (weights of standard deviation $\sqrt{2/\text{fan-in}}$) passes the gradient through unchanged
# on average, so scaling its weights by $s$ makes the per-layer factor about $s$. Here is one
# such network in plain PyTorch, one forward and one backward pass: we send a random gradient
# back from the top and divide the gradient that reaches the input by it. Change `factor` and
# `depth` and run the cell again.

# %%
factor, depth, width = 0.5, 10, 256
generator = torch.Generator().manual_seed(0)
layers = []
for _ in range(depth):
    linear = torch.nn.Linear(width, width)
    with torch.no_grad():
        linear.weight.normal_(0.0, factor * math.sqrt(2 / width), generator=generator)
        linear.bias.zero_()
    layers += [linear, torch.nn.ReLU()]
model = torch.nn.Sequential(*layers)

x = torch.randn(128, width, generator=generator, requires_grad=True)
top = model(x)
upstream = torch.randn(top.shape, generator=generator)  # the gradient arriving from above
top.backward(upstream)
kept = float(x.grad.norm() / upstream.norm())
print(f"reaches the input: {kept:.1e}   theory {factor}^{depth} = {factor**depth:.1e}")

# %% [markdown]
# `gradlab.chapters.ch01_chain_rule.factor_measurement` does the same for every row of the
# table, at 10 and at 50 layers, with gradlab's MLP (there the gradient from the top comes from
# a real cross-entropy loss):

# %% tags=["nbval-ignore-output"]
measured = factor_measurement.measure_factor_table()
print(measured)

# %% [markdown]
# The ratio column compares measurement with $r^L$. (The last digits of the 50-layer columns
# come out slightly different from one CPU to another: fifty layers of float rounding add up.)
# Over all rows:

# %%
lowest, highest = measured.ratio_range()
print(f"measured / theory: between {lowest:.1f} and {highest:.1f} in every row")

# %% [markdown]
# Across twenty-odd orders of magnitude the two agree within a few tens of percent: the per-layer
# factor really is the whole story at initialisation. The small shortfall comes from randomness —
# each layer's factor is only $r$ *on average*, and fluctuations compound over depth.

# %% [markdown]
# ## 2. Inside one layer: what the factor is made of
#
# For one layer, the backward step takes the gradient arriving at its output, $g_l =
# \partial\mathcal{L}/\partial h_l$, and produces the gradient at its input:
#
# $$
# \frac{\partial \mathcal{L}}{\partial h_{l-1}} = W_l^{\top}\big(f'(z_l) \odot g_l\big).
# $$
#
# | part | symbol | what it does |
# |---|---|---|
# | upstream gradient | $g_l = \partial\mathcal{L}/\partial h_l$ | the message from the layers above |
# | activation derivative | $f'(z_l)$ | scales each unit's share; near 0 where $f$ is flat |
# | weight transpose | $W_l^{\top}$ | mixes the units' shares back into the layer below |
#
# So the per-layer factor is roughly *(typical size of $f'$) × (gain of $W$)*, where the gain of a
# random matrix is $\operatorname{std}(W)\sqrt{\text{fan-in}}$: how much $W^{\top}$ stretches a
# *typical* vector. You control both: the activation through your choice of $f$, and the weights
# through initialisation.
#
# Writing the backward step by hand is the lesson here, so we do it once and check it against
# PyTorch's autograd:

# %%
layer = make_mlp(depth=1, width=8, activation="sigmoid", init="xavier", seed=1).layers[0]
generator = torch.Generator().manual_seed(0)
h_below = torch.randn(4, 8, generator=generator).requires_grad_(True)
upstream = torch.randn(4, 8, generator=generator)  # pretend this arrived from the layers above

z = layer.linear(h_below)
by_hand = (activation_derivative("sigmoid", z.detach()).float() * upstream) @ layer.linear.weight
(by_autograd,) = torch.autograd.grad(layer(h_below), h_below, grad_outputs=upstream)
print("hand-written backward matches autograd:", torch.allclose(by_hand, by_autograd, atol=1e-6))

# %% [markdown]
# ### The sigmoid's ceiling, typical and worst case
#
# The sigmoid's derivative is at most 0.25 (at $x = 0$). How far does that cap a layer's factor?
# It depends on which size of $W$ you mean. The gain is the *typical* stretch; some directions are
# stretched more, and the most any vector can be stretched is the largest singular value
# $\sigma_{\max}(W) = \lVert W \rVert_2$. For a random square matrix that is about twice the gain
# (random-matrix theory; Chapter 3 measures it at several scales). Here are both for the first
# weight matrix of an 8-layer sigmoid network with Xavier initialisation (64 units, "unit gain";
# the network measured layer by layer below):

# %%
sigmoid_net = make_mlp(depth=8, width=64, activation="sigmoid", init="xavier", seed=0)
first_weight = sigmoid_net.layers[0].linear.weight.detach()
gain = float(first_weight.std() * first_weight.shape[1] ** 0.5)
largest = spectral.largest_singular_value(first_weight)
print(f"max sigmoid'(x) = {max_derivative('sigmoid'):.4f}")
print(f"gain(W) = {gain:.2f}, sigma_max(W) = {largest:.2f}")
print(f"typical case, 10 layers: at most 0.25^10 = {theory.sigmoid_bound(10):.1e}")
strict = theory.sigmoid_bound(10, largest_stretch=largest)
print(f"strict bound, 10 layers: (0.25 x {largest:.2f})^10 = {strict:.1e}")

# %% [markdown]
# Two different statements, and both matter:
#
# - **Typical case.** A random gradient is stretched by about the gain, and each unit's share is
#   scaled by at most 0.25, so with unit-gain weights a sigmoid layer typically keeps at most about
#   a quarter of the gradient; ten of them, about $0.25^{10} \approx 10^{-6}$ or less. The
#   8-layer network measured below keeps about 0.23 per layer.
# - **Strict bound.** $\lVert W^{\top}(f' \odot g)\rVert \le \sigma_{\max}(W) \cdot 0.25 \cdot
#   \lVert g \rVert$ always holds, so $0.25^{L}$ is a guaranteed ceiling only when every
#   $\lVert W \rVert_2 \le 1$. With these unit-gain weights ($\sigma_{\max} \approx 1.9$) all it
#   guarantees is about 0.47 per layer, $(0.25\,\sigma_{\max})^{10} \approx 5 \times 10^{-4}$ over
#   ten layers: over five hundred times more than the typical case.
#
# Chapter 2 takes activations apart in detail, and Chapter 3 returns to the typical stretch and
# $\sigma_{\max}$.
#
# ### Measured, layer by layer
#
# `gradlab.measure.probe` runs one real backward pass and reports, for every layer, the gradient that
# reached its output, the gradient of its weights, the measured factor (gradient below ÷
# gradient above), the prediction $\operatorname{rms} f'(z_l) \times \operatorname{gain}(W_l)$, and
# a status. The status compares the layer's gradient with the last layer's: *healthy* from 0.1 to
# 10 times it, *small* down to $10^{-3}$, *very small* down to $10^{-6}$, *vanished* below that or
# exactly 0; *large* from 10 times, *exploded* from $10^{4}$ times — a label for "far too large",
# not a float32 overflow — or when it is inf/nan. Here is the 8-layer sigmoid network from above:

# %%
sigmoid_probe = probe.measure_gradient_flow(8, "sigmoid", 1.0, "xavier")
print(sigmoid_probe.table())

# %% [markdown]
# Every factor sits near 0.23, and the prediction tracks the measurement layer by layer. Swap in
# ReLU with He initialisation and the factors sit near 1 — the highway:

# %%
relu_probe = probe.measure_gradient_flow(8, "relu", 1.0, "he")
print(relu_probe.table())

# %% [markdown]
# ## 3. Interactive: deep network gradient flow
#
# Drag the sliders. Every move builds a fresh network with those settings and runs one real
# forward and backward pass through it. The plot shows the gradient reaching each layer's output
# (log scale, coloured by status) with the prediction as a dashed line. Its axis always spans at
# least three powers of ten either side of the last layer's gradient, so a level line means a
# healthy network. A gradient that underflowed to exactly 0 cannot sit on a log axis: it is marked
# ▼ on the bottom edge, *vanished (0)*; one that overflowed to inf or nan is marked × on the top
# edge, *exploded (inf/nan)*.
#
# The text below the plot gives one number for the whole stack — the gradient reaching the
# network's input divided by the one leaving the last layer, measured and predicted — then the
# per-layer factor (the geometric mean of the layers' factors) and what the prediction is made of.
#
# **What to try**
# - Start at 8 sigmoid layers and watch the gradient fade towards the input.
# - Switch to `relu` with `he` init: the line is level, a gradient highway.
# - With `relu`/`he`, push the weight scale above 1: the line tilts the other way.
# - Choose `tanh`, `xavier` and weight scale 0.1, and raise the depth to 50: the first layers'
#   gradients drop to exactly 0 (▼).
# - Choose `relu` with `normal` init (plain `randn` weights, no scaling by fan-in) and raise the
#   depth step by step: where is the first layer's gradient first labelled *exploded*, and where
#   does it become nan (×)?

# %% tags=["nbval-ignore-output"]
demo = make_gradient_flow_demo(depth=8, activation="sigmoid", weight_scale=1.0)
widgets.show(demo)

# %% [markdown]
# What the last two settings show. With `tanh` and weight scale 0.1 each layer keeps about a
# tenth, so fifty layers would keep about $10^{-50}$, far below half of float32's smallest number:

# %%
tiny = probe.measure_gradient_flow(50, "tanh", 0.1, "xavier")
zeros = sum(norm == 0 for norm in tiny.activation_grad_norms)
print(f"per layer ×{tiny.typical_factor:.2f}; the first {zeros} layers' gradients are exactly 0")

# %% [markdown]
# With `normal` init each layer multiplies the gradient by more than 5. The label *exploded*
# means "far too large", not an overflow: for many depths the gradients stay finite numbers,
# until the network's output itself overflows float32 (it holds inf and nan) and every gradient
# becomes nan (counted per depth):

# %%
print(f"per layer ×{probe.measure_gradient_flow(8, 'relu', 1.0, 'normal').typical_factor:.1f}")
for depth in (6, 7, 49, 50):
    normal_probe = probe.measure_gradient_flow(depth, "relu", 1.0, "normal")
    nan = sum(math.isnan(norm) for norm in normal_probe.activation_grad_norms)
    print(f"depth {depth}: first layer {normal_probe.statuses[0]}, nan gradients: {nan} of {depth}")

# %% [markdown]
# ## 4. Quick check
#
# In a 15-layer network where every layer multiplies the gradient by 0.3, roughly what is left of
# it once it has passed back through all 15 layers (as a fraction of what left the loss)?

# %%
quiz.show(questions.QUICK_CHECK)

# %% [markdown]
# ## Summary
#
# - The gradient reaching layer $l$ is a product of one Jacobian per layer above it, so its size
#   behaves like (per-layer factor)$^{\text{depth}}$.
# - One layer's factor is about (rms of $f'$) × (gain of $W$): the activation and the
#   initialisation set it. That is the *typical* case; the strict bound uses the largest stretch
#   $\sigma_{\max}(W)$ instead of the gain, about twice as large for random weights. So
#   $0.25^{L}$ is what unit-gain sigmoid layers typically keep at most, and a guaranteed ceiling
#   only when every $\lVert W\rVert_2 \le 1$.
# - Factors below 1 make early layers learn little or nothing (vanishing), down to an exact 0 once
#   the gradient drops below half of float32's smallest number; above 1 they make the early
#   layers' steps far too large (exploding) long before float32 overflows. Healthy deep networks
#   keep the factor near 1.
# - Which fixes keep it near 1? Here you tried two: the activation (ReLU instead of sigmoid) and
#   the initialisation (He for ReLU). Chapter 2 compares activations and initialisations in
#   depth, [Chapter 4](04_init_norm.ipynb) derives the initialisation, and Chapters
#   [5](05_residual.ipynb) and [6](06_clipping.ipynb) add residual connections and gradient
#   clipping.
#
# **Next:** practise with [the Chapter 1 exercises](../exercises/01_chain_rule_exercises.ipynb), then go on.
#
# ---
# ← Previous: [Start here](00_start_here.ipynb) · Next:
# [Chapter 2, activations and sigmoid saturation](02_activations.ipynb) · Exercises:
# [01_chain_rule_exercises](../exercises/01_chain_rule_exercises.ipynb)
