"""Diagnosing why a model will not export to TorchScript (`tsrt doctor`).

`diagnose(module, example_inputs)` looks three ways and merges what it finds into
one `Diagnosis` per construct: its kind, file:line in the user's source, the
construct as written, and the concrete rewrite.

1. A static scan (ast) of the source of every function TorchScript would compile:
   the forward of the module and of each submodule, their @torch.jit.export methods,
   and the methods (`self.name(...)`) and plain functions they call. It finds every
   occurrence, not just the first, of constructs the TorchScript frontend rejects or
   compiles wrongly: generator expressions, comprehension ifs, sets, lambdas,
   *args/**kwargs, containers of submodules indexed by a variable, super(), `x=None`
   without Optional, source that cannot be read.
2. `torch.jit.script(module)` (through `capture.script`): the compiler stops at the
   first error; its message is classified by TorchScript's own texts (both the old
   and the current wordings), which adds what the scan cannot see.
3. With example inputs, a trace with TracerWarnings recorded (`capture.trace`):
   Python decisions the tracer froze (data-dependent control flow, torch.tensor
   constants), and device constants left in the traced graph.

    from tsrt.doctor import diagnose, format_report
    print(format_report(diagnose(model, (torch.randn(2, 4),))))

The package, one job a module: `static_scan` (which functions to read) and
`constructs` (what is wrong in one) for 1, `script_errors` for 2, `tracing` for 3;
`findings` merges the three into one diagnosis per problem; `diagnosis` defines
what is reported and `source` how locations are written. This module is the
public API only.
"""

from __future__ import annotations

import torch

from tsrt.doctor.diagnosis import KINDS, Diagnosis
from tsrt.doctor.script_errors import add_script_findings, classify_script_error
from tsrt.doctor.static_scan import Scanner
from tsrt.doctor.tracing import add_trace_findings

__all__ = ["Diagnosis", "KINDS", "classify_script_error", "diagnose", "format_report"]


def diagnose(module: torch.nn.Module, example_inputs: tuple | None = None) -> list[Diagnosis]:
    """Why `module` will not export to TorchScript: every problem found by a scan of
    its source, by scripting it, and (given example inputs) by tracing it, ordered
    by file and line. Empty when it scripts and traces correctly."""
    scanner = Scanner()
    scanner.scan_module(module)
    found = scanner.findings
    add_script_findings(found, module)
    if example_inputs is not None:
        add_trace_findings(found, module, example_inputs, scanner.device_sites)
    return found.in_order()


def format_report(diagnoses: list[Diagnosis]) -> str:
    """A human-readable report: one line per diagnosis."""
    if not diagnoses:
        return "no problems found: the model scripts and traces correctly"
    count = len(diagnoses)
    lines = [f"{count} TorchScript export problem{'s' if count != 1 else ''} found:"]
    lines += [f"  {diagnosis}" for diagnosis in diagnoses]
    return "\n".join(lines)
