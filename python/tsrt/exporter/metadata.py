"""The tsrt.json document an export writes: the contract (contract.py) filled in from
what this export learned about the module."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from tsrt.contract import metadata_document, method_entry
from tsrt.exporter.outputs import structure
from tsrt.exporter.report import ExportReport
from tsrt.spec import TensorSpec, Tolerance
from tsrt.version import __version__


def build_metadata(module: torch.nn.Module, report: ExportReport, specs: Sequence[TensorSpec],
                   output_names: Sequence[str] | None, eager_output: Any, tolerance: Tolerance,
                   method_specs: Mapping[str, Sequence[TensorSpec]] | None, golden: Sequence[dict],
                   **fields: Any) -> dict[str, Any]:
    """The document both formats write; `fields` are the format's own (frozen, format, ...)."""
    methods = {"forward": method_entry(specs, output_names or (), structure(eager_output))}
    for method, method_inputs in (method_specs or {}).items():
        methods[method] = method_entry(method_inputs)
    if report.dynamic:
        fields.setdefault("dynamic_probe", report.dynamic)
    return metadata_document(
        producer=f"tsrt {__version__}",
        source=f"{type(module).__module__}.{type(module).__qualname__}",
        export_mode=report.mode,
        export_reason=report.reason,
        findings=report.findings,
        methods=methods,
        tolerance=tolerance.to_json(),
        golden=golden,
        **fields,
    )
