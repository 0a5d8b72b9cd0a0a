"""Chapter 6's quick check and knowledge check as data (notebooks/06_clipping shows them with
gradlab.ui.quiz.show). The exercises' questions live in exercise_questions.py.

The questions live here, not in the notebook, so their answers and explanations are not in the
learner's view before they answer. Numbers in prompts and choices are computed with gradlab (the
chapter's real gradient, the library's clipping arithmetic); the right answers sit at different
positions.
"""

from __future__ import annotations

from gradlab.chapters.ch06_clipping.direction import compute_clipping_view
from gradlab.training.clipping import clipping_effect
from gradlab.ui.quiz import Question

_VIEW = compute_clipping_view(0.1)  # the widget at c = 0.1, on the chapter's real gradient
# The seeds' example: every norm 0.5, max_norm 0.01, plain SGD at lr 0.1.
_TIGHT = clipping_effect([0.5], threshold=0.01, lr=0.1)

QUICK_CHECK: tuple[Question, ...] = (
    Question(
        prompt=f"The chapter's gradient has ‖g‖ = {_VIEW.norm:.2f}. Clipped by norm at c = 0.1, "
        "what is the cosine between the clipped and the original gradient?",
        choices=[
            f"{_VIEW.value_cosine:.2f}",
            f"{0.1 / _VIEW.norm:.3f}, the factor it was scaled by",
            "1: only the length changed",
        ],
        answer=2,
        explanations=[
            "That is the value-clipped gradient's cosine: clamping entries turns the direction.",
            "The scale factor changes the length; the cosine measures the angle, and scaling by a "
            "positive number leaves the angle at 0.",
            "Norm clipping multiplies every entry by the same positive number min(1, c/‖g‖): the "
            "direction is untouched, so the cosine is 1.",
        ],
    ),
    Question(
        prompt=f"The same gradient ({_VIEW.size} entries) clipped by value at c = 0.1: how long "
        "is the result?",
        choices=[
            "0.1, the threshold",
            f"{_VIEW.value_clipped_norm:.2f}: each entry is at most 0.1, but there are many",
            f"{_VIEW.norm:.2f}, unchanged",
        ],
        answer=1,
        explanations=[
            "That is what norm clipping gives. Value clipping bounds each entry, not the whole "
            "vector: its norm can reach c·√n.",
            f"{100 * _VIEW.clamped_fraction:.0f}% of the entries were cut to ±0.1 and the rest "
            "kept; the norm of the whole vector is far above 0.1.",
            "Entries larger than 0.1 were cut, so the norm shrank.",
        ],
    ),
)

KNOWLEDGE_CHECK: tuple[Question, ...] = (
    Question(
        prompt="Norm clipping vs value clipping: which statement is right?",
        choices=[
            "Both keep the gradient's direction; value clipping is just cheaper.",
            "Norm clipping rescales the whole gradient by one factor and keeps its direction; "
            "value clipping clamps each entry on its own, which bounds every entry but turns the "
            "direction.",
            "Value clipping keeps the direction; norm clipping changes it.",
        ],
        answer=1,
        explanations=[
            f"Value clipping turned the chapter's gradient by {_VIEW.value_angle_degrees:.0f}° at "
            "c = 0.1: large entries lose more than small ones.",
            "Prefer norm clipping by default (a shorter step in the same direction); value clipping "
            "is a blunt per-entry guard, e.g. against a few huge entries, at the price of the "
            "direction.",
            "The other way round: g·min(1, c/‖g‖) is a positive multiple of g.",
        ],
    ),
    Question(
        prompt="You train a new model and must choose max_norm for clip_grad_norm_. How?",
        choices=[
            "Record the unclipped gradient norms over the early steps of a healthy run and take "
            "a high percentile (95th to 99th), so clipping fires only on spikes.",
            "Use 1.0: the typical gradient norm is well below 1.",
            "As small as possible: the smaller the threshold, the more stable the training.",
        ],
        answer=0,
        explanations=[
            "Evidence from your own run: the threshold then sits above the ordinary steps and "
            "catches the rare spikes.",
            "The typical norm depends on the model, the loss and its reduction: the chapter's "
            "digits MLP has a median norm above 1, so 1.0 would clip most of its steps.",
            "A tiny threshold fires on every step and quietly divides the learning rate.",
        ],
    ),
    Question(
        prompt="Plain SGD at lr = 0.1, gradient norms around 0.5, max_norm = 0.01. With what "
        "learning rate are the steps effectively taken?",
        choices=[
            "0.1: clipping only acts on spikes",
            "0.01: the threshold takes the learning rate's place",
            f"{_TIGHT.effective_lr:g}: lr × min(1, c/‖g‖) = lr / {1 / _TIGHT.mean_scale:.0f}",
        ],
        answer=2,
        explanations=[
            "Every norm (0.5) is above 0.01, so clipping fires on every step.",
            "The step is lr × c/‖g‖ × g; the learning rate is scaled, not replaced.",
            "Each step's gradient is multiplied by 0.01/0.5 = 1/50. Nothing crashes; every step "
            "is just 50 times shorter than lr would make it, and the loss curve does not say why.",
        ],
    ),
    Question(
        prompt="Mixed precision with torch.amp.GradScaler: where does clip_grad_norm_ go?",
        choices=[
            "Right after scaler.scale(loss).backward(), before anything else.",
            "After scaler.scale(loss).backward() and scaler.unscale_(optimizer), before "
            "scaler.step(optimizer).",
            "After scaler.step(optimizer), so the step is not affected.",
        ],
        answer=1,
        explanations=[
            "The gradients are still multiplied by the loss scale (e.g. 65536): the threshold "
            "would apply to the scaled gradients, clipping almost every step.",
            "unscale_ divides the scale out, so max_norm applies to the true gradients; step then "
            "uses the clipped gradients (and skips the step on inf/nan).",
            "Clipping after the step changes nothing: the update already used the gradients.",
        ],
    ),
    Question(
        prompt="The gradient norm spikes to 100 times its typical size every 100 steps. What "
        "do you do first?",
        choices=[
            "Log the steps that spike, look at those batches' examples (per-example loss), and "
            "fix or filter the data; keep clipping as a safety net.",
            "Lower max_norm until the spikes no longer show in the loss.",
            "Lower the learning rate.",
        ],
        answer=0,
        explanations=[
            "Periodic spikes usually come from particular examples: in the chapter, the three "
            "flagged steps were exactly the corrupted batches, and dropping the bad examples "
            "removed the damage that clipping only limited.",
            "Clipping hides the symptom; the bad examples still train the model at every pass.",
            "A smaller lr slows every step; it does not remove the cause.",
        ],
    ),
    Question(
        prompt="Why can an LSTM carry a gradient across many steps better than a vanilla RNN?",
        choices=[
            "It has four times as many weights.",
            "Its tanh is replaced by a ReLU.",
            "Its cell state is updated additively, c_t = f_t ⊙ c_(t−1) + i_t ⊙ g_t: along it the "
            "gradient is multiplied only by the forget gate, close to 1 when the gate is open.",
        ],
        answer=2,
        explanations=[
            "More weights do not by themselves stop a product of per-step factors from vanishing.",
            "nn.LSTM uses sigmoid gates and tanh; the difference is the path through the cell.",
            "No weight matrix and no squashing slope on that path. At PyTorch's default init the "
            "forget gate sits near σ(0) = 0.5, so the highway opens only with a larger forget "
            "bias or once training opens the gate (both measured in the chapter).",
        ],
    ),
)
