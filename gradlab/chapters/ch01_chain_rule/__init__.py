"""Chapter 1 (notebooks/01_chain_rule): the per-layer factor measured against theory, the
gradient-flow widget, and the quiz questions (questions.py) the notebook shows.
"""
