"""GradientMonitor: watch a model's gradients, activations and updates while it trains (layer
discovery, per-step rows, history). Library: torch + numpy only; no plotting, ui, chapters or grading.
"""
