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
# # Chapter 4 exercises — initialization and normalization
#
# These exercises go with `notebooks/04_init_norm.ipynb`. Each one has a cell for your answer
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
# python -m gradlab.grade exercises/04_init_norm_exercises.ipynb
# ```
#
# Run the cells in order: each part starts with a cell that builds what its exercises use.

# %%
import math
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from gradlab.chapters.ch04_init_norm import exercise_questions
from gradlab.grading import check_close, check_equal
from gradlab.measure.probe import probe_gradients
from gradlab.training.data import load_digits_split
from gradlab.ui import quiz

torch.set_num_threads(1)  # small networks: one thread is fastest

data = load_digits_split(seed=0)
x, y = data.x_train[:128], data.y_train[:128]  # one fixed batch of 128 digits (64 pixels each)

# %% [markdown]
# ## Part A — an init that keeps the gradient alive through 30 layers
#
# A plain network of 30 blocks `Linear(64 → 64)` + activation, then a `Linear(64 → 10)` head,
# with every weight drawn from $\mathcal{N}(0, \sigma^2)$ and every bias 0. The chapter's argument,
# for one linear layer $z = Wh$ with independent zero-mean weights and inputs:
#
# - forward: $\mathrm{Var}(z) = \text{fan\_in}\cdot\mathrm{Var}(w)\cdot\mathbb{E}[h^2]$;
# - backward: $\mathrm{Var}(\partial\mathcal{L}/\partial h) = \text{fan\_out}\cdot\mathrm{Var}(w)
#   \cdot\mathbb{E}[f'(z)^2]\cdot\mathrm{Var}(\partial\mathcal{L}/\partial h_\text{next})$.
#
# Keeping both factors at 1 fixes $\mathrm{Var}(w)$; what $f$ does to $\mathbb{E}[h^2]$ and
# $\mathbb{E}[f'(z)^2]$ is where tanh and ReLU differ (tanh is close to the identity near 0; ReLU
# zeroes half its inputs). Note that $\sigma$ is a **standard deviation**: the variance is
# $\sigma^2$.
#
# `build_network` below is the network; `gradient_ratios` measures, with one real forward and
# backward pass on the digits batch per seed (`gradlab.measure.probe.probe_gradients`), the norm
# of the gradient reaching the **first** block's output over the norm reaching the **last**
# block's output, $\lVert\partial\mathcal{L}/\partial h_1\rVert / \lVert\partial\mathcal{L}/
# \partial h_{30}\rVert$: what the 29 blocks between them do to the gradient on its way back.
# 1 is perfect; $10^{-5}$ means the first layers hardly learn.

# %%
DEPTH, WIDTH = 30, 64
SEEDS = (0, 1, 2)
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def build_network(activation, init_std, seed):
    """DEPTH blocks linear{block} + {activation}{block}, then a head; weights ~ N(0, std²), biases 0."""
    generator = torch.Generator().manual_seed(seed)
    layers, fan_in = OrderedDict(), x.shape[1]
    for block in range(1, DEPTH + 1):
        layers[f"linear{block}"] = nn.Linear(fan_in, WIDTH)
        layers[f"{activation}{block}"] = ACTIVATIONS[activation]()
        fan_in = WIDTH
    layers["head"] = nn.Linear(WIDTH, 10)
    model = nn.Sequential(layers)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                fan_out, fan_in = module.weight.shape
                std = float(init_std(fan_in, fan_out, activation))
                nn.init.normal_(module.weight, 0.0, std, generator=generator)
                nn.init.zeros_(module.bias)
    return model


def gradient_ratios(init_std, activation, seeds=SEEDS):
    """‖∂L/∂h_1‖ / ‖∂L/∂h_30‖ on the digits batch, one value per seed."""
    ratios = []
    for seed in seeds:
        model = build_network(activation, init_std, seed)
        outputs = [getattr(model, f"{activation}{block}") for block in range(1, DEPTH + 1)]
        probe = probe_gradients(model, x, y, layers=outputs)
        norms = probe.activation_grad_norms  # one per block, first block first
        ratios.append(norms[0] / norms[-1])
    return np.array(ratios)


def show_ratios(ratios, activation):
    print(f"{activation}: first/last gradient norm per seed:", " ".join(f"{r:.2g}" for r in ratios))


# %% tags=["nbval-ignore-output"]
# These values depend on the machine's rounding (see below): they are the stored machine's.
std_one_ratios = gradient_ratios(lambda fan_in, fan_out, activation: 1.0, "tanh")
show_ratios(std_one_ratios, "tanh, std = 1")

# %% [markdown]
# With $\sigma = 1$ most tanh units saturate, and yet the gradient *grows*, by a factor of around
# $10^9$, on its way back through the 29 blocks: each block multiplies it by about 2 (the weights
# stretch it by about $\sigma\sqrt{64} = 8$, and the saturated units' small slopes take most of
# that back). A network this far out of balance amplifies even rounding errors, so the exact
# ratios differ from machine to machine. Try `0.01` to see the other end.
#
# **Exercise 4.1 (3 points) — derive it, then measure it.** Write `init_std(fan_in, fan_out,
# activation)` returning the **standard deviation** of the weights for `activation` `"tanh"` or
# `"relu"`, derived from the two conditions above. The check builds the network with your
# function for both activations and three seeds and passes when every ratio lies between 1/10 and
# 10. It compares $\log_{10}$ of each ratio with 0 within 1 (so "received 3.2" means a ratio of
# $10^{3.2}$).

# %%
def init_std(fan_in, fan_out, activation):
    """The std of N(0, std²) weights that keeps the gradient's size through a deep `activation` net."""
    raise NotImplementedError('return the standard deviation for "tanh" and for "relu" (derive it; mind std vs variance)')


# %%
def xavier(fan_in, fan_out, activation):  # Xavier/Glorot for every activation
    return math.sqrt(2.0 / (fan_in + fan_out))


def xavier_with_tanh_gain(fan_in, fan_out, activation):  # torch's gain for tanh (5/3) × Xavier
    return nn.init.calculate_gain("tanh") * xavier(fan_in, fan_out, activation)


def variance_not_std(fan_in, fan_out, activation):  # Xavier's (tanh) or He's (ReLU) variance
    return 2.0 / (fan_in + fan_out) if activation == "tanh" else 2.0 / fan_in


VARIANCE = "That looks like the variance returned as the std: Var(w) = σ², take the square root."
gain_ratios = gradient_ratios(xavier_with_tanh_gain, "tanh")  # the note below shows them
tanh_ratios = gradient_ratios(init_std, "tanh")
relu_ratios = gradient_ratios(init_std, "relu")
show_ratios(tanh_ratios, "tanh")
show_ratios(relu_ratios, "relu")
check_close(
    np.log10(tanh_ratios),
    np.zeros(len(SEEDS)),
    exercise="4.1",
    points=3,
    rtol=0,
    atol=1,
    hint="Each layer multiplies the gradient by about std·√fan·rms f'(z): for tanh near 0, f' is "
    "about 1; write the forward and the backward condition and average the two fans.",
    mistakes=[
        (np.log10(std_one_ratios), "Far too large: tanh saturates and the gradient explodes."),
        (np.log10(gradient_ratios(variance_not_std, "tanh")), VARIANCE),
        (
            np.log10(gain_ratios),
            "A bit too large: each of the 29 blocks multiplies the gradient by slightly more than "
            "1, and that compounds past 10. If you used torch's gain for tanh (5/3), read the "
            "note below: it is a forward-pass choice.",
        ),
    ],
)
check_close(
    np.log10(relu_ratios),
    np.zeros(len(SEEDS)),
    exercise="4.1",
    points=3,
    rtol=0,
    atol=1,
    hint="For ReLU, E[relu(z)²] = Var(z)/2 and half the slopes are 0: put that into the forward "
    "condition.",
    mistakes=[
        (np.log10(gradient_ratios(variance_not_std, "relu")), VARIANCE),
        (
            np.log10(gradient_ratios(xavier, "relu")),
            "Too small by the same factor at every layer: the tanh answer forgets that ReLU "
            "zeroes half of its inputs, and so half of the signal's second moment.",
        ),
    ],
)

# %% [markdown]
# **What the check accepts, and torch's tanh gain.** The check measures, it does not compare
# formulas: any std that keeps all six ratios within a factor of 10 passes. For tanh that is a
# range around $1/\sqrt{\text{fan\_in}}$ (Xavier passes, and so does LeCun's
# $\sqrt{1/\text{fan\_in}}$, the same for the 64 → 64 blocks); for ReLU it is narrow, because
# a ReLU block multiplies the gradient by about $\sigma\sqrt{64/2}$ and 29 of them compound any
# error.
#
# `torch.nn.init.calculate_gain("tanh")` is $5/3$, and `xavier_normal_(w, gain=5/3)` is what many
# codebases use. Measure it on this network:

# %%
show_ratios(gain_ratios, "tanh, Xavier × 5/3")

# %% [markdown]
# Every ratio is above 10: with the gain, each tanh block multiplies the gradient by a bit more
# than 1 on its way back, and 29 blocks compound it. The gain is a **forward** choice: it keeps
# the activations from shrinking layer after layer (tanh squashes a unit-variance input to
# $\mathbb{E}[\tanh(z)^2] \approx 0.39$, and $1/\sqrt{0.39} \approx 1.6$). The backward condition
# wants $\mathrm{Var}(w)\cdot\text{fan\_in}$ close to 1, Xavier's choice: its ratios above lie
# between 0.1 and 1 (the gradient shrinks a little, since tanh's slope is below 1 away from 0),
# and the activations slowly shrink over the blocks. At depth 30 the two conditions pull
# apart; this exercise asked for the backward one. Normalization (Part B) sidesteps the trade-off by
# resetting the scale at every layer.
#
# ## Part B — LayerNorm by hand
#
# `nn.LayerNorm(d)` normalizes each example over its last dimension (of size `d`): subtract the
# example's mean, divide by $\sqrt{\text{variance} + \varepsilon}$ (the *biased* variance,
# dividing by `d`), then multiply by `weight` and add `bias` (both of shape `(d,)`, learned).
#
# **Exercise 4.2 (3 points).** Write `layer_norm(x, weight, bias, eps)` in a few lines of torch
# (no `nn.LayerNorm`, no `torch.nn.functional.layer_norm`) for an `x` of any shape `(..., d)`.
# The check compares it with `nn.LayerNorm` on three shapes with random weight and bias, to within
# $10^{-6}$. It uses float64 tensors so that rounding is far below that tolerance.

# %%
def layer_norm(x, weight, bias, eps=1e-5):
    """LayerNorm over the last dimension of x, then scaled by weight and shifted by bias."""
    raise NotImplementedError('normalize x over its last dimension, then apply weight and bias')


# %%
def layer_norm_case(shape, seed, eps=1e-5):
    """A float64 input of `shape` and an nn.LayerNorm over its last dimension with random affine."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(shape, generator=generator, dtype=torch.float64)
    reference = nn.LayerNorm(shape[-1], eps=eps, dtype=torch.float64)
    with torch.no_grad():
        reference.weight.copy_(1 + 0.5 * torch.randn(shape[-1], generator=generator))
        reference.bias.copy_(torch.randn(shape[-1], generator=generator))
    return inputs, reference


def standardize(inputs, dim=-1, unbiased=False, eps=1e-5, eps_inside=True):
    """(x - mean) / std over `dim`: the building block of the common wrong answers below."""
    centered = inputs - inputs.mean(dim=dim, keepdim=True)
    variance = inputs.var(dim=dim, keepdim=True, unbiased=unbiased)
    return centered / (torch.sqrt(variance + eps) if eps_inside else variance.sqrt() + eps)


for shape, seed in [((4, 16), 0), ((2, 3, 8), 1), ((5, 1, 32), 2)]:
    inputs, reference = layer_norm_case(shape, seed)
    weight, bias = reference.weight.detach(), reference.bias.detach()
    check_close(
        layer_norm(inputs, reference.weight, reference.bias, reference.eps),
        reference(inputs),
        exercise="4.2",
        points=3,
        rtol=0,
        atol=1e-6,
        hint="Take the mean and the variance over dim=-1 with keepdim=True so they broadcast; "
        "eps goes inside the square root; weight and bias apply after normalizing.",
        mistakes=[
            (
                standardize(inputs, unbiased=True) * weight + bias,
                "Close, but LayerNorm's variance divides by d, not d - 1 (torch.var's default "
                "is the unbiased one: pass unbiased=False or correction=0).",
            ),
            (
                standardize(inputs, eps_inside=False) * weight + bias,
                "Close, but eps belongs inside the square root: sqrt(var + eps).",
            ),
            (
                standardize(inputs),
                "The normalization looks right; apply weight and bias after it.",
            ),
            (
                standardize(inputs, dim=0) * weight + bias,
                "That normalizes each feature over the batch (dim 0), which is BatchNorm's "
                "axis: LayerNorm normalizes each example over its own last dimension.",
            ),
        ],
    )

# %% [markdown]
# Your `layer_norm` never looks at another row of `x`. Two questions about what that means, and
# about BatchNorm, which does:

# %% tags=["nbval-ignore-output"]
quiz.show(exercise_questions.LAYER_NORM_CHECK, title="Exercise 4.2: LayerNorm and the batch")

# %% [markdown]
# ## Part C — a warmup that keeps the run alive
#
# A network whose head starts too large: two hidden ReLU layers of 64 units with He init, and a
# head `Linear(64 → 10)` whose weights have std `HEAD_STD` = 0.5 (four times the usual
# $1/\sqrt{64}$). Its first predictions are confident and random, so the loss starts high. It trains with full-batch SGD on the 1,347 training digits for `STEPS` steps at a
# peak learning rate `PEAK_LR`, on a schedule: the learning rate rises linearly from
# `PEAK_LR / (warmup_steps + 1)` to `PEAK_LR` over `warmup_steps` steps, then follows a cosine down
# to 0 (torch's `LambdaLR` with the factor below). `train` stops at the first non-finite loss and
# fills the rest of the curve with `nan`. Each run takes about a second.

# %%
STEPS, PEAK_LR, HEAD_STD = 300, 4.0, 0.5
WARMUP_CHOICES = (0, 10, 100, 200)  # Exercise 4.3 picks one of these
LOSS_BOUND = 0.05


def make_warmup_model(seed=0):
    """64 → 64 → 64 → 10, ReLU; He init for the hidden layers, N(0, HEAD_STD²) for the head."""
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        OrderedDict(
            linear1=nn.Linear(64, 64),
            relu1=nn.ReLU(),
            linear2=nn.Linear(64, 64),
            relu2=nn.ReLU(),
            head=nn.Linear(64, 10),
        )
    )
    with torch.no_grad():
        stds = {"linear1": math.sqrt(2 / 64), "linear2": math.sqrt(2 / 64), "head": HEAD_STD}
        for name, std in stds.items():
            nn.init.normal_(model.get_submodule(name).weight, 0.0, std, generator=generator)
            nn.init.zeros_(model.get_submodule(name).bias)
    return model


def train(warmup_steps, seed=0):
    """The loss at every step of the run (nan after the first non-finite one)."""
    if not 0 <= warmup_steps < STEPS:
        raise ValueError(f"warmup_steps must be in 0..{STEPS - 1}; got {warmup_steps!r}")

    def lr_factor(step):  # the learning rate at `step` is PEAK_LR * lr_factor(step)
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / (STEPS - warmup_steps)))

    model = make_warmup_model(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=PEAK_LR)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    losses = np.full(STEPS, np.nan)
    for step in range(STEPS):
        loss = nn.functional.cross_entropy(model(data.x_train), data.y_train)
        losses[step] = loss.item()
        if not math.isfinite(losses[step]):
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return losses


def describe(losses):
    """One line about a loss curve: where it broke, or where it ended."""
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        return f"non-finite from step {bad[0]}"
    return f"finite; loss at step 0 {losses[0]:.1f}, mean of the last 10 steps {final_loss(losses)}"


def final_loss(losses):
    """The mean loss of the last 10 steps, to two decimals (nan if the run broke)."""
    return round(float(np.mean(losses[-10:])), 2)


# %% tags=["nbval-ignore-output"]
# What the run without warmup does on the machine these outputs were stored on.
print("no warmup:", describe(train(0)))

# %% [markdown]
# Without warmup the run fails in every seed we tried: either the loss overflows to `nan` within
# its first 20 steps, or the first huge steps wreck the network and the loss freezes at
# $\ln 10 \approx 2.30$, chance level (the score of a network that gives every digit the same
# output). Which of the two, and at which step, depends on the machine's rounding.
#
# **Exercise 4.3 (2 points).** Choose `warmup_steps` from `WARMUP_CHOICES` so that the run stays
# finite and ends with a loss below `LOSS_BOUND` (`final_loss`: the mean of its last 10 steps).
# Try them with `describe(train(...))` first. The check runs your choice once (seed 0). The lengths that pass
# were measured on many seeds and under perturbed floating-point rounding: the same ones pass on
# every machine, and the ones that fail fail everywhere.

# %%
raise NotImplementedError('set warmup_steps to one of WARMUP_CHOICES')

# %%
losses = train(warmup_steps) if warmup_steps in WARMUP_CHOICES else np.full(STEPS, np.nan)
print(f"warmup_steps = {warmup_steps}:", describe(losses))
check_equal(
    warmup_steps in WARMUP_CHOICES,
    True,
    exercise="4.3",
    points=2,
    hint=f"Pick one of WARMUP_CHOICES = {WARMUP_CHOICES}.",
)
check_close(
    final_loss(losses),
    0.0,
    exercise="4.3",
    points=2,
    rtol=0,
    atol=LOSS_BOUND,
    hint="The run broke (nan) or did not learn (a high final loss): warm up for longer.",
    mistakes=[
        (
            math.log(10),
            "The loss is stuck at ln 10, chance level: the first large steps killed every ReLU "
            "(the network gives every digit the same output). Warm up for longer.",
        ),
    ],
)

# %% [markdown]
# ## Part D — knowledge check
#
# Pick an answer and press Check; each choice comes with an explanation. This part is for you: the
# grader does not score it.

# %% tags=["nbval-ignore-output"]
quiz.show(exercise_questions.EXERCISE_CHECK, title="Chapter 4 exercises: knowledge check")

# %% [markdown]
# ## Grade this notebook
#
# Save first (`Ctrl+S`): the cell below grades the file **as saved**, not what is on screen. It runs
# the grader with this notebook's own Python: a copy of the saved file runs from top to bottom in a
# fresh Python (your file is never changed), and you get one row per exercise with its points and,
# for a failed exercise, why. Grade as often as you like.

# %% tags=["nbval-skip"]
from gradlab.grading.grade_saved import grade_saved_notebook

grade_saved_notebook("04_init_norm_exercises.ipynb")
