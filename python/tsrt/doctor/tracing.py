"""Stage 3 of the doctor: trace the module with example inputs and explain what
the tracer froze.

`capture.trace` records TracerWarnings: Python decisions on tensor values
(branches, int(), len(), loops over a tensor) that the trace keeps only for the
example, and torch.tensor(...) results baked in as constants. The traced graph
is then searched for device constants, placed at the user's line that made them,
since a trace records `device='cuda:0'` as is.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace

import torch

from tsrt import capture
from tsrt.doctor.diagnosis import DEFAULT_REWRITE, Diagnosis
from tsrt.doctor.findings import Findings
from tsrt.doctor.script_errors import classify_script_error
from tsrt.doctor.source import normalize_location, source_line, split_location
from tsrt.source_location import is_library_file


def add_trace_findings(found: Findings, module: torch.nn.Module, example_inputs: tuple | torch.Tensor,
                       device_sites: list[tuple[str, str]]) -> None:
    """Traces `module` on `example_inputs` and adds what the tracer froze or failed
    on; `device_sites` (location, construct) are the scan's .to(...)/device= calls,
    where a device constant with no frame of the user's code is reported."""
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    # Trace in eval mode, as export does; the caller's modes are restored after.
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        traced = capture.trace(module, tuple(example_inputs))
    finally:
        for m, training in modes:
            m.training = training
    for finding in traced.findings:
        diagnosis = _from_trace_finding(finding)
        if diagnosis is None:
            continue
        if diagnosis.kind == "trace_failed" and classify_script_error(diagnosis.construct) != "script_error":
            # torch.jit.trace compiles @torch.jit.export methods: the same error as scripting's
            kind = classify_script_error(diagnosis.construct)
            found.add_covered(replace(diagnosis, kind=kind, rewrite=DEFAULT_REWRITE[kind]))
        else:
            found.add(diagnosis)
    if traced.module is not None:
        for diagnosis in _device_constants(traced.module, device_sites, found.items):
            found.add(diagnosis)


_TRACE_WARNINGS: list[tuple[str, re.Pattern[str], str]] = [
    ("data_dependent_control_flow", re.compile(r"Converting a tensor to a Python boolean"),
     "the trace keeps only the branch taken for the example: script this decision (a @torch.jit.script "
     "function, or @torch.jit.script_if_tracing) or compute both and select with torch.where(cond, a, b)"),
    ("data_dependent_control_flow", re.compile(r"Converting a tensor to a Python (integer|index|float)"),
     "the trace freezes this value: keep it a tensor (no int()/float()/.item()), use x.size(i) for sizes, "
     "or script this code (@torch.jit.script_if_tracing)"),
    ("data_dependent_control_flow", re.compile(r"Iterating over a tensor"),
     "the loop is unrolled for the example's size: vectorise it over the first dimension, or script it"),
    ("data_dependent_control_flow", re.compile(r"Using len to get tensor shape"),
     "len(x) becomes a constant: use x.size(0) (or x.shape[0]), which the tracer records"),
    ("tensor_constant_in_trace", re.compile(r"torch.tensor results are registered as constants"),
     "register it as a buffer in __init__ (`self.register_buffer('name', torch.tensor(...))`) and use "
     "`self.name`, or build it from an input"),
]


_TRACE_FAILURES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Cannot insert a Tensor that requires grad as a constant"),
     "a tensor that requires grad is not a registered parameter or buffer of the module it is used in (e.g. "
     "submodules kept in a plain list or dict): register them (nn.ModuleList/ModuleDict, nn.Parameter, "
     "register_buffer)"),
    (re.compile(r"Only tensors, lists, tuples of tensors, or dictionary of tensors can be output"),
     "return only tensors (a fixed tuple; drop None outputs or return empty tensors), or export with mode='script'"),
]


def _from_trace_finding(finding: capture.Finding) -> Diagnosis | None:
    location = normalize_location(finding.location)
    if finding.message.startswith("tracing failed"):
        message = finding.message.removeprefix("tracing failed: ")
        rewrite = next((fix for pattern, fix in _TRACE_FAILURES if pattern.search(message)),
                       DEFAULT_REWRITE["trace_failed"])
        return Diagnosis("trace_failed", location, message, rewrite)
    if location and is_library_file(split_location(location)[0]):
        return None  # torch's own shape checks: benign, and not the model's code to rewrite
    construct = source_line(location) or finding.message
    for kind, pattern, rewrite in _TRACE_WARNINGS:
        if pattern.search(finding.message):
            return Diagnosis(kind, location, construct, rewrite)
    if location:
        return Diagnosis("trace_warning", location, construct,
                         f"{finding.message.rstrip('.')}: {DEFAULT_REWRITE['trace_warning']}")
    return None


def _device_constants(traced: torch.jit.ScriptModule, device_sites: list[tuple[str, str]],
                      found: list[Diagnosis]) -> list[Diagnosis]:
    """Device constants (prim::Constant of Device type) in the traced graph, at the
    user's line that created them."""
    tensor_constants = {d.location for d in found if d.kind == "tensor_constant_in_trace"}
    results: dict[str, Diagnosis] = {}
    unplaced: list[tuple[str, str]] = []  # (device, location in torch's code or "")
    try:
        graph = traced.inlined_graph
    except RuntimeError:
        return []
    for node in graph.findAllNodes("prim::Constant"):
        output = node.output()
        if output.type().kind() != "DeviceObjType":
            continue
        device = str(output.toIValue())
        location = _user_frame(node) or next((_user_frame(use.user) for use in output.uses()
                                              if _user_frame(use.user)), "")
        if not location:
            unplaced.append((device, _user_frame(node, library=True)))
            continue
        if location in tensor_constants or location in results:
            continue  # torch.tensor(...) at that line: the buffer rewrite fixes both
        results[location] = Diagnosis("device_constant_in_trace", location, source_line(location) or device,
                                      _device_rewrite(device))
    if unplaced and not results:
        # No frame of the model's code recorded: point at every .to(...)/device= the scan
        # saw, else at torch's own code that made the constant.
        device, library_location = unplaced[0]
        sites = device_sites or [(library_location, source_line(library_location) or f"device {device}")]
        for location, construct in sites:
            results.setdefault(location, Diagnosis("device_constant_in_trace", location, construct,
                                                   _device_rewrite(device)))
    return list(results.values())


def _device_rewrite(device: str) -> str:
    return (f"the trace records device '{device}' as a constant, so the exported model creates tensors there "
            "whatever device it is loaded on: create them from an input (`torch.zeros_like(x)`, "
            "`x.new_zeros(shape)`) or a registered buffer, script this helper, or trace on the deployment device")


_FRAME = re.compile(r"^(.*)\((\d+)\): \S+$")


def _user_frame(node: torch._C.Node, library: bool = False) -> str:
    """file:line of the innermost frame of the model's code (outside torch and tsrt)
    in a traced node's recorded Python stack; with `library`, of torch's own code
    when no frame of the model's is there (nn.LSTM creating its zero state)."""
    try:
        recorded = node.sourceRange()
    except RuntimeError:
        return ""
    frames = []
    for line in recorded.splitlines():
        match = _FRAME.match(line.strip())
        if match:
            if match.group(1).endswith(os.path.join("torch", "jit", "_trace.py")):
                break  # the frames below are the caller of torch.jit.trace, not the model
            frames.append((match.group(1), match.group(2)))
    if not frames:
        match = re.search(r'File "([^"]+)", line (\d+)', recorded)
        frames = [(match.group(1), match.group(2))] if match else []
    for file, line in frames:
        if not is_library_file(file):
            return normalize_location(f"{file}:{line}")
    return normalize_location(f"{frames[0][0]}:{frames[0][1]}") if library and frames else ""
