"""Chapter 1's quiz questions as data: the notebook shows them with quiz.show, never their answers.

Used in notebooks/01_chain_rule (QUICK_CHECK) and its exercises' Part C (EXERCISE_CHECK). The
numbers in prompts and choices are computed here with gradlab, so they cannot drift from the
chapter's. The right answers sit at different positions (tests/test_quiz_positions.py).
"""

from __future__ import annotations

import torch

from gradlab.measure.probe import make_batch, probe_gradients
from gradlab.models.activations import max_derivative
from gradlab.models.mlp import make_mlp
from gradlab.theory import gradient_after_layers, sigmoid_bound
from gradlab.ui.quiz import Question


def exercise_network_ratio() -> float:
    """‖∂L/∂h_1‖ / ‖∂L/∂h_L‖ of Exercise 1.4's network: its seeded model, batch and labels."""
    model = make_mlp(depth=10, width=32, activation="sigmoid", init="xavier", seed=0)
    x = make_batch(32, batch_size=64, seed=0)
    y = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(0))
    return float(probe_gradients(model, x, y).relative_grad_norms[0])


_SIGMOID_MAX = max_derivative("sigmoid")
_TANH_MAX = max_derivative("tanh")
_AFTER_15 = gradient_after_layers(0.3, 15)
_AFTER_50_AT_1_1 = gradient_after_layers(1.1, 50)
_BOUND_10 = sigmoid_bound(10)
_EXERCISE_RATIO = exercise_network_ratio()

QUICK_CHECK: tuple[Question, ...] = (
    Question(
        prompt="15 layers, each multiplying the gradient by 0.3: what is left after all 15?",
        choices=[
            f"about {0.3 * 15:.1f} — the factors add up",
            "exactly 0",
            f"about {gradient_after_layers(0.3, 5):.1e} — only the last few layers count",
            f"about {_AFTER_15:.1e}",
        ],
        answer=3,
        explanations=[
            "The chain rule multiplies the layers' factors; it does not add them.",
            "It is tiny but not exactly zero; in float32 it would even still be representable.",
            "Every one of the 15 layers multiplies in, not just the last five.",
            f"0.3 to the 15th power is {_AFTER_15:.2e}: the gradient is effectively gone.",
        ],
    ),
)

EXERCISE_CHECK: tuple[Question, ...] = (
    Question(
        prompt="Why does the gradient at the first layer change exponentially with depth?",
        choices=[
            "The chain rule multiplies one factor per layer",
            "The chain rule adds one term per layer",
            "The optimizer divides the learning rate by the depth",
        ],
        answer=0,
        explanations=[
            "A product of L similar factors behaves like factor^L: exponential in L.",
            "A sum would grow linearly; backpropagation multiplies the local Jacobians.",
            "The optimizer only uses the gradient; the shrinking happens before it sees it.",
        ],
    ),
    Question(
        prompt="What is the largest derivative of the sigmoid, and where is it reached?",
        choices=[f"{_TANH_MAX:g}, at x = 0", "0.5, for large x", f"{_SIGMOID_MAX:.2f}, at x = 0"],
        answer=2,
        explanations=[
            "That is tanh's largest slope, not the sigmoid's.",
            "For large x the sigmoid is flat: its slope tends to 0 (saturation).",
            "σ'(0) = σ(0)(1 − σ(0)) = 0.5 × 0.5; everywhere else the slope is smaller.",
        ],
    ),
    Question(
        prompt="If no weight matrix stretches any vector (‖W‖₂ ≤ 1), at most how much of the "
        "gradient survives 10 sigmoid layers?",
        choices=[f"{_SIGMOID_MAX:.2f}", f"{_BOUND_10:.1e}", f"{_SIGMOID_MAX * 10:.1f}"],
        answer=1,
        explanations=[
            "That is one layer's bound; ten layers multiply it ten times.",
            f"0.25^10 = {_BOUND_10:.2e}: under a millionth. Random unit-gain weights stretch some "
            "directions by about 2, so for them this is the typical case, not a guarantee.",
            "Factors multiply, they do not add.",
        ],
    ),
    Question(
        prompt="Every layer multiplies the gradient by 1.1. What happens over 50 layers?",
        choices=[
            "Almost nothing: 1.1 is close to 1",
            "It vanishes",
            f"It grows about {_AFTER_50_AT_1_1:.0f}-fold: exploding gradients",
        ],
        answer=2,
        explanations=[
            "Close to 1 is not 1: the small excess compounds over 50 layers.",
            "Factors above 1 make the product grow, not shrink.",
            f"1.1^50 = {_AFTER_50_AT_1_1:.1f}.",
        ],
    ),
    Question(
        prompt="One layer's backward step multiplies the upstream gradient by f'(z) and by Wᵀ. "
        "Which of the two does the initialisation scale set directly?",
        choices=["f'(z)", "Wᵀ", "Neither"],
        answer=1,
        explanations=[
            "f'(z) depends on the activation and on where z falls; the init affects it only "
            "indirectly, through the size of z.",
            "The weights' scale is the initialisation; Wᵀ carries it straight into the gradient.",
            "The weight transpose is in every layer's backward step.",
        ],
    ),
    Question(
        prompt="In a deep sigmoid network at initialisation, which layer's weights get the "
        "smallest gradients?",
        choices=["The first layer", "The last layer", "All layers about the same"],
        answer=0,
        explanations=[
            "The first layer's gradient has passed through every layer above it.",
            "The last layer is closest to the loss: its gradient has been multiplied the least.",
            "Exercise 1.5's histograms show them shifting layer by layer.",
        ],
    ),
    Question(
        prompt="In Exercise 1.4's network, what fraction of the last layer's gradient norm "
        "reaches the first layer?",
        choices=["about 0.5", "about 1", f"about {_EXERCISE_RATIO:.0e}"],
        answer=2,
        explanations=[
            "That would be a single layer's worth of shrinking.",
            "That would be a healthy network; sigmoid layers shrink the gradient a lot.",
            f"The probe measured {_EXERCISE_RATIO:.1e}: the nine layers above the first one each "
            "shrink it.",
        ],
    ),
)
