"""Chapter 2's quiz questions as data: the notebook shows them with quiz.show, never their answers.

Used in notebooks/02_activations (KNOWLEDGE_CHECK) and its exercises' Part D (EXERCISE_CHECK).
The numbers in prompts and choices are computed here with gradlab (the 10-layer ReLU networks
are the chapter's section-4 networks), so they cannot drift from the chapter's. The right answers
sit at different positions (tests/test_quiz_positions.py).
"""

from __future__ import annotations

from gradlab.chapters.ch02_activations.depth import compute_gradient_after_depth
from gradlab.models.activations import activation_derivative, max_derivative, saturation_zone
from gradlab.theory import sigmoid_bound
from gradlab.ui.quiz import Question

_SIGMOID_MAX = max_derivative("sigmoid")
_TANH_MAX = max_derivative("tanh")
_TANH_EDGE = saturation_zone("tanh", 0.1).intervals[-1][0]
_RELU_XAVIER_10 = compute_gradient_after_depth(10, "xavier", activations=("relu",))
_RELU_HE_10 = compute_gradient_after_depth(10, "he", activations=("relu",))
_GELU_AT_MINUS_4 = float(activation_derivative("gelu", -4.0))

KNOWLEDGE_CHECK: tuple[Question, ...] = (
    Question(
        prompt="What is the largest value of the sigmoid's derivative, and where is it reached?",
        choices=[
            f"{_SIGMOID_MAX:.2f}, at x = 0",
            f"{_TANH_MAX:g}, at x = 0",
            "0.5, at x = 0",
            f"{_SIGMOID_MAX:.2f}, as x → ∞",
        ],
        answer=0,
        explanations=[
            "σ'(x) = σ(1−σ) is largest when σ = ½, i.e. at x = 0, where it is ¼.",
            "That is tanh's maximum. The sigmoid's is a quarter of it.",
            "σ(0) = 0.5 is the value of the function, not of its derivative.",
            "As x → ∞ the derivative goes to 0: that is saturation.",
        ],
    ),
    Question(
        prompt="With unit-gain weights (rms gain 1), roughly what fraction of the gradient "
        "typically survives 20 sigmoid layers, even if every unit sat at x = 0?",
        choices=[
            f"about {0.25 * 20:.0f} — the factors add",
            f"about {sigmoid_bound(2):.2f}",
            "all of it, if the learning rate is large enough",
            f"about {sigmoid_bound(20):.0e}",
        ],
        answer=3,
        explanations=[
            "The chain rule multiplies the per-layer factors.",
            "That is two layers, not twenty.",
            "The learning rate scales the update, not the gradient's path through the layers.",
            f"0.25^20 = {sigmoid_bound(20):.1e}: about a trillionth. Typical, not a ceiling: a "
            "random W stretches some directions by about 2 (σ_max), so only ‖W‖₂ ≤ 1 makes "
            "0.25^20 a strict bound.",
        ],
    ),
    Question(
        prompt="From which |x| on is tanh' below 0.1? (Where does its flat zone start?)",
        choices=[
            "from |x| = 3",
            "never: tanh's derivative is at least 0.1",
            f"from |x| = {_TANH_EDGE:.2f}",
            "from |x| = 0.25",
        ],
        answer=2,
        explanations=[
            "Beyond 3 tanh' is indeed below 0.1, but the zone starts much earlier: "
            "at 2.5, for instance, tanh' is already below 0.1.",
            "tanh' = 1 − tanh² goes to 0 for large |x|.",
            "The edge computed in section 2; the rule of thumb '|x| > 2' is a safe rounding up.",
            "Near 0, tanh' is close to 1.",
        ],
    ),
    Question(
        prompt=f"Ten ReLU layers with Xavier init keep about "
        f"{_RELU_XAVIER_10.remaining_of('relu'):.1%} of the gradient, but with He init about "
        f"{_RELU_HE_10.remaining_of('relu'):.0%}. Why?",
        choices=[
            "He init makes ReLU units die less",
            "He init makes the weights √2 times larger, which cancels ReLU's rms slope of √½",
            "He init uses a different activation",
            "It is random: another seed would reverse it",
        ],
        answer=1,
        explanations=[
            "Not dying: the very same units are off under both inits (about half for any one "
            "input). With biases at 0 and the same seed, He's weights are Xavier's times a "
            "constant in each layer, and relu(c·z) = c·relu(z) for c > 0: only the size changes.",
            "The per-layer factor is rms f' × gain(W) = 0.71 × 1.41 ≈ 1: a highway.",
            "The activation is the same; only the weight scale differs.",
            "Each of the three seeds lands near its init's value (printed in section 4): "
            "it is the init, not luck.",
        ],
    ),
    Question(
        prompt="A ReLU unit in the first layer has z ≤ 0 for every training example from the "
        "start. What happens to its weights during training?",
        choices=[
            "They grow until the unit comes back",
            "They shrink to zero (weight decay aside)",
            "They become negative",
            "Nothing: their gradient is exactly zero",
        ],
        answer=3,
        explanations=[
            "Growing would need a gradient, and the unit passes none.",
            "Without a gradient (and without weight decay) nothing changes them.",
            "They do not move at all.",
            "ReLU' = 0 for every input, so ∂L/∂W for that unit is 0 at every step (and Adam or "
            "momentum never build up a step for it). Measured in section 5: in every seed, every "
            "first-layer unit dead after the kill was still dead after 300 steps.",
        ],
    ),
    Question(
        prompt="After the bias shift of −4, which activation's network ended with the fewest "
        "never-positive units?",
        choices=["leaky_relu", "relu", "gelu", "all the same"],
        answer=0,
        explanations=[
            "Leaky ReLU ended with the fewest in every seed, under 10%: its 0.01 slope is "
            "never zero.",
            "ReLU's first-layer dead units cannot move at all.",
            f"GELU's derivative at −4 is about {_GELU_AT_MINUS_4:.0e}: some units turn positive "
            "again, but fewer, and its network's median test accuracy stays below 50%.",
            "They differ a lot: see the table in section 5.",
        ],
    ),
    Question(
        prompt="A 4-layer sigmoid MLP's loss stays at 2.30 on 10-class digits. What does that mean?",
        choices=[
            "It has memorised the training set",
            "The learning rate is too high",
            "It predicts a uniform distribution: ln 10 ≈ 2.30, nothing learned",
            "The data are not normalised",
        ],
        answer=2,
        explanations=[
            "Memorising would drive the training loss towards 0.",
            "The same learning rate trains ReLU above 90% test accuracy in every seed.",
            "Cross-entropy of a uniform guess over 10 classes is ln 10. Measured in section 6: "
            "the hidden layers get less and less gradient going down, the first 30 to 100 "
            "times less than ReLU's.",
            "gradlab.training.data standardises the pixels; the other activations learn from the "
            "same data.",
        ],
    ),
)

EXERCISE_CHECK: tuple[Question, ...] = (
    Question(
        prompt="Your tanh_edge is below 2. What does that say about the rule 'tanh saturates "
        "for |x| > 2'?",
        choices=[
            "It is wrong",
            "It is exact",
            "It is safe but loose: tanh is already flat a little before 2",
        ],
        answer=2,
        explanations=[
            "Beyond 2 the derivative is indeed below 0.1, so the rule is not wrong.",
            "The exact edge is your tanh_edge, not 2.",
            "The flat zone starts at your edge; 2 is a safe rounding up.",
        ],
    ),
    Question(
        prompt="Why does a dead ReLU unit in the first layer never come back under gradient "
        "descent?",
        choices=[
            "Its learning rate is set to zero",
            "Its weights get exactly zero gradient, and its inputs (the data) never change",
            "PyTorch removes it from the model",
        ],
        answer=1,
        explanations=[
            "The optimizer treats every weight alike; the gradient is what is zero.",
            "ReLU' = 0 for every input blocks the gradient; only a change in its inputs could "
            "revive it, and the first layer's inputs are fixed.",
            "The unit is still there; it just outputs 0 for every input.",
        ],
    ),
    Question(
        prompt="Which activation lets a unit with z = -4 for every input still learn the most?",
        choices=["leaky_relu", "relu", "gelu"],
        answer=0,
        explanations=[
            "Leaky ReLU keeps a slope of 0.01 however negative z is.",
            "ReLU's derivative there is exactly 0.",
            f"GELU's derivative at -4 is about {_GELU_AT_MINUS_4:.0e}: almost nothing.",
        ],
    ),
)
