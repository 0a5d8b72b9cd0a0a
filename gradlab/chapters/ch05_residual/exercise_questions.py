"""The knowledge check of Chapter 5's exercises (solutions/05_residual_solutions), as data.

The exercises notebook shows it with gradlab.ui.quiz.show, so no answer or explanation is in the
learner's view before they answer. The right answers sit at different positions. Numbers in the
prompts and choices are computed here (gradlab.theory, the diagnosis thresholds), not typed.
"""

from __future__ import annotations

from gradlab.diagnosis.report import Thresholds
from gradlab.formatting import format_number
from gradlab.theory import gradient_after_layers
from gradlab.ui.quiz import Question

_BLOCKS = 10  # the residual networks of Exercises 5.1 and 5.2
_CANCEL_SLOPE, _CANCEL_DEPTH = -0.5, 20  # a branch whose Jacobian is -0.5·I, 20 blocks of it
_CANCEL_LEFT = gradient_after_layers(1 + _CANCEL_SLOPE, _CANCEL_DEPTH)  # (1 - 0.5)^20
_VANISHING_WARNING = Thresholds().vanishing_warning  # diagnose's rule: below 1/100 of a later block

EXERCISE_CHECK: tuple[Question, ...] = (
    Question(
        prompt="A residual block computes y = x + F(x), so ∂y/∂x = I + ∂F/∂x. Why does the "
        "'+ I' (the '+1' of a scalar block) matter in a deep stack?",
        choices=[
            "It guarantees that the gradient never shrinks: (1 + F′)^N ≥ 1",
            "Multiplying the N factors (I + ∂F_k/∂x) gives a sum over paths, one of which goes "
            "through the identity of every block: the gradient is not forced to be a product of "
            "N small factors",
            "It adds 1 to every layer's learning rate",
        ],
        answer=1,
        explanations=[
            f"Wrong, though often claimed: ∂F/∂x can be negative and cancel the identity. A "
            f"branch whose Jacobian is {_CANCEL_SLOPE:g}·I makes every block's "
            f"{1 + _CANCEL_SLOPE:g}·I; after {_CANCEL_DEPTH} such blocks "
            f"{format_number(_CANCEL_LEFT)} of the gradient is left.",
            "Right: the identity term opens short paths. In the typical case (small, random "
            "branch Jacobians) the gradient keeps its size: the probe of Exercise 5.4 measured "
            "a factor near 1 for every healthy block.",
            "The learning rate is the optimizer's; the skip changes the Jacobian, not the step.",
        ],
    ),
    Question(
        prompt="When are skip connections not enough to keep the gradient healthy?",
        choices=[
            "When the identity path is not clean (an activation or a normalisation on it, a "
            "ReLU after the addition, an in-place op that rewrites x) or when the branches' "
            "Jacobians are large or cancel the identity",
            "Never: with skip connections the gradient cannot vanish or explode",
            "Only in networks with fewer than 20 layers",
        ],
        answer=0,
        explanations=[
            "Right: the '+ I' only helps when it is really I, and the branches still multiply "
            "in (large ones make the gradient grow with depth, cancelling ones shrink it).",
            "The identity guarantees a path, not a size: a branch can cancel it, and anything "
            "on the skip path changes it (Exercises 5.3 to 5.5).",
            "Depth is what skips are for; shallow networks rarely need them.",
        ],
    ),
    Question(
        prompt=f"Expand the product of the {_BLOCKS} Jacobians (I + ∂F_k/∂x) of a "
        f"{_BLOCKS}-block residual network. Into how many terms (paths) does it split?",
        choices=[str(_BLOCKS), str(2 * _BLOCKS), str(2**_BLOCKS)],
        answer=2,
        explanations=[
            f"{_BLOCKS} is the number of blocks; each block offers two ways through.",
            "That adds the two ways of each block; the product multiplies them, block after block.",
            f"Each block either takes its identity or its branch: 2^{_BLOCKS} = {2**_BLOCKS} "
            "paths, one of them through the identity of every block.",
        ],
    ),
    Question(
        prompt="Which is the pre-activation block of He et al. 2016 ('Identity mappings in deep "
        "residual networks')?",
        choices=[
            "y = x + W2 relu(BN2(W1 relu(BN1(x)))): BN → ReLU → weight, twice, then add x",
            "y = x + F(BN(relu(x))): ReLU → BN → weight",
            "y = relu(x + BN2(W2 relu(BN1(W1 x)))): the ReLU after the addition",
        ],
        answer=0,
        explanations=[
            "Right: normalisation and ReLU move in front of each weight layer, and nothing is "
            "left on the identity path.",
            "That is the order reversed, as some tutorials write it: the block normalises "
            "first, then applies the ReLU.",
            "That is the original post-activation block (He et al. 2015), with the ReLU on the "
            "identity path.",
        ],
    ),
    Question(
        prompt="In Exercise 5.3 the post-activation block, with its branch's last layer zeroed, "
        "outputs relu(x). What gradient reaches an input entry that is negative?",
        choices=[
            "all of it, through the identity path",
            "none: the ReLU after the addition has slope 0 there, so the identity path is cut "
            "for that entry",
            "half of it",
        ],
        answer=1,
        explanations=[
            "That is what the pre-activation block does; here the ReLU sits on the identity path.",
            "Right: ∂relu(x)/∂x = 0 for x < 0, so the 'identity' is not one there.",
            "ReLU's slope is 0 or 1, never one half.",
        ],
    ),
    Question(
        prompt="Why did gradlab.diagnose report no problem for the colleague's model of "
        "Exercise 5.4?",
        choices=[
            "Its vanishing rule flags a block whose relative gradient ‖∂L/∂W‖/‖W‖ is below "
            f"{format_number(_VANISHING_WARNING)} of the largest later one; one leaky block "
            "loses only part of the gradient. A probe across the blocks shows each block's "
            "factor.",
            "diagnose cannot run on models with in-place ReLUs",
            "The bug does not change the gradient at all",
        ],
        answer=0,
        explanations=[
            "Right: diagnose is a coarse net for large failures; a per-block probe finds a "
            "block that is merely leaky.",
            "It runs: gradlab hooks the autograd nodes, which in-place ops do not break (the "
            "model printed its report).",
            "It does: Exercise 5.5 measured a larger first-block gradient once it was fixed.",
        ],
    ),
    Question(
        prompt="What does a dense block of DenseNet (Huang et al. 2017) connect?",
        choices=[
            "every layer of the network to every other layer",
            "each layer to the concatenated outputs of all earlier layers of its own dense "
            "block; transition layers join the blocks",
            "each layer to the network's input only",
        ],
        answer=1,
        explanations=[
            "A common overstatement: the connections stay within a dense block, and they go "
            "forward only.",
            "Right: within a block, layer l receives the feature maps of layers 0..l-1, "
            "concatenated (not added).",
            "Each layer sees every earlier layer of its block, not only the input.",
        ],
    ),
    Question(
        prompt="Each block's last layer is initialised to zero (Fixup, 'zero-γ', GPT-2's "
        "scaled init taken to its limit). What is the network at the start?",
        choices=[
            "dead: no gradient reaches any weight, so it cannot learn",
            "a network whose output is 0 for every input",
            "every block is the identity, so the gradient reaches every block unchanged; at "
            "the first step, inside each branch, only the last layer gets a gradient, and the "
            "first follows once the last moves away from 0",
        ],
        answer=2,
        explanations=[
            "Each branch's last layer gets a gradient (its input is not 0), so training starts.",
            "The blocks pass their input through; the stem and head still compute something.",
            "Right: the network starts as the identity from the stem to the head and learns "
            "what each block adds.",
        ],
    ),
)
