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
# # Chapter 2 — Activations and sigmoid saturation
#
# Chapter 1 showed that one layer multiplies the gradient by about *(size of f′) × (gain of W)*.
# This chapter is about the first half of that product: the activation function. Its derivative
# is a gate every gradient passes through, once per layer, and different activations build very
# different gates.
#
# **You will be able to**
# - derive why sigmoid networks lose gradient at every layer, and bound how much;
# - say where sigmoid and tanh saturate, and what a saturated unit does to learning;
# - compare how much gradient survives a deep stack for seven activations, measured;
# - find dead ReLU units in a real network, kill them on purpose, and see which activations
#   let them come back;
# - read a training comparison on real data and explain it with the numbers above.
#
# Every number the text quotes is computed in a cell next to it. The whole notebook runs in
# well under a minute on a laptop CPU.

# %%
import torch

from gradlab import activation_depth, activation_explorer, activation_training, dead_units
from gradlab import plots_activations, quiz, theory, widgets, widgets_activations
from gradlab.activations import activation_derivative, max_derivative, saturation_zone
from gradlab.data import load_digits_split

# The networks here are tiny: one CPU thread runs them fastest, and threads fighting over two
# cores make them many times slower.
torch.set_num_threads(1)

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
by_gradlab = activation_derivative("sigmoid", x.detach())
print("and matches gradlab:", torch.allclose(by_formula, by_gradlab))
print(f"largest σ'(x) = {by_formula.max():.4f}, at x = {x[by_formula.argmax()]:.2f}")

# %% [markdown]
# The product $s(1-s)$ of two numbers that add up to 1 is largest when both are $\tfrac12$, so
# $\sigma'$ peaks at $x = 0$ with value $0.25$ and is smaller everywhere else. A sigmoid layer can
# therefore pass on at most a quarter of the gradient (times whatever its weights add). Stack $L$
# of them with unit-gain weights and at most $0.25^L$ survives:

# %%
for depth in (5, 10, 20):
    print(f"0.25^{depth:<2} = {theory.sigmoid_bound(depth):.2e}")

# %% [markdown]
# So the common rules of thumb hold: ten sigmoid layers keep at most about a millionth
# ($0.25^{10} = 9.5 \times 10^{-7}$), twenty about a trillionth ($9.1 \times 10^{-13}$). This is
# a *best case*: it assumes every unit sits exactly at $x = 0$. Away from zero the gate closes
# further.
#
# ## 2. Saturation zones
#
# A unit is **saturated** when its input is so far from zero that the curve is flat there: the
# output barely changes, and the derivative — the fraction of gradient it lets through — is
# nearly 0. You often read "sigmoid saturates for $|x| > 3$, where $\sigma' < 0.05$" and "tanh
# for $|x| > 2$, where $\tanh' < 0.1$". `gradlab.activations.saturation_zone` finds the exact
# edges by scanning the derivative:

# %%
sigmoid_zone = saturation_zone("sigmoid", 0.05)
tanh_zone = saturation_zone("tanh", 0.1)
print(f"sigmoid: σ' < 0.05 for {sigmoid_zone.describe()}")
print(f"tanh:    tanh' < 0.1 for {tanh_zone.describe()}")
print(f"at the rule-of-thumb edges: σ'(3) = {activation_derivative('sigmoid', 3.0):.4f}, ", end="")
print(f"tanh'(2) = {activation_derivative('tanh', 2.0):.4f}")

# %% [markdown]
# Both rules of thumb are *true* — beyond 3 (or 2) the derivative is indeed below the threshold —
# but they are conservative: sigmoid is already that flat beyond 2.89, and tanh beyond 1.82. Tanh
# starts with a derivative four times larger than sigmoid's (1 instead of 0.25) but also
# flattens sooner.
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
# - **gelu, silu** are smooth versions of relu. Their derivative overshoots 1 a little, dips
#   below 0 for slightly negative inputs (the small middle interval above), and fades on the left.
#
# ## 3. Interactive: activation explorer
#
# Pick an activation and move $x$. The plot shows $f$ (solid) and $f'$ (dashed) with the point
# marked on both and the flat zone shaded; the text gives the values at $x$ and a one-line note on
# that activation's gradient issue.
#
# **What to try**
# - sigmoid at $x = 0$, then at $x = 4$: the derivative falls from 0.25 to under 0.02.
# - tanh at $x = 2$: already inside the zone.
# - relu at $x = -0.1$ and $x = 0.1$: all or nothing.
# - gelu and silu at $x = -4$: compare how much gradient each still lets through.

# %% tags=["nbval-ignore-output"]
explorer = widgets_activations.make_activation_explorer_demo(activation="sigmoid", x=0.0)
widgets.show(explorer)

# %% [markdown]
# The starting setting as text, and the comparison the last bullet asks for:

# %%
print(activation_explorer.compute_activation_explorer("sigmoid", 0.0).summary())
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
# geometrically), the same random batch. One real backward pass each; we report the gradient
# reaching the input divided by the gradient leaving the last layer.

# %%
xavier_10 = activation_depth.compute_gradient_after_depth(10, "xavier")
print(xavier_10.table())
print(f"\n(√½)^10 = 0.5^5 = {0.5**5:.2%}   0.23^10 = {0.23**10:.1e} = {100 * 0.23**10:.1e}%")

# %%
_ = plots_activations.plot_gradient_after_depth(xavier_10)

# %% [markdown]
# What the measurement says about the hand-drawn bars:
#
# - **sigmoid**: below 0.01%, yes — in fact about $4.6 \times 10^{-5}$ %, close to $0.23^{10}$ (Chapter 1
#   measured a factor near 0.23 per sigmoid layer).
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
# sigmoid still loses almost everything: its 0.25 ceiling cannot be fixed by a factor of $\sqrt2$.
# The activation and the initialisation set the per-layer factor *together*.
#
# ### Interactive: depth and init
#
# Every move builds 21 fresh networks (7 activations × 3 seeds) and runs a real backward pass
# through each. Try depth 50 with `he`, then `normal` init (plain `randn` weights): ReLU-family
# gradients overflow and are labelled *exploded*, while sigmoid's saturation tames the blow-up.

# %% tags=["nbval-ignore-output"]
depth_demo = widgets_activations.make_gradient_after_depth_demo(depth=10, init="xavier")
widgets.show(depth_demo)

# %% [markdown]
# ## 5. Dead ReLUs
#
# ReLU's gate is all or nothing. A unit whose pre-activation $z$ is $\le 0$ for **every** input
# outputs 0 and has derivative 0 for every input, so its weights receive exactly zero gradient:
# gradient descent cannot move it. We call such a unit **dead**, and `gradlab.dead_units`
# counts them: the fraction of units with no positive pre-activation over a whole batch (here
# all 1,347 training digits).
#
# We use a 3-hidden-layer MLP (width 64, He init) on scikit-learn's 8×8 digits. At
# initialisation hardly any unit is dead. Shift every bias down and units die — a large negative
# bias is the simplest way to kill them:

# %%
data = load_digits_split(seed=0)
for shift, report in dead_units.measure_dead_fraction_vs_bias(data=data).items():
    print(f"bias shift {shift:+.0f}: {report.describe()}")

# %% [markdown]
# Deeper layers die first: each layer's inputs are the (now smaller) outputs of the layer below.
#
# ### A too-high learning rate kills units during training
#
# Nobody sets biases to −4 by hand, but a few oversized updates do the same thing. Below, each
# network takes 10 Adam steps at learning rate 0.1 (ten to a hundred times too high), then
# 300 sensible steps (Adam, learning rate 0.01). We count dead units at the start, after the
# 10 bad steps, and at the end; all four activations see the same data, seed and schedule.

# %%
high_lr = dead_units.compare_dead_unit_recovery(kill_lr=0.1, data=data)
print(dead_units.format_dead_unit_table(high_lr))

# %% [markdown]
# Ten bad steps kill over 40% of the ReLU units, and 300 good steps bring none of them back.
# (You will read that "30–50% of ReLUs die" in practice; that is one experience, not a law —
# here it is 43% for this network and schedule.) The other activations lose fewer units, and
# Leaky ReLU and SiLU revive a good share. This network is wide enough to reach high accuracy
# with its survivors; the next experiment is harsher.
#
# ### Recovery from a large negative bias
#
# Now every network starts with all biases shifted by −4, so all four start with *the same*
# 55% of dead units, and then trains for 300 sensible steps:

# %%
bias_kill = dead_units.compare_dead_unit_recovery(bias_shift=-4.0, data=data)
print(dead_units.format_dead_unit_table(bias_kill))
_ = plots_activations.plot_dead_units(bias_kill)

# %% [markdown]
# Layer by layer:

# %%
print(dead_units.format_dead_unit_layers(bias_kill))

# %% [markdown]
# What the measurement shows:
#
# - **ReLU, first layer: once dead, dead for good.** Its inputs are the fixed pixels, its dead
#   units get exactly zero gradient, so the 17% stays 17%. In deeper layers some units do come
#   back — not by their own gradient, but because the layers below changed what they receive. So
#   "a dead ReLU can never recover" is exactly true only for the first layer.
# - **Leaky ReLU recovers completely** (0% dead at the end): its slope of 0.01 for negative inputs
#   is small, but never zero, and Adam rescales small gradients into normal-sized steps.
# - **SiLU recovers most units**: at $x = -4$ its derivative is still about $-0.05$.
# - **GELU helps much less than its reputation**, although it is often listed next to Leaky ReLU
#   as a fix: its left tail fades like a Gaussian, so at $x = -4$ its derivative is about
#   $-5 \times 10^{-4}$, a hundred times smaller than SiLU's. Some units come back, but the
#   network ends no better than the ReLU one (27% against 28% test accuracy; Leaky ReLU and
#   SiLU reach over 90%).
#
# ## 6. Training on real data
#
# Finally, the experiment that started it all: the same MLP (4 hidden layers × 64, Xavier init,
# plain SGD at learning rate 0.1, 300 minibatches of 64, the same seed), trained on digits with
# four activations.

# %%
comparison = activation_training.compare_activation_training(data=data)
print(comparison.table())

# %%
_ = plots_activations.plot_training_comparison(comparison)

# %% [markdown]
# The sigmoid network does not learn at all in 300 steps: its loss stays at $\ln 10 \approx 2.30$
# (a uniform guess over 10 classes) and its accuracy at chance, about 10%. The last column says
# why: its first layer receives a gradient about fifty times smaller than the others'. Tanh,
# ReLU and Leaky ReLU all pass 95% test accuracy; on a network this shallow and this short a run
# the differences between them are within noise.
#
# Sigmoid is not broken, it is *deep* sigmoid that fails. The same run with fewer hidden layers:

# %%
for depth in (1, 2, 4):
    shallow = activation_training.compare_activation_training(("sigmoid",), depth=depth, data=data)
    accuracy = shallow.records["sigmoid"].test_accuracy
    print(f"sigmoid, {depth} hidden layer(s): test accuracy {accuracy:.1%}")

# %% [markdown]
# Each extra sigmoid layer costs at least a factor of 4 in the gradient reaching the first
# layer; at four layers, 300 steps are no longer enough to get started.

# %% [markdown]
# ## 7. Knowledge check

# %%
sigmoid_max = max_derivative("sigmoid")
knowledge_check = [
    quiz.Question(
        prompt="What is the largest value of the sigmoid's derivative, and where is it reached?",
        choices=["1, at x = 0", f"{sigmoid_max:.2f}, at x = 0", "0.5, at x = 0", "0.25, as x → ∞"],
        answer=1,
        explanations=[
            "That is tanh's maximum. The sigmoid's is a quarter of it.",
            "σ'(x) = σ(1−σ) is largest when σ = ½, i.e. at x = 0, where it is ¼.",
            "σ(0) = 0.5 is the value of the function, not of its derivative.",
            "As x → ∞ the derivative goes to 0: that is saturation.",
        ],
    ),
    quiz.Question(
        prompt="With unit-gain weights, at most what fraction of the gradient survives 20 "
        "sigmoid layers?",
        choices=[
            f"about {0.25 * 20:.0f} — the factors add",
            f"about {theory.sigmoid_bound(20):.0e}",
            f"about {theory.sigmoid_bound(2):.2f}",
            "all of it, if the learning rate is large enough",
        ],
        answer=1,
        explanations=[
            "The chain rule multiplies the per-layer factors.",
            f"0.25^20 = {theory.sigmoid_bound(20):.1e}: about a trillionth.",
            "That is two layers, not twenty.",
            "The learning rate scales the update, not the gradient's path through the layers.",
        ],
    ),
    quiz.Question(
        prompt="Beyond which |x| is tanh' below 0.1?",
        choices=[
            "|x| > 3",
            f"|x| > {tanh_zone.intervals[-1][0]:.2f}",
            "never: tanh's derivative is at least 0.1",
            "|x| > 0.25",
        ],
        answer=1,
        explanations=[
            "True but loose: tanh is flat well before 3.",
            "The edge computed above; the rule of thumb '|x| > 2' is a safe rounding up.",
            "tanh' = 1 − tanh² goes to 0 for large |x|.",
            "Near 0, tanh' is close to 1.",
        ],
    ),
    quiz.Question(
        prompt=f"Ten ReLU layers with Xavier init keep about {xavier_10.remaining_of('relu'):.1%} "
        f"of the gradient, but with He init about {he_10.remaining_of('relu'):.0%}. Why?",
        choices=[
            "He init makes ReLU units die less",
            "He init makes the weights √2 times larger, which cancels ReLU's rms slope of √½",
            "He init uses a different activation",
            "It is random: another seed would reverse it",
        ],
        answer=1,
        explanations=[
            "At initialisation almost no unit is dead under either init.",
            "The per-layer factor is rms f' × gain(W) = 0.71 × 1.41 ≈ 1: a highway.",
            "The activation is the same; only the weight scale differs.",
            "Each of the three seeds gives nearly the same value: it is the init, not luck.",
        ],
    ),
    quiz.Question(
        prompt="A ReLU unit in the first layer has z ≤ 0 for every training example. What happens "
        "to its weights during training?",
        choices=[
            "They grow until the unit comes back",
            "Nothing: their gradient is exactly zero",
            "They shrink to zero (weight decay aside)",
            "They become negative",
        ],
        answer=1,
        explanations=[
            "Growing would need a gradient, and the unit passes none.",
            "ReLU' = 0 for every input, so ∂L/∂W for that unit is 0. Measured above: "
            f"{bias_kill[0].after_kill.dead_fractions[0]:.0%} of the first layer was dead after the "
            f"kill and {bias_kill[0].after_recovery.dead_fractions[0]:.0%} still was at the end.",
            "Without a gradient (and without weight decay) nothing changes them.",
            "They do not move at all.",
        ],
    ),
    quiz.Question(
        prompt="Which activation revived the most dead units after the bias shift of −4?",
        choices=["relu", "gelu", "leaky_relu", "all the same"],
        answer=2,
        explanations=[
            "ReLU's first-layer dead units cannot move at all.",
            "GELU's derivative at −4 is about −5e-4: too small to pull units back.",
            f"Leaky ReLU went from {bias_kill[1].after_kill.dead_fraction:.0%} to "
            f"{bias_kill[1].after_recovery.dead_fraction:.0%} dead: its 0.01 slope is never zero.",
            "They differ a lot: see the table in section 5.",
        ],
    ),
    quiz.Question(
        prompt="A 4-layer sigmoid MLP's loss stays at 2.30 on 10-class digits. What does that mean?",
        choices=[
            "It has memorised the training set",
            "It predicts a uniform distribution: ln 10 ≈ 2.30, nothing learned",
            "The learning rate is too high",
            "The data are not normalised",
        ],
        answer=1,
        explanations=[
            "Memorising would drive the training loss towards 0.",
            "Cross-entropy of a uniform guess over 10 classes is ln 10; the tiny first-layer "
            "gradient explains why it does not move.",
            f"The same learning rate trains ReLU to {comparison.records['relu'].test_accuracy:.0%}.",
            "gradlab.data standardises the pixels; the other activations learn from the same data.",
        ],
    ),
]
widgets.show(quiz.make_quiz(knowledge_check, title="Chapter 2 knowledge check"))

# %% [markdown]
# ## Summary
#
# - $\sigma' = \sigma(1-\sigma) \le 0.25$: every sigmoid layer passes at most a quarter of the
#   gradient, so $L$ layers keep at most $0.25^L$ — and less once units saturate.
# - Saturation zones, computed: sigmoid is flat ($\sigma' < 0.05$) beyond $|x| = 2.89$, tanh
#   ($\tanh' < 0.1$) beyond $|x| = 1.82$.
# - How much gradient survives depends on the activation *and* the init; measured at 10 layers,
#   ReLU keeps 2.8% with Xavier and about 100% with He, sigmoid keeps almost nothing with either.
# - ReLU units can die (no positive input, zero gradient). Leaky ReLU lets them recover; SiLU
#   mostly; GELU's fast-fading tail barely helps once units are pushed far negative.
# - On digits, the same 4-layer MLP learns with tanh, ReLU and Leaky ReLU and stays at chance
#   with sigmoid.
#
# **Next:** practise with [the Chapter 2 exercises](../exercises/02_activations.ipynb).
#
# ---
# ← Previous: [Chapter 1, the chain rule](01_chain_rule.ipynb) · Next:
# [Chapter 3, exploding gradients](03_exploding.ipynb) · Exercises:
# [02_activations](../exercises/02_activations.ipynb)
