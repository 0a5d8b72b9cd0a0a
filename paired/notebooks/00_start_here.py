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
# # Start here: gradient flow in deep networks
#
# Training a deep network means sending a gradient backwards through every layer. Each layer
# multiplies that gradient by a factor. When the factor sits a little below one, fifty layers
# shrink the signal to almost nothing ($0.9^{50} \approx 0.005$) and the early layers stop learning
# (*vanishing gradients*). When it sits a little above one, the same fifty layers make it more
# than a hundred times larger ($1.1^{50} \approx 117$; at 1.5 per layer, $6.4 \times 10^{8}$)
# and the early layers take steps far too large (*exploding gradients*). Those numbers are still
# finite: float32 only overflows past about $3.4 \times 10^{38}$, which at a factor of 1.5 takes
# more than 200 layers. A gradient does not have to overflow to wreck training; when a run does
# end in `inf` or `nan`, that is the last stage of an explosion, not the first.
#
# The grey box below is a code cell that computes these numbers; its result is shown under it.
# (The next section shows how to run cells yourself.)

# %%
from gradlab import theory
from gradlab.formatting import format_number

for factor in (0.9, 1.1, 1.5):
    print(f"{factor}^50 = {format_number(theory.gradient_after_layers(factor, 50))}")
print(f"float32 overflows above {format_number(theory.float_limits().largest)}")
print(f"at 1.5 per layer a gradient gets there after {theory.layers_until_overflow(1.5)} layers")

# %% [markdown]
# This course is about that one multiplication. You will:
#
# - see why it happens, straight from the chain rule;
# - measure it on real PyTorch networks instead of taking it on trust;
# - learn the fixes people actually use (activation choice, careful initialization, residual
#   connections, normalization, gradient clipping) and *why* each one works;
# - build a small monitor that tells you, during training, when gradients are going wrong.
#
# You need some Python and a rough idea of what a neural network and a derivative are. Every
# formula is checked against PyTorch, and every number the text quotes is computed in front of you.

# %% [markdown]
# ## Working in JupyterLab
#
# A notebook is a list of cells. Grey boxes hold code; the rest is text like this.
#
# - **Run a cell**: click into it and press `Shift+Enter`. The result appears under the cell and
#   the cursor moves on to the next one.
# - **Run everything**: *Run → Run All Cells*. Do this first whenever you open a chapter: the
#   widgets only come alive once their cell has run in *this* session.
# - **Start over**: *Kernel → Restart Kernel and Run All Cells…* gives you a clean Python.
# - **Open a chapter**: the file browser on the left, or the links in the chapter map below.
#
# ### Widgets
#
# Chapters have interactive widgets: sliders, drop-downs and a plot that redraws when you change
# them. Each change runs real Python in the background, so a plot may take a moment to catch up.
# Drag a slider handle with the mouse, or click it once and use the arrow keys for one step at a time.
#
# **Check your set-up now.** Run the cell below and move the slider: the line under it should
# change. It prints $f(x) = x^2$ and its slope $f'(x) = 2x$ at the slider's value, the simplest
# gradient there is.

# %%
from gradlab.ui.selftest import make_widget_selftest

make_widget_selftest()

# %% [markdown]
# Before the cell has run you may see only a line of text such as `VBox(children=...)` in its
# place: that is the widget's plain-text stand-in. Once the cell has run, you should see a slider,
# and the line under it should change when you move it. Then you are ready.
#
# If you still see the `VBox(children=...)` text after running the cell, or a message
# **"Error displaying widget"**, the browser side and the Python side of the widgets do not match.
# Almost always JupyterLab was started from a different Python environment than the course's.
# Close JupyterLab, start it with `make lab` from the project folder (or
# `.venv/bin/jupyter lab`), open this page again and run all cells.

# %% [markdown]
# ## Chapter map
#
# | # | Chapter | What you will be able to do | Exercises |
# |---|---------|-----------------------------|-----------|
# | 1 | [The chain rule and the per-layer factor](01_chain_rule.ipynb) | Explain why depth multiplies gradients, and predict what reaches the first layer | [01](../exercises/01_chain_rule_exercises.ipynb) |
# | 2 | [Activations and sigmoid saturation](02_activations.ipynb) | Tell which activations shrink the gradient, where they go flat, and why ReLU units die | [02](../exercises/02_activations_exercises.ipynb) |
# | 3 | [Exploding gradients and gradients through time](03_exploding.ipynb) | Recognise a blow-up, find where it starts, and see it in a recurrent network | [03](../exercises/03_exploding_exercises.ipynb) |
# | 4 | [Initialization and normalization](04_init_norm.ipynb) | Derive the weight scale that keeps the signal the same size forward and backward, and say what BatchNorm, LayerNorm and warmup do | [04](../exercises/04_init_norm_exercises.ipynb) |
# | 5 | [Residual connections](05_residual.ipynb) | Measure why a skip connection keeps a gradient highway open, and when it does not | [05](../exercises/05_residual_exercises.ipynb) |
# | 6 | [Gradient clipping, RNN vs LSTM](06_clipping.ipynb) | Clip by norm or by value, pick a threshold from recorded norms, and see why an LSTM carries gradients further than an RNN | [06](../exercises/06_clipping_exercises.ipynb) |
# | 7 | [Monitoring and diagnosis](07_monitoring.ipynb) | Watch any model with `GradientMonitor`, diagnose NaN, vanishing, exploding, dead and detached layers, read update ratios and gradient histograms in a live dashboard | [07](../exercises/07_monitoring_exercises.ipynb) |
# | 8 | Advanced analysis — *coming* | Gradient noise, covariance and curvature | |
#
# Read the chapters in order: each one builds on the measurements of the one before. Chapter 8
# is still being written.
#
# Every chapter ends with links to the previous and the next chapter and to its exercises.

# %% [markdown]
# ## Exercises and grading
#
# Each chapter has an exercise notebook in the `exercises/` folder, named after its chapter:
# `exercises/01_chain_rule_exercises.ipynb` goes with Chapter 1. The *Exercises* column of the table
# above links each one; it opens in a tab of its own.
#
# 1. Open it and work from the top. Each exercise has a cell for your answer, which raises
#    `NotImplementedError` until you replace that line with your code.
# 2. Run the **check cell** right after it. It says PASS or FAIL and, on a FAIL, what was wrong
#    with your value and a hint, without giving the answer away.
# 3. When you are done, save (`Ctrl+S`) and run the notebook's last cell, **Grade this notebook**.
#    It grades the file as saved: a copy runs from top to bottom in a fresh Python (your file is
#    never changed), and you get one row per exercise with its points and, for a failed one, why.
#    Grade as often as you like.
#
#    The same grader runs in a terminal (*File → New → Terminal*; it opens in the course folder,
#    with the course's Python first when JupyterLab was started with `make lab`):
#
#    ```
#    python -m gradlab.grade exercises/01_chain_rule_exercises.ipynb
#    ```
#
# Stuck? Worked solutions live in `solutions/` (`01_chain_rule_solutions.ipynb`, …). Try the
# exercise first: the struggle is where the learning happens.

# %% [markdown]
# ---
# Next: [Chapter 1, the chain rule and the per-layer factor](01_chain_rule.ipynb) · Its exercises:
# [01_chain_rule_exercises](../exercises/01_chain_rule_exercises.ipynb)
