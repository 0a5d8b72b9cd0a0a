"""Chapter 4's exercise quizzes as data: the LayerNorm check after Exercise 4.2 and the knowledge
check at the end of solutions/04_init_norm_solutions (and its generated exercises).

The notebooks show them with gradlab.ui.quiz.show, so no answer or explanation is in the learner's
view before they answer. The right answers sit at different positions. Numbers in the prompts and
choices are computed here (init stds with gradlab.models.mlp.init_std, E[tanh(z)²] by
Gauss-Hermite quadrature), not typed.
"""

from __future__ import annotations

import math

import numpy as np

from gradlab.models.mlp import init_std
from gradlab.ui.quiz import Question

_FAN = 64  # the fan-in and fan-out of the exercises' hidden layers
_XAVIER_STD = init_std("xavier", _FAN, _FAN)  # √(2/(64+64)) = 0.125
_XAVIER_VARIANCE = _XAVIER_STD**2  # 2/(64+64) = 0.0156
_HE_STD = init_std("he", _FAN, _FAN)  # √(2/64) = 0.177


def _mean_tanh_squared() -> float:
    """E[tanh(z)²] for z ~ N(0, 1), by 60-point Gauss-Hermite quadrature (about 0.394)."""
    points, weights = np.polynomial.hermite_e.hermegauss(60)
    return float(np.sum(weights * np.tanh(points) ** 2) / math.sqrt(2 * math.pi))


_TANH_SQUARED = _mean_tanh_squared()
_TANH_GAIN = 5 / 3  # torch.nn.init.calculate_gain("tanh")

LAYER_NORM_CHECK: tuple[Question, ...] = (
    Question(
        prompt="Your layer_norm gives an example the same output whether it comes in a batch of 1 "
        "or of 1,000. Why?",
        choices=[
            "nn.LayerNorm keeps running averages of the mean and variance, as BatchNorm does in "
            "eval mode",
            "The weight and bias are shared by every example",
            "The mean and variance are taken over each example's own features (the last "
            "dimension), so no other example enters the computation",
        ],
        answer=2,
        explanations=[
            "LayerNorm keeps no running statistics at all (it has no buffers); it behaves the "
            "same in train() and eval().",
            "BatchNorm's weight and bias are shared too, and BatchNorm does depend on the batch: "
            "the sharing is not the reason.",
            "Each row is normalized with its own mean and variance: x[i] alone decides "
            "layer_norm(x)[i]. That is why transformers, whose batches vary in size and padding, "
            "use it.",
        ],
    ),
    Question(
        prompt="What does nn.BatchNorm1d(64) do with a batch of one example, shape (1, 64)?",
        choices=[
            "In train() it raises a ValueError (one value per feature has no variance to "
            "normalize by); in eval() it normalizes with the running mean and variance kept "
            "during training",
            "It normalizes over the 64 features, like LayerNorm",
            "It returns the input unchanged in both modes",
        ],
        answer=0,
        explanations=[
            "Try it: torch says 'Expected more than 1 value per channel when training'. In eval() "
            "the batch statistics are not used at all, so any batch size works.",
            "BatchNorm always normalizes each feature over the batch, never over the features.",
            "In eval() it still subtracts the running mean and divides by the running std, then "
            "applies weight and bias.",
        ],
    ),
)

EXERCISE_CHECK: tuple[Question, ...] = (
    Question(
        prompt="The seed texts ask: 'Explain why batch normalization helps with gradient flow, "
        "even though it adds more parameters to the network.' Which answer holds up?",
        choices=[
            "The extra parameters (γ and β) give the gradient more paths to the early layers",
            "It normalizes each feature's pre-activation over the batch to mean 0 and variance 1, "
            "so the signal entering each layer no longer depends on the scale of the weights "
            "before it: the per-layer factors of the forward and backward pass stay near 1 and "
            "tanh/sigmoid stay out of saturation. The added parameters are beside the point",
            "It is proven that BatchNorm works by reducing internal covariate shift",
        ],
        answer=1,
        explanations=[
            "γ and β start at 1 and 0 and are two numbers per feature; they are not what moves "
            "the gradient. The question's 'even though' is a red herring: parameter count has "
            "nothing to do with gradient flow.",
            "That is what the chapter measured in the deep sigmoid/tanh net: normalization "
            "undoes a bad weight scale layer by layer (BN(a·Wx) = BN(Wx) for any a > 0).",
            "Reducing internal covariate shift was the original paper's motivation; Santurkar et "
            "al. (2018) attribute the benefit to a smoother loss landscape instead. Neither is "
            "settled beyond what you can measure.",
        ],
    ),
    Question(
        prompt=f"The seeds write Xavier init as N(0, √(2/(n_in+n_out))). For n_in = n_out = "
        f"{_FAN}, which value do you pass as std to torch.nn.init.normal_?",
        choices=[
            f"{_XAVIER_VARIANCE:.4f}",
            f"{_XAVIER_STD:.3f}",
            f"{math.sqrt(_XAVIER_STD):.3f}",
        ],
        answer=1,
        explanations=[
            f"That is 2/(n_in+n_out), the variance. As a std it makes every layer "
            f"{_XAVIER_STD / _XAVIER_VARIANCE:.0f}x too small.",
            f"√(2/(n_in+n_out)) = {_XAVIER_STD:.3f} is the standard deviation. In N(μ, σ²) the "
            "second argument is the variance, so the seeds' formula read that way takes the "
            "square root twice; torch's normal_ takes the std.",
            "That takes the square root twice: the seeds' N(0, √...) read as N(μ, σ²).",
        ],
    ),
    Question(
        prompt=f"Why does He init use Var(w) = 2/fan_in ({_HE_STD:.3f} as a std for fan_in "
        f"{_FAN}) where Xavier for tanh uses about 1/fan_in?",
        choices=[
            "ReLU zeroes the negative half of its inputs: E[relu(z)²] = Var(z)/2 forward, and "
            "half the slopes are 0 backward. The factor 2 makes up for that half",
            "ReLU networks are usually twice as deep",
            "ReLU's slope is 2 for positive inputs",
        ],
        answer=0,
        explanations=[
            "Var(z_next) = fan_in·Var(w)·E[relu(z)²] = fan_in·Var(w)·Var(z)/2, which stays equal "
            "to Var(z) when Var(w) = 2/fan_in. Exercise 4.1 measured it: without the 2, the "
            "gradient shrinks by about √2 per layer.",
            "Depth does not enter the per-layer condition; the factor holds for any depth.",
            "ReLU's slope is 1 for positive inputs and 0 for negative ones.",
        ],
    ),
    Question(
        prompt=f"torch.nn.init.calculate_gain('tanh') is 5/3. For z ~ N(0, 1), E[tanh(z)²] ≈ "
        f"{_TANH_SQUARED:.2f}, and 1/√{_TANH_SQUARED:.2f} ≈ {1 / math.sqrt(_TANH_SQUARED):.1f}. "
        "What does the gain trade, in the 30-layer tanh network of Exercise 4.1?",
        choices=[
            "Nothing: the gain keeps both the forward and the backward signal exactly constant",
            "It makes the network train twice as fast",
            "It keeps the forward activations from shrinking (it roughly undoes tanh's squashing "
            "of a unit-variance input), but each layer then multiplies the gradient by a bit "
            "more than 1, and over 29 layers that grows past 10",
        ],
        answer=2,
        explanations=[
            "Exercise 4.1 measured the opposite for the backward signal: with the gain, the "
            "first layer's gradient is more than 10 times the last layer's.",
            "Init sets where training starts, not how fast it goes; no factor of two follows.",
            "For tanh the two conditions pull apart: near Var(w)·fan_in = 1 (Xavier) the gradient "
            "keeps its size to within 10x over the 29 blocks while the activations slowly shrink; "
            "the gain keeps the activations up and lets the gradient grow.",
        ],
    ),
    Question(
        prompt="For a batch x of shape (32, 128): over which entries does nn.BatchNorm1d(128) "
        "compute each mean, and over which does nn.LayerNorm(128)?",
        choices=[
            "Both over all 32 × 128 entries",
            "BatchNorm: over the 128 features of each example; LayerNorm: over the 32 examples "
            "of each feature",
            "Both over the 32 examples of each feature",
            "BatchNorm: over the 32 examples, one mean per feature (128 means); LayerNorm: over "
            "the 128 features, one mean per example (32 means)",
        ],
        answer=3,
        explanations=[
            "Neither pools everything; each normalizes along one axis.",
            "That is the other way round.",
            "That is BatchNorm only; LayerNorm never looks across examples.",
            "BatchNorm normalizes along the batch axis, LayerNorm along the feature axis (the "
            "last dimension, as your layer_norm did).",
        ],
    ),
    Question(
        prompt="After training a network with BatchNorm, you call model.eval(). What changes in "
        "the BatchNorm layers?",
        choices=[
            "Nothing: eval() only turns off gradients",
            "They normalize with the running mean and variance collected during training instead "
            "of the current batch's, so an example's output no longer depends on the other "
            "examples in its batch",
            "They stop normalizing and only apply weight and bias",
        ],
        answer=1,
        explanations=[
            "eval() does not turn off gradients (torch.no_grad() does); it switches BatchNorm "
            "and Dropout to their inference behaviour.",
            "In train() each batch is normalized by its own statistics (and the running ones are "
            "updated); in eval() the stored running statistics are used.",
            "They still normalize, with the stored statistics.",
        ],
    ),
    Question(
        prompt="In Exercise 4.3 the same peak learning rate blows up without warmup and trains "
        "fine after a long enough warmup. What did the warmup change?",
        choices=[
            "The first updates, which are taken from the random initial weights, are small; by "
            "the time the learning rate reaches its peak, the network is in a region where "
            "that learning rate is stable",
            "It lowers the peak learning rate",
            "It clips the gradients of the first steps",
        ],
        answer=0,
        explanations=[
            "Warmup changes only the learning rates of the first steps: it rises linearly from "
            "small to the peak. The measured loss curve shows the difference.",
            "The peak is the same in every run of Exercise 4.3; warmup only delays it.",
            "Warmup touches the learning rate, not the gradients: lr × gradient is smaller "
            "because lr is.",
        ],
    ),
)
