"""gradlab.ui.quiz: grading answers, keeping score, and the widget's wiring."""

import pytest

from gradlab.ui.quiz import Question, QuizScore, grade_choice, make_quiz

QUESTION = Question(
    prompt="2 + 2?",
    choices=["3", "4", "5"],
    answer=1,
    explanations=["one short", "it is four", "one over"],
)


def test_right_and_wrong_answers_explain_themselves():
    right = grade_choice(QUESTION, 1)
    wrong = grade_choice(QUESTION, 2)
    assert right.correct and "it is four" in right.message
    assert not wrong.correct and "one over" in wrong.message


def test_no_choice_is_not_correct():
    assert not grade_choice(QUESTION, None).correct


def test_choice_out_of_range():
    with pytest.raises(ValueError, match=r"choice must be in 0\.\.2"):
        grade_choice(QUESTION, 3)


def test_score_counts_latest_answer():
    score = QuizScore(total=2)
    score.record(0, grade_choice(QUESTION, 1))
    assert str(score) == "Score: 1 / 2 (1 answered)"
    score.record(0, grade_choice(QUESTION, 0))
    assert str(score) == "Score: 0 / 2 (1 answered)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"answer": 5}, "answer must be an index"),
        ({"explanations": ["a"]}, "explanations must have one entry per choice"),
        ({"choices": ["only"], "explanations": ["x"], "answer": 0}, "at least 2"),
    ],
)
def test_bad_questions(kwargs, message):
    fields = {
        "prompt": "?",
        "choices": ["a", "b"],
        "answer": 0,
        "explanations": ["x", "y"],
    } | kwargs
    with pytest.raises(ValueError, match=message):
        Question(**fields)


def test_widget_check_button_updates_feedback_and_score():
    quiz = make_quiz([QUESTION, QUESTION])
    first = quiz.children[0]
    radio, button, feedback = first.children[1], first.children[2], first.children[3]
    radio.value = 1
    button.click()
    assert "Correct" in feedback.value
    assert "Score: 1 / 2" in quiz.children[-1].value
