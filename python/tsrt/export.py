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
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from tsrt import capture, normalize
from tsrt.outputs import flatten_outputs
from tsrt.spec import TensorSpec, Tolerance, default_dynamic_dims

FORMAT_VERSION = 1
METADATA_FILE = "tsrt.json"
MODES = ("auto", "trace", "script")
FORMATS = ("torchscript", "aoti")
DEFAULT_GOLDEN_PAIRS = 2
GOLDEN_MAX_BYTES = 8 << 20  # golden pairs past this size are left out: the file is for shipping


@dataclass
class ExportReport:
    """What export did: the mode used, and what it noticed on the way."""

    path: str
    mode: str  # "trace", "script", ... for TorchScript; "torch.export" for AOTInductor; "failed"
    findings: list[str] = field(default_factory=list)
    reason: str = ""
    verification: list[dict] = field(default_factory=list)  # libtsrt vs eager, per golden output
    format: str = "torchscript"
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, where measured

    def __str__(self) -> str:
        if self.mode == "failed" and self.format == "aoti":
            lines = [f"export of {self.path} failed: torch.export cannot capture the model"]
        elif self.mode == "failed":
            lines = [f"export of {self.path} failed: no TorchScript form matches eager PyTorch"]
        else:
            lines = [f"exported {self.path} (mode {self.mode}: {self.reason})"]
        lines += [f"  - {finding}" for finding in self.findings]
        if self.verification:
            worst = max(check["max_abs"] for check in self.verification)
            lines.append(f"  verified in C++: {len(self.verification)} golden outputs match eager, max abs error {worst:.3g}")
        return "\n".join(lines)


class ExportError(RuntimeError):
    """Export found no correct TorchScript form; str() is the full report."""

    def __init__(self, report: "ExportReport") -> None:
        super().__init__(str(report))
        self.report = report


def _input_names(module: torch.nn.Module, count: int) -> list[str]:
    parameters = list(inspect.signature(module.forward).parameters.values())
    names = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return names[:count] if len(names) >= count else [f"input_{i}" for i in range(count)]


def _specs_for(example_inputs: Sequence[torch.Tensor], names: Sequence[str],
               dynamic: Mapping[str, Sequence[int]] | None) -> tuple[TensorSpec, ...]:
    """Specs from the example tensors. Without a declaration, the batch dimension
    (0) of every tensor input may vary."""
    specs = []
    for name, tensor in zip(names, example_inputs):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"example input '{name}' is a {type(tensor).__name__}; pass input_specs for non-tensor inputs")
        dims = tuple(dynamic.get(name, ())) if dynamic is not None else default_dynamic_dims(tensor.dim())
        specs.append(TensorSpec(name, tuple(tensor.shape), tensor.dtype, dims))
    return tuple(specs)


def _lint_graph(scripted: torch.jit.ScriptModule, findings: list[str]) -> None:
    """Refuses training-mode dropout/batch norm left in the graph; flags device constants."""
    training_ops = []
    for method in [scripted.forward, *[getattr(scripted, m) for m in scripted._c._method_names() if m != "forward"]]:
        graph = method.graph
        for node in graph.findAllNodes("aten::dropout") + graph.findAllNodes("aten::feature_dropout") \
                + graph.findAllNodes("aten::batch_norm"):
            flag = list(node.inputs())[2 if node.kind() != "aten::batch_norm" else 5]
            if flag.node().kind() != "prim::Constant" or flag.toIValue() is not False:
                training_ops.append(node.kind())
        for node in graph.findAllNodes("prim::Constant"):
            if node.output().type().kind() == "DeviceObjType" and "cuda" in str(node.output().toIValue()):
                findings.append(f"[graph] device constant {node.output().toIValue()} baked into the graph: "
                                "the model will only run on that GPU; create tensors with *_like(x) or buffers")
    if training_ops:
        raise ValueError(f"the exported graph still runs {', '.join(sorted(set(training_ops)))} in training mode; "
                         "call model.eval() and avoid passing training=True explicitly")


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


def export(module: torch.nn.Module, example_inputs: Sequence[Any] | Mapping[str, Any], path: str | Path,
           mode: str = "auto", *,
           format: str = "torchscript",
           input_specs: Sequence[TensorSpec] | None = None,
           dynamic: Mapping[str, Sequence[int]] | None = None,
           method_specs: Mapping[str, Sequence[TensorSpec]] | None = None,
           output_names: Sequence[str] | None = None,
           tolerance: Tolerance | None = None,
           freeze: bool = True,
           golden: int = DEFAULT_GOLDEN_PAIRS,
           verify: bool = True,
           progress: Callable[[str], None] | None = None) -> ExportReport:
    """Exports `module` to a self-describing model file at `path`: TorchScript (.pt) or,
    with format="aoti", an AOTInductor package (.pt2).

    mode: "auto" (trace, checked against eager at other values and sizes; script
    when the trace is wrong; a scripted submodule inside a trace when only that
    works), "trace" or "script" (checked the same way; an error if wrong).
    example_inputs: a tuple of tensors, or a dict for keyword inputs.
    input_specs / dynamic: the inputs' names, dtypes and varying dimensions
    ({name: [dims]}); by default the batch dimension varies.
    method_specs: inputs of extra @torch.jit.export methods (kept through freezing).
    format: "torchscript", or "aoti": torch.export with the same dynamic dimensions,
    compiled ahead of time by AOTInductor (`mode` and `freeze` do not apply; each
    method of method_specs becomes a compiled model of the package). Raises ExportError saying where torch.export failed (file:line) when it
    cannot capture the model (data-dependent control flow).
    golden: input/output pairs recorded from eager PyTorch (0: none).
    verify: reload the saved file in C++ (tsrt._C) and compare with the golden
    outputs before reporting success.
    progress: called with a line per stage (tracing, checking, scripting, ...).
    Raises ExportError with a report of every attempt when no form is correct.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format '{format}'; expected one of {', '.join(FORMATS)}")
    if format == "aoti" and mode != "auto":
        raise ValueError(f"mode '{mode}' is a TorchScript capture mode; format 'aoti' always uses torch.export")
    if mode not in MODES:
        raise ValueError(f"unknown export mode '{mode}'; expected one of {', '.join(MODES)}")
    by_keyword = isinstance(example_inputs, Mapping)
    names = None
    if by_keyword:
        # In forward's parameter order, so that positional calls (C++, script) line up.
        order = [p for p in inspect.signature(module.forward).parameters if p in example_inputs]
        names = order + [n for n in example_inputs if n not in order]
        example_inputs = tuple(example_inputs[n] for n in names)
        # Keywords that are forward's leading parameters, in order, pass positionally.
        by_keyword = names != _input_names(module, len(names))
    else:
        example_inputs = tuple(example_inputs)
    if input_specs:
        if not by_keyword and [spec.name for spec in input_specs] != _input_names(module, len(example_inputs)):
            # The runtime matches the file's specs to the method's arguments by name:
            # specs named otherwise would be silently ignored in C++.
            raise ValueError(f"input_specs are named {[spec.name for spec in input_specs]}, but forward's "
                             f"parameters are {_input_names(module, len(example_inputs))}; name each spec after "
                             "the parameter it describes")
        names = [spec.name for spec in input_specs]
    names = names or _input_names(module, len(example_inputs))
    specs = tuple(input_specs) if input_specs else _specs_for(example_inputs, names, dynamic)
    tolerance = tolerance or Tolerance()
    report = ExportReport(path=str(path), mode=mode, format=format)

    module = module.eval()
    with torch.no_grad():
        eager_output = module(**dict(zip(names, example_inputs))) if by_keyword else module(*example_inputs)
    if format == "aoti":
        from tsrt.export_aoti import export_aoti

        return export_aoti(module, example_inputs, path, report, by_keyword=by_keyword, specs=specs,
                           eager_output=eager_output, output_names=output_names, tolerance=tolerance,
                           method_specs=method_specs, golden=golden, verify=verify, say=progress or (lambda _: None))
    scalar_outputs = normalize.has_scalar_leaves(eager_output)
    flatten = not scalar_outputs and normalize.needs_flattening(eager_output)
    wrap = not scalar_outputs and (by_keyword or flatten)
    traceable = normalize.FlatOutputs(module, names, by_keyword).eval() if wrap else module
    if scalar_outputs:
        traceable = None
        report.findings.append("the model returns ints/floats/bools/str: a trace would freeze them as constants, "
                               "so only script can export it")
    if flatten:
        output_names = output_names or normalize.leaf_names(eager_output)
        report.findings.append(f"outputs flattened to a tuple for tracing: {', '.join(output_names)}")
    if by_keyword:
        report.findings.append(f"keyword inputs passed positionally, in this order: {', '.join(names)}")
    if isinstance(eager_output, dict) and not flatten:
        output_names = output_names or normalize.leaf_names(eager_output)
        report.findings.append("the model returns a dict: traced with strict=False; its keys are checked to stay fixed")

    check_set = capture.check_inputs(specs, example_inputs)
    def check(candidate: capture.Capture) -> str:
        return capture.divergence(candidate.module, traceable or module, check_set, tolerance)

    say = progress or (lambda _: None)
    chosen = _choose(mode, traceable, module, example_inputs, check, report, say)
    scripted = chosen.module
    report.mode = chosen.mode
    # Scripting keeps the original module's outputs; only traces see the flattened ones.
    if chosen.mode == "script" and flatten:
        output_names = None
    exported = module if chosen.mode == "script" else traceable

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        extra_methods = [name for name in scripted._c._method_names() if name != "forward"]
        if freeze:
            # Freezing inlines weights as constants and folds BatchNorm into convs; methods
            # other than forward are dropped unless preserved.
            scripted = torch.jit.freeze(scripted, preserved_attrs=extra_methods)
        say("freezing, checking the graph, recording golden outputs")
        _lint_graph(scripted, report.findings)
        metadata = _metadata(module, chosen.mode, report, specs, output_names, eager_output, tolerance)
        metadata["frozen"] = freeze
        for method, method_inputs in (method_specs or {}).items():
            metadata["methods"][method] = {"inputs": [s.to_json() for s in method_inputs], "outputs": []}
        golden_entries, extra_files = _record_golden(exported, specs, example_inputs, golden, output_names or (),
                                                     report.findings) if golden > 0 else ([], {})
        metadata["golden"] = golden_entries
        extra_files[METADATA_FILE] = json.dumps(metadata, indent=1).encode()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.jit.save(scripted, str(path), _extra_files=extra_files)
    if verify and golden_entries:
        say("verifying the saved file in C++ against the golden outputs")
        report.verification = _verify_in_cpp(path)
    return report


def _metadata(module: torch.nn.Module, mode: str, report: ExportReport, specs: Sequence[TensorSpec],
              output_names: Sequence[str] | None, eager_output: Any, tolerance: Tolerance) -> dict[str, Any]:
    """The tsrt.json document both formats write; the caller adds golden pairs and its own fields."""
    return {
        "format_version": FORMAT_VERSION,
        "producer": "tsrt 0.1.0",
        "torch_version": torch.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source": f"{type(module).__module__}.{type(module).__qualname__}",
        "export_mode": mode,
        "export_reason": report.reason,
        "findings": [str(f) for f in report.findings],
        "methods": {"forward": {"inputs": [s.to_json() for s in specs], "outputs": list(output_names or []),
                                # what eager returns; a trace returns it flattened when names are listed
                                "output_structure": normalize.structure(eager_output)}},
        "tolerance": tolerance.to_json(),
    }


def _choose(mode: str, traceable: torch.nn.Module, module: torch.nn.Module, example_inputs: tuple,
            check, report: "ExportReport", say: Callable[[str], None]) -> capture.Capture:
    """Runs the capture strategies that `mode` allows and returns the first correct one."""
    attempts: list[capture.Capture] = []

    def accept(candidate: capture.Capture, reason: str) -> capture.Capture:
        report.reason = reason
        report.findings.extend(str(f) for f in candidate.findings)
        return candidate

    if traceable is None and mode == "trace":
        raise ValueError("this model cannot be traced (its outputs include non-tensors); use mode='script' or 'auto'")
    if mode in ("auto", "trace") and traceable is not None:
        say("tracing")
        traced = capture.trace(traceable, example_inputs)
        attempts.append(traced)
        if traced.module is not None:
            say("checking the trace against eager at other values and sizes")
            traced.diverged = check(traced)
            if not traced.diverged and (mode == "trace" or not capture.froze_decisions(traced)):
                return accept(traced, "the trace matches eager at other values and sizes of the dynamic dimensions")
    if mode in ("auto", "script"):
        say("scripting")
        scripted = capture.script(module)
        attempts.append(scripted)
        if scripted.module is not None:
            say("checking the scripted module against eager")
            scripted.diverged = check(scripted)
            if not scripted.diverged:
                if mode == "script":
                    why = "script requested"
                elif not attempts[:-1]:
                    why = "outputs are not all tensors"
                elif attempts[0].module is None:
                    why = "tracing failed"
                else:
                    why = "the trace " + (attempts[0].diverged or "froze Python control flow (TracerWarning)")
                return accept(scripted, why + "; the scripted module matches eager")
    if mode == "auto" and traceable is not None:
        say("tracing with one submodule scripted at a time")
        combined = capture.mixed(traceable, example_inputs, check)
        attempts.append(combined)
        if combined.module is not None:
            return accept(combined, "neither a plain trace nor script is correct; a scripted submodule inside the trace is")
        traced = attempts[0]
        if traced.module is not None and not traced.diverged:
            return accept(traced, "script failed; the trace matched eager on every checked input despite the "
                                  "TracerWarnings, which are listed: check them")
    for attempt in attempts:
        report.findings.extend(str(f) for f in attempt.findings)
        if attempt.diverged:
            report.findings.append(f"[{attempt.mode}] the {attempt.mode}d module {attempt.diverged}")
    # The doctor's static scan finds every construct, not just the first that fails.
    from tsrt.doctor import diagnose

    report.findings.extend(f"[doctor] {diagnosis}" for diagnosis in diagnose(module))
    report.mode = "failed"
    raise ExportError(report)


def _verify_in_cpp(path: str | Path, device: str = "cpu") -> list[dict]:
    """Loads the saved file with libtsrt on `device` and compares it with the golden outputs."""
    from tsrt import _C
    from tsrt.model import load

    checks = load(str(path), device=device).verify()
    failed = [c for c in checks if not c["passed"]]
    if failed:
        details = "; ".join(f"{c['path']}: max abs {c['max_abs']:.3g} {c['detail']}" for c in failed)
        raise _C.Error(f"export of {path}: the saved model does not match eager PyTorch when run by libtsrt: {details}")
    return checks


def export_zoo_entry(entry: Any, path: str | Path, mode: str,
                     progress: Callable[[str], None] | None = None, format: str = "torchscript",
                     **options: Any) -> ExportReport:
    """Exports a model of the zoo (models/) with its declared inputs and tolerance;
    `options` go to export() (freeze=False, golden=0, ...)."""
    if format == "aoti":
        return export(entry.build(), entry.example_inputs(), path, format="aoti", input_specs=entry.inputs,
                      method_specs=entry.methods, tolerance=entry.tolerance, progress=progress, **options)
    if mode != "auto" and mode not in entry.modes:
        raise ValueError(f"zoo model '{entry.name}' cannot be exported with mode '{mode}'; valid: {', '.join(entry.modes)}")
    return export(entry.build(), entry.example_inputs(), path, mode, input_specs=entry.inputs,
                  method_specs=entry.methods, tolerance=entry.tolerance, progress=progress, **options)
