"""Chapter 4 (notebooks/04_init_norm): initialisation and normalisation — the signal forward and
backward per layer for each init (propagation), orthogonal init (orthogonal), BatchNorm and
LayerNorm (normalization), learning rate and warmup (warmup), their plots, the widget and the
quiz questions (questions.py).
"""
