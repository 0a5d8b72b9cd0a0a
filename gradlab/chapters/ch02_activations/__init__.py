"""Chapter 2 (notebooks/02_activations): the activation explorer, the gradient after N layers per
activation, dead ReLUs and their recovery, the digits training comparison, and the quiz questions
(questions.py) the notebook shows.
"""
