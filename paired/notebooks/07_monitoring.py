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
# # Chapter 7 — Monitoring and diagnosis
#
# The first chapters measured gradients in networks built to show one problem at a time. In a
# real project nobody tells you which problem you have. This chapter builds the tool that does:
# a **gradient monitor** that watches an ordinary training loop, and a **diagnosis** that turns
# what it measured into findings with evidence and a fix. Every deep-learning practitioner should
# have one; when training does not converge, check gradient flow first.
#
# **You will be able to**
# - write a gradient monitor with backward hooks, and say why the simplest one breaks on
#   `nn.ReLU(inplace=True)` and `x += shortcut`;
# - watch any model with `gradlab.GradientMonitor` and read `monitor.report()`;
# - go through the diagnosis table — NaN loss, vanishing, exploding, huge activations, dead
#   units, missing gradients — on broken models, apply each fix, and confirm the model is
#   healthy again;
# - read an update-to-data ratio plot against the $10^{-3}$ rule of thumb, and per-layer
#   gradient histograms;
# - use a live dashboard that trains a real model and diagnoses it while you watch.
#
# Every number the text quotes is printed by a cell next to it, and holds on any CPU. Training
# runs round differently on different machines, so a few cells show one run's exact trajectory;
# those say "on the machine these outputs were stored on", and the text states only what every
# machine reproduces. The whole notebook runs in well under a minute on a laptop CPU.

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import gradlab
from gradlab import formatting
from gradlab.chapters.ch07_monitoring import dashboard
from gradlab.chapters.ch07_monitoring import plots as monitor_plots
from gradlab.chapters.ch07_monitoring import questions, scenarios, tutorial_monitor
from gradlab.chapters.ch07_monitoring import widgets as widgets_monitoring
from gradlab.training.data import load_digits_split
from gradlab.ui import quiz
from gradlab.ui import wiring as widgets

# The networks here are tiny: one CPU thread runs them fastest.
torch.set_num_threads(1)

data = load_digits_split(seed=0)
x, y = data.x_train[:128], data.y_train[:128]  # one batch of 128 digits, 64 pixels each
loss_fn = nn.CrossEntropyLoss()
print(f"batch: x {tuple(x.shape)}, y {tuple(y.shape)}, {data.num_classes} classes")
blank = int((data.x_train == 0).all(dim=0).sum())
print(f"pixels that are 0 in every training image: {blank} of {data.in_features}")

# %% [markdown]
# ## 1. A gradient monitor in twenty lines — and where it breaks
#
# Many tutorials share one gradient monitor; we call it *the tutorial monitor*. For every module
# that owns parameters it registers a *full backward hook*; PyTorch calls the hook during
# `backward()` with the gradient reaching the module's output, and the hook stores its norm:
#
# ```python
# module.register_full_backward_hook(self._make_hook(name))
#
# def hook(module, grad_input, grad_output):
#     if grad_output[0] is not None:
#         grad_norm = grad_output[0].norm().item()
#         self.gradient_history[name].append(grad_norm)
# ```
#
# The tutorial monitor (`gradlab.chapters.ch07_monitoring.tutorial_monitor.TutorialGradientMonitor`) is that class as written
# (plus a `remove()` for its hooks). Here it watches the tutorial's own example, a sigmoid MLP
# of ten `Linear` layers (nine hidden layers, each followed by a sigmoid, then the output layer)
# with PyTorch's default initialisation. Its layers are named `linear1` ... `linear9` and
# `output`, and we check every number against plain autograd:

# %%
deep_sigmoid = scenarios.make_scenario_mlp(64, 10, activation=nn.Sigmoid, depth=9, init=None)
tutorial_run = tutorial_monitor.run_tutorial_monitor(deep_sigmoid, x, y, loss_fn)
by_autograd = tutorial_monitor.output_gradient_norms(deep_sigmoid, x, y, loss_fn)
print(f"{len(tutorial_run.stats)} Linear layers")
for name, stats in tutorial_run.stats.items():
    print(f"layer '{name}': mean ||dL/d output|| = {stats['mean']:.1e}")
matches = all(np.isclose(tutorial_run.stats[n]["mean"], v, rtol=1e-5) for n, v in by_autograd.items())
print("matches autograd:", matches)
first, last = tutorial_run.stats["linear1"]["mean"], tutorial_run.stats["output"]["mean"]
print(f"last layer / first layer: {last / first:.0e}")

# %% [markdown]
# It works, and it already shows the problem of Chapter 2: the first layer receives about
# $2 \times 10^{-9}$, about $4 \times 10^{7}$ times less than the last. Now the same monitor on a
# model written the way torchvision writes ResNets, with `nn.ReLU(inplace=True)` and an in-place
# shortcut `out += x`. Here it is in full; section 2 trains it:

# %%
class InplaceResidualMLP(nn.Module):
    """stem → ReLU → block, plus the shortcut added in place → ReLU → head."""

    def __init__(self, in_features: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        self.stem = nn.Linear(in_features, width)
        self.block = nn.Linear(width, width)
        self.head = nn.Linear(width, num_classes)
        self.relu = nn.ReLU(inplace=True)  # in place: overwrites its input, saves memory

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.stem(x))
        out = self.block(x)
        out += x  # the shortcut, added in place
        return self.head(self.relu(out))


torch.manual_seed(0)  # the initial weights
inplace_model = InplaceResidualMLP(data.in_features, data.num_classes)
failed = tutorial_monitor.run_tutorial_monitor(inplace_model, x, y, loss_fn)
print("ok:", failed.ok)
print("RuntimeError:", failed.error)

# %% [markdown]
# A full backward hook hands the module's output to the rest of the network as a *view* made by
# its own autograd function, and autograd refuses to let anyone modify that view in place
# ([pytorch issue 61519](https://github.com/pytorch/pytorch/issues/61519)). The model itself is
# fine; only the monitor breaks it — already in the forward pass, before any gradient exists.
# Two more costs hide in the hook: `.item()` forces one CPU–GPU synchronisation per layer per
# step, and `gradient_history[name].append` grows a list that is never trimmed.
#
# ## 2. `gradlab.GradientMonitor`
#
# gradlab's monitor avoids all three. It hooks each layer's output *tensor*, not the module: the
# hook sits on the autograd node that produced that output, so an in-place op that follows cannot
# break it, and it sees that value's gradient. It keeps numbers on the device
# until a step is over, records every `every`-th step, and keeps a bounded history. Wrap your
# loop, unchanged:
#
# ```python
# with gradlab.GradientMonitor(model, every=10) as monitor:
#     for x, y in loader:
#         ...  # forward, backward, optimizer.step() as usual
# print(monitor.report())
# ```
#
# Here it is on the in-place model the tutorial monitor could not watch, for 50 SGD steps: the
# model above and an ordinary loop, with the monitor around it. Change the learning rate, the
# number of steps or the model (its width, a third layer) and run the cell again.

# %%
start_loss = loss_fn(inplace_model(x), y).item()  # before any step
optimizer = torch.optim.SGD(inplace_model.parameters(), lr=0.03)
with gradlab.GradientMonitor(inplace_model) as monitor:
    for _ in range(50):
        optimizer.zero_grad()
        loss = loss_fn(inplace_model(x), y)
        loss.backward()
        optimizer.step()
print(f"loss before training: {start_loss:.2f} (ln 10 = {math.log(10):.2f}, a 10-class guess)")
print(f"loss at step 50: {loss.item():.1f}")
print(monitor.report())

# %% [markdown]
# What it recorded is plain numbers keyed by step, one column per layer (or parameter):

# %%
history = monitor.to_numpy()
for quantity in ("layer_grad_norm", "output_grad_norm", "fraction_dead", "update_ratio"):
    print(f"{quantity:<16} shape {history[quantity].shape}  columns {monitor.layers}")
monitor_plots.plot_grad_norms(history["steps"], history["layer_grad_norm"], monitor.layers)
plt.show()

# %% [markdown]
# What does watching cost? The next cell times 200 steps of the same model bare, under a monitor
# that records every step, and under one that records every 10th step. Timings depend on the
# machine and on what else it runs: the numbers below are from the machine these outputs were
# stored on, so run the cell to get yours.

# %% tags=["nbval-ignore-output"]
def seconds_per_step(every: int | None, steps: int = 200) -> float:
    """Wall time of one SGD step of inplace_model, bare (every=None) or under a monitor."""
    step_optimizer = torch.optim.SGD(inplace_model.parameters(), lr=0.03)
    watcher = gradlab.GradientMonitor(inplace_model, every=every) if every else None
    if watcher is not None:
        watcher.__enter__()
    start = time.perf_counter()
    for _ in range(steps):
        step_optimizer.zero_grad()
        loss_fn(inplace_model(x), y).backward()
        step_optimizer.step()
    elapsed = time.perf_counter() - start
    if watcher is not None:
        watcher.__exit__(None, None, None)
    return elapsed / steps


bare = min(seconds_per_step(None) for _ in range(3))
for every in (1, 10):
    watched = min(seconds_per_step(every) for _ in range(3))
    print(f"every={every:<2}: {watched / bare:.2f}x the bare step ({bare * 1e3:.2f} ms)")

# %% [markdown]
# On a model this tiny a step takes about a millisecond or less, so the hooks' fixed cost shows;
# on a real model it is a small share of the step (the README's performance table: 1.17–1.20x
# with everything recorded on every step of a 20-layer MLP, the most of its five models, and
# 1.02–1.03x on every 10th). Recording every 10th step costs less than every step, whatever the
# model.
#
# `gradlab.diagnose(model, (x, y), loss_fn)` is the one-batch version: one forward and backward
# pass under a monitor, the same rules, nothing updated. That is what the next section uses.
#
# ## 3. The diagnosis table, one broken model at a time
#
# When a model fails to train, these are the signals to inspect:
#
# | signal | possible issue | broken model here | fix here |
# |---|---|---|---|
# | loss becomes `nan` | exploding gradients, bad data, unstable loss | one missing value (NaN) in the data | clean the data |
# | early-layer gradient norms near zero | vanishing gradients | 10 Linear layers with sigmoids, default init | ReLU + He init |
# | very large gradient norms | exploding gradients, too large a learning rate | weights of std 1 (huge activations first) | He init |
# | activations of huge magnitude | poor initialisation, missing normalisation | pixels fed as 0–255 | standardise the inputs |
# | activations mostly zero | dead ReLU units | a bias of −10 in the third Linear layer | zero bias (He init) |
# | gradients are `None` | detached graph, unused parameter | `.detach()` between body and head | remove it |
#
# How `diagnose` judges the second row: for each layer it measures the *relative gradient*
# $\lVert\partial\mathcal{L}/\partial W\rVert / \lVert W\rVert$, how far one plain SGD step
# (learning rate 1) would move the layer's weights relative to their size. Under plain SGD a
# layer whose relative gradient is a small fraction of a later layer's learns that many times
# slower at any learning rate: a vanishing gradient. `diagnose` warns when a layer's is below
# 1/100 of the largest among the later hidden layers, and reports an error below 1/10,000 of any
# later layer's, the output layer's included (it takes the loss gradient first, and in some
# healthy networks its relative gradient runs far above the hidden layers'). Measured on the weights, it hardly depends on how many elements a
# layer's output has (a conv layer whose map is average-pooled gets a tiny gradient per pixel,
# but its weight gradient sums them all). Normalisation layers and embeddings are left out, and
# the layers of a numbered block such as `layer1.0` or `h.3` count once, at their largest: parts
# that are small by construction (a block's attention query and key at initialisation) raise no
# alarm.
#
# `gradlab.chapters.ch07_monitoring.scenarios` holds each row as data: a broken set-up, its fixed twin, and the finding
# `diagnose` should report and where. The loop below builds each broken model, diagnoses it,
# applies the fix, and diagnoses again:

# %%
for name in scenarios.TABLE_SCENARIOS:
    scenario = scenarios.get_scenario(name)
    before = scenarios.run_scenario(name, x, y)
    after = scenarios.run_scenario(name, x, y, fixed=True)
    found = next(f for f in before.findings if f.kind == scenario.kind)
    remaining = ", ".join(f"{f.kind} ({f.severity})" for f in after.findings) or "none"
    print(f"{scenario.signal}")
    print(f"  broken: {found.kind} at '{found.layer}' ({found.severity})")
    print(f"  fix: {scenario.fix}")
    print(f"  after the fix: {len(after.errors)} errors; findings: {remaining}")

# %% [markdown]
# Every broken model gets the finding its row of the table names, at the layer the scenario
# expects, and every fix leaves no finding at all. A report can hold more than that one finding:
# the too-large init's report leads with the huge activations that cause its exploding gradients
# (section 6 prints it). When a report has both, warnings are worth a look, errors are worth a
# stop.
#
# The table's He-init fixes and most of what the reports' fix lines suggest are the subjects of
# the chapters between Chapter 3 and this one (cleaning the data, standardising the inputs and
# removing a `.detach()` need no chapter):
#
# - initialisation (He, Xavier), normalisation (LayerNorm, BatchNorm) and learning-rate warmup:
#   [Chapter 4](04_init_norm.ipynb), which derives He init and measures what it keeps alive;
# - residual connections: [Chapter 5](05_residual.ipynb);
# - gradient clipping (`torch.nn.utils.clip_grad_norm_`) and how to pick its threshold from
#   recorded norms: [Chapter 6](06_clipping.ipynb).
#
# A report says more than its kind, and its order is the triage order: root causes (a NaN in the
# data, missing gradients, dead or saturated units, huge activations) before what they cause
# (vanishing or exploding gradients, odd update ratios), and within a kind errors before
# warnings, so a cause leads even when it is only a warning. A NaN or inf that *training*
# produced comes after the findings measured on the steps before it, and says it is their
# consequence: NaN is where a problem ends, not where it starts. Here is the full report for the
# dead-ReLU model: two errors, the dead units first, then the vanishing gradient they *cause*
# below them — whose fix says to fix the dead units first.

# %%
print(scenarios.run_scenario("dead_relus", x, y))

# %% [markdown]
# ### Quick check

# %%
quiz.show(questions.QUICK_CHECK)

# %% [markdown]
# ## 4. The update-to-data ratio
#
# A gradient norm alone does not say whether a layer learns too fast or too slowly: that depends
# on the learning rate and on the size of the weights. The **update-to-data ratio**
# $\lVert \Delta\theta \rVert / \lVert \theta \rVert$ — the size of one optimizer step relative
# to the size of the weights it changes — does. Andrej Karpathy's rule of thumb (makemore
# lecture, part 3) is about $10^{-3}$: much below it the layer barely moves, far above it each
# step overwrites what was learned. The monitor records it for every layer's weight across
# `optimizer.step()`.
#
# The healthy ReLU network trained on digits at three learning rates, 100 SGD steps each:

# %%
ratio_runs = {
    lr: dashboard.compute_dashboard("healthy", lr=lr, steps=100) for lr in (0.003, 0.03, 1.5)
}
for lr, run in ratio_runs.items():
    median = np.nanmedian(run.update_ratios)
    start = formatting.format_number(run.losses[0])
    if run.stopped_at is None:
        end = f"{run.losses[-1]:.1f} after {len(run.losses)} steps"
    elif run.stopped_at < 20:
        end = "not finite before step 20"
    else:
        end = f"not finite at step {run.stopped_at}"
    print(f"lr = {lr:<5}: median update ratio {median:.0e}, loss {start} -> {end}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12.5, 3.4))
fig.subplots_adjust(wspace=0.45)  # room for the left panel's legend
good = ratio_runs[0.03]
monitor_plots.plot_update_ratios(good.recorded_steps, good.update_ratios, good.layers, axes[0])
axes[0].set_title("lr = 0.03")
wild = ratio_runs[1.5]
monitor_plots.plot_update_ratios(wild.recorded_steps, wild.update_ratios, wild.layers, axes[1])
axes[1].set_title("lr = 1.5")
plt.show()

# %% tags=["nbval-ignore-output"]
# The detail behind the plots (numbers from the machine these outputs were stored on).
for lr, run in ratio_runs.items():
    medians = ", ".join(f"{m:.1e}" for m in np.nanmedian(run.update_ratios, axis=0))
    lowest = np.nanmin(run.update_ratios, axis=0).min()
    print(f"lr = {lr:<5}: per-layer median ratios {medians}; lowest single step {lowest:.1e}")
slow_hidden = ratio_runs[0.003].update_ratios[:, :-1]  # every layer but the output layer
print(f"lr = 0.003: the hidden layers' highest single step {np.nanmax(slow_hidden):.1e}")

# %% [markdown]
# - At `lr = 0.03` every layer sits at about $3 \times 10^{-3}$, just above the line, and the
#   loss falls from 2.96 to about 0.6 in 100 steps.
# - At `lr = 0.003` the ratio is ten times smaller: every layer's median sits below the line, and
#   every hidden layer stays below it at every step, from the first (its highest single step is
#   printed above). The ratio says "too low" at once; the loss only says it over the whole run,
#   by still being above 2 after 100 steps.
# - At `lr = 1.5` the median ratio is about 0.6: a typical step changes a weight matrix by more
#   than half of its own norm. Every layer's median is above 0.3, hundreds of times the line,
#   although single steps of some layers dip below 0.1 (see the plot). The loss becomes
#   non-finite before step 20 (at which step exactly depends on the machine's rounding).
#
# The ratios of different layers sit close together in a healthy network. A layer far below the
# others is starved — usually by vanishing gradients — even when the learning rate is right.

# %% [markdown]
# ## 5. Gradient histograms per layer
#
# A norm squeezes a layer's gradient into one number. A histogram of $\log_{10}\lvert g\rvert$
# over the layer's elements shows its whole spread. Exact zeros cannot sit on a log axis, so the
# legend gives each layer's share of them. A weight's gradient is (gradient at the unit's output)
# × (its input), summed over the batch: a ReLU unit that is off for every example of the batch
# gives its whole row of weights exactly 0, and as an input it zeroes a column of the next layer.
# Three runs after 100 steps: healthy, the deep sigmoid network, and the dead-ReLU network.

# %% tags=["nbval-ignore-output"]
histogram_runs = {
    name: dashboard.compute_dashboard(name, steps=100)
    for name in ("healthy", "deep_sigmoid", "dead_relus")
}
fig, axes = plt.subplots(1, 3, figsize=(17, 3.6))
for ax, (name, run) in zip(axes, histogram_runs.items(), strict=True):
    monitor_plots.plot_gradient_histograms(run.histograms, ax)
    ax.set_title(name)
fig.subplots_adjust(wspace=0.95)  # room for each panel's legend
plt.show()
for name, run in histogram_runs.items():
    medians = ", ".join(f"{m:.2f}" for m in run.histograms.median_log10())
    print(f"{name:>12}: median log10|g| per layer (first to last): {medians}")

# %% [markdown]
# The exact zeros, layer by layer, and the monitor's own dead-unit measure for the healthy run —
# the share of each hidden layer's outputs (every unit on every example of the batch) through
# which no gradient flows back, median over its last 20 steps (the diagnosis warns at 90 %). A
# unit counts as dead on an example when the activation's derivative at its input is below 0.01:
# for a ReLU, an input $\le 0$ (the derivative is 0); for ELU, an input below
# $\ln 0.01 \approx -4.6$; for GELU and SiLU, an input far on the negative side (below about
# $-3.1$ and $-6.3$) or in the narrow band around where their slope crosses 0 (near $-0.75$ and
# $-1.28$). A LeakyReLU with slope 0.01 always passes 1 % back and is never dead, but it is no
# cure for the bias of −10 of section 3: swapped in for that model's ReLUs, the units after
# `linear3` (all with inputs below 0) pass back only 1 % of the gradient they receive to every
# layer below them. Digits from the machine these outputs were stored on:

# %% tags=["nbval-ignore-output"]
for name, run in histogram_runs.items():
    zeros = run.histograms.zero_fraction()
    shares = ", ".join(formatting.format_percent(z) if z else "none" for z in zeros)
    print(f"{name:>12}: exactly 0 per layer (first to last): {shares}")
off = np.nanmedian(histogram_runs["healthy"].fraction_dead[-20:, :-1], axis=0)
shares = ", ".join(formatting.format_percent(v) for v in off)
print(f"     healthy: ReLU outputs counted dead (input <= 0) per hidden layer: {shares}")

# %% [markdown]
# About half of each hidden layer's outputs are 0, yet if each unit were off for a random half of
# the examples, it would be off for all 64 examples of a batch with probability
# $2^{-64} \approx 5 \times 10^{-20}$ (printed below): the zeros in the histograms need another
# cause. The next
# cell looks at the healthy model as built (He init, before any step) on every training image:
# how alike two images look to each hidden layer (the mean cosine similarity of their ReLU
# outputs), and how many of the layer's 32 units are off (output 0) for over 90 % of the images,
# on for over 90 %, and off for every one.

# %%
healthy_model, _ = scenarios.build(
    "healthy", fixed=False, in_features=data.in_features, num_classes=data.num_classes
)
print(f"P(a unit off for a random half of the images is off for all 64 of a batch) = {0.5**64:.0e}")
hidden = data.x_train
print(f"{len(hidden)} training images")
with torch.no_grad():
    for i in range(1, scenarios.DEPTH + 1):
        pre_activation = getattr(healthy_model, f"linear{i}")(hidden)
        hidden = torch.relu(pre_activation)
        directions = nn.functional.normalize(hidden, dim=1)
        cosine = directions @ directions.T
        similarity = cosine[~torch.eye(len(hidden), dtype=torch.bool)].mean()
        off = (pre_activation <= 0).float().mean(dim=0)  # per unit: share of images giving 0
        print(
            f"linear{i}: similarity {similarity:.1f}; units mostly off {int((off > 0.9).sum()):>2},"
            f" mostly on {int((off < 0.1).sum()):>2}, always off {int((off == 1).sum())}"
        )

# %% [markdown]
# - **healthy**: every layer's gradients sit around $10^{-2}$; the histograms overlap. Its later
#   layers still have a sizeable share of exact zeros (see the legend). The cell above says why:
#   a ReLU's output is never negative, so every image's hidden vector shares a large common part,
#   and the images look more alike layer by layer (similarity from about 0.3 after `linear1` to
#   about 0.8 after `linear6`). A unit then tends to be on for nearly every image or off for
#   nearly every one, and a unit off for a whole batch gives its row of weights (and the column
#   it feeds in the next layer) exactly 0. A few units are off for every training image from the
#   start: dead for this data, a little wasted width (`linear4`–`linear6`: 6–12 of 32 units
#   mostly off, 6–9 mostly on, 1–3 always off). The layers still learn, and about half of each
#   layer's outputs are on, far from the 90 % at which the diagnosis warns. The first layer's few
#   zeros (under 5 %, here and in the deep sigmoid network) have a plainer cause: 3 of the 64
#   pixels are 0 in every training image (the first cell counted them), and a weight whose input
#   is always 0 gets no gradient.
# - **deep sigmoid**: the histograms march left one layer at a time, from about $10^{-2}$ at the
#   output layer to about $10^{-9}$ at the first — the vanishing gradient as a picture.
# - **dead ReLUs**: the first three layers have no histogram at all: every one of their gradient
#   elements is exactly 0. `linear4` is almost all zeros too: its inputs, the dead units after
#   `linear3`, are all 0, so its weight gradient is exactly 0 and only its bias gets one.

# %% [markdown]
# ## 6. A live gradient dashboard
#
# Everything above in one widget. Pick a scenario; it builds that model, trains it for real with
# plain SGD on digits under a `GradientMonitor` for the number of steps you choose, and draws the
# loss, each layer's gradient norm, each layer's update ratio against $10^{-3}$, and the gradient
# histograms of the last step. Below the plots is `monitor.report()`. Tick **apply the fix** to
# train the repaired model instead.
#
# **What to try**
# - *deep sigmoid*: the gradient-norm panel fans out over many orders of magnitude and the loss
#   stays near $\ln 10 \approx 2.30$. Apply the fix and the fan closes.
# - *too-large init* and *too-high learning rate*: the run stops at the first non-finite loss, marked
#   with an x in the loss and gradient-norm panels; the report leads with what went wrong first
#   (huge activations, too-large updates) and names the step and layer where the numbers
#   overflowed as its consequence.
# - *dead ReLUs*: after a few steps `linear1`–`linear3` get exactly zero gradient at most
#   steps — gaps in their lines, since 0 has no place on a log axis — and empty histograms.
# - *detached sub-module*: the loss still falls (the head learns), yet two layers show `None`.
#
# A new setting trains a new model, which takes a second or two: the dashboard clears the old
# plots, says "training…" and greys out its controls until the new plots are drawn (a change made
# meanwhile would only be lost), then the controls answer again.

# %% tags=["nbval-ignore-output"]
dashboard_demo = widgets_monitoring.make_dashboard_demo(scenario="deep_sigmoid", steps=100)
widgets.show(dashboard_demo)

# %% [markdown]
# Two of the dashboard's runs, read as their reports: its starting setting, and the fastest
# diverging scenario (the digits are from the machine these outputs were stored on; the findings,
# their order and their layers are the same on any machine):

# %% tags=["nbval-ignore-output"]
report_runs = {
    name: dashboard.compute_dashboard(name, steps=100)
    for name in ("deep_sigmoid", "too_large_init")
}
print(report_runs["deep_sigmoid"].summary())
print()
print(report_runs["too_large_init"].summary())

# %% [markdown]
# Read the second report from the top: on the finite steps before the overflow the activations
# are already huge from `linear2` on, the gradients and updates that follow from them are huge
# too, and only then does a value overflow. The non-finite value is the last line of the story.
# The findings in order:

# %%
for name, run in report_runs.items():
    report = run.report
    print(f"{name}: " + " -> ".join(f"{f.kind} at '{f.layer}'" for f in report.findings))

# %% [markdown]
# ## 7. Knowledge check

# %%
quiz.show(questions.KNOWLEDGE_CHECK, title="Chapter 7 knowledge check")

# %% [markdown]
# ## Summary
#
# - A gradient monitor hooks a backward pass and stores numbers per layer and step. The tutorial
#   monitor's full-backward-hook version works on plain MLPs but breaks on in-place ops;
#   `gradlab.GradientMonitor` hooks tensors instead and watches any model, every N steps, in
#   bounded memory.
# - `gradlab.diagnose(model, (x, y), loss_fn)` and `monitor.report()` apply the diagnosis table:
#   each finding names a kind, a layer, its evidence and a fix. The report leads with the root
#   cause; fix the first layer where the problem starts, since later layers often inherit it, and
#   read a NaN as the end of a story that started earlier. Chapters 4–6 teach the fixes:
#   [initialisation, normalisation and warmup](04_init_norm.ipynb),
#   [residual connections](05_residual.ipynb), [clipping](06_clipping.ipynb).
# - The update-to-data ratio should sit near $10^{-3}$: far above, lower the learning rate; far
#   below in some layers only, look for vanishing gradients.
# - Per-layer gradient histograms show what norms hide: a spread marching left (vanishing) or a
#   layer whose gradient is exactly 0 throughout (dead units on its way to the loss). Some exact
#   zeros are normal in a ReLU network: units that happen to be off for a whole batch.
#
# **Next:** practise with [the Chapter 7 exercises](../exercises/07_monitoring_exercises.ipynb).
#
# ---
# ← Previous: [Chapter 6, gradient clipping](06_clipping.ipynb) · Next: Chapter 8
# (coming) · Exercises: [exercises/07_monitoring_exercises.ipynb](../exercises/07_monitoring_exercises.ipynb)
