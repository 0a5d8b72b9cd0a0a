"""Chapter 4's quick check and knowledge check as data (notebooks/04_init_norm shows them with
gradlab.ui.quiz.show).

The questions live here, not in the notebook, so their answers and explanations are not in the
learner's view before they answer. Numbers in prompts and choices are computed with the functions
the chapter uses; the right answers sit at different positions.
"""

from __future__ import annotations

import math

from torch import nn

from gradlab.chapters.ch04_init_norm.propagation import predicted_ratio, weight_std
from gradlab.chapters.ch04_init_norm.warmup import LEARNING_RATES, WARMUP_STEPS
from gradlab.ui.quiz import Question

_FAN = 256
_HE_STD = weight_std("he", _FAN, _FAN)  # √(2/256)
_PLAIN_STD = 1 / math.sqrt(_FAN)  # √(1/256): the linear-layer condition without the ReLU's ½
_XAVIER_VARIANCE = 2 / (_FAN + 128)  # a 256 → 128 layer
_XAVIER_RELU_RATIO = predicted_ratio("relu", "xavier", _FAN)  # √½ per layer
_XAVIER_RELU_50 = _XAVIER_RELU_RATIO**49  # from layer 1 to layer 50
_TANH_GAIN = nn.init.calculate_gain("tanh")
_TOO_LARGE = LEARNING_RATES["too large"]

QUICK_CHECK: tuple[Question, ...] = (
    Question(
        prompt=f"A linear layer with fan_in = fan_out = {_FAN} feeds a ReLU. Which weight std keeps "
        "the variance of the pre-activation z the same from layer to layer?",
        choices=[
            f"{_PLAIN_STD:.4f} = √(1/{_FAN})",
            f"{_HE_STD:.4f} = √(2/{_FAN})",
            f"{2 / _FAN:.4f} = 2/{_FAN}",
        ],
        answer=1,
        explanations=[
            "That keeps Var(z) for a linear layer, but the ReLU zeroes half of the units, so "
            "E[relu(z)²] = ½ Var(z): the signal halves in variance at every layer.",
            f"He: fan_in · Var(w) · ½ = 1 gives Var(w) = 2/{_FAN}, so std √(2/{_FAN}).",
            "2/fan_in is the variance; the std is its square root.",
        ],
    ),
    Question(
        prompt="Some texts write Xavier init as N(0, √(2/(n_in + n_out))). Under the usual N(μ, σ²) "
        "convention, what is wrong with that?",
        choices=[
            "the second argument of N(μ, σ²) is a variance: Xavier's variance is 2/(n_in + n_out), "
            "its std √(2/(n_in + n_out))",
            "nothing: the second argument is always the std",
            "Xavier's mean is not 0",
        ],
        answer=0,
        explanations=[
            "Written as N(0, √(2/(n_in + n_out))) it would mean a variance of √(…), a far larger "
            "spread. Say which one you mean: torch's normal_(mean, std) takes the std.",
            "Some libraries take a std (torch.normal_), but the notation N(μ, σ²) puts the "
            "variance second.",
            "Xavier (Glorot) draws weights with mean 0.",
        ],
    ),
)

KNOWLEDGE_CHECK: tuple[Question, ...] = (
    Question(
        prompt="A 50-layer ReLU network is initialised with Xavier (std √(2/(fan_in + fan_out)), "
        "square layers). By about how much does the std of z shrink from layer 1 to layer 50?",
        choices=[
            "not at all: Xavier preserves the variance",
            "by about half",
            f"to about {_XAVIER_RELU_50:.0e} of its start (×{_XAVIER_RELU_RATIO:.2f} per layer)",
        ],
        answer=2,
        explanations=[
            "Xavier preserves it for a linear (or tanh-near-0) layer; the ReLU removes half the "
            "variance at every layer.",
            "Half the *variance* is lost per layer, not half overall: the losses multiply.",
            f"√½ per layer over 49 layers: {_XAVIER_RELU_RATIO:.3f}^49 ≈ {_XAVIER_RELU_50:.1e}; the "
            "chapter measured the same ratio per layer.",
        ],
    ),
    Question(
        prompt=f"Why is Xavier's variance 2/(fan_in + fan_out) — for a {_FAN} → 128 layer "
        f"{_XAVIER_VARIANCE:.5f} — and not 1/fan_in?",
        choices=[
            "the forward pass needs Var(w) = 1/fan_in and the backward pass 1/fan_out; "
            "2/(fan_in + fan_out) is the compromise between them",
            "it makes the weights smaller, which always trains faster",
            "it doubles the variance to make up for the ReLU",
        ],
        answer=0,
        explanations=[
            "The forward signal is summed over fan_in inputs, the backward one over fan_out "
            "outputs; one variance cannot satisfy both when they differ, so Glorot and Bengio "
            "average the two fans: Var(w) · (fan_in + fan_out)/2 = 1.",
            "Smaller is not better: too small shrinks both signals geometrically.",
            "That is He's factor 2 (over fan_in); Xavier was derived for a slope of 1 near 0.",
        ],
    ),
    Question(
        prompt=f"torch.nn.init.calculate_gain('tanh') is {_TANH_GAIN:.3f}. In the chapter's 50-layer "
        "tanh network with that gain, what did the measurement show?",
        choices=[
            "both signals stayed within a factor of 2",
            "the forward std settled, but the gradient grew going back (×1.09 per layer, about "
            "×100 over 50 layers)",
            "both signals vanished",
        ],
        answer=1,
        explanations=[
            "Only the forward signal did; the backward one grew.",
            "The gain makes up for tanh's saturation in the forward pass; the backward factor "
            "gain × rms slope stays a little above 1, and 49 layers compound it.",
            "That is what too small an init does (×0.5 per layer).",
        ],
    ),
    Question(
        prompt="nn.init.orthogonal_ fills a square weight so that…",
        choices=[
            "its entries are all equal",
            "its largest singular value is 1 but the others are random",
            "every singular value is 1: no direction is stretched or flattened, and a chain of "
            "such linear layers keeps every gradient's norm",
        ],
        answer=2,
        explanations=[
            "Equal entries would be a rank-1 matrix: most directions would be flattened to 0.",
            "All of them are 1 (times the gain); a Gaussian matrix of the same rms has σ_max ≈ 2 "
            "and σ_min near 0.",
            "W is a rotation: σ_max = σ_min = 1, and so are the singular values of a product of "
            "such matrices.",
        ],
    ),
    Question(
        prompt="Why does batch normalization help gradient flow, even though it adds more "
        "parameters to the network?",
        choices=[
            "the extra parameters (γ, β) store gradient between steps",
            "it rescales every feature of z to mean 0 and std 1 over the batch, so the factors "
            "each layer loses (the weights' scale, the sigmoid's slope) stop compounding",
            "it makes the network shallower",
        ],
        answer=1,
        explanations=[
            "γ and β are ordinary parameters; they let the layer undo the normalisation if that "
            "helps. They do not carry gradient.",
            "Dividing by the batch std cancels what the layers below shrank or stretched (forward "
            "and backward). In the chapter's 20-layer sigmoid net the first layer's gradient went "
            "from about 1e-12 of the last's to within a factor of 3 of it. Why that also trains faster is debated: the original "
            "paper said internal covariate shift, Santurkar et al. (2018) a smoother loss.",
            "The number of layers is unchanged; BatchNorm adds a layer.",
        ],
    ),
    Question(
        prompt="In training mode, a BatchNorm1d layer gets batches of 2. What does it output for "
        "each feature of an example?",
        choices=[
            "about +1 or −1: with two values, the normalised ones are ±1 whatever they were, so "
            "only the order of the pair is kept",
            "the same as with batch 64",
            "the same as LayerNorm",
        ],
        answer=0,
        explanations=[
            "(a − m)/s with m the pair's mean and s its std is ±1 (a little less, because of eps): "
            "the output depends on which partner the example was batched with.",
            "With 64 examples the statistics are stable; with 2 they are whatever the partner is.",
            "LayerNorm normalises each example over its own features: it never looks at the "
            "partner.",
        ],
    ),
    Question(
        prompt="You evaluate a model with BatchNorm but forget model.eval(). What happens?",
        choices=[
            "nothing: BatchNorm behaves the same in both modes",
            "it raises an error",
            "it normalises with the test batch's own statistics (and updates the running ones), "
            "so a prediction depends on the other examples in the batch",
        ],
        answer=2,
        explanations=[
            "In eval mode it uses the running mean and variance collected in training; in train "
            "mode the batch's own.",
            "PyTorch does not check the mode for you.",
            "The chapter measured the difference between the two modes on the same batch.",
        ],
    ),
    Question(
        prompt=f"Adam at lr = {_TOO_LARGE:g}: the first step moved every weight matrix by more "
        "than a tenth of its norm. With linear warmup over "
        f"{WARMUP_STEPS} steps, the first step's lr is…",
        choices=[
            f"{_TOO_LARGE:g}, warmup only changes the end",
            f"{_TOO_LARGE / WARMUP_STEPS:g}, so the first update is {WARMUP_STEPS} times smaller",
            "0, nothing moves in the first step",
        ],
        answer=1,
        explanations=[
            "The cosine decay shapes the end; the warmup shapes the start.",
            f"LinearLR starts at lr/{WARMUP_STEPS} and rises to lr; Adam's first update is about "
            "lr per weight whatever the gradient's size, so the ratio falls in proportion.",
            f"torch's LinearLR here starts at start_factor = 1/{WARMUP_STEPS}, not at 0.",
        ],
    ),
)
