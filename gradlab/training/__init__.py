"""Data that ships offline (scikit-learn's digits) and a small training loop that records loss and
gradient norms. Library: torch + numpy (+ scikit-learn for the data); no plotting, ui, chapters or
grading.
"""
