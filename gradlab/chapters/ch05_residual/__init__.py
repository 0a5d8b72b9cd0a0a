"""Chapter 5 (notebooks/05_residual): the gradient reaching every block of a plain and a residual
network (measured beside the prediction), what the identity path does and does not guarantee,
pre- vs post-activation blocks, zero-init branches, skip-path bugs, DenseNet, pre- vs post-norm
transformers, digits training runs, and the plots, widget and quiz questions (questions.py) for them.
"""
