"""What an export did (ExportReport) and how it fails (ExportError)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tsrt import Error  # tsrt.__getattr__ imports torch before tsrt._C


@dataclass
class ExportReport:
    """What export did: the mode used, why, what it noticed, and what it measured.

    mode: "trace", "script", "mixed" for TorchScript; "torch.export" for AOTInductor;
    "failed" when no form was correct. attempts: one line per capture that was tried
    and rejected, with the reason. timings: seconds per stage.
    """

    path: str
    mode: str
    findings: list[str] = field(default_factory=list)
    reason: str = ""
    verification: list[dict] = field(default_factory=list)  # libtsrt vs eager, per golden output
    format: str = "torchscript"
    timings: dict[str, float] = field(default_factory=dict)
    attempts: list[str] = field(default_factory=list)
    tolerance: dict[str, Any] = field(default_factory=dict)  # what verification used, and where it came from
    dynamic: dict[str, Any] = field(default_factory=dict)    # the dynamic dimensions found, per input
    rejected_path: str = ""  # where a file that failed verification was kept
    stopped_by: str = ""  # the error that stopped the export before any capture was judged
    # .pt2 only: the Inductor settings the package was compiled with and the compile
    # seconds per method ({"inductor_configs": {...}, "seconds": {"forward": 41.2}}).
    compile: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.rejected_path:
            lines = [f"export of {self.path} failed: the saved file does not match eager PyTorch when run by libtsrt"]
        elif self.mode == "failed" and self.stopped_by:
            lines = [f"export of {self.path} failed: {self.stopped_by}"]
        elif self.mode == "failed" and self.format == "aoti":
            lines = [f"export of {self.path} failed: torch.export cannot capture the model"]
        elif self.mode == "failed":
            lines = [f"export of {self.path} failed: no TorchScript form matches eager PyTorch"]
        else:
            lines = [f"exported {self.path} (mode {self.mode}: {self.reason})"]
        lines += [f"  - rejected {attempt}" for attempt in self.attempts]
        lines += [f"  - {finding}" for finding in grouped(self.findings)]
        if self.dynamic.get("summary"):
            lines.append(f"  dynamic dimensions: {self.dynamic['summary']}")
        if self.tolerance:
            lines.append(f"  tolerance: atol {self.tolerance['atol']:.3g}, rtol {self.tolerance['rtol']:.3g} "
                         f"({self.tolerance.get('source', 'given')})")
        if self.verification:
            worst = max(check["max_abs"] for check in self.verification)
            lines.append(f"  verified in C++: {len(self.verification)} golden outputs match eager, "
                         f"max abs error {worst:.3g}")
        if self.rejected_path:
            lines.append(f"  the file that failed verification was kept as {self.rejected_path}; "
                         f"nothing was written to {self.path}")
        if self.compile.get("seconds"):
            settings = ", ".join(f"{key}={value}" for key, value in self.compile["inductor_configs"].items())
            lines.append("  compiled by AOTInductor in " + ", ".join(
                f"{method} {seconds:.1f} s" for method, seconds in self.compile["seconds"].items())
                + (f" ({settings})" if settings else ""))
        if self.timings:
            lines.append("  time: " + ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in self.timings.items()))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def grouped(findings: list[str]) -> list[str]:
    """Findings in first-seen order, a repeated one once with its count: a model with
    twelve identical layers warns once, not twelve times."""
    counts = Counter(findings)
    return [f"{text} (x{counts[text]})" if counts[text] > 1 else text for text in dict.fromkeys(findings)]


class ExportError(Error):
    """Export could not produce a correct model file. str() is the full report (every
    attempt, finding and fix); `.report` holds it as data; `.code` is "export_failed"
    like the `.code` of every tsrt.Error."""

    def __init__(self, report: ExportReport, code: str = "export_failed") -> None:
        super().__init__(str(report))
        self.report = report
        self.code = code
