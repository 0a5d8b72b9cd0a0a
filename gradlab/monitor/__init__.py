"""GradientMonitor: watch a model's gradients, activations and updates while it trains (hooks,
per-step rows, history). Library: torch + numpy only; no plotting, ui, chapters or grading.
"""
