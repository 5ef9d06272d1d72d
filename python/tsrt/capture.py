"""Capturing a module as TorchScript: trace or script, with what each noticed
(TracerWarnings with file:line, the compiler's first error). Shared by the exporter
(which checks each capture against eager and mixes them: exporter/mixed.py) and
the doctor (which explains why a capture fails).

`auto` tries them in order and keeps the first that is correct:
1. trace, with every TracerWarning recorded (file:line). A warning that a tensor
   became a Python bool/int/index means control flow or a size was frozen.
2. script, when the trace diverges from eager at another size or value, fails,
   or froze control flow.
3. mixed: script one submodule at a time and trace the rest, for models whose
   top level cannot be scripted but whose data-dependent part can.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch


# TracerWarnings that mean a Python decision was frozen into the graph.
_FROZEN_DECISION = re.compile(r"Converting a tensor to a Python (boolean|integer|index|float)|"
                              r"Iterating over a tensor|torch.tensor results are registered as constants")


@dataclass
class Finding:
    """Something export noticed: where, what, and what to do."""

    stage: str      # "trace", "script", "mixed", "check", "graph"
    message: str
    location: str = ""  # file:line when known
    fix: str = ""

    def __str__(self) -> str:
        text = f"[{self.stage}] {self.message}"
        if self.location:
            text += f" at {self.location}"
        if self.fix:
            text += f"; fix: {self.fix}"
        return text


@dataclass
class Capture:
    module: torch.jit.ScriptModule | None
    mode: str
    findings: list[Finding] = field(default_factory=list)
    diverged: str = ""  # why the parity check failed, if it did


def _hide_deprecations() -> None:
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", FutureWarning)


def trace(module: torch.nn.Module, example_inputs: tuple) -> Capture:
    capture = Capture(None, "trace")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", torch.jit.TracerWarning)
        _hide_deprecations()
        try:
            with torch.no_grad():
                # strict=False admits dict outputs; tsrt checks instead that the
                # structure holds across the inputs of the parity check.
                capture.module = torch.jit.trace(module, example_inputs, check_trace=False, strict=False)
        except Exception as error:  # noqa: BLE001 - any failure is a finding
            capture.findings.append(Finding("trace", f"tracing failed: {first_line(error)}",
                                            fix="export with mode='script', or return tensors/tuples"))
    for warning in caught:
        if issubclass(warning.category, torch.jit.TracerWarning):
            frozen = bool(_FROZEN_DECISION.search(str(warning.message)))
            capture.findings.append(Finding(
                "trace", first_line(warning.message), f"{warning.filename}:{warning.lineno}",
                "script this code (torch.jit.script / @torch.jit.script_if_tracing) or use tensor ops "
                "(torch.where, masking) instead of Python control flow" if frozen else ""))
    return capture


def froze_decisions_in(finding: Finding) -> bool:
    """True for a TracerWarning that says a Python decision was frozen into the graph."""
    return finding.stage == "trace" and bool(_FROZEN_DECISION.search(finding.message))


def froze_decisions(capture: Capture) -> bool:
    return any(froze_decisions_in(finding) for finding in capture.findings)


def script(module: torch.nn.Module) -> Capture:
    capture = Capture(None, "script")
    with warnings.catch_warnings():
        _hide_deprecations()
        try:
            capture.module = torch.jit.script(module)
        except Exception as error:  # noqa: BLE001
            capture.findings.append(Finding("script", f"scripting failed: {_script_error_summary(error)}",
                                            _script_error_location(error)))
    return capture


# --- messages --------------------------------------------------------------------

def first_line(error: Any) -> str:
    """The line of an error that says what happened: TorchScript interpreter errors
    put it last, after a traceback of serialized code."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    errors = [line for line in lines if re.match(r"^\w*(Error|Exception): ", line)]
    return errors[-1] if errors else lines[0]


def _script_error_summary(error: Exception) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _script_error_location(error: Exception) -> str:
    match = re.search(r'File "([^"]+)", line (\d+)', str(error))
    return f"{match.group(1)}:{match.group(2)}" if match else ""
