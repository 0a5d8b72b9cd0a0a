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
# # Chapter 3 — Exploding gradients and gradients through time
#
# Chapter 1 showed that the gradient reaching a layer is a product of one factor per layer above
# it. This chapter is about the factors that are *bigger* than 1: where they come from in a
# weight matrix, what a training run looks like when they take over, and why recurrent networks,
# which reuse one matrix at every time step, are especially exposed.
#
# **You will be able to**
# - name three sizes of a weight matrix (largest singular value, spectral radius, typical
#   stretch) and say which one bounds a gradient and which one governs a repeated product;
# - predict the growth of a gradient through $L$ layers as $(\sigma_{\max} \times \text{slope})^L$
#   and check it against a real backward pass;
# - recognise the four symptoms of exploding gradients in a training log, and find the step and
#   the layer where the first non-finite gradient appeared;
# - measure $\partial \mathcal{L}/\partial h_t$ for every step of a real `nn.RNN` and tell the
#   vanishing regime from the exploding one.
#
# Every number the text quotes is printed by a cell next to it. The whole notebook runs in well
# under a minute on a laptop CPU.

# %%
import matplotlib.pyplot as plt

from gradlab import divergence, plots_exploding, quiz, rnn, spectral, theory, widgets
from gradlab import widgets_exploding
from gradlab.data import load_digits_split

# %% [markdown]
# ## 1. Three sizes of a weight matrix
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
# A common rule of thumb says "$\lVert W\rVert > 1$ amplifies gradients". The first row shows why
# that needs care: at scale 0.6 the matrix has $\sigma_{\max} > 1$, yet a gradient sent back
# through 20 such (linear) layers *shrinks*:

# %%
gaussian_small = spectral.measure_growth(20, 0.6, kind="gaussian")
print(f"sigma_max of the first row's matrix: {spectra[0].spectrum.largest_singular_value:.2f}")
print(gaussian_small.summary())

# %% [markdown]
# A norm above 1 only says the gradient *can* grow in some direction. Whether it *does* depends
# on how the gradient lines up with that direction, and for a product of independent random
# matrices it lines up no better than chance: the typical stretch (0.6 per layer here) wins.

# %% [markdown]
# ## 2. Gradient growth: $(\sigma_{\max} \times \text{slope})^L$, predicted and measured
#
# Per layer the gradient is multiplied by at most $\sigma_{\max}(W_l)$ times the size of the
# activation's slope $f'(z_l)$, so over $L$ layers
#
# $$
# \frac{\lVert \partial\mathcal{L}/\partial h_0 \rVert}{\lVert \partial\mathcal{L}/\partial h_L \rVert}
# \;\lesssim\; \prod_{l=1}^{L} \sigma_{\max}(W_l)\,\operatorname{rms} f'(z_l)
# \;\approx\; (\sigma_{\max} \times \text{slope})^L .
# $$
#
# The bound becomes an equality when *every* singular value equals $\sigma_{\max}$: a scaled
# orthogonal matrix $W = s\,Q$ stretches every direction by exactly $s$. `gradlab.spectral` builds
# such networks (32 units wide), runs one real float32 forward and backward pass, and puts the
# prediction beside the measurement. Twenty layers:

# %%
for activation in spectral.CHAIN_ACTIVATIONS:
    for scale in (0.5, 1.0, 1.5):
        growth = spectral.measure_growth(20, scale, activation=activation)
        print(
            f"{activation:>6}, scale {scale}: slope {growth.slopes.mean():.3f}, "
            f"predicted x{growth.predicted_growth:.3g}, measured x{growth.measured_growth:.3g}"
        )

# %% [markdown]
# - **linear**: slope 1, and the measurement equals $s^{20}$ exactly: $0.5^{20} \approx 10^{-6}$,
#   $1.5^{20} \approx 3300$.
# - **tanh**: near zero its slope is 1, so at small scales it behaves like the linear chain. At
#   scale 1.5 the activations grow until tanh saturates, the slope drops to about 0.7, and the
#   per-layer factor $1.5 \times 0.7$ is only just above 1. Saturation limits the explosion.
# - **relu**: half the units are off, so the rms slope is $\sqrt{1/2} \approx 0.71$. The net
#   factor at scale 1.5 is $1.5 \times 0.71 \approx 1.06$ (which is why He initialisation uses a
#   gain of $\sqrt 2$).
#
# With a nonlinear activation the slope is itself measured (the rms of $f'(z_l)$ over the batch),
# so the prediction is a close estimate rather than a strict bound: the gradient leans a little
# towards the units whose slope is larger, and the tanh and relu measurements at scale 1.5 come
# out a few tens of percent away from it. Over twenty layers and twelve orders of magnitude that is
# still a good prediction.
#
# With *Gaussian* weights the bound overshoots by about $2^L$, because $\sigma_{\max} \approx 2s$
# while a random gradient is stretched by only about $s$ — the typical factor tracks the
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
# the output's gradient is 1), the $\sigma_{\max} \times$ slope prediction (red dashes) and the
# typical rms $\times$ slope curve (grey dots).
#
# **What to try**
# - Orthogonal, linear: the three curves lie on top of each other at every scale.
# - Switch to Gaussian weights: the red bound peels away; the measurement follows the grey curve.
# - Linear, scale 3, depth 100: the gradient overflows float32 ($3^{100} \approx 5 \times
#   10^{47} > 3.4 \times 10^{38}$) and the readout says *exploded* instead of a number.
# - tanh at scale 3: saturation caps the growth far below the linear chain's.

# %% tags=["nbval-ignore-output"]
growth_demo = widgets_exploding.make_growth_demo(depth=20, weight_scale=1.5)
widgets.show(growth_demo)

# %% [markdown]
# The demo's starting setting and its overflowing extreme, as text:

# %%
print(widgets_exploding.compute_growth(20, 1.5).summary())
print(widgets_exploding.compute_growth(100, 3.0).summary())

# %% [markdown]
# ## 3. What exploding looks like in a real training run
#
# Numbers at initialisation are one thing; what does a learner actually *see*? We train the same
# 4-layer ReLU network (64 units, Xavier init, same seed, same minibatches) on the scikit-learn
# digits (8 × 8 images, 10 classes, ships offline) with plain SGD at three learning rates, and
# record the loss, every parameter's gradient norm and every parameter's norm at each step.

# %%
data = load_digits_split(seed=0)
runs = divergence.train_at_learning_rates([0.05, 0.5, 1.0], data=data, steps=100)
plots_exploding.plot_losses(runs)
plt.show()

# %% [markdown]
# <a id="symptom-loss-spike"></a>
# ### 3.1 Loss spikes and NaN
#
# The run at `lr = 1.0` trains normally for a while and then falls apart. Here is its log around
# the end, printed like a training script would (we let this copy of the run continue past the
# first non-finite value so you see what comes after it):

# %%
crash = divergence.train_at_learning_rates(
    [1.0], data=data, steps=42, stop_at_nonfinite=False
)[1.0]
print(divergence.format_training_log(crash, start=30))

# %% [markdown]
# The loss starts near $\ln 10 \approx 2.30$ (a 10-class guess), falls, and then within a few
# steps goes from below 1 to hundreds, to $10^{11}$, to $10^{24}$ and then `nan`. The pattern is
# the classic one (textbook logs show something like 2.31, 2.28, 15793.4, nan); this one is real,
# and it has a few more steps in between. Note the gradient norm: around 1 while training is
# healthy, tens to hundreds at the first spike — large gradient norms are the early warning.
#
# <a id="symptom-nan"></a>
# **Where did it start?** `gradlab.training` records every parameter's gradient norm, so we can
# find the first step at which any of them stopped being a finite number, and which parameter it
# was (searching from the loss back towards the input, the order the backward pass runs):

# %%
wild = runs[1.0]
print("first step with a non-finite gradient:", wild.first_nonfinite_step)
print("first parameter (from the loss backwards):", wild.first_nonfinite_parameter)
print(divergence.format_gradients_at(wild, wild.first_nonfinite_step))

# %% [markdown]
# At that step the loss was still a (huge) finite number; the gradient of the last hidden
# layer's weights overflowed first, because it multiplies an enormous upstream gradient by
# enormous activations. One update later the weights themselves are `inf`, and from then on every
# number is `nan`: nothing can be recovered, which is why training scripts stop at the first
# non-finite value.
#
# <a id="symptom-oscillation"></a>
# ### 3.2 Oscillation
#
# At `lr = 0.5` the run survives, but the loss does not go down smoothly: it repeatedly jumps up,
# once to about twice its starting value, before settling again.

# %%
print(divergence.format_training_log(runs[0.5], start=14, stop=22))

# %% [markdown]
# Each jump is a step that overshot: the update was so large that it crossed the valley and
# landed higher on the other side. Count the jumps of more than 0.5 in one step, for each run:

# %%
for lr, record in runs.items():
    print(f"lr = {lr}: {divergence.count_loss_jumps(record.losses)} jumps")

# %% [markdown]
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
for lr, norms in weight_norms.items():
    print(f"lr = {lr}: |weights| {norms[0]:.1f} -> {norms[-1]:.3g} (x{norms[-1] / norms[0]:.3g})")

# %% [markdown]
# ### 3.4 The symptoms table
#
# Everything above in one place. Each row links to the cell that shows it.
#
# | symptom | what you see (in this chapter's runs) | why it happens | shown in |
# |---|---|---|---|
# | loss spikes | the loss jumps from below 1 to hundreds within a couple of steps | an update overshoots so far that the new weights are much worse | [3.1](#symptom-loss-spike) |
# | NaN values | `inf` in a gradient, then `nan` in everything | values overflow float32 ($> 3.4 \times 10^{38}$) and `inf − inf` is `nan` | [3.1, where did it start](#symptom-nan) |
# | oscillation | the loss rises and falls by large amounts instead of settling | steps overshoot the valley and bounce between its walls | [3.2](#symptom-oscillation) |
# | weight growth | the weight norm grows by orders of magnitude | big gradients → big updates → bigger weights → bigger gradients | [3.3](#symptom-weight-growth) |
#
# And as numbers, read off each run by `gradlab.divergence` (a *spike* is a loss above ten times
# the first step's):

# %%
print(divergence.format_symptoms([divergence.diagnose_run(r, lr) for lr, r in runs.items()]))

# %% [markdown]
# ## 4. Gradients through time
#
# A recurrent network applies the **same** weights at every time step:
# $h_t = \tanh(W_x x_t + W_h h_{t-1})$. Unrolled over $T$ steps it is a $T$-layer network whose
# layers all share $W_h$, and backpropagation through time (BPTT) multiplies by one step's
# Jacobian per step:
#
# $$
# \frac{\partial \mathcal{L}}{\partial h_{t-1}}
#   = W_h^{\top}\,\big(f'(a_t) \odot \tfrac{\partial \mathcal{L}}{\partial h_t}\big)
# \quad\Longrightarrow\quad
# \Big\lVert \frac{\partial \mathcal{L}}{\partial h_t} \Big\rVert \approx
#   (\lvert W_h\rvert \times \text{slope})^{T-t} .
# $$
#
# Because it is the same matrix every time, its spectral radius sets the long-run rate (section
# 1). `gradlab.rnn` measures $\lVert\partial\mathcal{L}/\partial h_t\rVert$ for every $t$ on a real
# `torch.nn.RNN`, stepping it one time step at a time so that autograd can hand back the gradient
# at every hidden state. The loss is read at the last step, so the gradient there is 1.
#
# Two cases:
# - **linear**: one hidden unit with weight $w = \lvert W_h\rvert$ (a ReLU unit fed positive inputs,
#   so it never switches off). Here the closed form is exact: $\partial\mathcal{L}/\partial h_t =
#   w^{T-t}$.
# - **tanh**: 32 units with $W_h = \lvert W_h\rvert \cdot Q$ for a random orthogonal $Q$ (so every
#   singular value *and* the spectral radius equal $\lvert W_h\rvert$).
#
# With $\lvert W_h\rvert = 0.5$ and $T = 6$:

# %%
print(rnn.compute_time_gradients("linear", 0.5, 6).summary())
print(rnn.compute_time_gradients("tanh", 0.5, 6).summary())

# %% [markdown]
# The linear RNN halves the gradient at every step back: 1, 0.5, 0.25, 0.125, 0.0625, 0.03125.
# (Tables rounded to two significant figures write the last two as 0.063 and 0.031; the exact
# values are powers of one half.) The tanh RNN follows just below the closed form, since
# $\tanh' \le 1$.
#
# ### Vanishing and exploding regimes
#
# Fifty steps, for a range of $\lvert W_h\rvert$: what reaches the first step?

# %%
print(rnn.format_regimes((0.5, 0.9, 1.0, 1.1, 1.5, 2.0), 50))

# %% [markdown]
# - Below 1 the gradient vanishes geometrically: at $\lvert W_h\rvert = 0.9$ less than 1 % of it
#   survives 50 steps. An RNN like this cannot learn that something 50 steps ago mattered.
# - Above 1 the linear RNN explodes geometrically: $2^{49} \approx 5.6 \times 10^{14}$.
# - The tanh RNN explodes much later: as $h_t$ grows, tanh saturates and its slope shrinks,
#   which pulls the per-step factor back towards (or below) 1. At $\lvert W_h\rvert = 1.1$ it still
#   *vanishes*; at 2 it explodes, but by a few thousand instead of $5.6 \times 10^{14}$.
#
# ### Interactive: $\lvert W_h\rvert$ and $T$
#
# Both RNNs are rebuilt and unrolled at each move; the plot shows
# $\lVert\partial\mathcal{L}/\partial h_t\rVert$ for every $t$ on a log axis, with the closed form
# dashed. The text gives the step-by-step chain for the last six steps.
#
# **What to try**
# - $\lvert W_h\rvert = 0.5$, $T = 6$: the stepper above. Then raise $T$ to 100.
# - $\lvert W_h\rvert = 1$: the linear RNN keeps the gradient at exactly 1; the tanh one fades.
# - $\lvert W_h\rvert = 3$, $T = 100$: the linear RNN overflows (*exploded (inf)*) after about 80
#   steps back; the tanh RNN explodes too, but stays finite.

# %% tags=["nbval-ignore-output"]
time_demo = widgets_exploding.make_time_demo(recurrent_scale=0.5, steps=6)
widgets.show(time_demo)

# %% [markdown]
# The overflowing extreme, as text:

# %%
for result in widgets_exploding.compute_time_comparison(3.0, 100):
    print(result.summary())

# %% [markdown]
# ## 5. Knowledge check

# %%
questions = [
    quiz.Question(
        prompt="Which size of W bounds how much one backward step through W can stretch a "
        "gradient?",
        choices=["its spectral radius", "its largest singular value", "its largest entry"],
        answer=1,
        explanations=[
            "The spectral radius governs repeated application of the same matrix, but a single "
            "step can stretch more: σ_max ≥ ρ.",
            "‖Wᵀv‖ ≤ σ_max(W)‖v‖ for every v, with equality along the top singular vector.",
            "A single entry says little: a matrix of small entries can still have a large σ_max.",
        ],
    ),
    quiz.Question(
        prompt="Twenty linear layers with W = 1.5 × (orthogonal matrix). What happens to the "
        "gradient from the output to the input?",
        choices=[
            "it is multiplied by about 30",
            f"it is multiplied by about {1.5**20:.0f}",
            "it stays the same, orthogonal matrices preserve norms",
        ],
        answer=1,
        explanations=[
            "That would be 1.5 × 20: the factors multiply, they do not add.",
            "Every singular value is 1.5, so each layer multiplies by exactly 1.5: 1.5^20.",
            "Q preserves norms, but the scale 1.5 multiplies in at every layer.",
        ],
    ),
    quiz.Question(
        prompt="A Gaussian W has σ_max = 1.18 but rms singular value 0.6. Through 20 "
        "independent such layers, the gradient typically…",
        choices=["grows, because σ_max > 1", "shrinks, roughly like 0.6^20"],
        answer=1,
        explanations=[
            "σ_max > 1 only says some direction can grow; a random gradient is stretched by the "
            "typical amount.",
            "Independent random matrices stretch a gradient by their typical size, here 0.6.",
        ],
    ),
    quiz.Question(
        prompt=f"In section 3.1 the loss went {', '.join(f'{v:.3g}' for v in crash.losses[34:])}. "
        "Which symptom came first?",
        choices=["NaN values", "a loss spike", "vanishing gradients"],
        answer=1,
        explanations=[
            "NaN is the end of the story, not the start.",
            "The jump from below 1 to hundreds is the spike; the NaN follows a few steps later.",
            "Nothing vanished: the gradients grew with the loss.",
        ],
    ),
    quiz.Question(
        prompt="Why does training stop being recoverable once a gradient is inf?",
        choices=[
            "the next update writes inf into the weights, and inf − inf = nan spreads everywhere",
            "PyTorch raises an exception",
            "the learning rate becomes zero",
        ],
        answer=0,
        explanations=[
            "One inf update poisons the weights; every later forward pass computes nan.",
            "PyTorch does not raise on inf or nan; it keeps computing, which is why you check.",
            "Nothing changes the learning rate; the weights are the problem.",
        ],
    ),
    quiz.Question(
        prompt="A linear RNN with |W_h| = 0.9 is unrolled over 50 steps. How much of the "
        "gradient at the last step reaches the first?",
        choices=["about 0.9", "about 0.45", f"about {0.9**49:.3f}"],
        answer=2,
        explanations=[
            "That is one step's worth; there are 49 steps between the first and the last.",
            "That would be 0.9 × 0.5; the factor is applied once per step.",
            "0.9^49 ≈ 0.0057: less than 1 % survives — a vanishing gradient through time.",
        ],
    ),
    quiz.Question(
        prompt="Why does a tanh RNN with |W_h| = 1.1 not explode over 50 steps while a linear one "
        "does?",
        choices=[
            "tanh saturates as h grows, so its slope pulls each step's factor below 1",
            "tanh networks cannot have gradients above 1",
            "the orthogonal matrix cancels the growth",
        ],
        answer=0,
        explanations=[
            "The factor per step is |W_h| × tanh', and tanh' drops as the state grows.",
            "They can: at |W_h| = 2 the tanh RNN's gradient grows thousands of times over 50 "
            "steps.",
            "An orthogonal matrix scaled by 1.1 stretches every direction by 1.1.",
        ],
    ),
]
widgets.show(quiz.make_quiz(questions, title="Chapter 3 knowledge check"))
print(f"{len(questions)} questions")

# %% [markdown]
# ## Summary
#
# - A weight matrix has three sizes: $\sigma_{\max}$ bounds one backward step, $\rho$ governs a
#   matrix applied again and again, and the rms singular value is what a random gradient sees.
# - Through $L$ layers the gradient grows at most like $(\sigma_{\max} \times \text{slope})^L$;
#   with orthogonal weights that bound is exact, with Gaussian weights the typical stretch wins.
# - Exploding gradients show up in training as loss spikes, then `inf`/`nan`, with oscillation
#   and runaway weight norms around them. Record gradient norms per parameter: the first
#   non-finite one tells you the step and the layer.
# - An RNN reuses $W_h$ at every step, so its gradients through time scale like
#   $\lvert W_h\rvert^{T-t}$: vanishing below 1, exploding above — softened, for tanh, by
#   saturation.
#
# **Next:** practise with [the Chapter 3 exercises](../exercises/03_exploding.ipynb): predict and
# then measure a first-layer gradient, and find the first non-finite step of a diverging run.
#
# ---
# ← Previous: [Chapter 2, activations](02_activations.ipynb) · Next: Chapter 4, initialisation
# (coming soon; until then go on with [Chapter 7, monitoring and diagnosis](07_monitoring.ipynb)) ·
# Exercises: [03_exploding](../exercises/03_exploding.ipynb)
