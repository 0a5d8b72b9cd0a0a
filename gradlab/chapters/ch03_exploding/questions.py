"""Chapter 3's knowledge check as data (notebooks/03_exploding shows it with gradlab.ui.quiz.show).

The questions live here, not in the notebook, so their answers and explanations are not in the
learner's view before they answer. Numbers in prompts and choices are computed with gradlab, the
same functions the chapter prints them with; the right answers sit at different positions.
"""

from __future__ import annotations

from gradlab import theory
from gradlab.measure import spectral
from gradlab.ui.quiz import Question

# Section 1.2's first row: a 64 × 64 Gaussian matrix of scale 0.6 (σ_max above 1, rms about 0.6).
_SMALL_GAUSSIAN = spectral.compare_spectra((0.6,))[0].spectrum
_ORTHOGONAL_GROWTH = theory.gradient_after_layers(1.5, 20)  # twenty layers of 1.5 · Q
_RNN_SURVIVING = theory.gradient_after_layers(0.9, 49)  # 49 steps back at s = 0.9

KNOWLEDGE_CHECK: tuple[Question, ...] = (
    Question(
        prompt="Which size of W bounds how much one backward step through W can stretch a "
        "gradient?",
        choices=["its largest singular value", "its spectral radius", "its largest entry"],
        answer=0,
        explanations=[
            "‖Wᵀv‖ ≤ σ_max(W)‖v‖ for every v, with equality along the top singular vector.",
            "The spectral radius governs repeated application of the same matrix, but a single "
            "step can stretch more: σ_max ≥ ρ.",
            "A single entry says little: a matrix of small entries can still have a large σ_max.",
        ],
    ),
    Question(
        prompt="Twenty linear layers with W = 1.5 × (orthogonal matrix). What happens to the "
        "gradient from the output to the input?",
        choices=[
            "it is multiplied by about 30",
            "it stays the same, orthogonal matrices preserve norms",
            f"it is multiplied by about {_ORTHOGONAL_GROWTH:.0f}",
        ],
        answer=2,
        explanations=[
            "That would be 1.5 × 20: the factors multiply, they do not add.",
            "Q preserves norms, but the scale 1.5 multiplies in at every layer.",
            "Every singular value is 1.5, so each layer multiplies by exactly 1.5: 1.5^20.",
        ],
    ),
    Question(
        prompt=f"A Gaussian W has σ_max = {_SMALL_GAUSSIAN.largest_singular_value:.2f} but rms "
        f"singular value {_SMALL_GAUSSIAN.rms_singular_value:.1f}. Through 20 independent such "
        "layers, the gradient typically…",
        choices=[
            "grows, because σ_max > 1",
            f"shrinks, roughly like {_SMALL_GAUSSIAN.rms_singular_value:.1f}^20",
        ],
        answer=1,
        explanations=[
            "σ_max > 1 only says some direction can grow; a random gradient is stretched by the "
            "typical amount.",
            "Independent random matrices stretch a gradient by their typical size, here "
            f"{_SMALL_GAUSSIAN.rms_singular_value:.1f}.",
        ],
    ),
    Question(
        prompt="In section 3 every run at lr = 3.0 diverged: the loss or a gradient became inf "
        "or nan. Which symptom came first?",
        choices=["NaN values", "vanishing gradients", "a loss spike"],
        answer=2,
        explanations=[
            "NaN is the end of the story, not the start.",
            "Nothing vanished: the gradients grew with the loss.",
            "The climb to more than ten times the starting loss is the spike; in every run of "
            "section 3 the first inf or nan came at least two steps later.",
        ],
    ),
    Question(
        prompt="Why does training stop being recoverable once a gradient is inf?",
        choices=[
            "PyTorch raises an exception",
            "the next update writes inf into the weights, and inf − inf = nan spreads everywhere",
            "the learning rate becomes zero",
        ],
        answer=1,
        explanations=[
            "PyTorch does not raise on inf or nan; it keeps computing, which is why you check.",
            "One inf update poisons the weights; every later forward pass computes nan.",
            "Nothing changes the learning rate; the weights are the problem.",
        ],
    ),
    Question(
        prompt="A linear RNN with recurrent weight s = 0.9 is unrolled over 50 steps. How much of "
        "the gradient at the last step reaches the first?",
        choices=[f"about {_RNN_SURVIVING:.3f}", "about 0.9", "about 0.45"],
        answer=0,
        explanations=[
            f"0.9^49 ≈ {_RNN_SURVIVING:.4f}: less than 1 % survives — a vanishing gradient through "
            "time.",
            "That is one step's worth; there are 49 steps between the first and the last.",
            "That would be 0.9 × 0.5; the factor is applied once per step.",
        ],
    ),
    Question(
        prompt="Why does a tanh RNN with W_h = 1.1 × (orthogonal matrix) not explode over 50 steps "
        "while a linear one with s = 1.1 does?",
        choices=[
            "tanh networks cannot have gradients above 1",
            "the orthogonal matrix cancels the growth",
            "tanh saturates as h grows, so its slope pulls each step's factor below 1",
        ],
        answer=2,
        explanations=[
            "They can: at s = 2 the tanh RNN's gradient grows thousands of times over 50 steps.",
            "An orthogonal matrix scaled by 1.1 stretches every direction by 1.1.",
            "The factor per step is s × tanh', and tanh' drops as the state grows.",
        ],
    ),
)
