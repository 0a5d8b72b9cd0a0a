"""The knowledge check of Chapter 6's exercises (solutions/06_clipping_solutions), as data.

The notebook shows it with gradlab.ui.quiz.show, so no answer or explanation is in the learner's
view before they answer. Numbers in prompts and choices are computed here with
gradlab.training.clipping; the right answers sit at different positions.
"""

from __future__ import annotations

from gradlab.training.clipping import clipping_effect
from gradlab.ui.quiz import Question

# The seeds' interview example: max_norm 0.01 while the unclipped norm is about 0.5.
_MAX_NORM, _TYPICAL_NORM, _LR = 0.01, 0.5, 0.1
_TIGHT = clipping_effect([_TYPICAL_NORM], _MAX_NORM, _LR)
_DIVISOR = _LR / _TIGHT.effective_lr  # 50
_SEED_FORMULA = _TYPICAL_NORM / _MAX_NORM * _LR  # the seed's "effective_grad_norm / clip * lr"
_SPIKE = 100  # the follow-up's spikes, this many times the typical norm


def _lr(value: float) -> str:
    return f"{value:.3g}"


EXERCISE_CHECK: tuple[Question, ...] = (
    Question(
        prompt="Compare clipping by norm (clip_grad_norm_) and clipping by value "
        "(clip_grad_value_). What does each do to the update, and which is the usual choice?",
        choices=[
            "Both keep the direction; value clipping is just faster",
            "Norm clipping multiplies every gradient by one factor, so the direction is kept and "
            "only the length shrinks; value clipping clamps each element on its own, which turns "
            "the direction. Norm clipping is the usual choice",
            "Value clipping keeps the direction because every element stays in the same sign; "
            "norm clipping turns it",
        ],
        answer=1,
        explanations=[
            "Clamping elements independently shortens the large ones more than the small ones: "
            "the cosine to the original drops below 1 (Part A of the chapter measures it).",
            "One factor min(1, c/||g||) for all parameters keeps the cosine at exactly 1. Value "
            "clipping has its uses (a cheap cap on single outlier elements), but it changes what "
            "the optimizer steps towards.",
            "Keeping every sign is not keeping the direction: (3, 1) clamped at 1 is (1, 1), "
            "a different direction with the same signs.",
        ],
    ),
    Question(
        prompt="How do you choose the max_norm of clip_grad_norm_ for a new model?",
        choices=[
            "Record the unclipped total gradient norm over the early steps of a healthy run and "
            "set max_norm near its 95th-99th percentile, so clipping only catches spikes",
            "Use max_norm=1.0: the typical gradient norm is always well below 1",
            "Take the max_norm from another project's config that trained well",
        ],
        answer=0,
        explanations=[
            "The threshold then comes from this model's own evidence (Exercise 6.2); "
            "clip_grad_norm_ returns the unclipped norm, so recording it costs nothing.",
            "The typical norm depends on the model, the loss and its reduction (sum or mean), "
            "the batch size and the stage of training; 1.0 can be far above or far below it.",
            "An inherited threshold fits another model's norms; the seeds' interview answer warns "
            "of teams that spent days on learning rates because of one.",
        ],
    ),
    Question(
        prompt=f"You train with SGD at lr={_LR:g} and clip_grad_norm_(max_norm={_MAX_NORM:g}); the "
        f"unclipped gradient norm is about {_TYPICAL_NORM:g} on every step. What learning rate "
        "do the steps actually use?",
        choices=[
            f"{_lr(_LR)}: clipping only acts on spikes",
            f"{_lr(_SEED_FORMULA)}: the norm is {_TYPICAL_NORM / _MAX_NORM:.0f} times the "
            "threshold",
            f"about {_lr(_TIGHT.effective_lr)}: every step is scaled by "
            f"{_MAX_NORM:g}/{_TYPICAL_NORM:g}, the learning rate divided by {_DIVISOR:.0f}",
        ],
        answer=2,
        explanations=[
            "Here every step is above the threshold, so every step is scaled down.",
            "Clipping never makes a step longer: the factor is min(1, max_norm/norm), at most 1.",
            f"effective lr = lr x mean over steps of min(1, c/||g||) = {_lr(_LR)} x "
            f"{_TIGHT.mean_scale:g}. Nothing errors; the loss just falls slowly, like a "
            f"{_DIVISOR:.0f}x smaller learning rate.",
        ],
    ),
    Question(
        prompt="A text gives the 'true' learning rate under clipping as "
        "effective_grad_norm / clip_threshold * learning_rate. What is wrong with it?",
        choices=[
            f"It is upside down: with norm {_TYPICAL_NORM:g} and threshold {_MAX_NORM:g} it gives "
            f"{_lr(_SEED_FORMULA)} for lr={_LR:g}, {_DIVISOR:.0f} times larger instead of "
            f"{_DIVISOR:.0f} times smaller; the step uses lr x min(1, clip_threshold / norm)",
            "Nothing: it is the standard formula",
            "It should use the squared norm",
        ],
        answer=0,
        explanations=[
            "Clipping multiplies the gradient by clip_threshold / norm when the norm is larger, "
            "so the step shrinks by that factor (Exercise 6.3 computes it over a recorded run).",
            "Try it on the numbers: it makes the learning rate larger, and clipping can only make "
            "steps smaller.",
            "The rescaling factor is max_norm / ||g||, with the norm itself, not its square.",
        ],
    ),
    Question(
        prompt="You call clip_grad_norm_(p, max_norm) once for each parameter tensor p, in a loop "
        "over model.parameters(). How does that differ from one call on model.parameters()?",
        choices=[
            "No difference: clipping is linear",
            "It is the same as clipping by value",
            "Each tensor gets its own factor, so tensors are rescaled by different amounts: the "
            "update's direction turns, and the total norm can still be above max_norm",
        ],
        answer=2,
        explanations=[
            "The factor depends on the norm it is computed over: per tensor it is each tensor's "
            "own norm, not the total.",
            "Value clipping works element by element; this works tensor by tensor, a third "
            "behaviour.",
            "With n tensors each capped at max_norm, the total can reach sqrt(n) x max_norm. "
            "clip_grad_norm_ takes all parameters at once so one factor applies to the whole "
            "gradient (Exercise 6.1's 'each tensor separately' mistake).",
        ],
    ),
    Question(
        prompt="Where does clipping go in a training step with mixed precision (torch.amp "
        "GradScaler)?",
        choices=[
            "Before loss.backward(), so the backward pass produces clipped gradients",
            "After scaler.scale(loss).backward() and scaler.unscale_(optimizer), before "
            "scaler.step(optimizer)",
            "After optimizer.step(), so the next step starts from clipped gradients",
        ],
        answer=1,
        explanations=[
            "Before backward there is no gradient to clip yet.",
            "The scaled gradients are the loss scale (e.g. 65536) times too large; unscale_ first "
            "so max_norm compares with the true norm. Without mixed precision: after backward, "
            "before optimizer.step().",
            "The step has already used the unclipped gradients, and zero_grad() discards them.",
        ],
    ),
    Question(
        prompt=f"During a long run the gradient norm spikes to {_SPIKE}x its typical size at "
        "regular intervals. What do you do?",
        choices=[
            "Log the batch indices of the spiking steps and inspect those examples (corrupted "
            "data, a schedule boundary, a numerically unsafe op); fix the cause, then keep a "
            "clipping threshold as a safety net",
            "Lower max_norm until the spikes disappear from the log",
            "Nothing: Adam's normalisation absorbs spikes",
        ],
        answer=0,
        explanations=[
            "Periodic spikes usually have a cause you can find, such as the same bad batch coming "
            "round every epoch. Clipping blindly hides it and still trains on the bad data.",
            "Clipping hides the spike from the update, not the bad batch from the model; a lower "
            "max_norm also rescales ordinary steps.",
            "One huge gradient still moves Adam's running averages for many steps afterwards.",
        ],
    ),
    Question(
        prompt=f"With Adam instead of SGD, clipping at max_norm={_MAX_NORM:g} when the norm is "
        f"about {_TYPICAL_NORM:g} on every step. Does it divide the learning rate by "
        f"{_DIVISOR:.0f}?",
        choices=[
            "Yes, exactly as with SGD",
            "No, not much: Adam divides each step by a running average of the gradient's size, "
            "so a steady scale on every gradient largely cancels. The effective-lr reading is "
            "SGD's",
            f"No: Adam multiplies it by {_DIVISOR:.0f}",
        ],
        answer=1,
        explanations=[
            "Adam's step is m / (sqrt(v) + eps): scaling every gradient by s scales m by s and "
            "sqrt(v) by s.",
            "Only the eps term and changes of the scale from step to step remain. Clipping with "
            "Adam mainly limits single spikes relative to the running average.",
            "Clipping never enlarges a gradient, and Adam does not undo more than the scale.",
        ],
    ),
)
