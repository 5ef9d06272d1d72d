"""Exporting a PyTorch module to a self-describing TorchScript file.

`export()` puts the module in eval mode, traces or scripts it, freezes it, and
saves it with a `tsrt.json` extra file that records its input specs, output
names and how it was exported, so that `./infer model.pt` needs no flags.
"""

from __future__ import annotations

import datetime
import inspect
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from tsrt.outputs import flatten_outputs
from tsrt.spec import TensorSpec, Tolerance

FORMAT_VERSION = 1
METADATA_FILE = "tsrt.json"
MODES = ("trace", "script")
DEFAULT_GOLDEN_PAIRS = 2
GOLDEN_MAX_BYTES = 8 << 20  # golden pairs past this size are left out: the file is for shipping


@dataclass
class ExportReport:
    """What export did: the mode used, and what it noticed on the way."""

    path: str
    mode: str
    findings: list[str] = field(default_factory=list)
    verification: list[dict] = field(default_factory=list)  # libtsrt vs eager, per golden output

    def __str__(self) -> str:
        lines = [f"exported {self.path} (mode {self.mode})"]
        lines += [f"  - {finding}" for finding in self.findings]
        if self.verification:
            worst = max(check["max_abs"] for check in self.verification)
            lines.append(f"  verified in C++: {len(self.verification)} golden outputs match eager, max abs error {worst:.3g}")
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


def _npy_bytes(value: Any) -> bytes | None:
    """A tensor or scalar as .npy bytes; None when numpy has no such dtype."""
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bfloat16:
            return None
        array = value.detach().cpu().resolve_conj().numpy()
    elif isinstance(value, (bool, int, float)):
        array = np.asarray(value, dtype=np.bool_ if isinstance(value, bool) else np.int64 if isinstance(value, int) else np.float64)
    else:
        return None
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _golden_inputs(specs: Sequence[TensorSpec], example_inputs: tuple, count: int) -> list[tuple]:
    """The example inputs first, then random ones at other sizes of the dynamic dims."""
    pairs = [example_inputs]
    generator = torch.Generator().manual_seed(1234)
    randomizable = all(s.dtype.is_floating_point or s.value_range is not None for s in specs)
    for i in range(1, count):
        if not randomizable or len(specs) != len(example_inputs):
            break
        sizes = {s.name: {d: max(1, s.shape[d] + (i if i % 2 else -i)) for d in s.dynamic_dims} for s in specs}
        pairs.append(tuple(s.random(generator, sizes.get(s.name)) for s in specs))
    return pairs


def _record_golden(module: torch.nn.Module, specs: Sequence[TensorSpec], example_inputs: tuple, count: int,
                   output_names: Sequence[str], findings: list[str]) -> tuple[list[dict], dict[str, bytes]]:
    """Runs eager PyTorch on golden inputs; returns their metadata and .npy extra files."""
    entries: list[dict] = []
    files: dict[str, bytes] = {}
    total = 0
    if not all(isinstance(x, torch.Tensor) for x in example_inputs):
        findings.append("golden pairs left out: only tensor inputs can be recorded")
        return entries, files
    for index, inputs in enumerate(_golden_inputs(specs, example_inputs, count)):
        with torch.no_grad():
            output = module(*inputs)
        pair_files: dict[str, bytes] = {}
        entry: dict[str, Any] = {"method": "forward", "inputs": [], "outputs": []}
        for k, tensor in enumerate(inputs):
            name = f"golden/{index}/input_{k}.npy"
            pair_files[name] = _npy_bytes(tensor)
            entry["inputs"].append(name)
        for j, (path, leaf) in enumerate(flatten_outputs(output, output_names)):
            if leaf is None:
                entry["outputs"].append({"path": path, "file": None})
                continue
            name = f"golden/{index}/output_{j}.npy"
            pair_files[name] = _npy_bytes(leaf)
            entry["outputs"].append({"path": path, "file": name})
        if any(data is None for data in pair_files.values()):
            findings.append("golden pairs left out: an input or output has no .npy form (bfloat16, str)")
            return [], {}
        size = sum(len(data) for data in pair_files.values())
        if total + size > GOLDEN_MAX_BYTES:
            findings.append(f"golden pair {index} left out: over the {GOLDEN_MAX_BYTES >> 20} MiB cap")
            break
        total += size
        files.update(pair_files)
        entries.append(entry)
    return entries, files


def export(module: torch.nn.Module, example_inputs: Sequence[Any], path: str | Path, mode: str = "script", *,
           input_specs: Sequence[TensorSpec] | None = None,
           dynamic: Mapping[str, Sequence[int]] | None = None,
           method_specs: Mapping[str, Sequence[TensorSpec]] | None = None,
           output_names: Sequence[str] | None = None,
           tolerance: Tolerance | None = None,
           freeze: bool = True,
           golden: int = DEFAULT_GOLDEN_PAIRS,
           verify: bool = True) -> ExportReport:
    """Exports `module` to a TorchScript file at `path`.

    mode: "trace" (records the ops run on example_inputs) or "script" (compiles
    the Python source; keeps control flow). input_specs / dynamic: the inputs'
    names, dtypes and varying dimensions (by default taken from example_inputs,
    named after forward's parameters, with nothing varying). method_specs: the
    inputs of extra @torch.jit.export methods, which are kept through freezing.
    golden: how many input/output pairs to record from eager PyTorch (0: none).
    verify: reload the saved file in C++ (tsrt._C) and check it against the
    golden outputs before reporting success; raises tsrt.Error if it fails.
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
        metadata["tolerance"] = (tolerance or Tolerance()).to_json()
        golden_entries, extra_files = _record_golden(module, specs, example_inputs, golden, output_names or (),
                                                     report.findings) if golden > 0 else ([], {})
        metadata["golden"] = golden_entries
        extra_files[METADATA_FILE] = json.dumps(metadata, indent=1).encode()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.jit.save(scripted, str(path), _extra_files=extra_files)
    finally:
        quiet.__exit__(None, None, None)
    if verify and golden_entries:
        report.verification = _verify_in_cpp(path)
    return report


def _verify_in_cpp(path: str | Path) -> list[dict]:
    """Loads the saved file with libtsrt and compares it with the golden outputs."""
    from tsrt import _C

    checks = _C.load(str(path), "cpu", True).verify()
    failed = [c for c in checks if not c["passed"]]
    if failed:
        details = "; ".join(f"{c['path']}: max abs {c['max_abs']:.3g} {c['detail']}" for c in failed)
        raise _C.Error(f"export of {path}: the saved model does not match eager PyTorch when run by libtsrt: {details}")
    return checks


def export_zoo_entry(entry: Any, path: str | Path, mode: str) -> ExportReport:
    """Exports a model of the zoo (models/) with its declared inputs and tolerance."""
    if mode not in entry.modes:
        raise ValueError(f"zoo model '{entry.name}' cannot be exported with mode '{mode}'; valid: {', '.join(entry.modes)}")
    return export(entry.build(), entry.example_inputs(), path, mode, input_specs=entry.inputs,
                  method_specs=entry.methods, tolerance=entry.tolerance)
