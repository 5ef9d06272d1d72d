"""Exporting a PyTorch module to a self-describing TorchScript file.

`export()` puts the module in eval mode, traces or scripts it, freezes it, and
saves it with a `tsrt.json` extra file that records its input specs, output
names and how it was exported, so that `./infer model.pt` needs no flags.
"""

from __future__ import annotations

import datetime
import inspect
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from tsrt.spec import TensorSpec, Tolerance

FORMAT_VERSION = 1
METADATA_FILE = "tsrt.json"
MODES = ("trace", "script")


@dataclass
class ExportReport:
    """What export did: the mode used, and what it noticed on the way."""

    path: str
    mode: str
    findings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"exported {self.path} (mode {self.mode})"]
        lines += [f"  - {finding}" for finding in self.findings]
        return "\n".join(lines)


def _quiet_jit():
    """Hides TorchScript's deprecation warnings: users asked for an export, not a lecture."""
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", FutureWarning)
    return context


def _input_names(module: torch.nn.Module, count: int) -> list[str]:
    parameters = list(inspect.signature(module.forward).parameters.values())
    names = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return names[:count] if len(names) >= count else [f"input_{i}" for i in range(count)]


def _specs_for(example_inputs: Sequence[torch.Tensor], names: Sequence[str],
               dynamic: Mapping[str, Sequence[int]]) -> tuple[TensorSpec, ...]:
    specs = []
    for name, tensor in zip(names, example_inputs):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"example input '{name}' is a {type(tensor).__name__}; pass input_specs for non-tensor inputs")
        specs.append(TensorSpec(name, tuple(tensor.shape), tensor.dtype, tuple(dynamic.get(name, ()))))
    return tuple(specs)


def _trace(module: torch.nn.Module, example_inputs: tuple, findings: list[str]) -> torch.jit.ScriptModule:
    try:
        return torch.jit.trace(module, example_inputs, check_trace=False)
    except RuntimeError as error:
        # Dict outputs need strict=False; valid only when the dict's keys do not
        # depend on the inputs, which is true of every model that returns a fixed dict.
        if "Encountering a dict at the output" not in str(error):
            raise
        findings.append("the model returns a dict: traced with strict=False (keys must not depend on inputs)")
        return torch.jit.trace(module, example_inputs, check_trace=False, strict=False)


def export(module: torch.nn.Module, example_inputs: Sequence[Any], path: str | Path, mode: str = "script", *,
           input_specs: Sequence[TensorSpec] | None = None,
           dynamic: Mapping[str, Sequence[int]] | None = None,
           method_specs: Mapping[str, Sequence[TensorSpec]] | None = None,
           output_names: Sequence[str] | None = None,
           tolerance: Tolerance | None = None,
           freeze: bool = True) -> ExportReport:
    """Exports `module` to a TorchScript file at `path`.

    mode: "trace" (records the ops run on example_inputs) or "script" (compiles
    the Python source; keeps control flow). input_specs / dynamic: the inputs'
    names, dtypes and varying dimensions (by default taken from example_inputs,
    named after forward's parameters, with nothing varying). method_specs: the
    inputs of extra @torch.jit.export methods, which are kept through freezing.
    """
    if mode not in MODES:
        raise ValueError(f"unknown export mode '{mode}'; expected one of {', '.join(MODES)}")
    example_inputs = tuple(example_inputs)
    names = [spec.name for spec in input_specs] if input_specs else _input_names(module, len(example_inputs))
    specs = tuple(input_specs) if input_specs else _specs_for(example_inputs, names, dynamic or {})
    report = ExportReport(path=str(path), mode=mode)

    module = module.eval()
    quiet = _quiet_jit()
    try:
        with torch.no_grad():
            scripted = _trace(module, example_inputs, report.findings) if mode == "trace" else torch.jit.script(module)
        extra_methods = [name for name in scripted._c._method_names() if name != "forward"]
        if freeze:
            # Freezing inlines weights as constants and folds BatchNorm into convs; methods
            # other than forward are dropped unless preserved.
            scripted = torch.jit.freeze(scripted, preserved_attrs=extra_methods)
        metadata = {
            "format_version": FORMAT_VERSION,
            "producer": "tsrt 0.1.0",
            "torch_version": torch.__version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "source": f"{type(module).__module__}.{type(module).__qualname__}",
            "export_mode": mode,
            "frozen": freeze,
            "methods": {"forward": {"inputs": [s.to_json() for s in specs], "outputs": list(output_names or [])}},
        }
        for method, method_inputs in (method_specs or {}).items():
            metadata["methods"][method] = {"inputs": [s.to_json() for s in method_inputs], "outputs": []}
        if tolerance is not None:
            metadata["tolerance"] = tolerance.to_json()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.jit.save(scripted, str(path), _extra_files={METADATA_FILE: json.dumps(metadata, indent=1)})
    finally:
        quiet.__exit__(None, None, None)
    return report


def export_zoo_entry(entry: Any, path: str | Path, mode: str) -> ExportReport:
    """Exports a model of the zoo (models/) with its declared inputs and tolerance."""
    if mode not in entry.modes:
        raise ValueError(f"zoo model '{entry.name}' cannot be exported with mode '{mode}'; valid: {', '.join(entry.modes)}")
    return export(entry.build(), entry.example_inputs(), path, mode, input_specs=entry.inputs,
                  method_specs=entry.methods, tolerance=entry.tolerance)
