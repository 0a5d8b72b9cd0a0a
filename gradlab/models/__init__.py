"""Models the course and a learner build: activations (values, derivatives, saturation zones) and
a configurable deep MLP. Library: torch + numpy only; imports nothing from plotting, ui, chapters or
grading.
"""
