"""Measurements of gradient flow through a model: the shared result type of a gradient measured
through a chain of layers (chain) and the hook helpers (hooks); one real backward pass per layer
(probe), singular values and growth (spectral), gradients through time in an RNN, divergence in a run,
activation statistics. Library: torch + numpy only; no plotting, ui, chapters or grading.
"""
