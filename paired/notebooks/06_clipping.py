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
# # Chapter 6 — Gradient clipping, and recurrent networks (RNN vs LSTM)
#
# Chapter 3 showed gradients that explode: one oversized step throws the weights off a cliff and
# the loss turns into `nan`. Gradient clipping caps the size of each step before the optimizer
# takes it. It is a seatbelt, not a cure, and like a seatbelt it only helps when it is set right.
# This chapter clips on evidence, not by habit.
#
# **You will be able to**
# - say what norm clipping and value clipping do to a gradient's length and direction, and measure
#   it on a real gradient;
# - put clipping in the right place of a training loop, also with mixed precision;
# - read a clipping sweep on a recurrent network: which thresholds prevent divergence, which are
#   too loose to help and which quietly slow training down;
# - choose a threshold from recorded gradient norms, and compute the learning rate a threshold
#   leaves: lr × min(1, c/‖g‖);
# - find the batches behind periodic gradient spikes before clipping them away;
# - measure why an LSTM carries gradients through time better than a vanilla RNN.
#
# Every number the text quotes is printed by a cell next to it. The notebook runs in about a
# minute on a laptop CPU. Training runs amplify the last bits of floating-point rounding, which
# differ between CPUs: where the chapter shows one run's exact numbers, they are the ones *on the
# machine these outputs were stored on*; the sentences the conclusions rest on are printed by
# gradlab in words that hold on any machine.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from gradlab.chapters.ch06_clipping import (
    direction,
    questions,
    spikes,
    thresholds,
    through_time,
    training,
)
from gradlab.chapters.ch06_clipping import plots as plots_clipping
from gradlab.chapters.ch06_clipping import widgets as widgets_clipping
from gradlab.chapters.ch06_clipping.models import make_model
from gradlab.models.mlp import make_mlp
from gradlab.training.clipping import clipping_effect, threshold_from_history
from gradlab.training.data import load_digits_split
from gradlab.training.sequence_tasks import BASELINE_MSE, adding_problem
from gradlab.ui import quiz
from gradlab.ui import wiring as widgets

FULL = False  # True: more seeds and longer runs (several minutes)
notebook_start = time.perf_counter()  # for the timing printed at the end

# %% [markdown]
# ## 1. Norm clipping and value clipping
#
# Write all of a model's gradients as one long vector $g$ and pick a threshold $c$. There are two
# ways to cap it:
#
# | | rule | what it bounds |
# |---|---|---|
# | **norm clipping** (`clip_grad_norm_`) | $g \leftarrow g \cdot \min\!\big(1, \tfrac{c}{\lVert g \rVert}\big)$ | the length of the whole vector, $\lVert g\rVert \le c$ |
# | **value clipping** (`clip_grad_value_`) | $g_i \leftarrow \operatorname{clamp}(g_i, -c, c)$ for every entry | each entry, $\lvert g_i\rvert \le c$ |
#
# Norm clipping multiplies every entry by the same positive number, so the step keeps its
# direction and only gets shorter. Value clipping cuts the large entries and leaves the small
# ones, so the direction changes. Here is a real gradient: the recurrent network this chapter
# trains (section 3), on its first batch, clipped both ways at $c = 0.1$ with
# `gradlab.training.clipping`, which does what torch's functions do, written out to be read.

# %%
view = direction.compute_clipping_view(0.1)
print(view.summary())

# %% [markdown]
# The norm-clipped gradient has length 0.1 and points exactly where $g$ pointed (cosine 1, to the
# six digits printed). The value-clipped one is turned by about 47°, and it is far longer than
# 0.1: a bound on each entry is a bound of $c\sqrt{n}$ on the length of $n$ entries. The same
# number $c$ therefore means very different things to the two functions.
#
# ### Interactive: the threshold
#
# The slider sets $c$ for both clippings of the same gradient. The left panel draws the three
# vectors at their true lengths in the plane spanned by $g$ and its value-clipped version (all
# three lie in that plane, so the picture keeps every length and angle); the dashed circle has
# radius $c$, the longest step norm clipping lets through. The right panel shows only their
# directions.
#
# **What to try**
# - Drag $c$ down from 10: when does value clipping start to turn the gradient, and by how much at
#   the smallest $c$?
# - At which $c$ does norm clipping start to act? (Compare with $\lVert g\rVert$.)

# %% tags=["nbval-ignore-output"]
clipping_demo = widgets_clipping.make_clipping_demo(threshold=0.1)
widgets.show(clipping_demo)

# %% [markdown]
# When *would* you clip by value? When a few entries are wildly large and you want a hard bound on
# each one regardless of the others — a blunt guard that gives up the direction. Norm clipping is
# the default because it changes only the step size. At the smallest thresholds value clipping
# turns this gradient by almost 60° and keeps only the signs of most entries:

# %%
for c in (0.001, 1.0, 2.0):
    v = direction.compute_clipping_view(c)
    print(
        f"c = {c:g}: value clipping turns g by {v.value_angle_degrees:.0f}°, "
        f"cuts {100 * v.clamped_fraction:.0f}% of the entries"
    )

# %% [markdown]
# From $c = 2$ up no entry is larger than $c$, and value clipping changes nothing.

# %%
quiz.show(questions.QUICK_CHECK, title="Quick check")

# %% [markdown]
# ## 2. Where clipping belongs in the loop
#
# Clipping changes the gradients, so it must sit **after** `loss.backward()` (which computes
# them) and **before** `optimizer.step()` (which uses them). Here is the loop this chapter trains
# with: a vanilla `nn.RNN` reading the adding problem (below), plain SGD at `lr = 0.25`, and
# `clip_grad_norm_` with `max_norm = 1.0`. `clip_grad_norm_` returns the norm *before*
# clipping — log that one, it is the evidence for everything in sections 4 and 5.
#
# **The adding problem** (`gradlab.training.sequence_tasks`): each sequence has $T$ steps with two
# inputs, a random value in $[0, 1)$ and a marker that is 1 at exactly two steps, one in each
# half. The target is the sum of the two marked values, so the network has to remember the first
# one across up to $T$ steps. Always answering 1.0 scores an MSE of $1/6 \approx 0.167$, the
# **baseline**; a model that does better has learnt something.

# %% tags=["nbval-ignore-output"]
model = make_model("rnn", seed=0, recurrent_scale=1.0)  # nn.RNN(2 → 32, tanh), W_hh = 1.0 · Q
optimizer = torch.optim.SGD(model.parameters(), lr=0.25)
batches = torch.Generator().manual_seed(1000)  # which sequences each step trains on
torch.set_num_threads(1)  # a model this small runs fastest on one thread
for step in range(800):
    x, y = adding_problem(64, 10, generator=batches)  # 64 sequences of T = 10 steps
    loss = nn.functional.mse_loss(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
    if step % 200 == 0 or step == 799:
        print(
            f"step {step:>3}: loss {loss.item():.3f}   |g| before clipping {grad_norm.item():.2f}"
        )

# %% [markdown]
# The exact numbers are the ones on the machine these outputs were stored on. The first gradient
# is large (its norm is printed at step 0): without clipping, `lr = 0.25` times that gradient is
# a step big enough to wreck the weights, as section 3 shows.
#
# ### With mixed precision
#
# `torch.amp.GradScaler` multiplies the loss by a large scale (65536 by default) before
# `backward()` so that small float16 gradients do not underflow. The gradients in `p.grad` are then
# scaled too, and a threshold applied to them would be off by that factor. So: `unscale_` first,
# then clip, then `scaler.step`. The same steps on a small digits classifier, with a scale of 1024:

# %%
data = load_digits_split(seed=0)
classifier = make_mlp(depth=2, width=64, activation="relu", seed=0)
optimizer = torch.optim.SGD(classifier.parameters(), lr=0.05)
scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
x, y = data.x_train[:64], data.y_train[:64]
with torch.autocast("cpu", dtype=torch.float16):
    loss = nn.functional.cross_entropy(classifier(x), y)
optimizer.zero_grad()
scaler.scale(loss).backward()  # 1. gradients of 1024 × loss
scaled_norm = torch.nn.utils.get_total_norm([p.grad for p in classifier.parameters()])
scaler.unscale_(optimizer)  # 2. divide the scale out of p.grad
grad_norm = torch.nn.utils.clip_grad_norm_(classifier.parameters(), max_norm=1.0)  # 3. clip
scaler.step(optimizer)  # 4. step (skipped if a gradient is inf/nan)
scaler.update()
print(f"norm of the scaled gradients: {scaled_norm.item():.3g}")
print(f"norm after unscale_:          {grad_norm.item():.3g}")
print(f"ratio: {(scaled_norm / grad_norm).item():.0f}")

# %% [markdown]
# Clipped before `unscale_`, `max_norm = 1.0` would have applied to a gradient 1024 times too
# large: clipping would fire on every step and divide the learning rate by about a thousand.
#
# **When is clipping needed?** Wherever one step can be huge compared with the typical one:
# recurrent networks (the same weights multiply the gradient at every time step — Chapter 3,
# section 4), transformers (a clip of 1.0 is part of most published training recipes, together
# with learning-rate warmup), reinforcement learning. A well-initialised feed-forward network at a
# sensible learning rate usually trains without it; there, a clip that fires often says that the
# learning rate or the initialisation needs a look (Chapter 7 flags it).

# %% [markdown]
# ## 3. The clipping experiment: one RNN, five thresholds
#
# The loop above, run with `max_norm` = none, 10, 1, 0.1 and 0.01, everything else the same
# (same model, same batches, two seeds). `gradlab.chapters.ch06_clipping.training.sweep` runs it
# and keeps each step's loss and pre-clip norm; the held-out MSE is measured on 1,000 fresh
# sequences at the end. The learning rate 0.25 is deliberately high: high enough that clipping
# decides the outcome. In the table, *learned* means a held-out MSE below half the baseline,
# *barely* one between half the baseline and the baseline.

# %% tags=["nbval-ignore-output"]
seeds = (0, 1, 2, 3, 4) if FULL else (0, 1)
config = training.RunConfig(steps=2000 if FULL else 800)
start = time.perf_counter()
clip_sweep = training.sweep(training.THRESHOLDS, seeds, config=config)
print(f"the sweep took {time.perf_counter() - start:.1f} s ({len(clip_sweep.runs)} runs)")
print(clip_sweep.table())
plots_clipping.plot_sweep(clip_sweep)
plt.show()

# %% [markdown]
# The table's digits (and the curves) are the ones on the machine these outputs were stored on.
# What they show, in words that hold on any machine:

# %%
print(training.conclusions(clip_sweep))
print(training.compare_tight(clip_sweep))

# %% [markdown]
# - **No clipping:** the first steps' gradients (norm 5.7 at step 0, printed in section 2) times
#   `lr = 0.25` throw the weights into a region where the gradient explodes; the loss is `inf` or
#   `nan` within a few dozen steps.
# - **max_norm = 10:** never crashes, but it is too loose to help: the norms it lets through are
#   still far too large for this learning rate, and the loss keeps bouncing far above the
#   baseline of always answering 1.0. (Where exactly the last step lands is chance: the table's
#   held-out MSE at 10 can differ a lot from machine to machine.)
# - **max_norm = 1:** clipping catches the large steps and leaves most others alone; the network
#   learns.
# - **max_norm = 0.1 and 0.01:** clipping fires on nearly every step. Training is stable, but each
#   step is shortened to $\text{lr} \times c$: at 0.01 the run ends with a higher held-out MSE
#   than at 1 in every seed (the last line above). The threshold has quietly become a smaller
#   learning rate (section 4 computes by how much).
#
# Stability is not "the smaller the threshold the better": too loose does not protect, too tight
# slows everything down.

# %% [markdown]
# ## 4. A threshold from evidence
#
# A common recipe says "use `max_norm = 1.0`, because the typical gradient norm is well below 1, so
# clipping only acts on spikes". That is a generalisation: the size of a gradient depends on the
# model, the loss and the loss's reduction (a summed loss has gradients batch-size times larger than
# a mean). Measure it instead. `gradlab.GradientMonitor` records the global gradient norm at every
# step; here are the first 200 steps, without clipping, of two setups: this chapter's RNN at a calm
# `lr = 0.1`, and a 6-layer ReLU network classifying digits with cross-entropy.

# %% tags=["nbval-ignore-output"]
histories = [thresholds.record_norms(setup) for setup in thresholds.SETUPS]
for history in histories:
    p95 = threshold_from_history(history.norms, percentile=95)
    p99 = threshold_from_history(history.norms, percentile=99)
    above_one = np.mean(history.norms > 1.0)
    print(f"{history.label}")
    print(
        f"    median {history.median:.2f}, 95th percentile {p95:.2f}, 99th {p99:.2f}; "
        f"max_norm = 1.0 would clip {100 * above_one:.0f}% of the steps"
    )
plots_clipping.plot_norm_histories(histories)
plt.show()

# %% [markdown]
# Those digits are the ones on the machine these outputs were stored on (200 training steps
# amplify rounding a little). In words that hold on any machine:

# %%
print(thresholds.compare_setups(histories))

# %% [markdown]
# The RNN's typical norm is below 1; the digits network's is above 1, and `max_norm = 1.0` would
# clip most of its steps — not a safety net but a different learning rate. The 95th or 99th
# percentile of your own recorded norms is a threshold that, by construction, leaves the ordinary
# steps of a run like the recorded one alone and catches the rare large ones.
#
# ### What a threshold does to the learning rate
#
# With plain SGD the update is $-\text{lr}\cdot\min(1, c/\lVert g\rVert)\cdot g$: the step is taken
# with an effective learning rate $\text{lr}\times\min(1, c/\lVert g\rVert)$. For one step with
# $\lVert g\rVert = 0.5$ and $c = 0.01$ that is $\text{lr} / 50$. Over the RNN's recorded norms,
# `gradlab.training.clipping.clipping_effect` averages it for a few thresholds:

# %% tags=["nbval-ignore-output"]
rnn_norms = histories[0]
for c in (threshold_from_history(rnn_norms.norms, 99), 1.0, 0.1, 0.01):
    effect = clipping_effect(rnn_norms.norms, threshold=c, lr=rnn_norms.lr)
    print(
        f"max_norm = {c:.3g}: fires on {100 * effect.fraction_clipped:3.0f}% of the steps, "
        f"effective lr {effect.effective_lr:.2g} (lr divided by {1 / effect.mean_scale:.1f})"
    )

# %% [markdown]
# At 0.01 every step is clipped, and each step's learning rate is divided by $\lVert g\rVert/c$
# (by 50 for a step whose norm is 0.5); on average over this run by the printed factor, a few
# tens (the last line of the previous summary). Nothing errors out; the loss just falls slowly,
# as if the learning rate were too small. The diagnosis rule `clipping_too_aggressive` of Chapter 7 does this same computation on a monitor's
# history.

# %% [markdown]
# ## 5. Periodic spikes: investigate first, then clip
#
# Every 100 steps a batch arrives in which 4 of the 64 targets are 100 times too large — a unit
# or encoding error in the data. The same batches feed three runs of the RNN (`lr = 0.1`): without
# clipping, clipped blindly at `max_norm = 1.0`, and *investigated*. A GradientMonitor records the
# pre-clip norm of every step.

# %%
spike_runs = {}
for mode in spikes.MODES:
    spike_model, spike_runs[mode] = spikes.train_with_spikes(mode)
    if mode == "clipped blindly":
        clipped_model = spike_model
flagged = spikes.find_spikes(spike_runs["clipped blindly"].grad_norms)
print(f"steps whose norm is above {spikes.SPIKE_FACTOR:g} × the median: {flagged}")
print(f"steps that carried corrupted targets:      {spikes.corrupted_steps()}")
after_clipping = np.minimum(spike_runs["clipped blindly"].grad_norms, 1.0)
print(f"the same search on the norms after clipping: {spikes.find_spikes(after_clipping)}")
plots_clipping.plot_spike_norms(spike_runs["clipped blindly"], flagged)
plt.show()

# %% [markdown]
# The flagged steps are exactly the corrupted ones. Next, *which examples*? The per-example loss
# of each flagged batch points at them:

# %%
batches = spikes.make_batches()
for step in flagged:
    x, y = batches[step]
    culprits = spikes.find_culprits(clipped_model, x, y)
    targets = ", ".join(f"{y[i].item():.0f}" for i in culprits)
    print(f"step {step}: examples {culprits} have targets {targets} (possible range 0 to 2)")

# %% [markdown]
# The fix is in the data: targets outside $[0, 2]$ are impossible, so the *investigated* run drops
# them before each step (and keeps clipping as a safety net for anything not yet understood).
# What each corrupted batch cost, as the change of the held-out MSE across that one step:

# %% tags=["nbval-ignore-output"]
for mode, run in spike_runs.items():
    jumps = ", ".join(f"{jump:+.3g}" for jump in run.jumps)
    print(
        f"{mode:>16}: held-out MSE change at the corrupted steps {jumps}; final {run.final_mse:.3g}"
    )

# %% [markdown]
# On the machine these outputs were stored on. In words:

# %%
print(spikes.conclusions(spike_runs))

# %% [markdown]
# - Without clipping, the first corrupted batch is a catastrophe: the run never recovers.
# - Clipping blindly survives, and that is its danger: the three bad batches still push the model
#   towards absurd targets each time one arrives, the damage is smaller but real, and nothing in
#   the loss curve says why. Had we logged only the norms after clipping, the evidence would be
#   gone too: capped at 1.0, the corrupted steps look like many ordinary ones, and the same search
#   flags no step (the empty `()` above).
# - Investigating found the cause in three lines of analysis. The logged batch indices led to 12
#   bad examples; dropping them removed the damage. Clip as a safety net *after* you know what the
#   spikes are.

# %% [markdown]
# ## 6. RNN vs LSTM: the cell state as a gradient highway
#
# Chapter 3 measured $\partial\mathcal{L}/\partial h_t$ through an `nn.RNN`: every step back
# multiplies the gradient by $W_h^{\top}$ and a tanh slope, so it vanishes or explodes
# geometrically. An LSTM adds a **cell state** that is updated by addition:
#
# $$
# c_t = f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t),
# \qquad \frac{\partial c_t}{\partial c_{t-1}}\Big|_{\text{direct}} = \operatorname{diag}(f_t).
# $$
#
# Along the cell state the gradient is multiplied only by the forget gate $f_t \in (0, 1)$ — no
# weight matrix, no squashing slope. When $f_t \approx 1$ it passes many steps almost unchanged:
# a highway. Here is $\lVert\partial\mathcal{L}/\partial h_t\rVert$ (relative to the last step's)
# over 50 steps of the adding problem, for freshly initialised networks of the same size (32 units,
# three seeds each): an `nn.RNN`, an `nn.LSTM` with PyTorch's default init, and two LSTMs whose
# forget-gate bias is set to 1 and to 3.

# %%
profiles = [
    through_time.profile("nn.RNN", "rnn"),
    through_time.profile("nn.LSTM, default init", "lstm"),
    through_time.profile("nn.LSTM, forget bias 1", "lstm", forget_bias=1.0),
    through_time.profile("nn.LSTM, forget bias 3", "lstm", forget_bias=3.0),
]
for result in profiles:
    print(
        f"{result.label:<24} reaching the first step: {result.first_step:.1e} "
        f"(per step back ×{result.per_step_factor():.2f})"
    )
plots_clipping.plot_time_profiles(profiles)
plt.show()

# %% [markdown]
# The highway is not automatic. At PyTorch's default init every bias is small, so the forget gate
# sits near $\sigma(0) = 0.5$ and the LSTM's gradient fades about as fast as the RNN's. With a
# forget bias of 3 the gate is near $\sigma(3) \approx 0.95$ and the per-step factor is about that:
# a tenth of the gradient, not $10^{-11}$ of it, reaches the first of 50 steps. (That is why many
# implementations initialise the forget bias to 1 or more.)
#
# Training can open the gate too. The same adding problem over $T = 30$ steps, trained with Adam
# (`lr = 0.01`, `max_norm = 1.0`) from the default init, an `nn.RNN` and an `nn.LSTM` of 32 units
# on the same batches; then the gradient through time of the *trained* networks, measured as
# above over 50 steps:

# %% tags=["nbval-ignore-output"]
kind_seeds = (0, 1, 2, 3, 4) if FULL else (0,)
start = time.perf_counter()
kind_runs = training.compare_kinds(kind_seeds)
trained = {
    kind: through_time.profile_models(kind, [model for model, _ in runs])
    for kind, runs in kind_runs.items()
}
print(f"took {time.perf_counter() - start:.1f} s")
for kind, runs in kind_runs.items():
    mses = ", ".join(f"{record.test_mse:.3g}" for _, record in runs)
    print(f"{kind}: held-out MSE {mses} (baseline {BASELINE_MSE:.3f})")
plots_clipping.plot_time_profiles(list(trained.values()))
plt.show()

# %%
highway = {kind: profile.per_seed[:, 0] for kind, profile in trained.items()}
print(training.kind_conclusions(kind_runs, highway))

# %% [markdown]
# The LSTM solves the task and its trained gradient reaches the first step; the RNN stays near the
# baseline, and after training almost nothing of the gradient gets back to the early steps, where
# the first marked value sits. Both runs were clipped at 1.0 and stayed finite, but clipping
# cannot create a path for the gradient that the architecture does not have.
#
# How long the experiments took, on the machine these outputs were stored on:

# %% tags=["nbval-ignore-output"]
print(
    f"the notebook so far: {time.perf_counter() - notebook_start:.0f} s, "
    f"of which the clipping sweep {clip_sweep.seconds:.0f} s"
)

# %% [markdown]
# ## 7. Knowledge check

# %%
quiz.show(questions.KNOWLEDGE_CHECK, title="Chapter 6 knowledge check")

# %% [markdown]
# ## Summary
#
# - Norm clipping scales the whole gradient by $\min(1, c/\lVert g\rVert)$ and keeps its
#   direction (cosine 1); value clipping clamps each entry, bounds each entry but not the length,
#   and turns the direction.
# - Clip after `backward()` (and after `scaler.unscale_` with mixed precision), before `step()`.
#   Log the norm `clip_grad_norm_` returns: it is the pre-clip norm.
# - On a recurrent network at a high learning rate: no clipping diverged, a loose threshold (10)
#   did not help, 1 worked, and tight thresholds (0.1, 0.01) clipped nearly every step; 0.01
#   ended behind 1 in every seed. A threshold far below the typical norm divides the learning
#   rate by $\lVert g\rVert / c$.
# - Choose the threshold from your own recorded norms (95th–99th percentile), not from a default:
#   the typical norm depends on the model and the loss.
# - Spikes that come back are evidence: log the steps, find the examples, fix the data, then clip
#   as a safety net.
# - An LSTM's cell state is a gradient highway when its forget gate is open; at the default init
#   it is not, and training opens it, as does a large forget bias (with 3, a tenth of the
#   gradient crosses 50 steps).
#
# **Next:** practise with [the Chapter 6 exercises](../exercises/06_clipping_exercises.ipynb):
# implement norm clipping and check it against torch's, derive a threshold from a recorded norm
# history, and detect a threshold that is too aggressive.
#
# ---
# ← Previous: [Chapter 5, residual connections](05_residual.ipynb) · Next: [Chapter 7, monitoring and diagnosis](07_monitoring.ipynb) ·
# Exercises: [06_clipping_exercises](../exercises/06_clipping_exercises.ipynb)
