# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
# Everything below runs in a few seconds on a laptop CPU. Every number the text quotes is
# computed in a cell next to it.

# %%
import torch

from gradlab import factor_measurement, plots, probe, quiz, theory, widgets
from gradlab.activations import activation_derivative, max_derivative
from gradlab.models import make_mlp

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
#   still store that (down to about $10^{-38}$), but added to weights of size ~0.1 an update this
#   small changes nothing: float32 keeps only about 7 significant digits.
# - On the exploding side, 1.5 per layer over 50 layers gives about $6.4 \times 10^{8}$.
#   (Some texts round this entry to "$\sim 10^8$"; the exact value is more than six times
#   larger, as the cell below checks.)

# %% [markdown]
# Drawn over every depth from 0 to 50, the rows fan out from 1: only the thick line at factor 1
# stays level — that flat line is the gradient highway.

# %%
_ = plots.plot_factor_curves(theory.factor_curves(max_depth=50))

# %%
print(f"0.9^50 = {table.value(0.9, 50):.4f}   0.5^50 = {table.value(0.5, 50):.1e}")
print(f"1.5^50 = {table.value(1.5, 50):.3e}, which is {table.value(1.5, 50) / 1e8:.1f} x 1e8")

# %% [markdown]
# ### Measured on real networks
#
# A table of powers is only arithmetic. Does a real network follow it? We can build networks
# whose layers multiply the gradient by a chosen factor: a ReLU layer with He initialisation
# passes the gradient through unchanged on average, so scaling its weights by $s$ makes the
# per-layer factor about $s$. For each row we build a 256-wide ReLU network of 10 and of 50
# layers, run one real forward and backward pass on a random batch, and divide the gradient
# that reaches the input by the gradient that reached the last layer.

# %%
measured = factor_measurement.measure_factor_table()
print(measured)

# %% [markdown]
# The ratio column compares measurement with $r^L$. Across twenty-odd orders of magnitude the
# two agree within a few tens of percent: the per-layer factor really is the whole story at
# initialisation. The small shortfall comes from randomness — each layer's factor is only
# $r$ *on average*, and fluctuations compound over depth.

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
# random matrix is $\operatorname{std}(W)\sqrt{\text{fan-in}}$. You control both: the activation
# through your choice of $f$, and the weights through initialisation.
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
# The sigmoid's derivative is at most:

# %%
print(f"max sigmoid'(x) = {max_derivative('sigmoid'):.4f}")
print(f"so with unit-gain weights, 10 sigmoid layers keep at most {theory.sigmoid_bound(10):.2e}")

# %% [markdown]
# That ceiling of 0.25 means a sigmoid layer with unit-gain weights shrinks the gradient at
# least fourfold; ten of them keep less than a millionth. Chapter 2 takes activations apart in
# detail.
#
# ### Measured, layer by layer
#
# `gradlab.probe` runs one real backward pass and reports, for every layer, the gradient that
# reached its output, the gradient of its weights, the measured factor (gradient below ÷
# gradient above), the prediction $\operatorname{rms} f'(z_l) \times \operatorname{gain}(W_l)$, and
# a status. Here is an 8-layer sigmoid network with Xavier initialisation:

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
# forward and backward pass through it; the plot shows the gradient reaching each layer (log
# scale, coloured by status) with the prediction as a dashed line, and the text below it gives the
# per-layer factor and the total change over the depth, measured beside predicted.
#
# **What to try**
# - Start at 8 sigmoid layers and watch the gradient fade towards the input.
# - Switch to `relu` with `he` init: the line goes flat.
# - With `relu`/`he`, push the weight scale above 1: the line tilts the other way.
# - Choose `normal` init (plain `randn` weights, no scaling by fan-in) and raise the depth: the
#   gradient overflows and the layers are marked *exploded*.

# %% tags=["nbval-ignore-output"]
demo = widgets.make_gradient_flow_demo(depth=8, activation="sigmoid", weight_scale=1.0)
widgets.show(demo)

# %% [markdown]
# The widget's starting setting, as text (so the course's tests can check it):

# %%
print(widgets.compute_gradient_flow(8, "sigmoid", 1.0, "xavier").summary())

# %% [markdown]
# ## 4. Quick check
#
# In a 15-layer network where every layer multiplies the gradient by 0.3, roughly what reaches
# the first layer (as a fraction of what left the loss)?

# %%
answer = theory.gradient_after_layers(0.3, 15)
quick_check = quiz.Question(
    prompt="15 layers, each multiplying the gradient by 0.3: what reaches the first layer?",
    choices=[
        f"about {0.3 * 15:.1f} — the factors add up",
        f"about {answer:.1e}",
        f"about {theory.gradient_after_layers(0.3, 5):.1e} — only the last few layers count",
        "exactly 0",
    ],
    answer=1,
    explanations=[
        "The chain rule multiplies the layers' factors; it does not add them.",
        f"0.3 to the 15th power is {answer:.2e}: the gradient is effectively gone.",
        "Every one of the 15 layers multiplies in, not just the last five.",
        "It is tiny but not exactly zero; in float32 it would even still be representable.",
    ],
)
widgets.show(quiz.make_quiz([quick_check]))
print(f"0.3^15 = {answer:.2e}")

# %% [markdown]
# ## Summary
#
# - The gradient reaching layer $l$ is a product of one Jacobian per layer above it, so its size
#   behaves like (per-layer factor)$^{\text{depth}}$.
# - One layer's factor is about (size of $f'$) × (gain of $W$): the activation and the
#   initialisation set it.
# - Factors below 1 make early layers learn nothing (vanishing); above 1 they make training blow
#   up (exploding). Healthy deep networks keep the factor near 1.
#
# **Next:** practise with [the Chapter 1 exercises](../exercises/01_chain_rule.ipynb), then go on.
#
# ---
# ← Previous: [Start here](00_start_here.ipynb) · Next:
# [Chapter 2, activations and sigmoid saturation](02_activations.ipynb) · Exercises:
# [01_chain_rule](../exercises/01_chain_rule.ipynb)
