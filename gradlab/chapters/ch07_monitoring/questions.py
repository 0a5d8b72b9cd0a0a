"""Chapter 7's quizzes as data: the quick check and knowledge check of notebooks/07_monitoring and
the knowledge check of its exercises (solutions/07_monitoring_solutions).

The notebooks show them with gradlab.ui.quiz.show, so no answer or explanation is in the learner's
view before they answer. The right answers sit at different positions. Layer names are the
readable ones the chapter's models use ('linear1', ..., 'output').
"""

from __future__ import annotations

from gradlab.chapters.ch07_monitoring.plots import UPDATE_RATIO_REFERENCE
from gradlab.ui.quiz import Question

_FAST_RATIO = 5e-2  # the exercise question's too-fast layer
_CLIP_MAX_NORM, _TYPICAL_NORM = 0.01, 0.5  # the exercise question's too-tight clipping
_EVERY = 50  # the exercise question's sparse monitor


def _power(value: float) -> str:
    """A power of ten as people write it: 1e-3, 5e-2 (not Python's 1e-03)."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


_REFERENCE = _power(UPDATE_RATIO_REFERENCE)

QUICK_CHECK: tuple[Question, ...] = (
    Question(
        prompt="diagnose() reports 'no_grad' at 'body.linear1' and 'body.linear2' but the loss still goes "
        "down. What is the most likely cause?",
        choices=[
            "the learning rate is too low for the body",
            "the body's gradients vanished",
            "something between the body and the loss cuts the graph (.detach(), .data, .numpy())",
        ],
        answer=2,
        explanations=[
            "A low learning rate gives small updates, not a gradient of None.",
            "A vanishing gradient is tiny but present; None means the graph does not reach the "
            "body.",
            "The head still learns, so the loss falls; the body never gets a gradient at all.",
        ],
    ),
)

KNOWLEDGE_CHECK: tuple[Question, ...] = (
    Question(
        prompt="Why does a monitor built on register_full_backward_hook fail on a model that "
        "uses nn.ReLU(inplace=True)?",
        choices=[
            "the hook returns the module's output as a view, and autograd forbids modifying "
            "that view in place",
            "in-place ReLU has no gradient",
            "hooks cannot be registered on nn.Sequential",
        ],
        answer=0,
        explanations=[
            "The error says so: 'Output 0 of BackwardHookFunction is a view and is being "
            "modified inplace'.",
            "In-place ReLU has the same gradient as ReLU; the model trains fine without the hook.",
            "They can; the tutorial monitor registers hooks on the Linear layers inside it.",
        ],
    ),
    Question(
        prompt="Layer 1's gradient norm is 1e-8 of the last layer's in a 10-layer sigmoid MLP. "
        "Which finding and which fix?",
        choices=[
            "exploding: clip gradients",
            "no_grad: remove a .detach()",
            "vanishing: ReLU-family activations with He init (or residual connections / "
            "normalisation)",
        ],
        answer=2,
        explanations=[
            "Nothing is large here; clipping only shrinks gradients further.",
            "The gradient is tiny, not missing: the graph is intact.",
            "The sigmoid's slope is at most 1/4, and default-init weights do not make up for it; "
            "ReLU with He init keeps the gradient's size about the same from layer to layer.",
        ],
    ),
    Question(
        prompt="A layer's update-to-data ratio is about 1e-1 at every step. What does it mean?",
        choices=[
            "healthy: the rule of thumb is 1e-1",
            "each step changes the weights by about a tenth of their norm: the learning rate is "
            "likely too high",
            "the layer's gradients vanish",
        ],
        answer=1,
        explanations=[
            f"The rule of thumb is about {_REFERENCE}.",
            f"{1e-1 / UPDATE_RATIO_REFERENCE:.0f} times the reference: lower the learning rate "
            "and watch it settle.",
            f"Vanishing gradients give a ratio far *below* {_REFERENCE}.",
        ],
    ),
    Question(
        prompt="In a gradient histogram, the first three layers have no bars and the legend says "
        "'100% = 0' for each. Which signal of the table is this?",
        choices=["activations mostly zero (dead ReLUs)", "gradients are None", "loss becomes nan"],
        answer=0,
        explanations=[
            "Dead ReLU units pass exactly zero gradient, so everything below them gets 0.",
            "None means no gradient was computed at all; here it was computed and is exactly 0.",
            "A nan loss would show inf/nan counts, not zeros.",
        ],
    ),
    Question(
        prompt="The loss is nan at the very first step, before any update. Which cause can you "
        "rule out?",
        choices=["bad data (a NaN in the batch)", "an unstable loss", "too high a learning rate"],
        answer=2,
        explanations=[
            "A NaN in the batch poisons the first forward pass, as in section 3.",
            "log(0) or a division by zero in the loss can give nan at once.",
            "No update has happened yet, so the learning rate has not been used.",
        ],
    ),
    Question(
        prompt="You wrap a long training run in GradientMonitor(model, every=10) instead of "
        "every=1. What do you give up?",
        choices=[
            "nothing: every=10 records the same numbers",
            "the nine steps in between are not recorded, so a spike or the first NaN between two "
            "recorded steps is seen late, in exchange for less overhead per step",
            "the hooks stay on the model after the with-block",
        ],
        answer=1,
        explanations=[
            "Only every tenth step is measured; the others run with the hooks idle.",
            "That is the trade-off: resolution in steps against cost per step (section 2 measured "
            "both on this machine).",
            "Hooks are removed on exit in both cases, also when the loop raises.",
        ],
    ),
)

EXERCISE_CHECK: tuple[Question, ...] = (
    Question(
        prompt="Why did the tutorial monitor (register_full_backward_hook) fail on the network with "
        "nn.ReLU(inplace=True)?",
        choices=[
            "ReLU has no parameters, so it cannot be hooked",
            "The hook wraps the layer's output in a view from a custom autograd function, and the "
            "in-place ReLU writes into that view, which autograd forbids",
            "In-place ops make the gradient zero",
        ],
        answer=1,
        explanations=[
            "The hooks were on the Linear layers; the ReLU only had to modify their output.",
            "Autograd cannot both keep the hook's custom backward and rebase the view for the "
            "in-place op. A tensor hook on the output (Exercise 7.1) does not wrap anything.",
            "In-place ReLU computes the same gradient; it only saves memory.",
        ],
    ),
    Question(
        prompt="The first layer's gradient norm is 1e-6 of the last layer's, and the loss barely "
        "moves. Which row of the diagnosis table is this?",
        choices=["Exploding gradients", "Dead ReLU units", "Vanishing gradients"],
        answer=2,
        explanations=[
            "Exploding would make the early layers' gradients larger, not smaller.",
            "Dead units can cause it (Exercise 7.4), but the symptom itself is vanishing; the "
            "'activations mostly zero' row is what would name dead units.",
            "Early-layer gradient norms near zero: each layer shrinks the gradient a bit more.",
        ],
    ),
    Question(
        prompt="Some parameters have .grad equal to None after loss.backward(). What does the "
        "table say, and which of these does NOT cause it?",
        choices=[
            "A .detach() between the layer and the loss",
            "Running the layer's forward under torch.no_grad()",
            "A layer defined in __init__ but never called",
            "Reshaping the layer's output with .view()",
        ],
        answer=3,
        explanations=[
            ".detach() cuts the graph: it does cause missing gradients (the GatedMLP bug).",
            "Under no_grad no graph is recorded: it does cause missing gradients.",
            "An unused parameter never enters the loss: it does cause missing gradients.",
            "Correct: .view() is differentiable. The table's row reads: detached graph or "
            "parameter unused in the loss.",
        ],
    ),
    Question(
        prompt=f"Layer 'linear2' moves by ‖Δθ‖/‖θ‖ ≈ {_power(_FAST_RATIO)} at every step. What do "
        "you do?",
        choices=[
            f"Lower the learning rate, about {_FAST_RATIO / UPDATE_RATIO_REFERENCE:.0f}x, aiming "
            f"at a ratio near {_REFERENCE}",
            "Raise the learning rate: the ratio should be near 1",
            "Nothing: any ratio below 1 is fine",
        ],
        answer=0,
        explanations=[
            f"About {_REFERENCE} is the healthy reference; at {_power(_FAST_RATIO)} "
            f"each step changes the weights by {_FAST_RATIO:.0%} of their norm.",
            "A ratio near 1 replaces the weights every step: training cannot settle.",
            f"Ratios far above {_REFERENCE} are a common cause of spikes and divergence.",
        ],
    ),
    Question(
        prompt=f"You switch GradientMonitor(model, every=1) to every={_EVERY}. What do you gain "
        "and lose?",
        choices=[
            f"Nothing changes: the monitor averages the {_EVERY} steps",
            f"Less overhead (hooks run on 1 step in {_EVERY}); you can miss a short spike, and "
            f"you only know the first non-finite step to within {_EVERY} steps",
            f"More accuracy, because each record covers {_EVERY} steps",
        ],
        answer=1,
        explanations=[
            "Unrecorded steps are not measured at all, not averaged.",
            "Steps that are not recorded cost almost nothing (the chapter's section 2 measures "
            "it); with every=2, Part D's event is placed at an even step, within one step of "
            "the first non-finite loss.",
            "Each record is still a single step; the others are skipped.",
        ],
    ),
    Question(
        prompt=f"You clip with clip_grad_norm_(max_norm={_CLIP_MAX_NORM}), and the unclipped "
        f"gradient norm is usually about {_TYPICAL_NORM}. What happens?",
        choices=[
            "Training diverges",
            "Nothing: clipping only acts on spikes",
            f"Every step is scaled down about {_TYPICAL_NORM / _CLIP_MAX_NORM:.0f}x: like a "
            f"{_TYPICAL_NORM / _CLIP_MAX_NORM:.0f}x smaller learning rate, so the loss falls "
            "slowly and nothing errors",
        ],
        answer=2,
        explanations=[
            "Clipping makes steps smaller, not larger.",
            "Only when max_norm is above the typical norm; here it is "
            f"{_TYPICAL_NORM / _CLIP_MAX_NORM:.0f}x below it.",
            "Clipping this tight rescales every step; GradientMonitor.report(clip_threshold="
            f"{_CLIP_MAX_NORM}) reports it as clipping_too_aggressive. Set max_norm near the "
            "90th-99th percentile of the unclipped norms.",
        ],
    ),
    Question(
        prompt="A report lists 'vanishing' at layer 'linear1' and 'dead_units' at layer "
        "'linear3'. Which do you fix first?",
        choices=["vanishing at 'linear1'", "dead_units at 'linear3'", "Both need a deeper network"],
        answer=1,
        explanations=[
            "Changing 'linear1' does not help: its gradient is blocked further up.",
            "Dead units pass no gradient, so every layer below them starves: the vanishing at "
            "'linear1' is a consequence (Exercise 7.4).",
            "Depth makes gradient flow harder, not easier.",
        ],
    ),
)
