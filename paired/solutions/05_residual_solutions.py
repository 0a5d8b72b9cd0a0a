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
# # Chapter 5 exercises — residual connections
#
# These exercises go with `notebooks/05_residual.ipynb`. Each one has a cell for your answer
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
# python -m gradlab.grade exercises/05_residual_exercises.ipynb
# ```
#
# Run the cells in order: every part uses the batch, `make_branch`, `PlainBlock` and
# `build_network` from the first code cell, and Exercise 5.5 repairs the model of 5.4.

# %%
import copy
from collections import OrderedDict

import torch
from torch import nn

import gradlab
from gradlab.chapters.ch05_residual import exercise_questions
from gradlab.grading import check_close, check_equal
from gradlab.training.data import load_digits_split
from gradlab.ui import quiz

torch.set_num_threads(1)  # tiny networks: one thread is fastest

data = load_digits_split(seed=0)
x, y = data.x_train[:256], data.y_train[:256]  # one fixed batch of 256 digits (64 pixels each)
loss_fn = nn.CrossEntropyLoss()
WIDTH, DEPTH = 32, 10


def make_branch(width):
    """F: Linear(width → width) → ReLU → Linear(width → width), PyTorch's default init."""
    return nn.Sequential(
        OrderedDict(
            linear1=nn.Linear(width, width), relu=nn.ReLU(), linear2=nn.Linear(width, width)
        )
    )


class PlainBlock(nn.Module):
    """y = relu(F(x)): the same two layers, no skip."""

    def __init__(self, width):
        super().__init__()
        self.branch = make_branch(width)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.branch(x))


def build_network(block, depth=DEPTH, width=WIDTH, seed=0):
    """input Linear(64 → width), then `depth` blocks block(width), then head Linear(width → 10)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        OrderedDict(
            input=nn.Linear(64, width),
            blocks=nn.Sequential(*(block(width) for _ in range(depth))),
            head=nn.Linear(width, 10),
        )
    )


print(f"batch x: {tuple(x.shape)}, y: {tuple(y.shape)}")
print(build_network(PlainBlock, depth=1))

# %% [markdown]
# ## Part A — a residual block from scratch
#
# A residual block computes $y = x + F(x)$. Its Jacobian is $\partial y/\partial x = I +
# \partial F/\partial x$: the gradient arriving at $y$ reaches $x$ once through the branch and
# once, unchanged, through the identity. A plain block computes $y = \mathrm{relu}(F(x))$ and the
# gradient has only the branch's way.
#
# **Exercise 5.1 (3 points).** Write `ResidualBlock(width)`: an `nn.Module` whose `self.branch`
# is $F$ (`make_branch(width)`, or the same three layers written out) and whose `forward` returns
# $x + F(x)$ — nothing after the addition. No library ResNet. The check builds your block into a
# network of 10 blocks (`build_network`), for three seeds, and measures with
# `gradlab.probe_gradients` how much gradient reaches the first block's parameters, against the
# plain network of the same depth.


# %%
class ResidualBlock(nn.Module):
    """y = x + F(x)."""

    def __init__(self, width):
        super().__init__()
        ### BEGIN SOLUTION
        # PROMPT: give the block its branch F as self.branch
        self.branch = make_branch(width)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        # PROMPT: return the block's input plus the branch's output
        return x + self.branch(x)
        ### END SOLUTION


# %%
def probed_first_block(model):
    """‖∂L/∂θ‖ over the first block's parameters, measured by gradlab's probe (one backward)."""
    probe = gradlab.probe_gradients(model, x, y, loss_fn, layers=list(model.blocks))
    return float(probe.weight_grad_norms[0])


def first_block_ratios(block, seeds=(0, 1, 2), depth=DEPTH, width=WIDTH):
    """First-block gradient of the network of `block`s over the plain network's, per seed."""
    return [
        probed_first_block(build_network(block, depth, width, seed))
        / probed_first_block(build_network(PlainBlock, depth, width, seed))
        for seed in seeds
    ]


h = torch.randn(16, WIDTH, generator=torch.Generator().manual_seed(1))
block = ResidualBlock(WIDTH)
with torch.no_grad():
    block_output, branch_output = block(h), block.branch(h)
check_close(
    block_output,
    h + branch_output,
    exercise="5.1",
    points=3,
    rtol=1e-5,
    atol=1e-6,
    hint="forward returns x + self.branch(x): the input itself, plus what the branch makes of it.",
    mistakes=[
        (
            branch_output,
            "That is the branch alone, F(x): a plain block. Add the block's input x to it.",
        ),
        (
            torch.relu(branch_output),
            "That is relu(F(x)), PlainBlock's output: a residual block adds its input x to "
            "F(x), with nothing after the addition.",
        ),
        (
            torch.relu(h + branch_output),
            "That is relu(x + F(x)), a ReLU after the addition (the original post-activation "
            "block): it acts on the identity path too. Return x + F(x) with nothing after the "
            "addition (Part B measures why).",
        ),
    ],
)
ratios = first_block_ratios(ResidualBlock)
print("first-block gradient, residual / plain, seeds 0, 1, 2:", [f"{r:.0e}" for r in ratios])
check_equal(
    min(ratios) > 1e3,
    True,
    exercise="5.1",
    points=3,
    hint="In every seed the residual network's first block should get more than 1000 times the "
    "plain network's gradient. A ratio near 1 means your block is a plain block: is x added?",
)
### BEGIN HIDDEN TESTS
check_equal(
    min(first_block_ratios(ResidualBlock, seeds=(5,), depth=12, width=16)) > 1e3,
    True,
    exercise="5.1",
    points=3,
)
### END HIDDEN TESTS

# %% [markdown]
# The plain network's first block gets almost nothing: with PyTorch's default initialisation
# each plain block passes back only a fraction of the gradient it receives, and ten of them
# multiply. Every residual block passes the gradient back through its identity path, plus what
# its branch adds.
#
# **Exercise 5.2 (2 points) — measure it yourself.** Write
# `first_block_gradient_norm(model, x, y)`: one forward and backward pass of
# `loss_fn(model(x), y)`, returning the norm of the gradient of **all** parameters of
# `model.blocks[0]` together, $\sqrt{\sum_p \lVert \partial\mathcal{L}/\partial p\rVert^2}$, as
# a float. Then set `ratio` to its value for `residual_net` over its value for `plain_net`.


# %%
def first_block_gradient_norm(model, x, y):
    """‖∂L/∂θ‖ over every parameter θ of model.blocks[0], for L = loss_fn(model(x), y)."""
    ### BEGIN SOLUTION
    # PROMPT: one forward/backward pass; return the norm of all of model.blocks[0]'s gradients
    parameters = list(model.blocks[0].parameters())
    gradients = torch.autograd.grad(loss_fn(model(x), y), parameters)
    return float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in gradients])))
    ### END SOLUTION


residual_net = build_network(ResidualBlock)
plain_net = build_network(PlainBlock)
### BEGIN SOLUTION
# PROMPT: set ratio, the first-block gradient norm of residual_net over that of plain_net
ratio = first_block_gradient_norm(residual_net, x, y) / first_block_gradient_norm(plain_net, x, y)
### END SOLUTION
print(f"residual / plain at the first block: {ratio:.0e}")


# %%
def gradient_norms(model):
    """‖∂L/∂p‖ of every named parameter, by torch.autograd.grad (the model's .grad untouched)."""
    names, parameters = zip(*model.named_parameters(), strict=True)
    gradients = torch.autograd.grad(loss_fn(model(x), y), parameters)
    return {name: float(g.norm()) for name, g in zip(names, gradients, strict=True)}


def combined(norms, prefix):
    """The norm of every gradient whose parameter's name starts with prefix, together."""
    return sum(value**2 for name, value in norms.items() if name.startswith(prefix)) ** 0.5


residual_norms = gradient_norms(residual_net)
expected_norm = probed_first_block(residual_net)
check_close(
    first_block_gradient_norm(residual_net, x, y),
    expected_norm,
    exercise="5.2",
    points=2,
    rtol=1e-4,
    reveal=True,
    hint="Backpropagate loss_fn(model(x), y) once and combine the gradients of every parameter "
    "of model.blocks[0] (two weights, two biases) into one norm.",
    mistakes=[
        (
            2 * expected_norm,
            "Twice the gradient: .grad accumulates over backward passes. Zero it first "
            "(model.zero_grad()) or use torch.autograd.grad, which does not store it.",
        ),
        (
            residual_norms["blocks.0.branch.linear1.weight"],
            "That is only the first Linear's weight: combine every parameter of the block.",
        ),
        (
            combined(residual_norms, f"blocks.{DEPTH - 1}."),
            "That is the last block's gradient: the first one is model.blocks[0].",
        ),
        (
            combined(residual_norms, "input."),
            "That is the input layer's gradient (model.input): the first block is model.blocks[0].",
        ),
    ],
)
expected_ratio = expected_norm / probed_first_block(plain_net)
check_close(
    ratio,
    expected_ratio,
    exercise="5.2",
    points=2,
    rtol=1e-3,
    hint="Divide the residual network's first-block gradient norm by the plain network's.",
    mistakes=[
        (
            1 / expected_ratio,
            "That is plain / residual, upside down: divide the residual network's value by the "
            "plain network's.",
        )
    ],
)
### BEGIN HIDDEN TESTS
other_net = build_network(ResidualBlock, depth=4, width=16, seed=3)
check_close(
    first_block_gradient_norm(other_net, x[:64], y[:64]),
    float(
        gradlab.probe_gradients(
            other_net, x[:64], y[:64], loss_fn, layers=list(other_net.blocks)
        ).weight_grad_norms[0]
    ),
    exercise="5.2",
    points=2,
    rtol=1e-4,
    reveal=True,
)
### END HIDDEN TESTS

# %% [markdown]
# ## Part B — post-activation to pre-activation
#
# The original ResNet block (He et al. 2015) puts a ReLU **after** the addition:
# $y = \mathrm{relu}(x + F(x))$ with $F(x) = \mathrm{BN}(W_2\,\mathrm{relu}(\mathrm{BN}(W_1 x)))$.
# That ReLU acts on the identity path too: wherever $x + F(x) < 0$ it outputs 0 and passes back
# no gradient, not even the identity's. The pre-activation block of He et al. 2016 ("Identity
# mappings in deep residual networks") moves the normalisation and the ReLU in front of each
# weight layer — **BN → ReLU → weight, twice** — and adds $x$ with nothing after:
# $y = x + W_2\,\mathrm{relu}(\mathrm{BN}_2(W_1\,\mathrm{relu}(\mathrm{BN}_1(x))))$. (Some
# tutorials write it $F(\mathrm{BN}(\mathrm{ReLU}(x)))$: that is the order reversed.)
#
# **Exercise 5.3 (3 points).** `PreActivationBlock` below inherits the four layers of
# `PostActivationBlock` (`norm1`, `linear1`, `norm2`, `linear2`; the norms are `width` wide, so
# they fit either order). Write its `forward` in the pre-activation order: `norm1` → ReLU →
# `linear1` → `norm2` → ReLU → `linear2`, then add `x`. The check zeroes `linear2` (the branch's
# last layer): then the block must be exactly the identity, and the gradient at its input must
# equal the gradient at its output, also for negative inputs.


# %%
class PostActivationBlock(nn.Module):
    """The original ResNet block: y = relu(x + BN2(W2 relu(BN1(W1 x))))."""

    def __init__(self, width):
        super().__init__()
        self.linear1 = nn.Linear(width, width)
        self.norm1 = nn.BatchNorm1d(width)
        self.linear2 = nn.Linear(width, width)
        self.norm2 = nn.BatchNorm1d(width)

    def forward(self, x):
        out = torch.relu(self.norm1(self.linear1(x)))
        out = self.norm2(self.linear2(out))
        return torch.relu(x + out)


class PreActivationBlock(PostActivationBlock):
    """y = x + W2 relu(BN2(W1 relu(BN1(x)))) (He et al. 2016): nothing on the identity path."""

    def forward(self, x):
        ### BEGIN SOLUTION
        # PROMPT: norm1 → relu → linear1 → norm2 → relu → linear2, then return x plus that
        out = self.linear1(torch.relu(self.norm1(x)))
        out = self.linear2(torch.relu(self.norm2(out)))
        return x + out
        ### END SOLUTION


# %%
def zero_last_layer(block):
    """The block with linear2's weight and bias set to zero: its branch then outputs 0."""
    with torch.no_grad():
        block.linear2.weight.zero_()
        block.linear2.bias.zero_()
    return block


generator = torch.Generator().manual_seed(2)
h = torch.randn(16, WIDTH, generator=generator)  # about half of the entries are negative
upstream = torch.randn(16, WIDTH, generator=generator)  # the gradient arriving at the output

torch.manual_seed(0)
zeroed = zero_last_layer(PreActivationBlock(WIDTH))
h_in = h.clone().requires_grad_(True)
output = zeroed(h_in)
(input_gradient,) = torch.autograd.grad((output * upstream).sum(), h_in)
print(f"with linear2 zeroed: largest |y - x| = {float((output.detach() - h).abs().max()):.1g}")
check_close(
    output.detach(),
    h,
    exercise="5.3",
    points=3,
    rtol=0,
    atol=1e-6,
    hint="With the branch's last layer zeroed the branch outputs 0, so y must be x exactly: add "
    "x itself, with nothing after the addition and nothing on the skip.",
    mistakes=[
        (
            torch.relu(h),
            "That is relu(x): a ReLU acts on the identity path (after the addition, or on the "
            "skip). Negative inputs are clipped to 0; add x with nothing after the addition.",
        ),
        (
            torch.zeros_like(h),
            "The output is 0: that is the branch alone. Return x plus the branch's output.",
        ),
    ],
)
check_close(
    input_gradient,
    upstream,
    exercise="5.3",
    points=3,
    rtol=0,
    atol=1e-6,
    hint="The identity path passes the gradient unchanged: ∂L/∂x must equal ∂L/∂y when the "
    "branch outputs 0.",
    mistakes=[
        (
            upstream * (h > 0),
            "The gradient is cut wherever x < 0: a ReLU sits on the identity path (after the "
            "addition, or on the skip). Move it into the branch, before linear1 and linear2.",
        )
    ],
)
torch.manual_seed(1)
block = PreActivationBlock(WIDTH)
with torch.no_grad():
    # The same layers in the three orders: He et al. 2016's, the reversed one, the original's.
    relu = torch.relu
    pre = h + block.linear2(relu(block.norm2(block.linear1(relu(block.norm1(h))))))
    reversed_order = h + block.linear2(block.norm2(relu(block.linear1(block.norm1(relu(h))))))
    post_branch = h + block.norm2(block.linear2(relu(block.norm1(block.linear1(h)))))
    received = block(h)
check_close(
    received,
    pre,
    exercise="5.3",
    points=3,
    rtol=1e-4,
    atol=1e-5,
    hint="Each weight layer gets its input normalised and then passed through a ReLU: "
    "norm1, relu, linear1, then norm2, relu, linear2; add x last.",
    mistakes=[
        (
            reversed_order,
            "That is ReLU → BN → weight, the reversed order: the pre-activation block "
            "normalises first, then applies the ReLU, then the weight layer.",
        ),
        (
            post_branch,
            "That is the post-activation branch (weight → BN → ReLU) with the last ReLU "
            "removed: in a pre-activation block each weight layer comes last, after BN and "
            "ReLU.",
        ),
    ],
)
### BEGIN HIDDEN TESTS
torch.manual_seed(7)
other_block = PreActivationBlock(8)
other_h = torch.randn(5, 8, generator=torch.Generator().manual_seed(7)) * 3
with torch.no_grad():
    check_close(
        other_block(other_h),
        other_h
        + other_block.linear2(
            torch.relu(
                other_block.norm2(other_block.linear1(torch.relu(other_block.norm1(other_h))))
            )
        ),
        exercise="5.3",
        points=3,
        rtol=1e-4,
        atol=1e-5,
    )
### END HIDDEN TESTS

# %% [markdown]
# ## Part C — find and fix a skip-path bug
#
# A colleague's network: twelve pre-activation blocks without normalisation,
# $y = x + W_2\,\mathrm{relu}(W_1\,\mathrm{relu}(x))$, on the same digits. To save memory they
# switched three of its ReLUs to `nn.ReLU(inplace=True)`, which overwrites its input tensor
# instead of making a new one (torchvision's ResNets use it too). Two of the three changes are
# harmless. One of them silently puts a ReLU on a skip path: the addition in `x + self.branch(x)`
# reads `x` *after* the branch has run, and an in-place ReLU at the start of the branch has
# rewritten it.


# %%
class PreActBlock(nn.Module):
    """y = x + F(x), F = ReLU → Linear → ReLU → Linear (pre-activation, no normalisation)."""

    def __init__(self, width):
        super().__init__()
        self.branch = nn.Sequential(
            OrderedDict(
                relu1=nn.ReLU(),
                linear1=nn.Linear(width, width),
                relu2=nn.ReLU(),
                linear2=nn.Linear(width, width),
            )
        )

    def forward(self, x):
        return x + self.branch(x)


colleague_model = build_network(PreActBlock, depth=12)
# the colleague's memory savings, made after the model was built (the weights are unchanged)
colleague_model.blocks[3].branch.relu2 = nn.ReLU(inplace=True)
colleague_model.blocks[7].branch.relu1 = nn.ReLU(inplace=True)
colleague_model.blocks[10].branch.relu2 = nn.ReLU(inplace=True)
original_model = copy.deepcopy(colleague_model)  # kept aside for the checks of 5.5
print(gradlab.diagnose(colleague_model, (x, y), loss_fn))

# %% [markdown]
# `gradlab.diagnose` finds nothing: its rule for vanishing gradients looks for a block whose
# relative gradient $\lVert\partial\mathcal{L}/\partial W\rVert / \lVert W\rVert$ is below a
# hundredth of the largest later block's, and one leaky block is far from that. A probe
# across the blocks measures what each block does to the gradient passing through it: its
# `factor` column is $\lVert\partial\mathcal{L}/\partial(\text{block input})\rVert \,/\,
# \lVert\partial\mathcal{L}/\partial(\text{block output})\rVert$, about 1 or a little more for a
# healthy residual block (the identity passes all of it, the branch adds a little).
#
# **Exercise 5.4 (2 points).** Probe `colleague_model` with
# `gradlab.probe_gradients(colleague_model, x, y, loss_fn, layers=list(colleague_model.blocks))`,
# print its `.table()`, and set `buggy_block` to the name of the block whose skip path is broken
# (a name as the table prints it, such as `"blocks.0"`).

# %%
### BEGIN SOLUTION
# PROMPT: probe the blocks, print the table, set buggy_block to the broken block's name
probe = gradlab.probe_gradients(colleague_model, x, y, loss_fn, layers=list(colleague_model.blocks))
print(probe.table())
buggy_block = probe.layer_names[int(probe.measured_factors.argmin())]
### END SOLUTION

# %%
check_equal(
    buggy_block,
    "blocks.7",
    exercise="5.4",
    points=2,
    hint="Read the factor column: the broken block is the one that passes back clearly less "
    "gradient than it receives. Give its name as the table prints it, e.g. 'blocks.0'.",
    mistakes=[
        (
            "blocks.0",
            "blocks.0 is where the damage shows (every block below the broken one gets less "
            "gradient than it would), not where the gradient is lost. Look for the factor that "
            "stands out.",
        ),
        (
            "blocks.3",
            "blocks.3's in-place ReLU (relu2) acts on linear1's output, a tensor only its branch "
            "uses: its factor is like the others'. Look for the factor that stands out.",
        ),
        (
            "blocks.10",
            "blocks.10's in-place ReLU (relu2) acts on linear1's output, a tensor only its "
            "branch uses: its factor is like the others'. Look for the factor that stands out.",
        ),
    ],
)

# %% [markdown]
# **Exercise 5.5 (2 points) — fix it.** Set `fixed_model` to a repaired copy of
# `colleague_model` (`copy.deepcopy`, so the weights stay the same and `colleague_model` stays
# broken for comparison) in which the broken block's skip path is clean again. Change as little
# as you can. The check measures the gradient reaching the first block.

# %%
### BEGIN SOLUTION
# PROMPT: set fixed_model to a deep copy of colleague_model with the broken skip path repaired
fixed_model = copy.deepcopy(colleague_model)
fixed_model.blocks[7].branch.relu1 = nn.ReLU()  # a new tensor: x stays x for the addition
### END SOLUTION
print(
    f"first-block gradient: broken {probed_first_block(colleague_model):.3f}, "
    f"fixed {probed_first_block(fixed_model):.3f}"
)

# %%
reference_fix = copy.deepcopy(original_model)
reference_fix.blocks[7].branch.relu1 = nn.ReLU()
check_close(
    probed_first_block(fixed_model),
    probed_first_block(reference_fix),
    exercise="5.5",
    points=2,
    rtol=1e-4,
    reveal=True,
    hint="Repair a deep copy of colleague_model (same weights): give the broken block's "
    "in-place ReLU back its own output tensor, and leave the harmless ones as they are.",
    mistakes=[
        (
            probed_first_block(original_model),
            "That is still the broken model's gradient: the skip path of the block you found in "
            "5.4 still reads a rewritten x.",
        )
    ],
)
check_close(
    probed_first_block(colleague_model),
    probed_first_block(original_model),
    exercise="5.5",
    points=2,
    rtol=1e-6,
    hint="Leave colleague_model as it was: repair a copy (copy.deepcopy).",
    mistakes=[
        (
            probed_first_block(reference_fix),
            "colleague_model itself is repaired: repair a copy (copy.deepcopy) and leave the "
            "original broken, for comparison.",
        )
    ],
)

# %% [markdown]
# ## Part D — knowledge check
#
# Pick an answer and press Check; each choice comes with an explanation. This part is for you: the
# grader does not score it.

# %% tags=["nbval-ignore-output"]
quiz.show(exercise_questions.EXERCISE_CHECK, title="Chapter 5 exercises: knowledge check")

# %% [markdown]
# ## Grade this notebook
#
# Save first (`Ctrl+S`): the cell below grades the file **as saved**, not what is on screen. It runs
# the grader with this notebook's own Python: a copy of the saved file runs from top to bottom in a
# fresh Python (your file is never changed), and you get one row per exercise with its points and,
# for a failed exercise, why. Grade as often as you like.

# %% tags=["nbval-skip"]
from gradlab.grading.grade_saved import grade_saved_notebook

grade_saved_notebook("05_residual_solutions.ipynb")
