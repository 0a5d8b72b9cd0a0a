"""Chapter 5's quick check and knowledge check as data (notebooks/05_residual shows them with
gradlab.ui.quiz.show), so their answers are not in the learner's view before they answer.

Numbers in prompts and choices are computed here; the right answers sit at different positions.
"""

from __future__ import annotations

from gradlab import theory
from gradlab.ui.quiz import Question

_PATHS = 2**20  # paths through 20 residual blocks
_CANCELLED = theory.gradient_after_layers(0.1, 20)  # (1 − 0.9)^20: the constructed case
_HE_GROWTH = theory.gradient_after_layers(2**0.5, 20)  # √2 per block over 20 standard-init blocks

QUICK_CHECK: tuple[Question, ...] = (
    Question(
        prompt="A block computes y = x + F(x). What is ∂y/∂x?",
        choices=["∂F/∂x", "I + ∂F/∂x", "I · ∂F/∂x"],
        answer=1,
        explanations=[
            "That is the plain block y = F(x): the skip adds its own term.",
            "The identity contributes I, the branch its Jacobian; they add.",
            "The two paths add, they do not multiply.",
        ],
    ),
    Question(
        prompt="Unrolled over 20 residual blocks, the backward pass is a sum over how many paths?",
        choices=["20", "40", f"{_PATHS:,}"],
        answer=2,
        explanations=[
            "Each block offers two ways through (skip or branch), and the choices multiply.",
            "Two per block, but the choices multiply: 2 × 2 × … (20 times).",
            "Two choices per block, 2^20 paths: one of them is the identity everywhere.",
        ],
    ),
)

KNOWLEDGE_CHECK: tuple[Question, ...] = (
    Question(
        prompt="Why does the '+1' in ∂y/∂x = I + ∂F/∂x matter for a deep network?",
        choices=[
            "the identity path carries the gradient from the top to every block without being "
            "multiplied by the branches' small factors",
            "it makes every block's gradient at least 1",
            "it doubles the gradient at every block",
        ],
        answer=0,
        explanations=[
            "One of the 2^N paths is the plain identity; the short paths do not shrink with depth.",
            "Not guaranteed: ∂F/∂x can cancel the identity (section 2's constructed case).",
            "It adds I, it does not double: with small branches the factor is about √(1 + b²).",
        ],
    ),
    Question(
        prompt="A residual block's branch has learned F(x) ≈ −0.9 x. Through 20 such blocks the "
        "gradient is multiplied by…",
        choices=["at least 1: skips cannot vanish", f"{_CANCELLED:.0e}", "1.9^20"],
        answer=1,
        explanations=[
            "The seeds' '(1 + F′)^N ≥ 1' assumes F′ ≥ 0; here F′ = −0.9.",
            "Each block's Jacobian is I − 0.9 I = 0.1 I, so 0.1^20.",
            "That would need F′ = +0.9; the branch cancels the identity instead.",
        ],
    ),
    Question(
        prompt="With standard He init in every branch (no scaling, no normalisation), what does "
        "the gradient do through 20 pre-activation ReLU blocks?",
        choices=[
            "it stays at about 1",
            "it vanishes",
            f"it grows, by about √2 per block (√2^20 ≈ {_HE_GROWTH:.0f})",
        ],
        answer=2,
        explanations=[
            "Only if the branches start small (zero or scaled init) or are normalised.",
            "The identity path alone keeps it from vanishing; here it grows.",
            "Each block adds a branch as large as its input: √(1 + 1²) = √2 per block.",
        ],
    ),
    Question(
        prompt="Which is He et al. 2016's pre-activation residual branch?",
        choices=[
            "ReLU → BN → weight, twice",
            "weight → BN → ReLU, twice, then ReLU after the addition",
            "BN → ReLU → weight, twice, nothing after the addition",
        ],
        answer=2,
        explanations=[
            "The order is reversed: the normalisation comes first.",
            "That is the original (post-activation) ResNet block of 2015.",
            "Normalise, activate, then the weight layer, twice; the skip stays a clean identity.",
        ],
    ),
    Question(
        prompt="When are skip connections not enough? Pick the case this chapter measured.",
        choices=[
            "a ReLU or a normalisation layer on the skip path, or branches that start too large",
            "a network of fewer than ten blocks",
            "any network trained with Adam",
        ],
        answer=0,
        explanations=[
            "Each breaks or swamps the identity path: measured in sections 2, 3 and 5.",
            "Shallow networks need skips least of all.",
            "The optimiser does not remove the identity path.",
        ],
    ),
    Question(
        prompt="Every branch's last layer starts at zero. At the first step, which weights get a "
        "non-zero gradient?",
        choices=[
            "all of them",
            "only each branch's last layer (and the stem and head)",
            "none: the network is the identity, so nothing learns",
        ],
        answer=1,
        explanations=[
            "The first layer's gradient passes back through the zero last layer: it is 0.",
            "∂L/∂W2 = g · hᵀ is non-zero; ∂L/∂W1 goes through W2 = 0. After one step both learn.",
            "The identity network still has a loss and a gradient for the last layers.",
        ],
    ),
    Question(
        prompt="In DenseNet, which layers does a layer receive as input?",
        choices=[
            "every other layer of the network",
            "all earlier layers' outputs within its own dense block",
            "only the layer directly before it",
        ],
        answer=1,
        explanations=[
            "Connections are dense only within a block; transitions separate the blocks.",
            "Concatenated feature maps of the block's earlier layers (and the block's input).",
            "That is a plain network.",
        ],
    ),
    Question(
        prompt="Where does the LayerNorm sit in a post-norm transformer layer?",
        choices=[
            "on the residual path, after the addition: x ← LN(x + sublayer(x))",
            "inside the branch only: x ← x + sublayer(LN(x))",
            "nowhere: post-norm has no LayerNorm",
        ],
        answer=0,
        explanations=[
            "So every gradient back to the early layers passes through 2 × depth LayerNorms.",
            "That is pre-norm (norm_first=True): the residual path stays a clean identity.",
            "Both have LayerNorms; they differ in where.",
        ],
    ),
)
