"""Multiple-choice questions as data, graded by a pure function, shown by a small widget.

Used by every chapter's quick check and knowledge check (notebooks/01_chain_rule onwards).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import ipywidgets as widgets


@dataclass(frozen=True)
class Question:
    """One question: the prompt, its choices, the index of the right one, and why each is right
    or wrong (one explanation per choice)."""

    prompt: str
    choices: Sequence[str]
    answer: int
    explanations: Sequence[str]

    def __post_init__(self) -> None:
        if len(self.choices) < 2:
            raise ValueError(f"choices must hold at least 2 options; got {len(self.choices)}")
        if not 0 <= self.answer < len(self.choices):
            raise ValueError(
                f"answer must be an index in 0..{len(self.choices) - 1}; got {self.answer!r}"
            )
        if len(self.explanations) != len(self.choices):
            raise ValueError(
                f"explanations must have one entry per choice ({len(self.choices)}); "
                f"got {len(self.explanations)}"
            )


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer."""

    correct: bool
    message: str


def grade_choice(question: Question, choice: int | None) -> Feedback:
    """Say whether `choice` (an index into question.choices) is right, and why."""
    if choice is None:
        return Feedback(False, "Pick an answer first.")
    if not 0 <= choice < len(question.choices):
        raise ValueError(f"choice must be in 0..{len(question.choices) - 1}; got {choice!r}")
    verdict = "Correct." if choice == question.answer else "Not quite."
    return Feedback(choice == question.answer, f"{verdict} {question.explanations[choice]}")


@dataclass
class QuizScore:
    """Which questions have been answered right so far (the last answer to each counts)."""

    total: int
    correct: set[int] = field(default_factory=set)
    answered: set[int] = field(default_factory=set)

    def record(self, index: int, feedback: Feedback) -> None:
        """Store the latest verdict for question `index`."""
        self.answered.add(index)
        if feedback.correct:
            self.correct.add(index)
        else:
            self.correct.discard(index)

    def __str__(self) -> str:
        return f"Score: {len(self.correct)} / {self.total} ({len(self.answered)} answered)"


def make_quiz(questions: Sequence[Question], *, title: str = "") -> widgets.VBox:
    """A widget with each question's choices, a Check button, feedback, and a running score."""
    if not questions:
        raise ValueError("questions must contain at least one Question")
    score = QuizScore(total=len(questions))
    score_label = widgets.HTML(f"<b>{score}</b>")
    rows: list[widgets.Widget] = [widgets.HTML(f"<h4>{title}</h4>")] if title else []
    for index, question in enumerate(questions):
        rows.append(_question_box(index, question, score, score_label))
    if len(questions) > 1:
        rows.append(score_label)
    box = widgets.VBox(rows)
    box.add_class("gradlab-quiz")
    return box


def _question_box(
    index: int, question: Question, score: QuizScore, score_label: widgets.HTML
) -> widgets.VBox:
    options = [(text, i) for i, text in enumerate(question.choices)]
    buttons = widgets.RadioButtons(options=options, value=None, layout={"width": "max-content"})
    check = widgets.Button(description="Check", button_style="info")
    feedback_label = widgets.HTML()

    def on_check(_button: widgets.Button) -> None:
        feedback = grade_choice(question, buttons.value)
        if buttons.value is not None:
            score.record(index, feedback)
            score_label.value = f"<b>{score}</b>"
        color = "green" if feedback.correct else "#b00"
        feedback_label.value = f"<span style='color:{color}'>{feedback.message}</span>"

    check.on_click(on_check)
    prompt = widgets.HTML(f"<b>{index + 1}.</b> {question.prompt}")
    return widgets.VBox([prompt, buttons, check, feedback_label])


def show(questions: Sequence[Question], *, title: str = "") -> None:
    """Display a quiz in a notebook: the cell shows only this call, never the questions' answers.

    Questions live as data in the chapter's package (gradlab.chapters.chNN_*.questions), so the
    answer and explanations are not in the learner's view before they answer.
    """
    from gradlab.ui.wiring import show as show_widget

    show_widget(make_quiz(questions, title=title))
