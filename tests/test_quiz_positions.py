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


# --- Chapters 1 and 2 ---------------------------------------------------------------------------


def chapter1_questions() -> tuple[Question, ...]:
    from gradlab.chapters.ch01_chain_rule import questions

    return questions.QUICK_CHECK + questions.EXERCISE_CHECK


def chapter2_questions() -> tuple[Question, ...]:
    from gradlab.chapters.ch02_activations import questions

    return questions.KNOWLEDGE_CHECK + questions.EXERCISE_CHECK


@pytest.mark.parametrize("load", [chapter1_questions, chapter2_questions], ids=["ch1", "ch2"])
def test_chapter1_and_2_answers_are_spread(load) -> None:
    questions = load()
    assert_spread(questions)
    assert len({question.answer for question in questions}) >= 3  # not just two positions


def test_spread_check_fails_when_most_answers_share_a_position() -> None:
    same = Question("?", ["a", "b", "c"], 1, ["x", "y", "z"])
    other = Question("?", ["a", "b", "c"], 0, ["x", "y", "z"])
    with pytest.raises(AssertionError):
        assert_spread([same, same, other])


def test_chapter1_quick_check_answer_is_the_product() -> None:
    from gradlab.chapters.ch01_chain_rule import questions
    from gradlab.theory import gradient_after_layers

    (quick,) = questions.QUICK_CHECK
    assert quick.choices[quick.answer] == f"about {gradient_after_layers(0.3, 15):.1e}"
    assert "1.4e-08" in quick.choices[quick.answer]  # 0.3^15 = 1.43e-08


def test_chapter2_relu_question_states_the_measured_fractions() -> None:
    from gradlab.chapters.ch02_activations import questions

    prompt = questions.KNOWLEDGE_CHECK[3].prompt
    assert "about 2.8% of the gradient" in prompt and "with He init about 96%" in prompt


@pytest.mark.parametrize(
    "path",
    [
        "notebooks/01_chain_rule.ipynb",
        "exercises/01_chain_rule_exercises.ipynb",
        "notebooks/02_activations.ipynb",
        "exercises/02_activations_exercises.ipynb",
    ],
)
def test_chapter1_and_2_learner_notebooks_hold_no_question_or_answer(path: str) -> None:
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    cells = json.loads((root / path).read_text())["cells"]
    sources = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    quiz_cells = [source for source in sources if "quiz." in source]
    assert quiz_cells, f"{path} shows no quiz"
    for source in quiz_cells:
        assert source.startswith("quiz.show(questions.") and "\n" not in source.strip(), source
    assert not any("Question(" in source or "answer=" in source for source in sources)
