"""The names a learner uses on their own model are importable from the top level of gradlab."""

import subprocess
import sys

import pytest

import gradlab
from gradlab.diagnosis.diagnose import diagnose
from gradlab.diagnosis.report import Finding, Report, Thresholds
from gradlab.measure.probe import probe_gradients
from gradlab.monitor.gradient_monitor import GradientMonitor


def test_top_level_names_are_the_real_objects() -> None:
    assert gradlab.GradientMonitor is GradientMonitor
    assert gradlab.diagnose is diagnose
    assert gradlab.probe_gradients is probe_gradients
    assert (gradlab.Report, gradlab.Finding, gradlab.Thresholds) == (Report, Finding, Thresholds)


def test_diagnose_is_the_function_even_after_importing_its_module() -> None:
    import gradlab.diagnosis.diagnose  # the module must not shadow the function

    assert callable(gradlab.diagnose)
    assert gradlab.diagnose.__name__ == "diagnose"


def test_unknown_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_tool"):
        _ = gradlab.no_such_tool


def test_import_gradlab_does_not_import_torch() -> None:
    """The grader imports gradlab at start-up; torch is loaded only when a tool is used."""
    code = "import sys, gradlab; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
