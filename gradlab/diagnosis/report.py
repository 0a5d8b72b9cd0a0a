"""What a diagnosis returns: Finding(kind, layer, severity, evidence, fix) in a Report.

Also the Thresholds where a measured value becomes a warning or an error. Produced by
gradlab.diagnosis.rules (the rules) for gradlab.diagnose() and GradientMonitor.report();
used in notebooks/07_monitoring.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

KINDS = (
    "non_finite",
    "vanishing",
    "exploding",
    "large_activations",
    "dead_units",
    "saturation",
    "no_grad",
    "bad_update_ratio",
    "clipping_too_aggressive",
)
SEVERITIES = ("error", "warning")


def severity_of(value: float, warning: float, error: float) -> str | None:
    """'error' / 'warning' / None for a value that is bad when large."""
    if value >= error:
        return "error"
    return "warning" if value >= warning else None


@dataclass(frozen=True)
class Finding:
    """One problem: what (kind), where (layer, as in named_modules(); '' is the whole model)."""

    kind: str
    layer: str
    severity: str  # 'error' or 'warning'
    evidence: str
    fix: str


@dataclass(frozen=True)
class Thresholds:
    """Where a measured value becomes a warning or an error (defaults follow the diagnosis table)."""

    # A depth group's relative gradient ||dL/dW||/||W|| over the largest later hidden group's
    # (the output layer's counts at the error level only): gradlab.diagnosis.flow.
    vanishing_warning: float = 1e-2
    vanishing_error: float = 1e-4
    # Growth towards the input over the last layer: of the relative gradient, or of the gradient
    # norm reaching a layer's output.
    exploding_warning: float = 1e2
    exploding_error: float = 1e4
    global_norm_warning: float = 1e2  # "norms exceeding 100 or 1000": the table's rule of thumb
    global_norm_error: float = 1e3
    activation_std_warning: float = 1e2
    activation_std_error: float = 1e4
    dead_warning: float = 0.9  # fraction of activation outputs with |f'(x)| < 0.01
    dead_error: float = 0.99
    saturated_warning: float = 0.5  # fraction of sigmoid/tanh outputs with f' below threshold
    saturated_error: float = 0.9
    # Karpathy's reference is about 1e-3; healthy hidden layers reach 1-2e-2 with momentum, the
    # output layer more, so it is judged at the error level only.
    update_ratio_high_warning: float = 3e-2
    update_ratio_high_error: float = 1e-1
    update_ratio_low_warning: float = 1e-5
    clipped_fraction: float = 0.5  # clipping on at least this fraction of steps ...
    clipped_factor: float = 10.0  # ... with a median norm this many times max_norm


@dataclass
class Report:
    """The findings of one diagnosis; str(report) is a readable table."""

    findings: list[Finding] = field(default_factory=list)
    steps: int = 0  # recorded steps analysed
    notes: list[str] = field(default_factory=list)  # context that is not a problem (e.g. AMP)

    @property
    def errors(self) -> list[Finding]:
        """Findings with severity 'error'."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        """True when no finding has severity 'error'."""
        return not self.errors

    def kinds(self) -> set[str]:
        """The distinct kinds found."""
        return {f.kind for f in self.findings}

    def __str__(self) -> str:
        notes = [line for note in self.notes for line in textwrap.wrap("note: " + note, 92)]
        return "\n".join([self._table(), *notes])

    def _table(self) -> str:
        plural = "s" if self.steps != 1 else ""
        head = f"gradlab diagnosis over {self.steps} recorded step{plural}: "
        if not self.steps:
            return head + "nothing recorded yet (run forward and backward inside the monitor)."
        if not self.findings:
            return head + "no problems found."
        n_errors = len(self.errors)
        lines = [
            head + f"{n_errors} error(s), {len(self.findings) - n_errors} warning(s)",
            f"{'severity':<9} {'kind':<24} layer",
        ]
        for f in self.findings:
            layer = f"'{f.layer}'" if f.layer else "(whole model)"
            lines.append(f"{f.severity:<9} {f.kind:<24} {layer}")
            lines += textwrap.wrap(f.evidence, 88, initial_indent="    ", subsequent_indent="    ")
            lines += textwrap.wrap(
                "fix: " + f.fix, 88, initial_indent="    ", subsequent_indent="         "
            )
        return "\n".join(lines)
