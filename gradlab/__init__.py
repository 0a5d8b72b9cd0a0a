"""gradlab: measure, explain and diagnose gradient flow in deep networks.

The package behind the gradlab course (notebooks/). Every number a chapter states is computed here.
The tools a learner points at their own model are importable from the top level:
``gradlab.GradientMonitor``, ``gradlab.diagnose``, ``gradlab.probe_gradients``. They are loaded on
first use so that ``import gradlab`` (and the grader's start-up) does not pay for torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.2.0"

_PUBLIC = {
    "GradientMonitor": "gradlab.monitor.gradient_monitor",
    "diagnose": "gradlab.diagnosis.diagnose",
    "Report": "gradlab.diagnosis.report",
    "Finding": "gradlab.diagnosis.report",
    "Thresholds": "gradlab.diagnosis.report",
    "probe_gradients": "gradlab.measure.probe",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access (PEP 562)."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'gradlab' has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
