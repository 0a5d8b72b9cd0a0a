"""Quiz answers are not given away by position: per chapter, the right answers are spread."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest

from gradlab.ui.quiz import Question


def assert_spread(questions: Sequence[Question]) -> None:
    """Every answer index valid, one explanation per choice, no position holds over half."""
    assert questions
    for question in questions:
        assert 0 <= question.answer < len(question.choices), question.prompt
        assert len(question.explanations) == len(question.choices), question.prompt
    positions = Counter(question.answer for question in questions)
    assert max(positions.values()) <= len(questions) / 2, positions


def test_chapter3_answers_are_spread() -> None:
    from gradlab.chapters.ch03_exploding import questions

    assert_spread(questions.KNOWLEDGE_CHECK)


@pytest.mark.parametrize("name", ["QUICK_CHECK + KNOWLEDGE_CHECK", "EXERCISE_CHECK", "all"])
def test_chapter7_answers_are_spread(name: str) -> None:
    from gradlab.chapters.ch07_monitoring import questions

    notebook = questions.QUICK_CHECK + questions.KNOWLEDGE_CHECK
    sets = {
        "QUICK_CHECK + KNOWLEDGE_CHECK": notebook,
        "EXERCISE_CHECK": questions.EXERCISE_CHECK,
        "all": notebook + questions.EXERCISE_CHECK,
    }
    assert_spread(sets[name])
