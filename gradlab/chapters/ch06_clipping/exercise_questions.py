"""The knowledge check of Chapter 6's exercises (solutions/06_clipping_solutions), as data.

The notebook shows it with gradlab.ui.quiz.show, so no answer or explanation is in the learner's
view before they answer. Numbers in prompts and choices are computed here with
gradlab.training.clipping; the right answers sit at different positions. The questions take the
chapter's knowledge check one step further (worked numbers, the exercises' pitfalls) instead of
repeating it.
"""

from __future__ import annotations

import math

import torch

from gradlab.training.clipping import (
    clip_grad_norm_,
    clip_grad_value_,
    clipping_effect,
    cosine_similarity,
)
from gradlab.ui.quiz import Question


def _clipped(gradient: list[float], threshold: float, by: str) -> torch.Tensor:
    """A gradient clipped by norm or by value with gradlab's clipping, as a 1-D tensor."""
    parameter = torch.zeros(len(gradient), dtype=torch.float64, requires_grad=True)
    parameter.grad = torch.tensor(gradient, dtype=torch.float64)
    (clip_grad_norm_ if by == "norm" else clip_grad_value_)([parameter], threshold)
    return parameter.grad


def _pair(vector: torch.Tensor) -> str:
    return "(" + ", ".join(f"{float(v):.2f}" for v in vector) + ")"


# Question 1: the seeds' norm-vs-value question on a worked 2-D gradient.
_G, _C = [3.0, 0.5], 0.5
_BY_NORM, _BY_VALUE = _clipped(_G, _C, "norm"), _clipped(_G, _C, "value")
_TURN = math.degrees(math.acos(cosine_similarity(torch.tensor(_G), _BY_VALUE)))

# Question 2: the same batch with the loss summed instead of averaged.
_BATCH = 512

# Question 4: the seed text's "effective_grad_norm / clip_threshold * learning_rate".
_MAX_NORM, _TYPICAL_NORM, _LR = 0.01, 0.5, 0.1
_DIVISOR = _LR / clipping_effect([_TYPICAL_NORM], _MAX_NORM, _LR).effective_lr  # 50
_SEED_FORMULA = _TYPICAL_NORM / _MAX_NORM * _LR

# Question 5: norms that alternate between two sizes.
_NORMS = [0.1, 1.0] * 5
_MIXED = clipping_effect(_NORMS, _MAX_NORM, _LR)
_OVER_MEAN = _LR * _MAX_NORM / sum(_NORMS) * len(_NORMS)  # lr x c / mean norm


def _lr(value: float) -> str:
    return f"{value:.2g}"


EXERCISE_CHECK: tuple[Question, ...] = (
    Question(
        prompt=f"Compare clipping by norm and clipping by value: the gradient g = {_pair(_G)} "
        f"clipped at threshold {_C:g} gives {_pair(_BY_NORM)} one way and {_pair(_BY_VALUE)} "
        "the other. Which is which, and which would you usually prefer?",
        choices=[
            f"{_pair(_BY_VALUE)} is by norm, {_pair(_BY_NORM)} by value; prefer value clipping, "
            "which treats every parameter alike",
            f"{_pair(_BY_NORM)} is by norm: one factor for the whole gradient keeps its "
            f"direction. {_pair(_BY_VALUE)} is by value: each element is clamped on its own and "
            f"the direction turns by {_TURN:.0f} degrees. Prefer norm clipping",
            "Both keep the direction, since no element changes sign; either will do",
        ],
        answer=1,
        explanations=[
            f"Clamping each element into [-{_C:g}, {_C:g}] gives {_pair(_BY_VALUE)}; the norm of "
            f"{_pair(_BY_VALUE)} is not {_C:g}, so it is not norm clipping.",
            "The step still points where the gradient points, only shorter (cosine 1). Value "
            "clipping cuts the large element most and changes what the optimizer steps towards; "
            "it can serve as a cheap cap on single outlier elements.",
            f"Same signs is not same direction: {_pair(_G)} points mostly along the first axis, "
            f"{_pair(_BY_VALUE)} diagonally.",
        ],
    ),
    Question(
        prompt="Your max_norm is the 99th percentile of norms recorded with "
        f"loss_fn = MSELoss() on batches of {_BATCH} (one output per example). You switch to MSELoss(reduction='sum'). "
        "How do you choose the threshold now?",
        choices=[
            "Keep it: a threshold is a property of the model",
            "Use max_norm=1.0, the usual default",
            f"Record the norms again and take their 99th percentile: a summed loss has a gradient "
            f"{_BATCH} times larger on the same batch, so the recorded norms no longer describe "
            "the run",
        ],
        answer=2,
        explanations=[
            "The gradient norm depends on the loss and its reduction, the batch size and the "
            "stage of training, not on the model alone.",
            "1.0 is a generalisation from models whose typical norm is well below 1; it may be "
            "far from this one's.",
            "A threshold comes from the evidence of the run it is used in (Exercise 6.2).",
        ],
    ),
    Question(
        prompt="You log the value clip_grad_norm_(model.parameters(), max_norm=1.0) returns; "
        "some steps show 40. Is clipping broken?",
        choices=[
            "No: it returns the total norm before clipping, and the gradients were rescaled to "
            "norm 1. That returned value is exactly what you record to choose a threshold",
            "Yes: after clipping the norm must be at most 1",
            "Yes: clip_grad_norm_ must be called before loss.backward()",
        ],
        answer=0,
        explanations=[
            "Exercise 6.1's function returns the same thing, and its check rejects the norm "
            "after clipping.",
            "The gradients' norm after the call is at most 1; the return value is the norm they "
            "had before.",
            "Before backward there is no gradient to clip: clip after backward, before "
            "optimizer.step().",
        ],
    ),
    Question(
        prompt="A text gives the 'true' learning rate under clipping as "
        "effective_grad_norm / clip_threshold * learning_rate. With norm "
        f"{_TYPICAL_NORM:g}, threshold {_MAX_NORM:g} and lr={_LR:g}, what is wrong with it?",
        choices=[
            "Nothing: it is the standard formula",
            f"It is upside down: it gives {_lr(_SEED_FORMULA)}, {_DIVISOR:.0f} times larger "
            f"than lr, but clipping makes the step {_DIVISOR:.0f} times smaller: "
            f"lr x min(1, threshold / norm) = {_lr(_LR / _DIVISOR)}",
            "It should use the squared norm",
        ],
        answer=1,
        explanations=[
            "Try it on the numbers: it makes the learning rate larger, and clipping can only make "
            "steps smaller.",
            "Clipping multiplies the gradient by threshold / norm when the norm is larger, so "
            "the step shrinks by that factor (Exercise 6.3 averages it over a run).",
            "The rescaling factor is max_norm / ||g||, with the norm itself, not its square.",
        ],
    ),
    Question(
        prompt=f"With SGD at lr={_LR:g} and max_norm={_MAX_NORM:g}, the unclipped norm "
        f"alternates between {_NORMS[0]:g} and {_NORMS[1]:g}. What learning rate do the steps "
        "use on average?",
        choices=[
            f"{_lr(_OVER_MEAN)}: lr x max_norm / (mean norm)",
            f"{_lr(_LR)}: clipping only acts on spikes",
            f"{_lr(_MIXED.effective_lr)}: the steps get factors {_MAX_NORM / _NORMS[0]:g} and "
            f"{_MAX_NORM / _NORMS[1]:g}, {_MIXED.mean_scale:.3g} on average",
        ],
        answer=2,
        explanations=[
            "Dividing by the mean norm lets the large steps dominate; each step has its own "
            "factor min(1, c/||g||), and those factors are what average.",
            "Every step here is above the threshold, so every step is scaled down.",
            f"effective lr = lr x mean over steps of min(1, c/||g||) = {_lr(_LR)} x "
            f"{_MIXED.mean_scale:.3g}: the learning rate divided by "
            f"{1 / _MIXED.mean_scale:.0f}. The small-norm steps are shrunk less.",
        ],
    ),
    Question(
        prompt="You record a run's gradient norms and clip at their 99th percentile. What would "
        "that threshold have done to the recorded run itself?",
        choices=[
            "It clips about 1 step in 100 and leaves the average learning rate within about 1% "
            "of lr: only spikes are shortened",
            "It clips 99 steps in 100",
            "It divides the learning rate by 100",
        ],
        answer=0,
        explanations=[
            "Only the steps above the threshold (about 1%) get a factor below 1, and a factor is "
            "never below 0, so the mean factor is at least 1 minus the fraction clipped (above "
            "0.99 for the exercises' recorded run, Exercise 6.3).",
            "99% of the recorded norms are at or below the 99th percentile; those are left alone.",
            "The steps below the threshold keep their full learning rate.",
        ],
    ),
    Question(
        prompt="You call clip_grad_norm_(p, max_norm) once for each parameter tensor p, in a loop "
        "over model.parameters(). How does that differ from one call on model.parameters()?",
        choices=[
            "No difference: clipping is linear",
            "Each tensor gets its own factor, so tensors are rescaled by different amounts: the "
            "update's direction turns, and the total norm can still be above max_norm",
            "It is the same as clipping by value",
        ],
        answer=1,
        explanations=[
            "The factor depends on the norm it is computed over: per tensor it is each tensor's "
            "own norm, not the total.",
            "With n tensors each capped at max_norm, the total can reach sqrt(n) x max_norm. "
            "clip_grad_norm_ takes all parameters at once so one factor applies to the whole "
            "gradient (Exercise 6.1's 'each tensor separately' mistake).",
            "Value clipping works element by element; this works tensor by tensor, a third "
            "behaviour.",
        ],
    ),
    Question(
        prompt=f"With Adam instead of SGD, clipping at max_norm={_MAX_NORM:g} when the norm is "
        f"about {_TYPICAL_NORM:g} on every step. Does it divide the learning rate by "
        f"{_DIVISOR:.0f}?",
        choices=[
            "Yes, exactly as with SGD",
            f"No: Adam multiplies it by {_DIVISOR:.0f}",
            "No, not much: Adam divides each step by a running average of the gradient's size, "
            "so a steady scale on every gradient largely cancels. The effective-lr reading is "
            "SGD's",
        ],
        answer=2,
        explanations=[
            "Adam's step is m / (sqrt(v) + eps): scaling every gradient by s scales m by s and "
            "sqrt(v) by s.",
            "Clipping never enlarges a gradient, and Adam does not undo more than the scale.",
            "Only the eps term and changes of the scale from step to step remain. Clipping with "
            "Adam mainly limits single spikes relative to the running average.",
        ],
    ),
)
