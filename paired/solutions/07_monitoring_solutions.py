# ---
# jupyter:
#   jupytext:
#     formats: solutions///ipynb,paired/solutions///py:percent
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
# # Chapter 7 exercises — monitoring and diagnosis
#
# These exercises go with `notebooks/07_monitoring.ipynb`. Each one has a cell for your answer
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
# python -m gradlab.grade exercises/07_monitoring_exercises.ipynb
# ```
#
# Run the cells in order: every part uses the batch and
# `build_mlp` from the first code cell, and Exercise 7.5 repairs the broken models of 7.4.
#
# The tools you practise are `gradlab.GradientMonitor` (records gradient flow during a normal
# training loop) and `gradlab.diagnose` (one forward/backward pass, then the diagnosis table).

# %%
import copy
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

import gradlab
from gradlab.chapters.ch07_monitoring import questions
from gradlab.ui import quiz
from gradlab.training.data import load_digits_split
from gradlab.grading import check_close, check_equal

torch.set_num_threads(1)  # tiny networks: one thread is fastest

data = load_digits_split(seed=0)
x, y = data.x_train[:256], data.y_train[:256]  # one fixed batch of 256 digits (64 pixels each)
loss_fn = nn.CrossEntropyLoss()


def build_mlp(activation, depth=4, width=32, seed=0):
    """Linear(64 → width), activation, ..., Linear(width → 10); He init, zero biases.

    The layers are named 'linear1', 'relu1', 'linear2', ..., 'output' (the activation's name
    follows its class), so model.linear3 is the third Linear layer.
    """
    torch.manual_seed(seed)
    layers, fan_in = OrderedDict(), 64
    for i in range(1, depth + 1):
        linear = nn.Linear(fan_in, width)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        nn.init.zeros_(linear.bias)
        function = activation()
        layers[f"linear{i}"] = linear
        layers[f"{type(function).__name__.lower()}{i}"] = function
        fan_in = width
    layers["output"] = nn.Linear(width, 10)
    return nn.Sequential(layers)


print(f"batch x: {tuple(x.shape)}, y: {tuple(y.shape)}")
print(build_mlp(lambda: nn.ReLU(inplace=True), depth=2))

# %% [markdown]
# ## Part A — your own monitor, and why the tutorial monitor breaks
#
# A common tutorial monitor (`TutorialGradientMonitor`) registers
# `module.register_full_backward_hook` on every layer. Run it on a network whose activations are
# `nn.ReLU(inplace=True)` (as torchvision's ResNets are):

# %%
def tutorial_monitor_backward(model):
    """The tutorial monitor's approach: a full backward hook on every layer with parameters."""
    norms = {}
    handles = [
        module.register_full_backward_hook(
            lambda module, grad_input, grad_output, name=name: norms.update(
                {name: grad_output[0].norm().item()}
            )
        )
        for name, module in model.named_modules()
        if list(module.parameters(recurse=False))
    ]
    try:
        loss_fn(model(x), y).backward()
    finally:
        for handle in handles:
            handle.remove()
    return norms


inplace_model = build_mlp(lambda: nn.ReLU(inplace=True))
try:
    tutorial_monitor_backward(inplace_model)
except RuntimeError as error:
    print("RuntimeError:", str(error).split(". ")[0] + ".")

# %% [markdown]
# A full backward hook wraps the module's output in a view made by a custom autograd function;
# the in-place ReLU then writes into that view, and autograd refuses. `gradlab.GradientMonitor`
# instead puts a **tensor hook** on each layer's output (`output.register_hook(...)`, installed by
# a forward hook): it fires with $\partial\mathcal{L}/\partial\,\text{output}$ and does not mind a
# later in-place op.
#
# **Exercise 7.1 (3 points).** Write `output_grad_norms(model, x, y)`: one forward and backward
# pass of `loss_fn(model(x), y)` that returns a dict `{name: ‖∂L/∂output‖}` with one entry per
# `nn.Linear` in `model` (its name in `model.named_modules()`, e.g. `"linear1"`). Use a forward
# hook on each Linear that calls `output.register_hook(...)`; store the norm as a float. Remove
# every forward hook before returning, also when the pass fails (`try` / `finally`). Do not use
# `register_full_backward_hook`.

# %%
def output_grad_norms(model, x, y):
    """‖∂L/∂output‖ of every nn.Linear in model, from one backward pass; hooks removed after."""
    ### BEGIN SOLUTION
    # PROMPT: hook every nn.Linear's output with a tensor hook, backpropagate once, return norms
    norms = {}

    def keep_output(name, module, inputs, output):
        output.register_hook(lambda grad: norms.update({name: float(grad.norm())}))

    handles = [
        module.register_forward_hook(
            lambda module, inputs, output, name=name: keep_output(name, module, inputs, output)
        )
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear)
    ]
    try:
        loss_fn(model(x), y).backward()
    finally:
        for handle in handles:
            handle.remove()
    return norms
    ### END SOLUTION


# %%
def monitor_output_grad_norms(model, x, y):
    """GradientMonitor's record of the same quantity, on a copy of the model (one step)."""
    model = copy.deepcopy(model)
    with gradlab.GradientMonitor(model, updates=False) as monitor:
        loss_fn(model(x), y).backward()
    return dict(zip(monitor.layers, monitor.to_numpy()["output_grad_norm"][0], strict=True))


def hooks_left(model):
    """Forward and backward hooks still registered on any module of model."""
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


reference = monitor_output_grad_norms(inplace_model, x, y)
norms = output_grad_norms(inplace_model, x, y)
print({name: f"{norms[name]:.3g}" for name in reference if name in norms})
check_equal(
    sorted(norms),
    sorted(reference),
    exercise="7.1",
    points=3,
    hint="One entry per nn.Linear, keyed by its name in model.named_modules(): 'linear1', ...",
)
check_close(
    [norms[name] for name in reference],
    list(reference.values()),
    exercise="7.1",
    points=3,
    rtol=1e-4,
    reveal=True,
    hint="Register the tensor hook on the Linear's output inside a forward hook; the loss is "
    "loss_fn(model(x), y) and the norm is grad.norm().",
)
check_equal(
    hooks_left(inplace_model),
    0,
    exercise="7.1",
    points=3,
    hint="Keep the handles that register_forward_hook returns and call .remove() on each.",
)
### BEGIN HIDDEN TESTS
other_model = build_mlp(lambda: nn.ReLU(inplace=True), depth=6, width=16, seed=3)
other_reference = monitor_output_grad_norms(other_model, x[:64], y[:64])
other_norms = output_grad_norms(other_model, x[:64], y[:64])
check_close(
    [other_norms.get(name, np.nan) for name in other_reference],
    list(other_reference.values()),
    exercise="7.1",
    points=3,
    rtol=1e-4,
    reveal=True,
)
check_equal(hooks_left(other_model), 0, exercise="7.1", points=3)
### END HIDDEN TESTS

# %% [markdown]
# ## Part B — the update-to-data ratio
#
# How much does one optimizer step change a layer's weights, relative to their size?
# $\lVert\Delta\theta\rVert / \lVert\theta\rVert$. Karpathy's rule of thumb: about $10^{-3}$ is
# healthy; much larger and each step overwrites what was learned, much smaller and the weights
# barely move. `GradientMonitor` records it for each layer's weight across any `torch.optim` step.
#
# **Exercise 7.2 (2 points).** Write `sgd_update_ratio(model, parameter_name, x, y, lr)`: compute
# `loss_fn(model(x), y)`, backpropagate, take **one** `torch.optim.SGD(model.parameters(), lr=lr)`
# step, and return
# $\lVert\theta_\text{after}-\theta_\text{before}\rVert\,/\,\lVert\theta_\text{before}\rVert$
# for the parameter called `parameter_name` (a name from `model.named_parameters()`, e.g.
# `"linear2.weight"`) as a float. Keep a copy of the weights before the step
# (`.detach().clone()`).

# %%
def sgd_update_ratio(model, parameter_name, x, y, lr):
    """‖Δθ‖ / ‖θ‖ of one parameter across one SGD step on the batch (x, y)."""
    ### BEGIN SOLUTION
    # PROMPT: copy the parameter, take one SGD step on loss_fn(model(x), y), return the ratio
    parameter = dict(model.named_parameters())[parameter_name]
    before = parameter.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    optimizer.zero_grad()
    loss_fn(model(x), y).backward()
    optimizer.step()
    return float((parameter.detach() - before).norm() / before.norm())
    ### END SOLUTION


# %%
def monitor_update_ratio(model, layer, x, y, lr):
    """GradientMonitor's exact update ratio of a layer's weight over one SGD step (on a copy)."""
    model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    with gradlab.GradientMonitor(model, update_sample=None) as monitor:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    return float(monitor.to_numpy()["update_ratio"][0][monitor.layers.index(layer)])


LR = 1.0
expected_ratio = monitor_update_ratio(build_mlp(nn.ReLU), "linear2", x, y, LR)
ratio = sgd_update_ratio(build_mlp(nn.ReLU), "linear2.weight", x, y, LR)
print(f"update ratio of layer 'linear2' at lr={LR}: {ratio:.2e}")
check_close(
    ratio,
    expected_ratio,
    exercise="7.2",
    points=2,
    rtol=1e-4,
    reveal=True,
    hint="Clone the weight before optimizer.step(); divide the norm of the difference by the "
    "norm of the weight before the step.",
    mistakes=[
        (
            0.0,
            "0 means the weight and your copy are equal after the step: either your copy changed "
            "with it (.detach() alone shares the weight's memory; use .detach().clone()) or the "
            "step did not move the weight (backward() must run before optimizer.step()).",
        )
    ],
)
### BEGIN HIDDEN TESTS
check_close(
    sgd_update_ratio(build_mlp(nn.Tanh, depth=3, seed=2), "linear3.weight", x[:64], y[:64], 0.01),
    monitor_update_ratio(build_mlp(nn.Tanh, depth=3, seed=2), "linear3", x[:64], y[:64], 0.01),
    exercise="7.2",
    points=2,
    rtol=1e-4,
    reveal=True,
)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 7.3 (2 points) — too high, too low?** For one plain SGD step from the same weights,
# $\Delta\theta = -\text{lr}\cdot g$, so the ratio is proportional to the learning rate. Write
# `judge_learning_rate(ratio, lr)` returning a pair `(verdict, lr_for_1e3)`:
#
# - `verdict` is `"too high"` when the ratio is more than 10 times $10^{-3}$, `"too low"` when it
#   is less than a tenth of $10^{-3}$, and `"about right"` otherwise;
# - `lr_for_1e3` is the learning rate that would give a ratio of exactly $10^{-3}$.
#
# The check applies it to the ratio of layer `'linear2'` at learning rate `LR` (the monitor's
# value, so that 7.3 does not depend on your 7.2).

# %%
TARGET_RATIO = 1e-3


def judge_learning_rate(ratio, lr):
    """('too high' | 'too low' | 'about right', the lr that gives a ratio of 1e-3)."""
    ### BEGIN SOLUTION
    # PROMPT: compare ratio with 10 * 1e-3 and 1e-3 / 10; rescale lr to reach a ratio of 1e-3
    if ratio > 10 * TARGET_RATIO:
        verdict = "too high"
    elif ratio < TARGET_RATIO / 10:
        verdict = "too low"
    else:
        verdict = "about right"
    return verdict, lr * TARGET_RATIO / ratio
    ### END SOLUTION


# %%
verdict, lr_for_1e3 = judge_learning_rate(expected_ratio, LR)
print(f"lr={LR}: {verdict}; a ratio of 1e-3 needs lr = {lr_for_1e3:.3g}")
check_equal(
    verdict,
    "too high" if expected_ratio > 1e-2 else "too low" if expected_ratio < 1e-4 else "about right",
    exercise="7.3",
    points=2,
    hint="Compare the ratio with 1e-2 and 1e-4.",
)
check_close(
    lr_for_1e3,
    LR * 1e-3 / expected_ratio,
    exercise="7.3",
    points=2,
    rtol=1e-3,
    hint="The ratio is proportional to lr: scale lr by 1e-3 / ratio.",
    mistakes=[
        (
            LR * expected_ratio / 1e-3,
            "That scales lr by ratio / 1e-3, the wrong way round: the ratio grows with lr, so a "
            "ratio above 1e-3 needs a smaller lr and one below it a larger lr.",
        )
    ],
)
check_close(
    monitor_update_ratio(build_mlp(nn.ReLU), "linear2", x, y, lr_for_1e3),
    TARGET_RATIO,
    exercise="7.3",
    points=2,
    rtol=1e-3,
    reveal=True,
    hint="At lr_for_1e3 the monitor should measure a ratio of 1e-3 on the same layer.",
)
### BEGIN HIDDEN TESTS
check_equal(
    [judge_learning_rate(r, 0.1)[0] for r in (0.5, 2e-2, 5e-3, 1e-3, 2e-4, 5e-5)],
    ["too high", "too high", "about right", "about right", "about right", "too low"],
    exercise="7.3",
    points=2,
)
check_close(judge_learning_rate(2e-5, 0.01)[1], 0.5, exercise="7.3", points=2, rtol=1e-9)
### END HIDDEN TESTS

# %% [markdown]
# ## Part C — diagnose, then fix
#
# `gradlab.diagnose(model, (x, y), loss_fn)` runs one forward and backward pass and applies the
# diagnosis table; it returns a `Report` whose `.findings` are `Finding(kind, layer, severity,
# evidence, fix)`, root causes first (a NaN in the data, missing gradients, dead or saturated
# units, huge activations), then what they cause; within that, errors before warnings, then in
# layer order. A NaN or inf that training produced is listed after the findings measured on the
# steps before it, as their consequence. Three broken models:

# %%
class GatedMLP(nn.Module):
    """h = relu(hidden(x)) * sigmoid(gate(x)), then head; detach_gate=True is the bug."""

    def __init__(self, detach_gate=True, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.hidden = nn.Linear(64, 32)
        self.gate = nn.Linear(64, 32)
        self.head = nn.Linear(32, 10)
        self.detach_gate = detach_gate

    def forward(self, x):
        gate = torch.sigmoid(self.gate(x))
        if self.detach_gate:
            gate = gate.detach()  # a stray .detach(): self.gate never learns
        return self.head(torch.relu(self.hidden(x)) * gate)


negative_bias = build_mlp(nn.ReLU)
with torch.no_grad():
    negative_bias.linear3.bias.fill_(-10.0)  # every unit after the third Linear is pushed below zero
broken = {
    "deep_sigmoid": build_mlp(nn.Sigmoid, depth=8),
    "negative_bias": negative_bias,
    "detached_gate": GatedMLP(),
}
reports = {name: gradlab.diagnose(model, (x, y), loss_fn) for name, model in broken.items()}
print(reports["negative_bias"])

# %% [markdown]
# One bug often shows up as several findings: the dead units after layer `'linear3'` also starve
# every layer below it, which the report lists after them as vanishing at `'linear1'` — and its fix says "if
# dead units are also reported, fix those first".
#
# **Exercise 7.4 (2 points) — triage.** Write `root_cause(report)`: the `(kind, layer)` of the
# finding to fix first. Consider only findings with severity `"error"`. If the report's **first**
# finding is a `non_finite` error, it is the root cause (gradlab lists a non-finite value first
# only when nothing measured before it explains it, e.g. a NaN in the data). Otherwise, among
# the errors, take the first one (in report order) of the highest-priority kind, with the
# priority `no_grad` > `dead_units` > `saturation` > `large_activations` > any other kind (a
# later `non_finite` counts as "any other kind": it is a consequence). Return `None` when the
# report has no error.

# %%
ROOT_CAUSE_ORDER = ("no_grad", "dead_units", "saturation", "large_activations")


def root_cause(report):
    """(kind, layer) of the error finding to fix first, or None."""
    ### BEGIN SOLUTION
    # PROMPT: a first non_finite error wins; else the first error of the highest-priority kind
    errors = [finding for finding in report.findings if finding.severity == "error"]
    if not errors:
        return None
    first_finding = report.findings[0]
    if first_finding.kind == "non_finite" and first_finding.severity == "error":
        return first_finding.kind, first_finding.layer

    def priority(finding):
        kind = finding.kind
        return ROOT_CAUSE_ORDER.index(kind) if kind in ROOT_CAUSE_ORDER else len(ROOT_CAUSE_ORDER)

    first = min(errors, key=priority)  # min keeps the first of equal priority
    return first.kind, first.layer
    ### END SOLUTION


# %%
causes = {name: root_cause(report) for name, report in reports.items()}
print(causes)
check_equal(
    causes,
    {
        "deep_sigmoid": ("vanishing", "linear1"),
        "negative_bias": ("dead_units", "linear3"),
        "detached_gate": ("no_grad", "gate"),
    },
    exercise="7.4",
    points=2,
    hint="A non_finite error listed first wins; otherwise keep only severity 'error', rank the "
    "kinds no_grad, dead_units, saturation, large_activations, then the rest; ties go to the "
    "earliest finding.",
)
### BEGIN HIDDEN TESTS
finding = gradlab.Finding
check_equal(
    [
        root_cause(gradlab.Report(findings=[], steps=1)),
        root_cause(
            gradlab.Report(
                findings=[
                    finding("vanishing", "a", "error", "", ""),
                    finding("saturation", "b", "error", "", ""),
                    finding("no_grad", "c", "warning", "", ""),
                ],
                steps=1,
            )
        ),
        root_cause(
            gradlab.Report(
                findings=[
                    finding("exploding", "a", "error", "", ""),
                    finding("no_grad", "b", "error", "", ""),
                    finding("non_finite", "c", "error", "", ""),
                    finding("non_finite", "d", "error", "", ""),
                ],
                steps=1,
            )
        ),
        root_cause(
            gradlab.Report(findings=[finding("dead_units", "a", "warning", "", "")], steps=1)
        ),
        root_cause(
            gradlab.Report(
                findings=[
                    finding("non_finite", "a", "error", "", ""),
                    finding("exploding", "b", "error", "", ""),
                ],
                steps=1,
            )
        ),
        root_cause(
            gradlab.Report(
                findings=[
                    finding("exploding", "a", "error", "", ""),
                    finding("large_activations", "b", "error", "", ""),
                    finding("non_finite", "c", "error", "", ""),
                ],
                steps=1,
            )
        ),
    ],
    [None, ("saturation", "b"), ("no_grad", "b"), None, ("non_finite", "a"), ("large_activations", "b")],
    exercise="7.4",
    points=2,
)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 7.5 (2 points) — fix them.** Build a dict `fixed` with the same three keys: a repaired
# model for each broken one, with the same number of `nn.Linear` layers, such that
# `gradlab.diagnose` reports **no error** on the batch `(x, y)`. Do not change the broken models
# themselves (copy them with `copy.deepcopy` if you repair in place). Read each report's `fix:`
# lines for ideas: `build_mlp` takes another activation, a bias can be zeroed, and `GatedMLP` takes
# `detach_gate=False`.

# %%
### BEGIN SOLUTION
# PROMPT: set fixed = {"deep_sigmoid": ..., "negative_bias": ..., "detached_gate": ...}
repaired_bias = copy.deepcopy(broken["negative_bias"])
with torch.no_grad():
    repaired_bias.linear3.bias.zero_()
fixed = {
    "deep_sigmoid": build_mlp(nn.ReLU, depth=8),
    "negative_bias": repaired_bias,
    "detached_gate": GatedMLP(detach_gate=False),
}
### END SOLUTION
for name, model in fixed.items():
    print(f"{name:>14}: {gradlab.diagnose(model, (x, y), loss_fn)}")

# %%
def count_linear(model):
    return sum(isinstance(module, nn.Linear) for module in model.modules())


check_equal(
    sorted(fixed),
    sorted(broken),
    exercise="7.5",
    points=2,
    hint="One repaired model per broken one, under the same key.",
)
check_equal(
    [count_linear(fixed[name]) for name in broken],
    [count_linear(broken[name]) for name in broken],
    exercise="7.5",
    points=2,
    hint="Repair the model, do not shrink it: keep every nn.Linear.",
)
check_equal(
    [gradlab.diagnose(fixed[name], (x, y), loss_fn).ok for name in broken],
    [True, True, True],
    exercise="7.5",
    points=2,
    hint="Print gradlab.diagnose(fixed[name], (x, y), loss_fn) for each model and read its fix.",
)
check_equal(
    [gradlab.diagnose(model, (x, y), loss_fn).ok for model in broken.values()],
    [False, False, False],
    exercise="7.5",
    points=2,
    hint="The broken models must stay broken: repair copies (copy.deepcopy) or new models.",
)

# %% [markdown]
# ## Part D — where did it first go non-finite?
#
# A real run that diverges: a 4-layer ReLU network on the digits, SGD at `lr = 3`, 30 steps of
# 64 examples, recorded by a monitor with `every=2` (steps 0, 2, 4, ...). `arrays` is
# `monitor.to_numpy()`: `arrays["steps"]` holds the step of each row; `activation_mean`,
# `activation_std` and `output_grad_norm` have one row per recorded step and one column per layer,
# in `monitor.layers` order (here also the forward order); `global_grad_norm` has one column. In
# this run every layer runs and gets a gradient at every step, so any `nan` or `inf` in these
# arrays is a real non-finite value.

# %%
diverging = build_mlp(nn.ReLU)
optimizer = torch.optim.SGD(diverging.parameters(), lr=3.0)
generator = torch.Generator().manual_seed(0)
losses = []
with gradlab.GradientMonitor(diverging, every=2) as monitor:
    for step in range(30):
        index = torch.randint(0, len(data.x_train), (64,), generator=generator)
        loss = loss_fn(diverging(data.x_train[index]), data.y_train[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
arrays = monitor.to_numpy()
print("recorded steps:", arrays["steps"].tolist())
print("layers:", monitor.layers)
print(f"loss at step {len(losses) - 1}: {losses[-1]}")  # once nan, it stays nan

# %% tags=["nbval-ignore-output"]
# The losses of this run on the machine these outputs were stored on (yours may round differently).
print("losses:", " ".join(f"{value:.2g}" for value in losses))

# %% [markdown]
# **Exercise 7.6 (3 points).** Write `first_non_finite(arrays, layers)` returning `(step, layer)`:
#
# - `step`: the **step** (not the row index) of the first recorded row in which any of
#   `activation_mean`, `output_grad_norm` or `global_grad_norm` is not finite;
# - `layer`: in that row, the first layer (in `layers` order) whose `activation_mean` is not
#   finite — the forward pass broke there; if the activations are all finite, the **last** layer
#   whose `output_grad_norm` is not finite — the gradient broke first where backward starts, near
#   the loss; `None` if neither (only the global norm is bad).
#
# Return `(None, None)` when every value is finite; return `step` as an `int`.
#
# Leave `activation_std` out on purpose: it is computed from the squares of the values, and a
# square overflows float32 once a value passes about $1.8 \times 10^{19}$ ($\sqrt{3.4 \times
# 10^{38}}$), while the value itself is still finite. A diverging run can show a std of `inf` one
# layer before any value is. The mean (the sum of the values over their count) turns
# non-finite when a value does, and it is what `GradientMonitor` itself checks.

# %%
def first_non_finite(arrays, layers):
    """(step, layer) of the first non-finite value in a monitor's arrays, or (None, None)."""
    ### BEGIN SOLUTION
    # PROMPT: find the first bad row, map it to its step, then the layer by the rule above
    activations = ~np.isfinite(arrays["activation_mean"])  # not the std: squares overflow first
    gradients = ~np.isfinite(arrays["output_grad_norm"])
    bad_rows = activations.any(axis=1) | gradients.any(axis=1)
    bad_rows |= ~np.isfinite(arrays["global_grad_norm"]).all(axis=1)
    if not bad_rows.any():
        return None, None
    row = int(np.argmax(bad_rows))
    layer = None
    if activations[row].any():
        layer = layers[int(np.argmax(activations[row]))]
    elif gradients[row].any():
        layer = layers[int(np.flatnonzero(gradients[row])[-1])]
    return int(arrays["steps"][row]), layer
    ### END SOLUTION


# %%
answer = first_non_finite(arrays, monitor.layers)
event = monitor.non_finite
check_equal(
    answer,
    (event.step, event.layer),
    exercise="7.6",
    points=3,
    hint="Build one boolean per row with ~np.isfinite(...).any(axis=1) from activation_mean, "
    "output_grad_norm and global_grad_norm (not activation_std), take the first True row, and "
    "read its step from arrays['steps'].",
)
### BEGIN HIDDEN TESTS
def synthetic(mean, std, grad_out, global_norm, steps):
    return {
        "steps": np.asarray(steps),
        "activation_mean": np.asarray(mean, dtype=float),
        "activation_std": np.asarray(std, dtype=float),
        "output_grad_norm": np.asarray(grad_out, dtype=float),
        "global_grad_norm": np.asarray(global_norm, dtype=float).reshape(-1, 1),
    }


ok = [[1.0, 1.0, 1.0]] * 3
names = ["a", "b", "c"]
check_equal(
    [
        first_non_finite(synthetic(ok, ok, ok, [1, 1, 1], [0, 5, 10]), names),
        first_non_finite(
            synthetic(ok, [[1, 1, 1], [1, 1, 1], [1, np.inf, np.nan]], ok, [1, 1, 1], [0, 5, 10]),
            names,
        ),
        first_non_finite(
            synthetic(ok, ok, [[1, 1, 1], [np.inf, np.nan, 1], ok[0]], [1, 1, 1], [0, 5, 10]),
            names,
        ),
        first_non_finite(
            synthetic(
                [[1, 1, 1], [1, 1, np.nan], [np.nan] * 3],
                ok,
                [[1, 1, 1], [np.nan] * 3, [1, 1, 1]],
                [1, np.inf, 1],
                [3, 6, 9],
            ),
            names,
        ),
        first_non_finite(synthetic(ok, ok, ok, [1, np.nan, 1], [0, 1, 2]), names),
    ],
    [(None, None), (None, None), (5, "b"), (6, "c"), (1, None)],  # 2nd: only a std overflowed
    exercise="7.6",
    points=3,
)
### END HIDDEN TESTS

# %% tags=["nbval-ignore-output"]
# Where this run broke, on the machine these outputs were stored on.
loss_step = int(np.argmax(~np.isfinite(losses)))
print(f"first non-finite (step, layer): {answer}; the loss is first non-finite at step {loss_step}")

# %% [markdown]
# With `every=2` the monitor only looks at even steps, so the step it reports is always a
# recorded step, within one step of where the loss first went non-finite: an overflow at an odd
# step shows up at the next even one. (Where this run breaks depends on the machine's rounding;
# the cell above shows it for the machine these outputs were stored on.) That is the price of a
# cheaper monitor.
#
# ## Part E — knowledge check
#
# Pick an answer and press Check; each choice comes with an explanation. This part is for you: the
# grader does not score it.

# %% tags=["nbval-ignore-output"]
quiz.show(questions.EXERCISE_CHECK, title="Chapter 7 exercises: knowledge check")

# %% [markdown]
# ## Grade this notebook
#
# Save first (`Ctrl+S`): the cell below grades the file **as saved**, not what is on screen. It runs
# the grader with this notebook's own Python: a copy of the saved file runs from top to bottom in a
# fresh Python (your file is never changed), and you get one row per exercise with its points and,
# for a failed exercise, why. Grade as often as you like.

# %% tags=["nbval-skip"]
from gradlab.grading.grade_saved import grade_saved_notebook

grade_saved_notebook("07_monitoring_solutions.ipynb")
